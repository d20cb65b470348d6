"""Import images into a workspace: files, folders of class folders, zips, DSAII and MVTec AD roots.

The layout of a folder is recognised automatically. Every file goes through `imageio`, so a
bad file is reported by name and the rest of the import goes on; files whose bytes are already
in the class (same sha256) or whose pixels are (another encoding) are skipped and counted.

What the import can be trusted for (issue 14):
- masks beside images (`ingest_masks`) are paired with their photos, never imported as images: a photo
  whose mask marks a defect is a real anomaly with that ground truth, one with an empty mask a normal
  image; a mask without its photo, and a lone black-and-white or blank image, is refused by name;
- near duplicates of a class's normal images (`ingest_dupes`) are imported and named in the report,
  so the curator can compare them on the Curate page;
- every item gets a provenance row: its original name (the path under the import root, prefixed with
  the root's folder or zip name; an upload's own name) and its license (an img_url.json entry's, else
  the one given, else the one read from a license file beside it: `ingest_licenses`).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

import numpy as np

from dsaii_core import imageio
from dsaii_core.atomic import sha256_bytes
from dsaii_core.catalog import ImageClass, Item
from dsaii_core.collect.dedupe import image_hashes
from dsaii_core.errors import DsaiiError
from dsaii_core.ingest_dupes import NearDuplicates
from dsaii_core.ingest_licenses import LicenseFinder
from dsaii_core.ingest_masks import defect_name, looks_like_mask, pair_masks
from dsaii_core.workspace import Workspace

Progress = Callable[[float], None]
MAX_ZIP_BYTES = 4 * 1024**3
MAX_ZIP_ENTRIES = 100_000
PROVENANCE_KEYS = ("url", "page_url", "license", "attribution", "engine", "query", "title", "fetched_at")


@dataclass
class ImportReport:
    """What an import did, per file."""
    added: int = 0
    duplicates: int = 0
    anomalies: int = 0
    bank_masks: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    classes: set[str] = field(default_factory=set)
    # (image, its mask, 'anomaly' when the mask marks a defect else 'normal'): masks used, not imported
    masks_beside: list[tuple[str, str, str]] = field(default_factory=list)
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)  # (image imported, image it repeats)
    licenses: Counter = field(default_factory=Counter)  # license recorded → images ('' = none)
    license_files: dict[str, str] = field(default_factory=dict)  # license file used → the license read

    def merge(self, other: "ImportReport") -> None:
        self.added += other.added
        self.duplicates += other.duplicates
        self.anomalies += other.anomalies
        self.bank_masks += other.bank_masks
        self.errors += other.errors
        self.classes |= other.classes
        self.masks_beside += other.masks_beside
        self.near_duplicates += other.near_duplicates
        self.licenses.update(other.licenses)
        self.license_files.update(other.license_files)

    def empty_masks_among_anomalies(self) -> list[str]:
        """Images made normal by an empty mask in a folder where other masks mark defects (an outline missing?)."""
        folders = {name.rpartition("/")[0] for name, _, role in self.masks_beside if role == "anomaly"}
        return [name for name, _, role in self.masks_beside if role == "normal" and name.rpartition("/")[0] in folders]

    def sentences(self) -> list[str]:
        """The summary, one sentence per finding: counts first, then masks, near duplicates and licenses."""
        text = (f"{self.added} images added ({self.anomalies} real anomalies) to {len(self.classes)} classes, "
                f"{self.duplicates} duplicates skipped, {self.bank_masks} masks added to the mask bank")
        sentences = [text + (f", {len(self.errors)} files rejected" if self.errors else "")]
        if self.masks_beside:
            marked = sum(1 for *_, role in self.masks_beside if role == "anomaly")
            suspects = self.empty_masks_among_anomalies()
            sentences.append(f"{len(self.masks_beside)} masks beside their images were paired with them, not "
                             f"imported as images: {marked} images whose mask marks a defect are real anomalies "
                             f"with that ground truth, {len(self.masks_beside) - marked} with an empty mask are normal"
                             + (f" ({len(suspects)} of these lie among anomalies: check them on Curate)"
                                if suspects else ""))
        if self.near_duplicates:
            sentences.append(f"{len(self.near_duplicates)} near duplicates imported: each nearly repeats another "
                             "image of its class (listed); compare them on Curate (Status: kept) and drop extra copies")
        for license, count in sorted(self.licenses.items()):
            files = sorted(f for f, text in self.license_files.items() if text == license)
            if license:
                sentences.append(f"license {license} recorded for {count} images"
                                 + (f" (read from {', '.join(files[:3])})" if files else ""))
            else:
                sentences.append(f"{count} images have no license: give one (--license, or the License field "
                                 "on Collect) or put a LICENSE file beside them")
        return sentences

    def summary(self) -> str:
        return ". ".join(self.sentences())


@dataclass(frozen=True)
class _Origin:
    """Where planned files come from: the import root, the name it is reported by, and its license files."""
    root: Path
    label: str
    licenses: LicenseFinder
    names: dict[Path, str] = field(default_factory=dict)  # names the user knows files by (uploads)

    @classmethod
    def of(cls, root: Path, label: str | None = None, *, holder: bool = False,
           names: dict[Path, str] | None = None) -> "_Origin":
        label = (root.resolve().name or str(root)) if label is None else label
        return cls(root, label, LicenseFinder(root, label, holder=holder), names or {})

    def name_of(self, path: Path) -> str:
        """The original name of a file: the root's label and the path below it (an upload: its own name)."""
        if path in self.names:
            return self.names[path]
        return "/".join(part for part in (self.label, *path.relative_to(self.root).parts) if part)


@dataclass(frozen=True)
class _Job:
    """One file to import and where it goes."""
    path: Path
    class_name: str
    role: str = "normal"  # normal | anomaly (its mask is required) | paired (the mask beside it decides)
    defect: str | None = None
    mask: Path | None = None
    provenance: dict | None = None  # an img_url.json entry
    label: str | None = None  # the name the user knows the file by (uploads are stored under scratch names)
    original_name: str | None = None
    mask_name: str | None = None
    found_license: tuple[str, str] | None = None  # (license, license file) from a license file beside it

    @property
    def name(self) -> str:
        return self.label or self.path.name


@dataclass
class ImportPlan:
    """The files to import, and the files refused while planning (masks without their photo), by name."""
    jobs: list[_Job] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def _job(path: Path, class_name: str, origin: _Origin, **fields) -> _Job:
    mask = fields.get("mask")
    return _Job(path, class_name, original_name=origin.name_of(path), found_license=origin.licenses.find(path),
                mask_name=origin.name_of(mask) if mask is not None else None, label=origin.names.get(path), **fields)


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


def _mvtec_jobs(category: Path, class_name: str, origin: _Origin) -> list[_Job]:
    normals = _images(category / "train" / "good") + _images(category / "test" / "good")
    jobs = [_job(p, class_name, origin) for p in normals]
    for defect_dir in _subdirs(category / "test") if (category / "test").is_dir() else []:
        if defect_dir.name == "good":
            continue
        for image in _images(defect_dir):
            mask_dir = category / "ground_truth" / defect_dir.name
            mask = next((m for m in (mask_dir / f"{image.stem}_mask.png", mask_dir / f"{image.stem}.png") if m.is_file()),
                        None)
            jobs.append(_job(image, class_name, origin, role="anomaly", defect=defect_dir.name, mask=mask))
    return jobs


def _dsaii_jobs(folder: Path, class_name: str, origin: _Origin) -> list[_Job]:
    urls: dict[str, dict] = {}
    index = folder / "img_url.json"
    if index.is_file():
        try:
            entries = json.loads(index.read_text(encoding="utf-8"))
            entries = entries if isinstance(entries, list) else []
            urls = {PurePosixPath(str(e.get("img_path", ""))).name: e for e in entries if isinstance(e, dict)}
        except (ValueError, UnicodeDecodeError):
            pass  # a broken index loses provenance, not images
    jobs = [_job(p, class_name, origin, provenance=urls.get(p.name)) for p in _images(folder / "normal")]
    masks = {m.stem: m for m in _images(folder / "mask")}
    for image in _images(folder / "anomaly"):
        jobs.append(_job(image, class_name, origin, role="anomaly", defect="synthetic", mask=masks.get(image.stem)))
    return jobs


def _plain_plan(files: list[Path], class_of: Callable[[Path], str], origin: _Origin) -> ImportPlan:
    """Jobs for loose images: masks beside them are paired with their photos or refused."""
    pairing = pair_masks(files, origin.root)
    jobs = [_job(photo, class_of(photo), origin, role="paired", mask=mask, defect=defect_name(photo, origin.root))
            if mask is not None else _job(photo, class_of(photo), origin) for photo, mask in pairing.photos]
    return ImportPlan(jobs, [(origin.name_of(mask), message) for mask, message in pairing.refused])


def plan_folder(folder: Path, class_name: str | None = None, origin: _Origin | None = None) -> ImportPlan:
    """The files of a folder and the class / role each goes to, by the folder's layout.

    `origin` is the root that original names and license files are taken from: by default the folder
    itself (and, for an MVTec AD category, the folder that holds it); a zip's top folder for zips.
    """
    layout = detect_layout(folder)
    origin = origin or _Origin.of(folder, holder=is_mvtec_category(folder))
    own = class_name or folder.name
    if layout == "mvtec":
        categories = [folder] if is_mvtec_category(folder) else [d for d in _subdirs(folder) if is_mvtec_category(d)]
        return ImportPlan([j for c in categories for j in _mvtec_jobs(c, class_name or c.name, origin)])
    if layout == "dsaii":
        classes = [folder] if is_dsaii_class(folder) else [d for d in _subdirs(folder) if is_dsaii_class(d)]
        return ImportPlan([j for c in classes for j in _dsaii_jobs(c, class_name or c.name, origin)])
    files = _images(folder) + [p for sub in _subdirs(folder) for p in sorted(sub.rglob("*"))
                               if p.is_file() and imageio.is_image_name(p.name)]
    return _plain_plan(files, lambda p: class_name or (own if p.parent == folder else p.relative_to(folder).parts[0]),
                       origin)


def _clean(value: object) -> str | float | None:
    """A provenance value from an untrusted img_url.json: text or a number, nothing else."""
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def _license_of(job: _Job, given: str | None, report: ImportReport) -> str | None:
    """An img_url.json entry's license, else the one given, else the one read from a license file."""
    own = _clean((job.provenance or {}).get("license"))
    if own or given:
        return str(own or given)
    if job.found_license is None:
        return None
    license, source = job.found_license
    report.license_files[source] = license
    return license


def _refuse_mask_like(image: np.ndarray, name: str) -> None:
    if image.min() == image.max():
        value = int(image.min())
        raise DsaiiError(f"{name}: blank image, every pixel {value}"
                         + (" (an empty mask without its photo?)" if value in (0, 255) else "") + ": not imported")
    if looks_like_mask(image):
        raise DsaiiError(f"{name}: looks like a mask (black and white pixels only) and no photo of its name lies "
                         "beside it: not imported")


def _import_one(ws: Workspace, cls: ImageClass, job: _Job, report: ImportReport, license: str | None,
                dupes: Callable[[], NearDuplicates]) -> None:
    data = job.path.read_bytes()
    sha = sha256_bytes(data)
    if ws.catalog.has_sha(cls.id, sha):
        report.duplicates += 1
        return
    image = imageio.read_image(data, job.name)
    mask = None if job.mask is None else imageio.read_mask(job.mask, job.mask.name, shape=image.shape[:2])
    role = job.role if job.role != "paired" else ("anomaly" if mask.any() else "normal")
    if role == "normal" and mask is None:
        _refuse_mask_like(image, job.name)
    if role == "anomaly" and mask is None:
        raise DsaiiError(f"{job.name}: anomaly image without a ground-truth mask")
    license = _license_of(job, license, report)
    if role == "normal":
        item = _add_normal(ws, cls, job, image, sha, license, report, dupes())
    else:
        item = _add_anomaly(ws, cls, job, image, mask, sha, license, report)
    if item is None:  # its bytes or pixels are already in the class
        report.duplicates += 1
        return
    report.added += 1
    report.licenses[license or ""] += 1
    if job.role == "paired":
        report.masks_beside.append((job.original_name or job.name, job.mask_name or job.mask.name, role))


def _add_normal(ws: Workspace, cls: ImageClass, job: _Job, image: np.ndarray, sha: str, license: str | None,
                report: ImportReport, dupes: NearDuplicates) -> Item | None:
    """A kept normal image, with its hashes and provenance; a near duplicate is added and named in the report."""
    hashes = image_hashes(image)
    repeats = dupes.match(image, hashes)
    if repeats is not None and repeats[0] == "exact":  # the same pixels in another file
        return None
    with ws.catalog.transaction():
        item = ws.add_image(cls, image, role="normal", status="kept", origin="import", sha256=sha,
                            info=hashes.as_info()).item
        if item is not None:
            _set_provenance(ws, item.id, job, license)
    if item is not None:
        dupes.add(item.id, hashes, job.original_name or job.name, image)
        if repeats is not None:
            report.near_duplicates.append((job.original_name or job.name, repeats[1]))
    return item


def _add_anomaly(ws: Workspace, cls: ImageClass, job: _Job, image: np.ndarray, mask: np.ndarray, sha: str,
                 license: str | None, report: ImportReport) -> Item | None:
    """A real (accepted) anomaly with its ground-truth mask, which also goes to the mask bank."""
    with ws.catalog.transaction():  # an anomaly lands with its mask or not at all (a crash in between)
        item = ws.add_image(cls, image, role="anomaly", status="accepted", origin="import", sha256=sha,
                            defect=job.defect).item
        if item is not None:
            row = ws.add_mask(item, mask, kind="anomaly", source="ground_truth")
            ws.catalog.set_item_fields(item.id, mask_id=row.id)
            _set_provenance(ws, item.id, job, license)
    if item is not None:
        report.anomalies += 1
        if ws.add_bank_mask(mask, source=f"{cls.name}/{job.defect}", license=license, defect=job.defect):
            report.bank_masks += 1
    return item


def _set_provenance(ws: Workspace, item_id: int, job: _Job, license: str | None) -> None:
    extra = {key: _clean(value) for key, value in (job.provenance or {}).items() if key in PROVENANCE_KEYS}
    ws.catalog.set_provenance(item_id, source_url=extra.get("url"), page_url=extra.get("page_url"), license=license,
                              attribution=extra.get("attribution"), engine=extra.get("engine") or "import",
                              query=extra.get("query"), title=extra.get("title") or job.name,
                              fetched_at=extra.get("fetched_at"), original_name=job.original_name or job.name)


def import_jobs(ws: Workspace, plan: ImportPlan, *, texture: bool = False, license: str | None = None,
                progress: Progress = lambda f: None) -> ImportReport:
    """Import planned files; a bad file is recorded in the report and the rest goes on."""
    report = ImportReport(errors=list(plan.refused))
    license = (license or "").strip() or None
    classes: dict[str, ImageClass] = {}
    dupes: dict[str, NearDuplicates] = {}
    for index, job in enumerate(plan.jobs):
        try:
            if job.class_name not in classes:
                classes[job.class_name] = ws.add_class(job.class_name, "texture" if texture else "object")
            cls = classes[job.class_name]
            report.classes.add(cls.name)

            def class_dupes(cls: ImageClass = cls) -> NearDuplicates:  # built when a normal image first needs it
                if cls.name not in dupes:
                    dupes[cls.name] = NearDuplicates(ws, cls)
                return dupes[cls.name]
            _import_one(ws, cls, job, report, license, class_dupes)
        except DsaiiError as exc:
            report.errors.append((job.name, str(exc)))
        except OSError as exc:
            report.errors.append((job.name, f"cannot read ({exc.strerror or exc})"))
        progress((index + 1) / len(plan.jobs))
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
            origin = _Origin.of(path.parent, "")  # a file imported on its own keeps its bare name
            plan = ImportPlan([_job(path, class_name or path.parent.name, origin)])
            report.merge(import_jobs(ws, plan, texture=texture, license=license, progress=step))
    return report


def safe_extract(archive: zipfile.ZipFile, dest: Path, max_bytes: int = MAX_ZIP_BYTES, *,
                 max_entry_bytes: int = 200 * 1024**2, max_ratio: float = 100.0,
                 ratio_from_bytes: int = 1024**2) -> list[tuple[str, str]]:
    """Extract a zip into `dest`, refusing path traversal, links, and archives over the size caps.

    An entry over `max_entry_bytes`, or one that unpacks to more than `max_ratio` times its compressed
    size (past `ratio_from_bytes`: small text files compress well), is not unpacked (a zip bomb's entry).
    Its header's sizes can be trusted for this: zipfile never yields more than the declared size (the CRC
    check fails). Returns the entries refused or not writable here (e.g. names too long for the file system),
    each with the reason.
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
        if not member.is_dir() and member.file_size > max_entry_bytes:
            skipped.append((PurePosixPath(name).name[:80], f"zip entry '{member.filename}' unpacks to more than "
                            f"{max_entry_bytes / 1024**2:g} MB: not unpacked"))
            continue
        if member.file_size > max(ratio_from_bytes, max_ratio * member.compress_size):
            skipped.append((PurePosixPath(name).name[:80], f"zip entry '{member.filename}' unpacks to over "
                            f"{max_ratio:g} times its compressed size (a zip bomb?): not unpacked"))
            continue
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


def spool_upload(source: bytes | io.BufferedIOBase, path: Path, block: int = 1 << 20) -> None:
    """Write an upload to `path`; a file object is copied in `block`-sized reads, never read whole.

    (A zip is not spooled: import_zip reads a file object in place.)
    """
    if isinstance(source, bytes):
        path.write_bytes(source)
        return
    source.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(source, out, block)


def import_zip(ws: Workspace, source: Path | bytes | io.BufferedIOBase, *, name: str = "upload.zip",
               class_name: str | None = None, fallback_class: str | None = None, texture: bool = False,
               license: str | None = None, max_bytes: int = MAX_ZIP_BYTES,
               progress: Progress = lambda f: None) -> ImportReport:
    """Unpack a zip safely into the workspace cache and import what it holds.

    `class_name` puts everything into one class; `fallback_class` names the class of a zip of
    loose images (default: the zip's name) and leaves zips with class folders alone. Original names
    are `<zip name>/<path inside the zip>`; license files anywhere above an image inside the zip count.
    """
    label = source.name if isinstance(source, Path) else _base_name(name)
    scratch = Path(tempfile.mkdtemp(prefix="import-", dir=ws.cache_dir))
    try:
        try:
            with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
                skipped = safe_extract(archive, scratch, max_bytes)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise DsaiiError(f"{label}: not a valid zip file ({exc})") from exc
        folder = scratch
        # Step into wrapper folders ("export/data/...") until the layout shows.
        while (not _images(folder) and len(_subdirs(folder)) == 1 and detect_layout(folder) == "images"):
            folder = _subdirs(folder)[0]
        if class_name is None and detect_layout(folder) == "images":
            class_name = fallback_class or (folder.name if folder is not scratch else Path(label).stem)
        plan = plan_folder(folder, class_name, origin=_Origin.of(scratch, label))
        report = import_jobs(ws, plan, texture=texture, license=license, progress=progress)
        report.errors[:0] = skipped
        return report
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _base_name(name: str) -> str:
    """The base name of an uploaded file's name (untrusted: any path in it is dropped)."""
    return PurePosixPath(name.replace("\\", "/")).name


def _scratch_name(name: str, index: int, taken: set[str]) -> str:
    """A safe file name that keeps an upload's stem and suffix, so masks beside images pair by name."""
    safe = re.sub(r"[^\w.\- ]", "_", _base_name(name)).strip(" .")[-120:] or f"upload{index}"
    if safe.casefold() in taken:
        path = PurePosixPath(safe)
        safe = f"{path.stem}~{index}{path.suffix}"
    taken.add(safe.casefold())
    return safe


def import_uploads(ws: Workspace, files: list[tuple[str, bytes | io.BufferedIOBase]], *, class_name: str | None,
                   texture: bool = False, license: str | None = None,
                   progress: Progress = lambda f: None) -> ImportReport:
    """Import files uploaded in the app: zips are unpacked, images go to `class_name`.

    Uploaded masks beside their photos (same stem, or `_mask` names) are paired as in a folder.
    A file given as a binary file object (Streamlit's UploadedFile) is never read whole: see spool_upload.
    """
    report = ImportReport()
    images = [(n, d) for n, d in files if not n.lower().endswith(".zip")]
    zips = [(n, d) for n, d in files if n.lower().endswith(".zip")]
    if images and not class_name:
        raise DsaiiError("choose or type a class name for the uploaded images")
    scratch = Path(tempfile.mkdtemp(prefix="upload-", dir=ws.cache_dir))
    try:
        labels: dict[Path, str] = {}
        taken: set[str] = set()
        for index, (name, data) in enumerate(images):
            path = scratch / _scratch_name(name, index, taken)
            spool_upload(data, path)
            labels[path] = _base_name(name)
        plan = _plain_plan(list(labels), lambda p: class_name, _Origin.of(scratch, "", names=labels))
        report.merge(import_jobs(ws, plan, texture=texture, license=license, progress=progress))
        for name, data in zips:
            report.merge(import_zip(ws, data, name=name, fallback_class=class_name, texture=texture, license=license))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report
