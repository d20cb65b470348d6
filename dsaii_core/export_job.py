"""Export as a job, the one way pages and commands export: one item per class, then the folder swapped in.

An item's `compute` copies its class's files into the job's scratch folder beside the output folder (files
only: the catalog is read, never written); `commit` records what it wrote as the item's result; `finish`
writes the manifest and marker from those results, swaps the scratch folder in over an earlier export of
ours (see dsaii_core.export: only a folder carrying our marker is replaced, the old one kept until the new
one is complete) and runs `validate`, whose report is kept in the workspace cache by job id.

A cancelled or failed export keeps its scratch folder, so resuming it copies only the classes not done yet;
starting a new export to the same folder removes the scratch folders of earlier ones that no longer run.
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Sequence

from dsaii_core import jobs
from dsaii_core.atomic import atomic_write_text
from dsaii_core.errors import DsaiiError
from dsaii_core.export import (MANIFEST, ClassExport, ExportReport, export_class, export_report, finish_export,
                               plan_export)
from dsaii_core.validate import ValidationReport, validate
from dsaii_core.workspace import Workspace

JOB_KIND = "export"


def start_export_job(ws: Workspace, out: Path, layout: str = "dsaii", *, seed: int = 0, test_ratio: float = 0.2,
                     class_names: list[str] | None = None) -> jobs.Job:
    """A queued export of the classes named (None or empty: all) to `out`; DsaiiError at once for a layout, ratio
    or folder that cannot be used (a foreign folder is refused here, before anything is written)."""
    out, classes = plan_export(ws, out, layout, test_ratio, class_names)
    out.parent.mkdir(parents=True, exist_ok=True)
    _drop_stale_scratch(ws, out)
    params = {"out": str(out), "layout": layout, "seed": seed, "test_ratio": test_ratio,
              "scratch": str(out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}")}
    return jobs.create_job(ws.catalog, JOB_KIND, [c.name for c in classes], params)


def _drop_stale_scratch(ws: Workspace, out: Path) -> None:
    """Remove the scratch folders of this workspace's earlier exports to `out` that no longer run."""
    for job in jobs.list_jobs(ws.catalog, JOB_KIND, limit=1000):
        if job.params.get("out") == str(out) and not job.active:
            shutil.rmtree(job.params["scratch"], ignore_errors=True)


def job_export_report(ws: Workspace, job: jobs.Job) -> ExportReport:
    """What an export job wrote (so far): classes, counts, files and warnings."""
    return export_report(Path(job.params["out"]), job.params["layout"], _parts(ws, job))


def export_check(ws: Workspace, job: jobs.Job) -> ValidationReport | None:
    """The validate report of a finished export job; None before it is written."""
    try:
        return ValidationReport.from_dict(json.loads(_check_path(ws, job.id).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _check_path(ws: Workspace, job_id: int) -> Path:
    return ws.cache_dir / "exports" / f"{job_id}.validate.json"


def _parts(ws: Workspace, job: jobs.Job) -> list[ClassExport]:
    return [ClassExport.from_dict(json.loads(result)) for _, result in jobs.item_results(ws.catalog, job.id)]


class ExportTask(jobs.Task):
    """The 'export' job kind: compute = one class's files copied into the scratch folder, commit = what it wrote,
    finish = manifest, marker, swap and validate."""

    def __init__(self, ws: Workspace, job: jobs.Job):
        self.ws, self.spec = ws, job.params
        self.out, self.scratch = Path(self.spec["out"]), Path(self.spec["scratch"])

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        outputs: list[object] = []
        for name in keys:
            try:
                cls = self.ws.get_class(name)
            except DsaiiError as exc:  # renamed or deleted since the job started: this class fails
                outputs.append(exc)
                continue
            outputs.append(export_class(self.ws, cls, self.scratch, self.spec["layout"], int(self.spec["seed"]),
                                        float(self.spec["test_ratio"])))
        return outputs

    def commit(self, key: str, seed: int, output: object) -> str:
        assert isinstance(output, ClassExport)
        return json.dumps(output.as_dict(), sort_keys=True)

    def finish(self, job: jobs.Job) -> None:
        if job.failed:
            return  # no swap: the scratch folder stays for a resume
        parts, layout = _parts(self.ws, job), self.spec["layout"]
        expected = {path for part in parts for path in part.files}
        if not self.scratch.is_dir() and not parts:
            self.scratch.mkdir()  # an export of no class: a manifest alone
        if self.scratch.is_dir():
            missing = sorted(p for p in expected if not (self.scratch / p).is_file())
            if missing:
                raise DsaiiError(f"{self.scratch}: {missing[0]} went missing from the export being built; "
                                 "start the export again")
            finish_export(self.scratch, self.out, layout, parts, seed=int(self.spec["seed"]),
                          test_ratio=float(self.spec["test_ratio"]))
        elif not self._swapped_in(expected):
            raise DsaiiError(f"{self.scratch}: the export being built is gone; start the export again")
        report = validate(self.out, layout)
        atomic_write_text(_check_path(self.ws, job.id), json.dumps(report.as_dict(), indent=1) + "\n")

    def _swapped_in(self, expected: set[str]) -> bool:
        """Whether `out` already is this job's export (its worker died after the swap)."""
        try:
            manifest = json.loads((self.out / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return manifest.get("layout") == self.spec["layout"] and set(manifest.get("files", {})) == expected
