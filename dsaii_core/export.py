"""Export a workspace as the reference DSAII layout or as MVTec AD folders, plus a manifest.

Exports are byte-identical when repeated on an unchanged workspace: files are copied as stored
(PNG written by imageio), listings are sorted, the split is seeded and the manifest has no time.
Only kept normals and accepted anomalies are exported.

The app owns only what it wrote: every export carries a marker file (MARKER), and an existing
output folder is replaced only when it is empty or an earlier export whose files are all listed
in its manifest. The earlier export is moved aside until the new one is complete, and put back
if anything fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dsaii_core import __version__
from dsaii_core.atomic import sha256_bytes
from dsaii_core.catalog import ImageClass, Item
from dsaii_core.errors import DsaiiError
from dsaii_core.imageio import is_image_name
from dsaii_core.workspace import Workspace, safe_dirname

LAYOUTS = ("dsaii", "mvtec")
MANIFEST = "manifest.json"
MARKER = ".dsaii-export"   # JSON {tool, version, layout}; not listed in the manifest's files
TOOL = "DSAII Studio"


@dataclass
class ExportReport:
    out: Path
    layout: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)   # relative path -> sha256
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = {k: sum(c[k] for c in self.counts.values()) for k in ("normal", "anomaly")}
        return (f"{self.layout} export: {len(self.counts)} classes, {total['normal']} normal and "
                f"{total['anomaly']} anomaly images, {len(self.files)} files in {self.out}")


@dataclass(frozen=True)
class ClassExport:
    """What the export of one class wrote: its counts, files (relative path -> sha256), parents, warnings."""
    name: str
    folder: str
    kind: str
    counts: dict[str, int]
    files: dict[str, str]
    parents: dict[str, str]    # exported anomaly path -> exported parent normal path
    warnings: list[str]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ClassExport":
        return cls(**data)


def exported_items(ws: Workspace, cls: ImageClass, warnings: list[str] | None = None) -> tuple[list[Item], list[Item]]:
    """Kept normals and accepted anomalies that have a mask, in catalog order.

    One anomaly per mask: when two accepted anomalies share a mask (an undo that brought an old
    result back beside its regenerated one), only the latest is exported and a warning added.
    """
    normals = ws.catalog.items(cls.id, "normal", ("kept",))
    latest: dict[int, Item] = {}
    for item in ws.catalog.items(cls.id, "anomaly", ("accepted",)):
        if item.mask_id is not None:
            if item.mask_id in latest and warnings is not None:
                warnings.append(f"{cls.name}: anomalies #{latest[item.mask_id].id} and #{item.id} are both accepted "
                                f"for one mask; only the latest (#{item.id}) is exported")
            latest[item.mask_id] = item
    anomalies = sorted(latest.values(), key=lambda item: item.id)
    return normals, anomalies


def split_normals(normals: list[Item], class_name: str, seed: int, test_ratio: float) -> tuple[list[Item], list[Item]]:
    """A seeded train / test split of the normals, stable per class name."""
    _check_ratio(test_ratio)
    rng = np.random.default_rng([seed, zlib.crc32(class_name.encode("utf-8"))])
    order = rng.permutation(len(normals))
    n_test = int(round(len(normals) * test_ratio))
    if test_ratio > 0 and len(normals) >= 2:
        n_test = min(max(n_test, 1), len(normals) - 1)
    test = sorted(order[:n_test].tolist())
    train = sorted(order[n_test:].tolist())
    return [normals[i] for i in train], [normals[i] for i in test]


def _check_ratio(test_ratio: float) -> None:
    if not 0.0 <= test_ratio < 1.0:
        raise DsaiiError(f"test ratio must be in [0, 1), not {test_ratio}")


class _Writer:
    """Copies workspace files into the export folder and records their hashes."""

    def __init__(self, ws: Workspace, root: Path):
        self.ws, self.root = ws, root
        self.files: dict[str, str] = {}        # relative path -> sha256
        self.warnings: list[str] = []
        self.paths: dict[int, str] = {}        # item id -> exported path, to name anomalies' parents
        self.parents: dict[str, str] = {}      # exported anomaly path -> exported parent normal path

    def item(self, item: Item, relative_dst: str) -> str:
        """Copy an item's image; an anomaly's parent normal is recorded when it was exported before it."""
        digest = self.copy(item.file, relative_dst)
        self.paths[item.id] = relative_dst
        if item.parent_id in self.paths:
            self.parents[relative_dst] = self.paths[item.parent_id]
        return digest

    def copy(self, relative_src: str, relative_dst: str) -> str:
        data = self.ws.path(relative_src).read_bytes()
        target = self.root / relative_dst
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        digest = sha256_bytes(data)
        self.files[relative_dst] = digest
        return digest

    def json(self, relative_dst: str, data: object) -> None:
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        (self.root / relative_dst).parent.mkdir(parents=True, exist_ok=True)
        (self.root / relative_dst).write_text(text, encoding="utf-8")
        self.files[relative_dst] = sha256_bytes(text.encode("utf-8"))


def _export_dsaii_class(ws: Workspace, cls: ImageClass, writer: _Writer) -> dict[str, int]:
    normals, anomalies = exported_items(ws, cls, writer.warnings)
    folder = cls.dirname
    urls = []
    for index, item in enumerate(normals):
        path = f"{folder}/normal/{index:03d}.png"
        digest = writer.item(item, path)
        source = ws.catalog.provenance(item.id)
        # The reference's keys (img_path, url) first in meaning; the rest is provenance from the catalog.
        urls.append({"img_path": f"./{path}", "url": source.source_url, "page_url": source.page_url,
                     "license": source.license, "attribution": source.attribution,
                     "engine": source.engine, "query": source.query, "title": source.title,
                     "fetched_at": source.fetched_at, "original_name": source.original_name,
                     "source_sha256": item.sha256, "sha256": digest})
    for index, item in enumerate(anomalies):
        writer.item(item, f"{folder}/anomaly/{index:03d}.png")
        writer.copy(ws.catalog.mask(item.mask_id).file, f"{folder}/mask/{index:03d}.png")
    writer.json(f"{folder}/img_url.json", urls)
    return {"normal": len(normals), "anomaly": len(anomalies)}


def _export_mvtec_class(ws: Workspace, cls: ImageClass, writer: _Writer, seed: int,
                        test_ratio: float) -> dict[str, int]:
    normals, anomalies = exported_items(ws, cls, writer.warnings)
    train, test = split_normals(normals, cls.name, seed, test_ratio)
    folder = cls.dirname
    for name, items in (("train/good", train), ("test/good", test)):
        for index, item in enumerate(items):
            writer.item(item, f"{folder}/{name}/{index:03d}.png")
    by_defect: dict[str, list[Item]] = {}
    spelling: dict[str, str] = {}  # "Crack" and "crack" are one folder on a case-insensitive disk: make them one
    for item in anomalies:
        name = safe_dirname(item.defect or "synthetic")
        by_defect.setdefault(spelling.setdefault(name.casefold(), name), []).append(item)
    for defect, items in sorted(by_defect.items()):
        if defect.casefold() == "good":
            defect = "good_defect"
        for index, item in enumerate(items):
            writer.item(item, f"{folder}/test/{defect}/{index:03d}.png")
            writer.copy(ws.catalog.mask(item.mask_id).file, f"{folder}/ground_truth/{defect}/{index:03d}_mask.png")
    return {"normal": len(normals), "train": len(train), "test_good": len(test), "anomaly": len(anomalies)}


def plan_export(ws: Workspace, out: Path, layout: str, test_ratio: float,
                class_names: list[str] | None = None) -> tuple[Path, list[ImageClass]]:
    """The checked output folder and the classes to export, in export order; DsaiiError for what cannot be done.

    `class_names` None or empty: every class. An existing `out` must be empty or an earlier export of ours
    (see check_replaceable).
    """
    if layout not in LAYOUTS:
        raise DsaiiError(f"layout must be one of {LAYOUTS}, not '{layout}'")
    if layout == "mvtec":
        _check_ratio(test_ratio)
    out = Path(out).resolve()
    if out == ws.root or out.is_relative_to(ws.root / "classes") or ws.root.is_relative_to(out):
        raise DsaiiError(f"{out}: choose an export folder outside the workspace's images")
    check_replaceable(out)
    classes = [ws.get_class(n) for n in class_names] if class_names else ws.catalog.classes()
    return out, sorted(classes, key=lambda c: c.dirname)


def export_class(ws: Workspace, cls: ImageClass, root: Path, layout: str, seed: int = 0,
                 test_ratio: float = 0.2) -> ClassExport:
    """Write one class's files under `root` (what an earlier try of it left there is replaced); what was written.

    Only copies files: the catalog is read, never written."""
    shutil.rmtree(Path(root) / cls.dirname, ignore_errors=True)
    writer = _Writer(ws, Path(root))
    if layout == "dsaii":
        counts = _export_dsaii_class(ws, cls, writer)
    else:
        counts = _export_mvtec_class(ws, cls, writer, seed, test_ratio)
    if counts["normal"] == 0:
        writer.warnings.append(f"{cls.name}: no kept normal images")
    return ClassExport(cls.name, cls.dirname, cls.kind, counts, writer.files, writer.parents, writer.warnings)


def finish_export(scratch: Path, out: Path, layout: str, parts: list[ClassExport], *, seed: int = 0,
                  test_ratio: float = 0.2) -> ExportReport:
    """Write the manifest and marker into `scratch`, which holds every class of `parts`, and swap it in at `out`."""
    report = export_report(out, layout, parts)
    manifest = {
        "tool": TOOL, "version": __version__, "layout": layout,
        "settings": {"seed": seed, "test_ratio": test_ratio} if layout == "mvtec" else {},
        "classes": {p.name: {"folder": p.folder, "kind": p.kind, **p.counts} for p in parts},
        "files": dict(sorted(report.files.items())),
        # Which normal each synthetic anomaly was made from, so validate compares it with its parent.
        "parents": dict(sorted((a, n) for p in parts for a, n in p.parents.items())),
        "marker": MARKER,
    }
    _write_json(scratch / MANIFEST, manifest)
    _write_json(scratch / MARKER, {"tool": TOOL, "version": __version__, "layout": layout})
    _swap_in(scratch, out)
    return report


def export_report(out: Path, layout: str, parts: list[ClassExport]) -> ExportReport:
    """What an export of `parts` to `out` writes (its manifest and marker aside)."""
    return ExportReport(Path(out), layout, {p.name: p.counts for p in parts},
                        {path: digest for p in parts for path, digest in p.files.items()},
                        [w for p in parts for w in p.warnings])


def export_workspace(ws: Workspace, out: Path, layout: str = "dsaii", *, seed: int = 0, test_ratio: float = 0.2,
                     class_names: list[str] | None = None,
                     progress: Callable[[float], None] = lambda f: None) -> ExportReport:
    """Write the workspace's dataset to `out` in one layout, with manifest.json, here and now, without a job
    (for code that runs inside a job, such as a benchmark's dataset); pages and commands start an export job
    (dsaii_core.export_job), which writes the same bytes with the same functions.

    The export is built in a temp folder beside `out` and swapped in at the end, so an interrupted export never
    leaves a half-written dataset.
    """
    out, classes = plan_export(ws, out, layout, test_ratio, class_names)
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        parts = []
        for cls in classes:
            parts.append(export_class(ws, cls, scratch, layout, seed, test_ratio))
            progress(len(parts) / len(classes))
        return finish_export(scratch, out, layout, parts, seed=seed, test_ratio=test_ratio)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def is_our_export(folder: Path) -> bool:
    """True when `folder` carries our marker file (written by export_workspace)."""
    try:
        marker = json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("tool") == TOOL


def _foreign_files(folder: Path) -> list[str]:
    """Files in an earlier export of ours that its manifest does not list (someone else put them there)."""
    try:
        listed = set(json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("files", {}))
    except (OSError, ValueError, AttributeError):
        listed = set()
    present = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    return sorted(p for p in present if p not in listed and p not in (MANIFEST, MARKER))


def check_replaceable(out: Path) -> None:
    """Raise DsaiiError unless `out` is missing, an empty folder, or an earlier export of ours holding only its files."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise DsaiiError(f"{out}: exists and is not a folder; choose an empty or new folder")
    if not any(out.iterdir()):
        return
    if not is_our_export(out):
        raise DsaiiError(f"{out}: not empty and not an earlier export of DSAII Studio (no {MARKER} marker); "
                         "choose an empty or new folder")
    foreign = _foreign_files(out)
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise DsaiiError(f"{out}: the earlier export there also holds files it did not write ({foreign[0]}{more}); "
                         "move them out or choose another folder")


def _swap_in(scratch: Path, out: Path) -> None:
    """Put the finished export at `out`; an earlier one is moved aside and removed only once the new one is in."""
    check_replaceable(out)  # again: the folder may have changed while the export was written
    aside, was_empty = None, out.is_dir() and not any(out.iterdir())
    if was_empty:
        out.rmdir()   # fails, keeping what appeared in it meanwhile, if it is no longer empty
    elif out.is_dir():
        aside = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
        os.rename(out, aside)
    try:
        os.rename(scratch, out)
    except BaseException:
        if aside is not None:
            os.rename(aside, out)
        elif was_empty:
            out.mkdir(exist_ok=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def default_out(ws: Workspace, layout: str) -> Path:
    """The default export folder of a layout: beside the workspace, one per layout (`demo-export-mvtec`)."""
    return ws.root.parent / f"{ws.root.name}-export-{layout}"


def download_name(ws: Workspace, layout: str) -> str:
    """The file name of an export's zip download, after workspace and layout (`demo-dsaii.zip`)."""
    return f"{ws.root.name}-{layout}.zip"


def zip_export(folder: Path, cache: Path) -> Path:
    """A deterministic zip of an export folder (sorted entries, fixed timestamps) for download, written file by file
    to `cache` (never whole in memory) and reused while the folder's files are unchanged.

    Images are stored as they are (deflating a PNG again costs time and saves nothing).
    """
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    stats = [(p.relative_to(folder).as_posix(), p.stat()) for p in files]
    stamp = "\n".join(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}" for name, stat in stats)
    path = cache / f"{folder.name}-{sha256_bytes(stamp.encode())[:16]}.zip"
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob(f"{folder.name}-*.zip"):  # an earlier export of this folder: replaced
        old.unlink(missing_ok=True)
    partial = cache / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                info = zipfile.ZipInfo(f"{folder.name}/{file.relative_to(folder).as_posix()}", (1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED if is_image_name(file.name) else zipfile.ZIP_DEFLATED
                with file.open("rb") as source, archive.open(info, "w") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path
