"""Lint a dataset folder: name every problem of an export with its file.

Checks our exports, the published DSAII folder ({CLASS}/normal, anomaly, mask, img_url.json) and
MVTec AD downloads ({CLASS}/train/good, test/<defect>, ground_truth/<defect>/<stem>_mask). Each image
is read once; classes are checked in a process pool and the cross-class checks (exact duplicates,
our manifest) run on what the classes send back.

An anomaly is compared with its parent normal: named by our manifest's `parents`, else the nearest
normal of the same size whose pixels outside the (feathered) mask agree almost everywhere; a real
defect photo has no such normal and is not compared. A synthetic anomaly is by design a near copy of
its parent, so only normals are searched for near duplicates.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import as_completed
from pathlib import Path
from typing import Callable

from dsaii_core import imageio
from dsaii_core.atomic import sha256_file
from dsaii_core.errors import DsaiiError
from dsaii_core.pools import process_pool
from dsaii_core.validate.images import ClassResult, Seen, check_class, settings
from dsaii_core.validate.layout import LAYOUTS, MANIFEST, MARKER, ClassJob, class_jobs, detect_layout
from dsaii_core.validate.report import KINDS, Problem, ValidationReport

__all__ = ["KINDS", "LAYOUTS", "Problem", "ValidationReport", "detect_layout", "validate"]

SERIAL_BELOW = 300       # image files under which a process pool costs more than it saves


def _manifest(root: Path) -> dict | None:
    """Our export's manifest, when the folder carries our marker."""
    if not (root / MARKER).is_file():
        return None
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _exact_duplicates(seen: list[Seen], splits: dict[str, str]) -> list[Problem]:
    groups: dict[str, list[Seen]] = {}
    for entry in seen:
        if entry.pixels is not None:
            groups.setdefault(entry.pixels, []).append(entry)
    problems = []
    for group in groups.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda e: (e.role != "normal", e.path))
        first = group[0]
        for other in group[1:]:
            if other.role == "anomaly" and first.role == "normal":
                problems.append(Problem(other.path, f"no visible change: the same pixels as the normal {first.path}",
                                        "no_change"))
            elif {splits.get(first.path), splits.get(other.path)} == {"train", "test"}:
                problems.append(Problem(other.path, f"the same pixels as {first.path} across train and test "
                                                    "(leakage)", "leakage"))
            else:
                problems.append(Problem(other.path, f"exact duplicate of {first.path}", "duplicate"))
    return problems


def _manifest_problems(root: Path, manifest: dict, jobs: list[ClassJob], results: list[ClassResult]) -> list[Problem]:
    """Files of our export that were changed, removed or added since it was written."""
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    read = {path: digest for result in results for path, digest in result.file_sha.items()}
    problems = []
    for path, digest in sorted(listed.items()):
        if not (root / path).is_file():
            problems.append(Problem(path, "listed in manifest.json but missing", "manifest"))
            continue
        actual = read.get(path) or (None if imageio.is_image_name(path) else sha256_file(root / path))
        if actual is not None and actual != digest:
            problems.append(Problem(path, "differs from the file the export wrote (manifest sha256)", "manifest"))
    present = {i.path for job in jobs for i in job.images} | {i.mask for job in jobs for i in job.images if i.mask}
    for path in sorted(present - set(listed)):
        problems.append(Problem(path, "not listed in manifest.json (added after the export)", "manifest"))
    return problems


def validate(folder: Path, layout: str | None = None, *, workers: int | None = None,
             progress: Callable[[float], None] = lambda f: None) -> ValidationReport:
    """Check a dataset folder (or one class folder) and return every problem found, with its file.

    `layout` None: detected. `workers` None: one process per core (small folders run in this process).
    """
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise DsaiiError(f"{folder}: no such folder")
    if layout is not None and layout not in LAYOUTS:
        raise DsaiiError(f"layout must be one of {LAYOUTS}, not '{layout}'")
    layout = layout or detect_layout(root)
    manifest = _manifest(root)
    jobs = class_jobs(root, layout)
    if manifest:
        parents = manifest.get("parents") if isinstance(manifest.get("parents"), dict) else {}
        listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
        for job in jobs:
            paths = {i.path for i in job.images} | {i.mask for i in job.images if i.mask}
            job.parents = {a: n for a, n in parents.items() if a in paths}
            job.digests = {p: listed[p] for p in paths if p in listed}
    results = _run(jobs, workers, progress)
    report = ValidationReport(root, layout, settings=settings())
    splits = {i.path: i.split for job in jobs for i in job.images if i.split}
    report.problems = [p for r in results for p in r.problems]
    report.problems += _exact_duplicates([s for r in results for s in r.seen], splits)
    if manifest is not None:
        report.problems += _manifest_problems(root, manifest, jobs, results)
    report.problems.sort(key=lambda p: (p.path, p.kind, p.what))
    report.counts = {"classes": len(jobs),
                     "normal": sum(i.role == "normal" for j in jobs for i in j.images),
                     "anomaly": sum(i.role == "anomaly" for j in jobs for i in j.images),
                     "mask": sum(i.mask is not None for j in jobs for i in j.images)}
    return report


def _run(jobs: list[ClassJob], workers: int | None, progress: Callable[[float], None]) -> list[ClassResult]:
    workers = workers or os.cpu_count() or 1
    total = max(1, sum(j.size for j in jobs))
    if workers <= 1 or len(jobs) <= 1 or total < SERIAL_BELOW:
        results = []
        for index, job in enumerate(jobs):
            results.append(check_class(job))
            progress((index + 1) / len(jobs))
        return results
    results: list[ClassResult | None] = [None] * len(jobs)
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].size)   # the biggest classes first
    done = 0
    with process_pool(min(workers, len(jobs))) as pool:
        futures = {pool.submit(check_class, jobs[i]): i for i in order}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            done += jobs[futures[future]].size
            progress(done / total)
    return [r for r in results if r is not None]
