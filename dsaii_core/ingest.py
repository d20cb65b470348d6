"""Import images into a workspace: files, folders of class folders, zips, DSAII and MVTec AD roots.

The layout of a folder is recognised automatically. Every file goes through `imageio`, so a
bad file is reported by name and the rest of the import goes on; files whose bytes are already
in the class (same sha256) are skipped and counted.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from dsaii_core import imageio
from dsaii_core.atomic import sha256_bytes
from dsaii_core.catalog import ImageClass
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace

Progress = Callable[[float], None]
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_ENTRIES = 100_000


@dataclass
class ImportReport:
    """What an import did, per file."""
    added: int = 0
    duplicates: int = 0
    anomalies: int = 0
    bank_masks: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    classes: set[str] = field(default_factory=set)

    def merge(self, other: "ImportReport") -> None:
        self.added += other.added
        self.duplicates += other.duplicates
        self.anomalies += other.anomalies
        self.bank_masks += other.bank_masks
        self.errors += other.errors
        self.classes |= other.classes

    def summary(self) -> str:
        text = (f"{self.added} images added ({self.anomalies} real anomalies) to {len(self.classes)} classes, "
                f"{self.duplicates} duplicates skipped, {self.bank_masks} masks added to the mask bank")
        return text + (f", {len(self.errors)} files rejected" if self.errors else "")


@dataclass(frozen=True)
class _Job:
    """One file to import and where it goes."""
    path: Path
    class_name: str
    role: str = "normal"
    defect: str | None = None
    mask: Path | None = None
    provenance: dict | None = None
    label: str | None = None  # the name the user knows the file by (uploads are stored under scratch names)

    @property
    def name(self) -> str:
        return self.label or self.path.name


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and imageio.is_image_name(p.name)) if folder.is_dir() else []


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_mvtec_category(folder: Path) -> bool:
    return (folder / "train" / "good").is_dir()


def is_dsaii_class(folder: Path) -> bool:
    return (folder / "normal").is_dir()


def detect_layout(folder: Path) -> str:
    """'mvtec', 'dsaii', 'class_folders' or 'images' for a folder (its own shape or its children's)."""
    if is_mvtec_category(folder) or any(is_mvtec_category(d) for d in _subdirs(folder)):
        return "mvtec"
    if is_dsaii_class(folder) or any(is_dsaii_class(d) for d in _subdirs(folder)):
        return "dsaii"
    if any(_images(d) for d in _subdirs(folder)):
        return "class_folders"
    return "images"


def _mvtec_jobs(category: Path, class_name: str) -> list[_Job]:
    jobs = [_Job(p, class_name) for p in _images(category / "train" / "good") + _images(category / "test" / "good")]
    for defect_dir in _subdirs(category / "test") if (category / "test").is_dir() else []:
        if defect_dir.name == "good":
            continue
        for image in _images(defect_dir):
            mask_dir = category / "ground_truth" / defect_dir.name
            mask = next((m for m in (mask_dir / f"{image.stem}_mask.png", mask_dir / f"{image.stem}.png") if m.is_file()),
                        None)
            jobs.append(_Job(image, class_name, "anomaly", defect_dir.name, mask))
    return jobs


def _dsaii_jobs(folder: Path, class_name: str) -> list[_Job]:
    urls: dict[str, dict] = {}
    index = folder / "img_url.json"
    if index.is_file():
        try:
            entries = json.loads(index.read_text(encoding="utf-8"))
            entries = entries if isinstance(entries, list) else []
            urls = {PurePosixPath(str(e.get("img_path", ""))).name: e for e in entries if isinstance(e, dict)}
        except (ValueError, UnicodeDecodeError):
            pass  # a broken index loses provenance, not images
    jobs = [_Job(p, class_name, provenance=urls.get(p.name)) for p in _images(folder / "normal")]
    masks = {m.stem: m for m in _images(folder / "mask")}
    for image in _images(folder / "anomaly"):
        jobs.append(_Job(image, class_name, "anomaly", "synthetic", masks.get(image.stem)))
    return jobs


def plan_folder(folder: Path, class_name: str | None = None) -> list[_Job]:
    """The files of a folder and the class / role each goes to, by the folder's layout."""
    layout = detect_layout(folder)
    own = class_name or folder.name
    if layout == "mvtec":
        categories = [folder] if is_mvtec_category(folder) else [d for d in _subdirs(folder) if is_mvtec_category(d)]
        return [j for c in categories for j in _mvtec_jobs(c, class_name or c.name)]
    if layout == "dsaii":
        classes = [folder] if is_dsaii_class(folder) else [d for d in _subdirs(folder) if is_dsaii_class(d)]
        return [j for c in classes for j in _dsaii_jobs(c, class_name or c.name)]
    jobs = [_Job(p, own) for p in _images(folder)]
    for sub in _subdirs(folder):
        jobs += [_Job(p, class_name or sub.name) for p in sorted(sub.rglob("*"))
                 if p.is_file() and imageio.is_image_name(p.name)]
    return jobs


def _import_one(ws: Workspace, cls: ImageClass, job: _Job, report: ImportReport, license: str | None) -> None:
    data = job.path.read_bytes()
    sha = sha256_bytes(data)
    if ws.catalog.has_sha(cls.id, sha):
        report.duplicates += 1
        return
    image = imageio.read_image(data, job.name)
    if job.role == "normal":
        result = ws.add_image(cls, image, role="normal", status="kept", origin="import", sha256=sha)
        if result.item is not None and (job.provenance or license):
            extra = job.provenance or {}
            ws.catalog.set_provenance(result.item.id, source_url=extra.get("url"), page_url=extra.get("page_url"),
                                      license=extra.get("license", license), attribution=extra.get("attribution"),
                                      engine=extra.get("engine", "import"), title=job.name)
    else:
        if job.mask is None:
            raise DsaiiError(f"{job.name}: anomaly image without a ground-truth mask")
        mask = imageio.read_mask(job.mask, job.mask.name, shape=image.shape[:2])
        with ws.catalog.transaction():  # an anomaly lands with its mask or not at all (a crash in between)
            result = ws.add_image(cls, image, role="anomaly", status="accepted", origin="import", sha256=sha,
                                  defect=job.defect)
            if result.item is not None:
                row = ws.add_mask(result.item, mask, kind="anomaly", source="ground_truth")
                ws.catalog.set_item_fields(result.item.id, mask_id=row.id)
        if result.item is not None:
            report.anomalies += 1
            if ws.add_bank_mask(mask, source=f"{cls.name}/{job.defect}", license=license, defect=job.defect):
                report.bank_masks += 1
    if result.item is None:
        report.duplicates += 1
    else:
        report.added += 1


def import_jobs(ws: Workspace, jobs: list[_Job], *, texture: bool = False, license: str | None = None,
                progress: Progress = lambda f: None) -> ImportReport:
    """Import planned files; a bad file is recorded in the report and the rest goes on."""
    report = ImportReport()
    classes: dict[str, ImageClass] = {}
    for index, job in enumerate(jobs):
        try:
            if job.class_name not in classes:
                classes[job.class_name] = ws.add_class(job.class_name, "texture" if texture else "object")
            report.classes.add(classes[job.class_name].name)
            _import_one(ws, classes[job.class_name], job, report, license)
        except DsaiiError as exc:
            report.errors.append((job.name, str(exc)))
        except OSError as exc:
            report.errors.append((job.name, f"cannot read ({exc.strerror or exc})"))
        progress((index + 1) / len(jobs))
    return report


def import_paths(ws: Workspace, paths: Iterable[Path], *, class_name: str | None = None, texture: bool = False,
                 license: str | None = None, progress: Progress = lambda f: None) -> ImportReport:
    """Import files, folders (any recognised layout) and zips; `class_name` puts everything in one class."""
    report = ImportReport()
    paths = [Path(p) for p in paths]
    for path in paths:
        if not path.exists():
            raise DsaiiError(f"{path}: no such file or folder")
    for number, path in enumerate(paths):
        def step(fraction: float, number: int = number) -> None:
            progress((number + fraction) / len(paths))
        if path.is_file() and path.suffix.lower() == ".zip":
            report.merge(import_zip(ws, path, class_name=class_name, texture=texture, license=license, progress=step))
        elif path.is_dir():
            report.merge(import_jobs(ws, plan_folder(path, class_name), texture=texture, license=license,
                                     progress=step))
        else:
            if class_name is None and not imageio.is_image_name(path.name):
                report.errors.append((path.name, "not an image, a folder or a zip"))
                continue
            report.merge(import_jobs(ws, [_Job(path, class_name or path.parent.name)], texture=texture,
                                     license=license, progress=step))
    return report


def safe_extract(archive: zipfile.ZipFile, dest: Path, max_bytes: int = MAX_ZIP_BYTES) -> list[tuple[str, str]]:
    """Extract a zip into `dest`, refusing path traversal, links, and archives over the size caps.

    Returns the entries that could not be written here (e.g. names too long for the file system).
    """
    members = archive.infolist()
    if len(members) > MAX_ZIP_ENTRIES:
        raise DsaiiError(f"zip has {len(members)} entries, more than {MAX_ZIP_ENTRIES}")
    if sum(m.file_size for m in members) > max_bytes:
        raise DsaiiError(f"zip unpacks to more than {max_bytes / 1024**3:.1f} GB")
    dest = dest.resolve()
    written = 0
    skipped: list[tuple[str, str]] = []
    for member in members:
        name = member.filename.replace("\\", "/")
        target = (dest / name).resolve()
        if name.startswith("/") or ".." in PurePosixPath(name).parts or not target.is_relative_to(dest):
            raise DsaiiError(f"zip entry '{member.filename}' points outside the import folder")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise DsaiiError(f"zip entry '{member.filename}' is a symbolic link")
        try:
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(target, "wb") as out:
                while block := src.read(1 << 20):
                    written += len(block)
                    if written > max_bytes:  # the header sizes lied
                        raise DsaiiError(f"zip unpacks to more than {max_bytes / 1024**3:.1f} GB")
                    out.write(block)
        except OSError as exc:
            skipped.append((PurePosixPath(name).name[:80], f"cannot be unpacked here ({exc.strerror or exc})"))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            skipped.append((PurePosixPath(name).name[:80], f"damaged zip entry ({exc})"))
    return skipped


def import_zip(ws: Workspace, source: Path | bytes, *, name: str = "upload.zip", class_name: str | None = None,
               fallback_class: str | None = None, texture: bool = False, license: str | None = None,
               max_bytes: int = MAX_ZIP_BYTES, progress: Progress = lambda f: None) -> ImportReport:
    """Unpack a zip safely into the workspace cache and import what it holds.

    `class_name` puts everything into one class; `fallback_class` names the class of a zip of
    loose images (default: the zip's name) and leaves zips with class folders alone.
    """
    label = source.name if isinstance(source, Path) else name
    scratch = Path(tempfile.mkdtemp(prefix="import-", dir=ws.cache_dir))
    try:
        try:
            with zipfile.ZipFile(source if isinstance(source, Path) else io.BytesIO(source)) as archive:
                skipped = safe_extract(archive, scratch, max_bytes)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise DsaiiError(f"{label}: not a valid zip file ({exc})") from exc
        folder = scratch
        # Step into wrapper folders ("export/data/...") until the layout shows.
        while (not _images(folder) and len(_subdirs(folder)) == 1 and detect_layout(folder) == "images"):
            folder = _subdirs(folder)[0]
        if class_name is None and detect_layout(folder) == "images":
            class_name = fallback_class or (folder.name if folder is not scratch else Path(label).stem)
        report = import_jobs(ws, plan_folder(folder, class_name), texture=texture, license=license, progress=progress)
        report.errors[:0] = skipped
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def import_uploads(ws: Workspace, files: list[tuple[str, bytes]], *, class_name: str | None,
                   texture: bool = False, progress: Progress = lambda f: None) -> ImportReport:
    """Import files uploaded in the app: zips are unpacked, images go to `class_name`."""
    report = ImportReport()
    images = [(n, d) for n, d in files if not n.lower().endswith(".zip")]
    zips = [(n, d) for n, d in files if n.lower().endswith(".zip")]
    if images and not class_name:
        raise DsaiiError("choose or type a class name for the uploaded images")
    scratch = Path(tempfile.mkdtemp(prefix="upload-", dir=ws.cache_dir))
    try:
        jobs = []
        for index, (name, data) in enumerate(images):
            # Uploaded names are untrusted: keep only a sanitised base name.
            path = scratch / f"{index:05d}{Path(PurePosixPath(name.replace(chr(92), '/')).name).suffix[:8]}"
            path.write_bytes(data)
            jobs.append(_Job(path, class_name, label=PurePosixPath(name.replace(chr(92), "/")).name))
        report.merge(import_jobs(ws, jobs, texture=texture, progress=progress))
        for name, data in zips:
            report.merge(import_zip(ws, data, name=name, fallback_class=class_name, texture=texture))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report
