"""Local-folder engine: the images of a (large) folder most similar to the reference image.

Descriptors are cached per file (size + mtime) under the workspace cache, so ranking a big
collection a second time decodes only files that are new or changed.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

from dsaii_core import imageio
from dsaii_core.atomic import atomic_write_bytes, sha256_bytes
from dsaii_core.collect.downloader import Download
from dsaii_core.collect.engines import Candidate
from dsaii_core.collect.similarity import Ranker, describe
from dsaii_core.errors import DsaiiError


class LocalFolderEngine:
    """Ranks every image under `folder` by similarity to the reference; candidates are file:// URLs."""
    needs = "reference"

    def __init__(self, spec: dict, folder: Path, cache_dir: Path | None = None):
        self.name = spec["name"]
        self.folder = Path(folder).resolve()
        if not self.folder.is_dir():
            raise DsaiiError(f"{folder}: not a folder")
        self.cache_dir = cache_dir

    def _files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file() and imageio.is_image_name(p.name))

    def _cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(str(self.folder).encode()).hexdigest()[:16]
        return Path(self.cache_dir) / "local_engine" / f"{key}.npz"

    def descriptors(self) -> tuple[list[Path], np.ndarray]:
        """Every readable image file and its weight-free descriptor (cached); unreadable files are left out."""
        cache_path = self._cache_path()
        cached: dict[str, np.ndarray] = {}
        if cache_path is not None and cache_path.is_file():
            with np.load(cache_path) as data:
                cached = {k: data[k] for k in data.files}
        files, vectors, fresh = [], [], {}
        for path in self._files():
            stat = path.stat()
            key = sha256_bytes(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode())[:32]
            vector = cached.get(key)
            if vector is None:
                try:
                    vector = describe(imageio.read_image(path))
                except DsaiiError:
                    continue
            fresh[key] = vector
            files.append(path)
            vectors.append(vector)
        if cache_path is not None and fresh.keys() != cached.keys():
            buffer = io.BytesIO()
            np.savez(buffer, **fresh)
            atomic_write_bytes(cache_path, buffer.getvalue())
        return files, (np.stack(vectors) if vectors else np.zeros((0, 1), np.float32))

    def search(self, reference: np.ndarray | None = None, query: str | None = None,
               limit: int = 50) -> list[Candidate]:
        if reference is None:
            raise DsaiiError(f"engine {self.name} ranks a folder by similarity: give a reference image")
        files, vectors = self.descriptors()
        if not files:
            return []
        order = np.argsort(-Ranker(reference).scores(list(vectors)), kind="stable")[:limit]
        return [Candidate(url=files[i].as_uri(), title=files[i].name, engine=self.name) for i in order]

    def read(self, url: str) -> Download:
        """One candidate file, read and decoded like a download (only files inside the folder)."""
        path = Path(unquote(urlsplit(url).path)).resolve()
        if urlsplit(url).scheme != "file" or not path.is_relative_to(self.folder):
            return Download(url, error=f"{url}: not a file of {self.folder}")
        try:
            data = path.read_bytes()
            image = imageio.read_image(data, name=str(path))
        except (OSError, DsaiiError) as exc:
            return Download(url, error=str(exc))
        return Download(url, url, image, sha256_bytes(data), None)
