"""On-disk layout of a workspace and the only code that turns names into paths.

    <workspace>/dsaii.sqlite
    <workspace>/classes/<class>/normal|object_mask|anomaly_mask|anomaly/000.png
    <workspace>/mask_bank/<source>/0000.png
    <workspace>/cache/                       (safe to delete)

Class names may be any text; `safe_dirname` makes the folder name, which can never leave
the workspace. Files are written (atomically) before the catalog row that names them.

The app owns only what it wrote: a workspace is created only in a new or empty folder and carries
a marker file (`.dsaii-workspace`); `repair` removes only files of our own naming, only in a marked
workspace, and temp files only once they are older than a grace period.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import socket
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from dsaii_core import __version__, imageio
from dsaii_core.atomic import TEMP_PREFIX, atomic_write_bytes, atomic_write_text, sha256_bytes
from dsaii_core.catalog import JOB_FINAL_STATES, Catalog, ImageClass, Item, Mask
from dsaii_core.errors import DsaiiError

DB_NAME = "dsaii.sqlite"
MARKER = ".dsaii-workspace"  # written by `create`: this folder is ours to repair
FOLDERS = {"normal": "normal", "anomaly": "anomaly", "object": "object_mask", "anomaly_mask": "anomaly_mask"}
KINDS = ("object", "texture")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
MAX_NAME_CHARS = 64
ORPHAN_GRACE_S = 300
STAGING = "staging"  # images a job's workers wrote, per job, that the driver has not filed yet
# The only files `repair` may remove: the names this module gives (see _next_file, add_mask, add_bank_mask).
_OWN_FILE = re.compile(r"classes/[^/]+/(normal|anomaly)/\d+\.png|classes/[^/]+/(object_mask|anomaly_mask)/"
                       r"(anomaly_)?\d+_\d+\.png|mask_bank/[^/]+/[0-9a-f]{16}\.png")


def safe_dirname(name: str) -> str:
    """A folder name for any text: no separators, no dots at the ends, no reserved names, ≤64 chars."""
    text = unicodedata.normalize("NFKC", name)
    text = re.sub(r"[^\w\-. ]", "_", text, flags=re.UNICODE).strip(" .")
    text = re.sub(r"_+", "_", text)[:MAX_NAME_CHARS].strip(" .")
    if not text or set(text) <= {"_"}:
        text = "class"
    if text.split(".")[0].upper() in _WINDOWS_RESERVED:
        text = f"_{text}"
    return text


def clean_class_name(name: str) -> str:
    """The display name stored in the catalog: printable, trimmed, at most 200 characters."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", str(name)) if unicodedata.category(ch)[0] != "C")
    text = text.strip()[:200]
    if not text:
        raise DsaiiError("a class name cannot be empty")
    return text


@dataclass(frozen=True)
class StagedImage:
    """An image a job's worker (maybe on another node) encoded and wrote into the workspace's staging
    folder, for the driver to file with `add_image`: only its name and facts travel back."""
    file: str  # workspace-relative
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class AddResult:
    """What adding one file did: the new item, or why it was skipped."""
    item: Item | None
    skipped: str | None = None


class Workspace:
    """A folder holding a catalog and the images it names."""

    def __init__(self, root: Path, catalog: Catalog):
        self.root = Path(root).resolve()
        self.catalog = catalog

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path) -> "Workspace":
        """A new workspace in a new or empty folder (never in one holding files of someone else's)."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise DsaiiError(f"{root}: exists and is not a folder")
        if (root / DB_NAME).is_file():
            raise DsaiiError(f"{root}: already a DSAII workspace; open it instead")
        if root.is_dir() and any(root.iterdir()):
            raise DsaiiError(f"{root}: not empty; a workspace is created only in a new or empty folder "
                             "(import this folder's images into a workspace instead)")
        root.mkdir(parents=True, exist_ok=True)
        workspace = cls(root, Catalog(root / DB_NAME))
        workspace.mark()
        for folder in ("classes", "mask_bank", "cache"):
            (root / folder).mkdir(exist_ok=True)
        return workspace

    @classmethod
    def open(cls, root: Path) -> "Workspace":
        """An existing workspace; repaired first when a process that had it open died (a crash leaves files)."""
        root = Path(root)
        if not (root / DB_NAME).is_file():
            raise DsaiiError(f"{root}: not a DSAII workspace (no {DB_NAME}); create one with `init`")
        workspace = cls(root, Catalog(root / DB_NAME))
        if workspace.is_marked and workspace._register_opener():
            workspace.repair()
        return workspace

    def _register_opener(self) -> bool:
        """Note this process as one that has the workspace open (the note goes when it exits cleanly); returns
        whether a note of a process of this machine that died is left: only a crash needs the file walk."""
        folder = self.cache_dir / "openers"
        folder.mkdir(parents=True, exist_ok=True)
        host, crashed = socket.gethostname(), False
        for note in folder.glob(f"{host}-*"):
            pid = note.name.rsplit("-", 1)[1]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                note.unlink(missing_ok=True)
                crashed = True
        note = folder / f"{host}-{os.getpid()}"
        if not note.exists():
            note.touch()
            atexit.register(note.unlink, missing_ok=True)
        return crashed

    @classmethod
    def open_or_create(cls, root: Path) -> "Workspace":
        return cls.open(root) if (Path(root) / DB_NAME).is_file() else cls.create(root)

    # -- paths --------------------------------------------------------------------------------
    def path(self, relative: str) -> Path:
        """Absolute path of a catalog-relative file, refusing anything outside the workspace."""
        full = (self.root / relative).resolve()
        if not full.is_relative_to(self.root):
            raise DsaiiError(f"{relative}: outside the workspace")
        return full

    def class_folder(self, cls: ImageClass, folder: str) -> str:
        """Catalog-relative folder of one kind ('normal', 'anomaly', 'object', 'anomaly_mask')."""
        return f"classes/{cls.dirname}/{FOLDERS[folder]}"

    def mark(self) -> None:
        """Write our marker: from now on `repair` may remove crash leftovers of our naming here."""
        atomic_write_text(self.root / MARKER, json.dumps({"tool": "DSAII Studio", "what": "workspace",
                                                          "version": __version__}, indent=2) + "\n")

    @property
    def is_marked(self) -> bool:
        """Whether this app created the folder (so `repair` may remove crash leftovers in it)."""
        return (self.root / MARKER).is_file()

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def previews_dir(self) -> Path:
        """Grid-sized JPEGs of images (imageio.preview): what the pages show, not data."""
        return self.cache_dir / "previews"

    # -- classes ------------------------------------------------------------------------------
    def classes(self, name: str | None = None) -> list[ImageClass]:
        """All classes, or the one named (DsaiiError when unknown)."""
        if name is None:
            return self.catalog.classes()
        return [self.get_class(name)]

    def get_class(self, name: str) -> ImageClass:
        found = self.catalog.find_class(name)
        if found is None:
            known = ", ".join(c.name for c in self.catalog.classes()) or "none yet"
            raise DsaiiError(f"unknown class '{name}' (classes: {known})")
        return found

    def add_class(self, name: str, kind: str = "object") -> ImageClass:
        """The class with this name, created (with a safe, unique folder) when new.

        Names are distinct as given ("Éclair" and "éclair" are two classes); their folders never differ
        only by case ("éclair-2"), so they stay two folders on case-insensitive disks too.
        """
        name = clean_class_name(name)
        if kind not in KINDS:
            raise DsaiiError(f"class kind must be one of {KINDS}, not '{kind}'")
        existing = self.catalog.find_class(name)
        if existing is not None:
            return existing
        base = safe_dirname(name)
        dirname, n = base, 2
        while self.catalog.dirname_taken(dirname):
            dirname, n = f"{base[:MAX_NAME_CHARS - 4]}-{n}", n + 1
        self.path(f"classes/{dirname}")  # asserts it stays inside
        return self.catalog.insert_class(name, dirname, kind)

    def rename_class(self, cls: ImageClass, name: str, user: str = "") -> ImageClass:
        """Give a class another display name (its folder stays; undoable)."""
        name = clean_class_name(name)
        other = self.catalog.find_class(name)
        if other is not None and other.id != cls.id:
            raise DsaiiError(f"there is already a class named '{name}'")
        return self.catalog.update_class(cls, user=user, name=name)

    def delete_class(self, cls: ImageClass, force: bool = False) -> int:
        """Remove a class from the workspace with its images, masks and their files; returns how many files.

        A class that still holds images (say a mistaken import) goes only with `force`: this cannot be undone.
        Only files the catalog names are removed, then the class folder if nothing else is left in it.
        """
        images = self.catalog.items(cls.id)
        if images and not force:
            raise DsaiiError(f"class '{cls.name}' holds {len(images)} images; deleting it removes them and their "
                             "masks for good (pass force / --force to go ahead)")
        files = self.catalog.delete_class(cls.id)
        for relative in files:
            self.path(relative).unlink(missing_ok=True)
        folder = self.path(f"classes/{cls.dirname}")
        for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True) if folder.is_dir() else []:
            if not any(sub.iterdir()):
                sub.rmdir()
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        return len(files)

    # -- images -------------------------------------------------------------------------------
    def _next_file(self, cls: ImageClass, role: str) -> str:
        index = self.catalog.max_index(cls.id, role) + 1
        return f"{self.class_folder(cls, role)}/{index:03d}.png"

    def add_image(self, cls: ImageClass, image: np.ndarray | StagedImage, *, role: str = "normal",
                  status: str | None = None, origin: str = "import", sha256: str | None = None,
                  parent_id: int | None = None, defect: str | None = None, seed: int | None = None,
                  info: dict | None = None, skip_duplicates: bool = True) -> AddResult:
        """Store an RGB image (or move a staged one) as a new item (PNG); skipped when the class already
        has its sha256.

        `sha256` identifies the content as it arrived (the source file's bytes); by default the
        hash of the PNG written.
        """
        if isinstance(image, StagedImage):
            png, size = None, (image.width, image.height)
            sha256 = sha256 or image.sha256
        else:
            png, size = imageio.encode_png(image), (image.shape[1], image.shape[0])  # before the write lock
            sha256 = sha256 or sha256_bytes(png)
        status = status or ("kept" if role == "normal" else "pending")
        # One write transaction for the duplicate check, the name choice, the file and its row,
        # so two writers never pick the same file name.
        with self.catalog.transaction():
            if skip_duplicates and self.catalog.has_sha(cls.id, sha256):
                return AddResult(None, "already in the class")
            relative = self._next_file(cls, role)
            if png is None:
                self.path(relative).parent.mkdir(parents=True, exist_ok=True)
                os.replace(self.path(image.file), self.path(relative))  # one file system: atomic
            else:
                atomic_write_bytes(self.path(relative), png)
            item = self.catalog.insert_item(class_id=cls.id, role=role, file=relative, sha256=sha256,
                                            width=size[0], height=size[1], status=status,
                                            origin=origin, parent_id=parent_id, defect=defect, seed=seed, info=info)
        if role == "normal" and png is not None:  # the grids show normals: their preview now, from these pixels
            imageio.preview(self.path(relative), self.previews_dir, image=image)
        return AddResult(item)

    def stage_image(self, image: np.ndarray, job_id: int, name: str) -> StagedImage:
        """Encode `image` as PNG into job `job_id`'s staging folder as `name` (a retry overwrites it)."""
        png = imageio.encode_png(image)
        relative = f"{self._staging_folder(job_id)}/{name}.png"
        atomic_write_bytes(self.path(relative), png)
        return StagedImage(relative, sha256_bytes(png), image.shape[1], image.shape[0])

    def clear_staging(self, job_id: int) -> None:
        """Remove what job `job_id`'s workers staged and nobody filed (a cancelled or failed batch's images)."""
        shutil.rmtree(self.path(self._staging_folder(job_id)), ignore_errors=True)

    @staticmethod
    def _staging_folder(job_id: int) -> str:
        return f"{STAGING}/job{job_id}"

    def read_image(self, item: Item) -> np.ndarray:
        return imageio.read_image(self.path(item.file))

    # -- masks --------------------------------------------------------------------------------
    def add_mask(self, item: Item, mask: np.ndarray, *, kind: str, source: str, confidence: float | None = None,
                 seed: int | None = None, params: dict | None = None, replaces: int | None = None,
                 user: str = "") -> Mask:
        """Store a binary mask for an item (object or anomaly); it must be the item's size."""
        mask = imageio.binarize(mask)
        if mask.shape != (item.height, item.width):
            raise DsaiiError(f"mask is {mask.shape[1]}×{mask.shape[0]} but image {item.file} is "
                             f"{item.width}×{item.height}")
        cls = self.catalog.class_by_id(item.class_id)
        folder = self.class_folder(cls, "object" if kind == "object" else "anomaly_mask")
        stem = Path(item.file).stem
        prefix = "" if item.role == "normal" else f"{item.role}_"
        data = imageio.encode_png(mask)
        with self.catalog.transaction():  # the name choice and the row, atomically (see add_image)
            n = 0
            while self.path(f"{folder}/{prefix}{stem}_{n}.png").exists():
                n += 1
            relative = f"{folder}/{prefix}{stem}_{n}.png"
            atomic_write_bytes(self.path(relative), data)
            return self.catalog.insert_mask(item_id=item.id, kind=kind, file=relative, source=source,
                                            area=float((mask > 0).mean()), confidence=confidence, seed=seed,
                                            params=params, replaces=replaces, user=user)

    def read_mask(self, mask: Mask) -> np.ndarray:
        return imageio.read_mask(self.path(mask.file))

    def object_mask(self, item: Item) -> Mask | None:
        found = self.catalog.masks(item_id=item.id, kind="object")
        return found[-1] if found else None

    # -- mask bank ----------------------------------------------------------------------------
    def add_bank_mask(self, mask: np.ndarray, *, source: str, license: str | None = None,
                      defect: str | None = None) -> int | None:
        """Add a defect mask to the bank, cropped to its content; None when empty or already there."""
        mask = imageio.binarize(mask)
        rows, cols = np.nonzero(mask)
        if rows.size == 0:
            return None
        cropped = mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        png = imageio.encode_png(cropped)
        sha = sha256_bytes(png)
        relative = f"mask_bank/{safe_dirname(source)}/{sha[:16]}.png"
        if not self.path(relative).exists():
            atomic_write_bytes(self.path(relative), png)
        return self.catalog.insert_bank_mask(file=relative, sha256=sha, width=cropped.shape[1],
                                             height=cropped.shape[0], area=float((mask > 0).mean()),
                                             source=source, license=license, defect=defect,
                                             frame=(mask.shape[1], mask.shape[0], int(cols.min()), int(rows.min())))

    # -- crash recovery -----------------------------------------------------------------------
    def repair(self, grace_s: float = ORPHAN_GRACE_S) -> int:
        """Remove what a crash left behind in a workspace this app created: temp files, files of our naming
        that no catalog row names, staged images of jobs that ended or no longer exist; returns how many.

        Only files older than `grace_s` go: another process may be about to rename its temp file or add
        the row for its new file. A folder without our marker (made by an older version, or a user's
        folder opened by mistake) is left untouched.
        """
        if not self.is_marked:
            return 0
        cutoff, removed = time.time() - grace_s, 0
        known = self.catalog.known_files()
        for folder in ("classes", "mask_bank"):
            for path in (self.root / folder).rglob("*"):
                relative = path.relative_to(self.root).as_posix()
                ours = path.name.startswith(TEMP_PREFIX) or (_OWN_FILE.fullmatch(relative) and relative not in known)
                if ours and path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    removed += 1
        for folder in (self.root / STAGING).glob("job*"):
            state = self.catalog.job_state(int(folder.name[3:])) if folder.name[3:].isdigit() else "unknown"
            if state is None or state in JOB_FINAL_STATES:
                removed += sum(1 for _ in folder.glob("*.png"))
                shutil.rmtree(folder, ignore_errors=True)
        return removed
