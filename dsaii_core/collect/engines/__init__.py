"""Search engines behind one interface: `engine.search(reference=image | None, query=text | None, limit)`.

Each engine is described by one declarative file in this folder (`<name>.toml`): its kind
(`openverse`, `wikimedia`, `browser`, `local`), base URL and, for browser engines, every
page-specific part (URL templates, selectors, scrolling). A user fixes an engine whose site
changed by editing (a copy of) its file and passing the path as the engine name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence
from urllib.parse import urlsplit

import numpy as np

from dsaii_core.collect.netsafety import AddressPolicy
from dsaii_core.errors import DsaiiError

ENGINE_DIR = Path(__file__).resolve().parent
DEFAULT_ENGINE = "openverse"


@dataclass(frozen=True)
class Candidate:
    """One image a search found; `url` is the image itself, `page_url` the page showing it."""
    url: str
    page_url: str | None = None
    title: str | None = None
    license: str | None = None
    attribution: str | None = None
    engine: str = ""
    query: str | None = None


class Engine(Protocol):
    name: str
    needs: str  # "query" (keyword engines), "reference" (reverse image search / local folder) or "either"

    def search(self, reference: np.ndarray | None = None, query: str | None = None,
               limit: int = 50) -> list[Candidate]:
        """Up to `limit` candidates similar to the reference image or matching the query."""
        ...


def engine_names() -> list[str]:
    """Names of the engines shipped with DSAII Studio (one .toml each)."""
    return sorted(p.stem for p in ENGINE_DIR.glob("*.toml"))


def engine_spec(name_or_path: str | Path) -> dict:
    """The parsed engine file of a shipped engine name, or of a .toml path the user gives."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = ENGINE_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise DsaiiError(f"unknown engine '{name_or_path}' (engines: {', '.join(engine_names())}, "
                             "or the path of an engine .toml file)")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DsaiiError(f"engine file {path}: {exc}") from exc
    spec.setdefault("name", path.stem)
    spec["file"] = str(path)
    return spec


def load_engine(name_or_path: str | Path, *, downloader=None, base_url: str | None = None,
                folder: Path | None = None, driver_factory=None, cache_dir: Path | None = None,
                allow_private: bool | Sequence[str] = False) -> Engine:
    """An engine ready to search; `base_url` overrides the file's (tests point engines at fake servers).

    Its base URL must be http(s); the addresses it reaches pass the downloader's policy (a browser
    engine without a downloader: `allow_private`'s), checked when each page or API is requested.
    """
    spec = engine_spec(name_or_path)
    if base_url:
        spec["base_url"] = base_url.rstrip("/")
    if "base_url" in spec and urlsplit(str(spec["base_url"])).scheme not in ("http", "https"):
        raise DsaiiError(f"engine {spec['name']}: base URL '{spec['base_url']}' is not an http(s) URL")
    kind = spec.get("kind")
    if kind in ("openverse", "wikimedia"):
        from dsaii_core.collect.engines.api import OpenverseEngine, WikimediaEngine
        if downloader is None:
            raise DsaiiError(f"engine {spec['name']} needs a downloader")
        return (OpenverseEngine if kind == "openverse" else WikimediaEngine)(spec, downloader)
    if kind == "browser":
        from dsaii_core.collect.engines.browser import BrowserEngine
        policy = downloader.policy if downloader is not None else AddressPolicy(allow_private)
        return BrowserEngine(spec, driver_factory=driver_factory,
                             scratch_dir=Path(cache_dir) / "browser" if cache_dir else None, policy=policy)
    if kind == "local":
        from dsaii_core.collect.engines.local import LocalFolderEngine
        if folder is None:
            raise DsaiiError(f"engine {spec['name']} needs a folder to search")
        return LocalFolderEngine(spec, folder, cache_dir=cache_dir)
    raise DsaiiError(f"engine file {spec['file']}: unknown kind '{kind}' (openverse, wikimedia, browser, local)")
