"""A detector's run on a workspace as a resumable background job: one job item per class.

`start_bench_job` exports the workspace as MVTec AD (with the run's seed) into the run's own dataset/
folder and records the run, with no metrics yet. Each item fits a fresh detector (built-in, or one of
anomalib's through its Engine) on its class's train normals, writes the maps, and commits the class's
metrics with its job_items row, so a killed worker resumes at the next class and the dashboard fills in
class by class. A finished class's train images are deleted; its test images and ground truth stay with
the run. Detectors run on a GPU where there is one, else on every core of the CPU.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict
from typing import Callable, Sequence

from dsaii_core import jobs
from dsaii_core.bench.dataset import read_mvtec
from dsaii_core.bench.detectors import DetectorSpec, use_every_core
from dsaii_core.bench.runs import (DATASET_FOLDER, ClassResult, new_run_folder, record_class, removed_on_error,
                                   score_class, stored_run)
from dsaii_core.errors import DsaiiError
from dsaii_core.export import export_workspace
from dsaii_core.workspace import Workspace

JOB_KIND = "bench"


def start_bench_job(ws: Workspace, spec: DetectorSpec, *, name: str | None = None, shots: int | None = None,
                    class_names: list[str] | None = None) -> tuple[jobs.Job, int]:
    """Export, record the run and queue its job; returns (job, run id). Run it with jobs.run_job / start_worker."""
    if shots is not None and shots < 1:
        raise DsaiiError(f"shots must be at least 1, not {shots}")
    settings = spec.build().settings    # fails fast on a bad detector, backbone or weights file, or no anomalib
    with removed_on_error(new_run_folder(ws)) as folder:
        dataset = folder / DATASET_FOLDER
        export_workspace(ws, dataset, "mvtec", seed=spec.seed, class_names=class_names)
        if not any((p / "train" / "good").is_dir() for p in dataset.iterdir()):
            raise DsaiiError("no class to benchmark: a class needs kept normal images (and accepted anomalies)")
        splits = read_mvtec(dataset)
        run_id = ws.catalog.insert_run(name=name or spec.name, detector=spec.name,
                                       settings={**settings, "shots": shots, "seed": spec.seed},
                                       maps_dir=folder.relative_to(ws.root).as_posix(), metrics={})
    job = jobs.create_job(ws.catalog, JOB_KIND, [s.name for s in splits],
                          {"run_id": run_id, "detector": asdict(spec), "shots": shots, "seed": spec.seed})
    return job, run_id


def run_of_job(job: jobs.Job) -> int:
    return int(job.params["run_id"])


class BenchTask(jobs.Task):
    """Scores one class per item; the detector is rebuilt per class from the job's spec."""
    batch_size = 1
    uses_gpu = True   # features (and anomalib's training) run on a GPU where there is one

    def __init__(self, ws: Workspace, job: jobs.Job):
        self.ws, self.job_id, self.run_id = ws, job.id, run_of_job(job)
        self.folder = ws.path(stored_run(ws, self.run_id).maps_dir)
        self.spec = DetectorSpec(**job.params["detector"])
        self.shots = job.params.get("shots")

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        use_every_core()
        out: list[object] = []
        for key in keys:
            try:
                split, = read_mvtec(self.folder / DATASET_FOLDER, [key])
                out.append(score_class(self.spec.build(), split, self.shots, self.spec.seed, self.folder,
                                       progress=self._stop_when_cancelled()))
            except DsaiiError as exc:
                out.append(exc)
        return out

    def _stop_when_cancelled(self, every_s: float = 1.0) -> Callable[[float], None]:
        """A progress callback that stops a class's training or scoring (about once a second it looks) when the
        job is being cancelled: the class is left undone and Resume runs it again."""
        last = [float("-inf")]

        def check(fraction: float) -> None:
            if time.monotonic() - last[0] < every_s:
                return
            last[0] = time.monotonic()
            if jobs.get_job(self.ws.catalog, self.job_id).state in ("cancelling", "cancelled"):
                raise DsaiiError("cancelled while this class ran; Resume runs it again")
        return check

    def commit(self, key: str, seed: int, output: object) -> str:
        assert isinstance(output, ClassResult)
        self.ws.catalog.set_run_metrics(self.run_id, output.name, output.metrics)
        record_class(self.folder, output)
        shutil.rmtree(self.folder / DATASET_FOLDER / output.folder / "train", ignore_errors=True)
        return "; ".join(output.notes)
