"""Runs a job's batches on a Ray cluster: one actor per worker, the job's task built once per actor.

Each actor rebuilds the task from (workspace folder, job) through the same factory as a local run,
so a model is loaded once per worker, not per item. It reads the catalog from a private copy of
the catalog as it was when the job started (SQLite must not be shared between machines: the driver
leaves a snapshot in the workspace cache, each worker copies it to its own disk) and the images
from the workspace folder, which every node mounts at the same path. Actors compute, write the
images they make into that folder (the job's staging area: see Workspace.stage_image) and return
small records; the driver alone files them and writes the catalog, in the order the batches were
made, so the catalog, the file names and the bytes come out as a local run's do.

A worker that dies (process killed, node lost) is restarted by Ray and its batch computed again
(`RESTARTS` times); when it keeps dying, the batch's items count one failed attempt and a fresh
actor takes its place. An error the task's code raises fails the job, as it does locally.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections import deque
from pathlib import Path
from typing import Iterable, Iterator

import ray
from ray.exceptions import RayActorError, RayTaskError

from dsaii_core.atomic import atomic_write_bytes
from dsaii_core.catalog import Catalog
from dsaii_core.errors import DsaiiError
from dsaii_core.jobs import Batch, Job, Task, check_reachable, load_task
from dsaii_core.workspace import DB_NAME, Workspace

RESTARTS = 3          # per actor: restarts after its process died, and recomputations of its batch
BUFFER_PER_WORKER = 2  # finished batches kept per worker while an earlier one is still being computed


class TaskWorker:
    """A Ray actor holding one job's task; computes batch after batch."""

    def __init__(self, root: str, job: Job, snapshot: str):
        self.error: Exception | None = None
        try:
            if not Path(root).is_dir():
                raise DsaiiError(f"{root}: no such folder on {socket.gethostname()} (every Ray node needs the "
                                 "workspace folder mounted at the same path)")
            self._folder = tempfile.TemporaryDirectory(prefix="dsaii-ray-")
            copy = Path(self._folder.name) / DB_NAME
            shutil.copyfile(snapshot, copy)
            self.task = load_task(Workspace(Path(root), Catalog(copy)), job)
        except Exception as exc:  # reported by ready(), where the driver sees the original exception
            self.error = exc

    def ready(self) -> int:
        """This worker's process id, once the task is built (raises what building it raised)."""
        if self.error is not None:
            raise self.error
        return os.getpid()

    def compute(self, keys: list[str], seeds: list[int]) -> list[object]:
        return self.task.compute(keys, seeds)


class RayExecutor:
    """Executor on a Ray cluster (`address` None: the cluster this process is connected to, else a new local one).

    Workers are Ray actors asking for `num_cpus` and `num_gpus` each (None: see `gpus_for`); there
    are `workers` of them (default: as many as the cluster has room for), never more than the
    cluster has room for or the job has batches. They are kept for the executor's life while it
    serves the same job (a resume reuses the loaded models).
    """

    def __init__(self, address: str | None = None, *, num_gpus: float | None = None, num_cpus: float = 1.0,
                 workers: int | None = None):
        self.address, self.num_gpus, self.num_cpus, self.workers = address, num_gpus, num_cpus, workers
        self.where = f"Ray ({address or 'a cluster on this machine'})"
        self.pids: list[int] = []
        self._connected_here = False
        self._gpus = 0.0  # what the current job's workers ask for
        self._job_id: int | None = None
        self._snapshot: Path | None = None
        self._actors: list = []

    # -- the cluster ---------------------------------------------------------------------------
    def _connect(self) -> None:
        if ray.is_initialized():
            return
        if self.address is not None:
            check_reachable(self.address)
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level="WARNING")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise DsaiiError(f"cannot reach the Ray cluster at {self.address}: {exc}") from exc
        self._connected_here = True

    def gpus_for(self, task: Task) -> float:
        """GPUs each worker of `task` asks for: the number given, else one for a task whose model uses a GPU
        when the cluster has GPUs (Ray hides every GPU from a worker that asks for none), else none."""
        if self.num_gpus is not None:
            return self.num_gpus
        self._connect()
        return 1.0 if task.uses_gpu and ray.cluster_resources().get("GPU", 0.0) >= 1 else 0.0

    def capacity(self, gpus: float) -> int:
        """How many workers the cluster has room for when each asks for `num_cpus` and `gpus`."""
        self._connect()
        resources = ray.cluster_resources()
        room = int(resources.get("CPU", 0) // self.num_cpus) if self.num_cpus else 1 << 16
        if gpus:
            have = resources.get("GPU", 0.0)
            if have < gpus:
                raise DsaiiError(f"the Ray cluster has {have:g} GPUs; each worker asks for {gpus:g}")
            room = min(room, int(have // gpus))
        return max(1, room)

    # -- workers -------------------------------------------------------------------------------
    def _spawn(self, root: str, job: Job):
        actor_class = ray.remote(TaskWorker).options(num_cpus=self.num_cpus, num_gpus=self._gpus,
                                                     max_restarts=RESTARTS, max_task_retries=RESTARTS)
        return actor_class.remote(root, job, str(self._snapshot))

    @staticmethod
    def _ready(actors: list) -> list[int]:
        try:
            return ray.get([actor.ready.remote() for actor in actors])
        except RayTaskError as exc:
            raise exc.cause from None

    def _workers(self, ws: Workspace, job: Job, task: Task, batches: int) -> list:
        """The job's workers, started when missing: one per batch, up to `workers` (or the cluster's room)."""
        if self._job_id != job.id:
            self._release()
            self._gpus = self.gpus_for(task)
            self._snapshot = ws.cache_dir / "ray" / f"catalog-job{job.id}-{uuid.uuid4().hex[:8]}.sqlite"
            atomic_write_bytes(self._snapshot, ws.catalog.db.serialize())
            self._job_id = job.id
        room = self.capacity(self._gpus)  # fails at once where no worker could ever be placed
        count = min(self.workers or room, room, batches)  # a worker beyond the room would wait forever
        new = [self._spawn(str(ws.root), job) for _ in range(count - len(self._actors))]
        self._actors += new
        self.pids += self._ready(new)
        return list(self._actors)

    def _replace(self, dead, root: str, job: Job):
        index = self._actors.index(dead)
        ray.kill(dead)
        self._actors[index] = self._spawn(root, job)
        self.pids[index], = self._ready([self._actors[index]])
        return self._actors[index]

    def _release(self) -> None:
        for actor in self._actors if ray.is_initialized() else ():
            ray.kill(actor)
        if self._snapshot is not None:
            self._snapshot.unlink(missing_ok=True)
        self._actors, self.pids, self._job_id, self._snapshot = [], [], None, None

    # -- the executor --------------------------------------------------------------------------
    def map(self, ws: Workspace, job: Job, task: Task, batches: Iterable[Batch]) -> Iterator[tuple[Batch, list]]:
        """Each batch computed on an idle worker; outputs yielded in the batches' order."""
        todo = deque(batches)
        if not todo:
            return
        self._connect()
        idle = deque(self._workers(ws, job, task, len(todo)))
        window = BUFFER_PER_WORKER * len(self._actors)
        order: deque[tuple[Batch, ray.ObjectRef]] = deque()
        running: dict[ray.ObjectRef, object] = {}
        finished: dict[ray.ObjectRef, object] = {}
        while todo or order:
            while idle and todo and len(order) < window:
                batch, actor = todo.popleft(), idle.popleft()
                ref = actor.compute.remote(*batch)
                running[ref] = actor
                order.append((batch, ref))
            if order[0][1] not in finished:
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    actor = running.pop(ref)
                    batch = next(b for b, r in order if r == ref)
                    finished[ref], died = self._outcome(ref, len(batch[0]))
                    idle.append(self._replace(actor, str(ws.root), job) if died else actor)
            while order and order[0][1] in finished:
                batch, ref = order.popleft()
                outputs = finished.pop(ref)
                if isinstance(outputs, BaseException):
                    raise outputs
                yield batch, outputs

    @staticmethod
    def _outcome(ref: ray.ObjectRef, size: int) -> tuple[object, bool]:
        """(outputs, or the exception that dooms the job; whether the worker died for good)."""
        try:
            return ray.get(ref), False
        except RayTaskError as exc:  # the task's own error: it fails the job, as locally
            return exc.cause, False
        except RayActorError as exc:
            error = DsaiiError(f"the Ray worker died {RESTARTS + 1} times computing this item: "
                               f"{str(exc).splitlines()[-1]}")
            return [error] * size, True

    def close(self) -> None:
        """Stop the workers, remove the catalog snapshot (and stop the local cluster this executor started)."""
        self._release()
        if self._connected_here and ray.is_initialized():
            ray.shutdown()
        self._connected_here = False
