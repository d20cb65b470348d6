"""Resumable batch jobs: state in the catalog (`jobs`, `job_items`), work in a background worker.

A job is a list of item keys and the params of its task. The runner computes results in batches
(through an Executor: in this process, or on a Ray cluster, see dsaii_core.ray_executor) and
commits each item's result rows together with its
`job_items` row in one transaction, so an item is done exactly when its result is in the catalog:
a worker killed at any moment resumes without losing or duplicating results. A file written
before a crash is either overwritten by the retry (same next file name) or removed by
`Workspace.repair`; what a task staged and nobody filed is removed when the job stops.
Failed items are retried with a new seed up to `max_attempts`.

The worker (`python -m dsaii_core worker WS JOB_ID`) runs detached from the app, beats a
heartbeat, and stops between batches when the job is cancelled.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol, Sequence


from dsaii_core import settings
from dsaii_core.catalog import ACTIVE_STATES, JOB_FINAL_STATES, Catalog, Job  # noqa: F401 (ACTIVE_STATES, Job: API)
from dsaii_core.devices import gpu_present
from dsaii_core.errors import DsaiiError, failure_message
from dsaii_core.pools import process_pool
from dsaii_core.workspace import DB_NAME, Workspace

HEARTBEAT_S = 2.0
MAX_ATTEMPTS = 3
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class UndoStep:
    """What a job's changes become in the action log: one action per class, named `label`, undone by `user`."""
    class_ids: tuple[int, ...]
    user: str
    kind: str
    label: str


class Task:
    """The work of one job kind: `compute` is pure (may run elsewhere), `commit` writes to the workspace.

    A remote executor builds the task again from (workspace folder, job) on each worker, over a
    snapshot of the catalog taken when the job starts: `compute` may read the catalog rows that
    existed then and the workspace's files, and must not write the catalog.
    """
    batch_size: int = 1
    uses_gpu: bool = False  # its model runs on a GPU where there is one (a Ray worker is given one by default)
    in_driver: bool = False  # compute stays in the driver's process (e.g. a crawl: its politeness per host)

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        """One output or Exception per key; raise only for errors that doom the whole job."""
        raise NotImplementedError

    def commit(self, key: str, seed: int, output: object) -> str:
        """Write one output's rows (inside the runner's transaction); returns the result to record."""
        raise NotImplementedError

    def finish(self, job: Job) -> None:
        """After every item is done or failed (not after a cancel), in the driver: for a phase that decides over
        all its items at once. Must be safe to run again (a worker may die in it; the resumed job runs it again)."""

    def undo_step(self) -> UndoStep | None:
        """The action the job's changes make (a generation run is one undo step), or None."""
        return None


Batch = tuple[list[str], list[int]]


class Executor(Protocol):
    where: str  # for people: "this machine", "Ray (ADDRESS)"

    def map(self, ws: Workspace, job: Job, task: Task, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list]]:
        """(batch, task.compute(*batch)) for each batch, in order; a remote executor rebuilds the task from
        (ws, job) on its workers. Closing the iterator abandons the batches not yet yielded."""

    def close(self) -> None:
        """Release workers and connections."""


class LocalExecutor:
    """Runs batches on this machine: in this process, or in a pool of `workers` processes (each builds the job's
    task once, as a Ray worker does), yielding the outputs in order so the driver files them as one process would.

    The pool is used only where it pays: the first batches run here and say how long the rest would take; when
    that is over `pool_after_s` (starting processes, imports and models cost seconds), the rest goes to the pool.
    Never for a model on the GPU (one copy per process would not fit). Batches are handed out lazily, so a cancel
    stops within a batch or two per worker.
    """

    where = "this machine"

    def __init__(self, workers: int = 1, pool_after_s: float = 20.0):
        self.workers, self.pool_after_s = max(1, workers), pool_after_s

    def map(self, ws, job, task, batches):
        batches = deque(batches)
        here = self.workers == 1 or task.uses_gpu and gpu_present()
        timed, seconds, warm = 0, 0.0, False  # the first batch warms the task up (models, sources): not timed
        while batches and (here or not self._pool_pays(timed, seconds, len(batches))):
            batch = batches.popleft()
            start = time.perf_counter()
            outputs = task.compute(*batch)
            if warm:
                timed, seconds = timed + 1, seconds + time.perf_counter() - start
            warm = True
            yield batch, outputs
        if not batches:
            return
        with process_pool(self.workers, _pool_task, (str(ws.root), job)) as pool:
            pending: deque = deque()
            try:
                for batch in batches:
                    pending.append((batch, pool.submit(_pool_compute, *batch)))
                    if len(pending) >= 2 * self.workers:
                        batch, future = pending.popleft()
                        yield batch, future.result()
                while pending:
                    batch, future = pending.popleft()
                    yield batch, future.result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _pool_pays(self, timed: int, seconds: float, left: int) -> bool:
        """Whether the batches left would take longer here than `pool_after_s` (known after one timed batch)."""
        if self.pool_after_s <= 0:
            return True
        return timed > 0 and seconds / timed * left > self.pool_after_s

    def close(self) -> None:
        pass


_POOL_TASK: Task | None = None   # the task of the job a pool process works for (built once per process)


def _pool_task(root: str, job: Job) -> None:
    global _POOL_TASK
    _POOL_TASK = load_task(Workspace(Path(root), Catalog(Path(root) / DB_NAME)), job)


def _pool_compute(keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
    return _POOL_TASK.compute(keys, seeds)


@dataclass(frozen=True)
class ExecutorChoice:
    """Where jobs run: 'local' (this process) or 'ray' (a cluster at `ray_address`; None starts one here).

    `num_gpus` is what each Ray worker asks for (fractions share a GPU; None: one for a task that
    uses a GPU, when the cluster has GPUs); `workers` defaults to as many as the cluster has room for.
    """
    kind: str = "local"
    ray_address: str | None = None
    num_gpus: float | None = None
    workers: int | None = None

    def __post_init__(self):
        if self.kind not in EXECUTORS:
            raise DsaiiError(f"executor must be one of {', '.join(EXECUTORS)}, not '{self.kind}'")
        if self.num_gpus is not None and self.num_gpus < 0:
            raise DsaiiError(f"num_gpus must be 0 or more, not {self.num_gpus:g}")
        if self.workers is not None and self.workers < 1:
            raise DsaiiError(f"workers must be at least 1, not {self.workers}")

    @classmethod
    def resolve(cls, catalog: Catalog | None, kind: str | None = None, ray_address: str | None = None,
                num_gpus: float | None = None, workers: int | None = None) -> "ExecutorChoice":
        """The choice given (CLI flags), completed from the workspace settings, then the defaults."""
        saved = settings.get(catalog, "ray_num_gpus") or None
        gpus = num_gpus if num_gpus is not None else float(saved) if saved is not None else None
        count = workers if workers is not None else int(float(settings.get(catalog, "ray_workers") or 0)) or None
        address = ray_address or settings.get(catalog, "ray_address") or None
        return cls(kind or settings.get(catalog, "executor"), address, gpus, count)

    def save(self, catalog: Catalog) -> None:
        """Make this the workspace's choice (the app's background workers use it)."""
        for key, value in (("executor", self.kind), ("ray_address", self.ray_address or ""),
                           ("ray_num_gpus", "" if self.num_gpus is None else f"{self.num_gpus:g}"),
                           ("ray_workers", str(self.workers or ""))):
            settings.put(catalog, key, value)

    def flags(self) -> list[str]:
        """The same choice as command-line flags (for a worker process)."""
        flags = ["--executor", self.kind] + (["--num-gpus", f"{self.num_gpus:g}"] if self.num_gpus is not None else [])
        flags += ["--ray-address", self.ray_address] if self.ray_address else []
        return flags + (["--workers", str(self.workers)] if self.workers else [])

    def build(self) -> Executor:
        """The executor (Ray is imported only here: it is an optional extra)."""
        if self.kind == "local":
            return LocalExecutor(self.workers or os.cpu_count() or 1)
        try:
            from dsaii_core.ray_executor import RayExecutor
        except ImportError as exc:
            raise DsaiiError("the ray executor needs Ray: pip install -r requirements-ray.txt") from exc
        return RayExecutor(self.ray_address, num_gpus=self.num_gpus, workers=self.workers)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once on a HOST:PORT (or ray://HOST:PORT) address that nothing answers on: ray.init would wait for
    such a cluster forever. Other addresses ('auto', 'local') Ray resolves itself, failing fast when it cannot."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise DsaiiError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc or 'timed out'} (is "
                         "`ray start --head` running there, and is this its address?)") from exc


# -- job rows (the catalog's) -------------------------------------------------------------------
def get_job(catalog: Catalog, job_id: int) -> Job:
    """The job with its live state ('interrupted' when its worker died without finishing)."""
    return catalog.job(job_id)


def list_jobs(catalog: Catalog, kind: str | None = None, class_id: int | None = None, limit: int = 20) -> list[Job]:
    """Recent jobs, newest first; with `class_id`, that class's and those over several classes."""
    return catalog.jobs(kind, class_id, limit)


def item_errors(catalog: Catalog, job_id: int, limit: int = 20) -> list[tuple[str, str]]:
    """(key, last error) of items that failed or are being retried."""
    return catalog.job_item_errors(job_id, limit)


def item_results(catalog: Catalog, job_id: int) -> list[tuple[str, str | None]]:
    """(key, result) of the job's done items, in the job's order."""
    return catalog.job_item_results(job_id)


def create_job(catalog: Catalog, kind: str, keys: Sequence[str], params: dict, class_id: int | None = None) -> Job:
    """A queued job over `keys` (duplicates dropped, order kept)."""
    if kind not in TASKS:
        raise DsaiiError(f"unknown job kind '{kind}'")
    return catalog.insert_job(kind, list(dict.fromkeys(keys)), params, class_id)


def item_seed(base_seed: int, key: str, attempt: int = 0) -> int:
    """The seed of one item: fixed by (job seed, key), changed on each retry; fits in 31 bits."""
    digest = hashlib.sha256(f"{base_seed}:{key}".encode()).digest()
    return (int.from_bytes(digest[:4], "big") + attempt) % (2 ** 31)


def request_cancel(catalog: Catalog, job_id: int) -> Job:
    """Ask the worker to stop after its current batch (a job with no live worker is cancelled at once)."""
    job = get_job(catalog, job_id)
    if job.state in JOB_FINAL_STATES:
        return job
    catalog.set_job_state(job_id, "cancelling" if job.state in ("running", "cancelling") else "cancelled")
    return get_job(catalog, job_id)


def prepare_resume(catalog: Catalog, job_id: int) -> Job:
    """Queue an interrupted, cancelled or failed job again; failed items get fresh attempts."""
    job = get_job(catalog, job_id)
    if job.state in ("running", "cancelling"):
        raise DsaiiError(f"job {job_id} is still running (worker pid {job.pid})")
    if job.state == "done":
        raise DsaiiError(f"job {job_id} is already done")
    catalog.requeue_job(job_id)
    return get_job(catalog, job_id)


# -- the worker ---------------------------------------------------------------------------------
def start_worker(ws: Workspace, job_id: int, executor: ExecutorChoice | None = None) -> int:
    """Start `python -m dsaii_core worker` detached (own session), so it outlives the app; returns its pid.

    It runs the job where `executor` says, by default where the workspace's settings say."""
    log_dir = ws.cache_dir / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    with open(log_dir / f"{job_id}.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "dsaii_core", "worker", str(ws.root), str(job_id),
                                    *(executor.flags() if executor is not None else [])],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, close_fds=True)
    ws.catalog.mark_job_started(job_id, process.pid)  # the worker claims the job itself; started meanwhile
    return process.pid


def _heartbeat(catalog: Catalog, job_id: int, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        catalog.job_heartbeat(job_id)
    catalog.close()  # this thread's connection


def _commit_batch(catalog: Catalog, job_id: int, task: Task, batch: Batch, outputs: list,
                  attempts: dict[str, int], max_attempts: int) -> None:
    """Commit each output with its job item; an error (or a refused commit) uses up one attempt."""
    for key, seed, output in zip(*batch, outputs):
        if not isinstance(output, Exception):
            try:
                with catalog.transaction():
                    result = task.commit(key, seed, output)
                    catalog.record_job_item(job_id, key, "done", result, None)
                continue
            except DsaiiError as exc:
                output = exc
        failed = attempts[key] + 1 >= max_attempts
        catalog.record_job_item(job_id, key, "failed" if failed else "pending", None, str(output) or repr(output))


# The task of each job kind. The task modules import this one, so each is imported when its kind first runs.
def _inpaint_task(ws: Workspace, job: Job) -> Task:
    from dsaii_core.inpaint.generate import InpaintTask
    return InpaintTask(ws, job)


def _bench_task(ws: Workspace, job: Job) -> Task:
    from dsaii_core.bench.tasks import BenchTask
    return BenchTask(ws, job)


def _object_masks_task(ws: Workspace, job: Job) -> Task:
    from dsaii_core.masks.object_job import ObjectMaskTask
    return ObjectMaskTask(ws, job)


def _anomaly_masks_task(ws: Workspace, job: Job) -> Task:
    from dsaii_core.masks.anomaly_job import AnomalyMaskTask
    return AnomalyMaskTask(ws, job)


def _crawl_task(ws: Workspace, job: Job) -> Task:
    from dsaii_core.collect.crawl import CrawlTask
    return CrawlTask(ws, job)


def _export_task(ws: Workspace, job: Job) -> Task:
    from dsaii_core.export_job import ExportTask
    return ExportTask(ws, job)


TASKS: dict[str, Callable[[Workspace, Job], Task]] = {
    "inpaint": _inpaint_task, "bench": _bench_task, "object_masks": _object_masks_task,
    "anomaly_masks": _anomaly_masks_task, "crawl": _crawl_task, "export": _export_task}


def load_task(ws: Workspace, job: Job) -> Task:
    return TASKS[job.kind](ws, job)


def _run_items(ws: Workspace, job: Job, task: Task, executor: Executor, progress: Callable[[float], None],
               max_attempts: int) -> bool:
    """Compute and commit every item still to do; False when the job was cancelled meanwhile."""
    catalog, base_seed = ws.catalog, int(job.params.get("seed", 0))
    progress(job.fraction)
    while todo := catalog.job_todo(job.id, max_attempts):
        seeds = {key: item_seed(base_seed, key, attempts) for key, attempts in todo}
        attempts = dict(todo)
        keys = [key for key, _ in todo]
        batches = ((keys[i:i + task.batch_size], [seeds[k] for k in keys[i:i + task.batch_size]])
                   for i in range(0, len(keys), max(1, task.batch_size)))
        results = executor.map(ws, job, task, batches)
        with closing(results):  # a cancel abandons the batches still running elsewhere
            for batch, outputs in results:
                _commit_batch(catalog, job.id, task, batch, outputs, attempts, max_attempts)
                progress(get_job(catalog, job.id).fraction)
                if catalog.job_state(job.id) == "cancelling":
                    catalog.set_job_state(job.id, "cancelled")
                    return False
    return True


def run_job(ws: Workspace, job_id: int, *, executor: Executor | None = None,
            progress: Callable[[float], None] = lambda f: None, max_attempts: int = MAX_ATTEMPTS) -> Job:
    """Run (or resume) a job in this process until every item is done, failed, or the job is cancelled."""
    catalog, executor = ws.catalog, executor or LocalExecutor()
    job = catalog.claim_job(job_id, os.getpid(), executor.where)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(catalog, job_id, stop), daemon=True)
    beat.start()
    try:
        task = load_task(ws, job)
        if task.in_driver:
            executor = LocalExecutor()
        step = task.undo_step()
        with catalog.one_action(step.class_ids, step.user, step.kind, step.label) if step else nullcontext():
            if not _run_items(ws, job, task, executor, progress, max_attempts):
                return get_job(catalog, job_id)  # cancelled
            task.finish(get_job(catalog, job_id))
        job = get_job(catalog, job_id)
        catalog.set_job_state(job_id, "done" if job.failed == 0 else "failed",
                None if job.failed == 0 else f"{job.failed} of {job.total} items failed")
    except KeyboardInterrupt:
        catalog.set_job_state(job_id, "cancelled", "interrupted by the user")
        raise
    except Exception as exc:  # a full disk or a busy catalog in words a user can act on
        catalog.set_job_state(job_id, "failed", failure_message(exc) or str(exc) or type(exc).__name__)
        raise
    finally:
        ws.clear_staging(job_id)
        stop.set()
        beat.join(timeout=5)
    return get_job(catalog, job_id)


def run_to_end(ws: Workspace, job_id: int, what: str, *, item: str = "", executor: Executor | None = None,
               progress: Callable[[float], None] = lambda f: None) -> Job:
    """`run_job` for a caller that needs every item done (a command's report): otherwise a DsaiiError naming `what`
    (e.g. "export job 3") and its first failed `item`s."""
    job = run_job(ws, job_id, executor=executor, progress=progress)
    if job.state != "done":
        errors = "; ".join(f"{item} {key}: {error}".strip() for key, error in item_errors(ws.catalog, job.id, limit=3))
        raise DsaiiError(f"{what} {job.state} ({job.done} of {job.total} done): {errors or job.error}")
    return job
