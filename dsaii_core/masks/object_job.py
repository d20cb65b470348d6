"""Object-mask candidates as a job (the `object-masks` command, on this machine or on Ray): one item per image.

Making an image's candidates (SAM's automatic masks, or the weight-free GrabCut ones) is the slow
part of object masks. The job makes them where its executor runs (a worker loads SAM once) and
keeps them in the workspace cache as `item_candidates` does, in the shared workspace folder;
`generate_for_class` then chooses among the cached candidates and writes the masks, as always.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from dsaii_core import jobs
from dsaii_core.catalog import ImageClass
from dsaii_core.errors import DsaiiError
from dsaii_core.masks.objects import ObjectMaskParams, item_candidates, method_for, object_items
from dsaii_core.workspace import Workspace

JOB_KIND = "object_masks"


@lru_cache(maxsize=2)
def load_backend(config, cache_dir: Path):
    """The SAM backend of `config` (a SamConfig), loaded once per process."""
    from dsaii_core.masks.sam import SamBackend
    return SamBackend.load(config, cache_dir=cache_dir)


class ObjectCandidatesTask:
    """The 'object_masks' job kind: compute = an image's candidates, cached; commit = their count."""
    batch_size = 1

    def __init__(self, ws: Workspace, job: jobs.Job):
        from dsaii_core.masks.sam_config import AutoParams, SamConfig
        spec, sam = job.params["params"], job.params.get("sam")
        self.ws = ws
        self.params = ObjectMaskParams(spec["method"], spec["rule"], spec["redo"],
                                       AutoParams(**spec["sam"]) if spec.get("sam") else None)
        self.backend = load_backend(SamConfig(Path(sam["checkpoint"]), sam["model_type"], sam["device"]),
                                    ws.cache_dir / "sam") if sam else None
        self.uses_gpu = self.backend is not None  # GrabCut runs on the CPU
        method_for(self.params, self.backend)  # a method the settings cannot serve fails the job now

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        outputs: list[object] = []
        for key in keys:
            try:
                outputs.append(len(item_candidates(self.ws, self.ws.catalog.item(int(key)), self.backend, self.params)))
            except DsaiiError as exc:  # an unreadable image fails this item only
                outputs.append(exc)
        return outputs

    def commit(self, key: str, seed: int, output: object) -> str:
        return str(output)



def make_candidates(ws: Workspace, classes: Sequence[ImageClass], params: ObjectMaskParams, sam=None,
                    executor: jobs.Executor | None = None,
                    progress: Callable[[float], None] = lambda f: None) -> jobs.Job | None:
    """Cache the candidates of every image of the object classes that generate_for_class will mask, as a job
    on `executor` (`sam`: the SamConfig to use, None for the weight-free candidates); None when none is due."""
    keys = [str(item.id) for cls in classes if not cls.is_texture for item in object_items(ws, cls)
            if params.redo or ws.object_mask(item) is None]
    if not keys:
        progress(1.0)
        return None
    sam_spec = {"checkpoint": str(sam.checkpoint), "model_type": sam.model_type, "device": sam.device} if sam else None
    spec = {"method": params.method, "rule": params.rule, "redo": params.redo,
            "sam": asdict(params.sam) if params.sam is not None else None}
    job = jobs.create_job(ws.catalog, JOB_KIND, keys, {"params": spec, "sam": sam_spec},
                          classes[0].id if len(classes) == 1 else None)
    return jobs.run_job(ws, job.id, executor=executor, progress=progress)
