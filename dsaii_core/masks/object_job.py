"""Object masks of whole classes as a job, the one way they are made: the page runs it in a background worker,
the `object-masks` command in process (on this machine's cores or on Ray). One item per image.

`compute` makes an image's candidates (SAM's automatic masks, or the weight-free GrabCut ones; cached in the
workspace as `item_candidates` does) and picks one by the rule; `commit` records the pick. `finish` writes the
masks class by class, because one rule looks at a whole class: when most of its images pick the whole frame,
the class is photographed filling the frame and the others follow. The masks are one undo step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from dsaii_core import jobs
from dsaii_core.catalog import ImageClass, Item
from dsaii_core.errors import DsaiiError
from dsaii_core.masks import select
from dsaii_core.masks.objects import ObjectMaskParams, ObjectMaskReport, item_candidates, method_for, object_items
from dsaii_core.workspace import Workspace

if TYPE_CHECKING:  # SAM pulls in torch; the weight-free path must not pay for it
    from dsaii_core.masks.sam_config import SamConfig

JOB_KIND = "object_masks"


@lru_cache(maxsize=2)
def load_backend(config: "SamConfig", cache_dir: Path):
    """The SAM backend of `config`, loaded once per process."""
    from dsaii_core.masks.sam import SamBackend
    return SamBackend.load(config, cache_dir=cache_dir)


@dataclass(frozen=True)
class Pick:
    """The candidate the rule picked for one image (its index among the image's cached candidates)."""
    candidate: int
    source: str
    inverted: bool
    score: float
    confidence: float


@dataclass(frozen=True)
class Settled:
    """An image's mask as the class's rule settles it: its pick, or the whole frame when the class fills it."""
    item: Item
    pick: Pick
    frame: bool
    confidence: float


def settle(picks: list[tuple[Item, Pick]], rule: str) -> tuple[bool, list[Settled]]:
    """(whether the class fills the frame, each image's mask): with objectness, when most images pick the whole
    frame, those gain confidence and the others are given the frame, doubtful."""
    frames = sum(p.source == "frame" for _, p in picks)
    fills = rule == "objectness" and frames * 2 > len(picks)
    settled = []
    for item, pick in picks:
        if fills and pick.source == "frame":
            settled.append(Settled(item, pick, True, max(pick.confidence, frames / len(picks))))
        elif fills:
            settled.append(Settled(item, pick, True, min(pick.confidence, 0.5)))
        else:
            settled.append(Settled(item, pick, False, pick.confidence))
    return fills, settled


class ObjectMaskTask(jobs.Task):
    """The 'object_masks' job kind: compute = candidates + pick, commit = the pick, finish = the masks."""

    def __init__(self, ws: Workspace, job: jobs.Job):
        from dsaii_core.masks.sam_config import AutoParams, SamConfig
        spec, sam = job.params["params"], job.params.get("sam")
        self.ws, self.user = ws, job.params.get("user", "")
        self.class_ids = tuple(int(c) for c in job.params["classes"])
        self.params = ObjectMaskParams(spec["method"], spec["rule"], spec["redo"],
                                       AutoParams(**spec["sam"]) if spec.get("sam") else None)
        self.backend = load_backend(SamConfig(Path(sam["checkpoint"]), sam["model_type"], sam["device"]),
                                    ws.cache_dir / "sam") if sam else None
        self.uses_gpu = self.backend is not None  # GrabCut runs on the CPU
        self.method = method_for(self.params, self.backend)  # a method the settings cannot serve fails the job now

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        outputs: list[object] = []
        for key in keys:
            try:
                item = self.ws.catalog.item(int(key))
                candidates = item_candidates(self.ws, item, self.backend, self.params)
                image = self.ws.read_image(item) if self.params.rule == "objectness" else None
                choice = select.choose(candidates, self.params.rule, image=image)
                outputs.append(Pick(choice.index, choice.candidate.source, choice.candidate.inverted,
                                    round(choice.score, 4), round(choice.confidence, 4)))
            except DsaiiError as exc:  # an unreadable image fails this item only
                outputs.append(exc)
        return outputs

    def commit(self, key: str, seed: int, output: object) -> str:
        assert isinstance(output, Pick)
        return json.dumps(asdict(output))

    def finish(self, job: jobs.Job) -> None:
        for class_id, picks in job_picks(self.ws, job).items():
            _, settled = settle(picks, self.params.rule)
            for mask in settled:
                current = self.ws.object_mask(mask.item)
                if current is not None and (current.params.get("job") == job.id or not self.params.redo):
                    continue  # written before a crash, or given meanwhile by someone: kept
                self._write(mask, job.id)

    def _write(self, mask: Settled, job_id: int) -> None:
        item = mask.item
        candidate = (select.frame((item.height, item.width)) if mask.frame else
                     item_candidates(self.ws, item, self.backend, self.params)[mask.pick.candidate])
        if candidate.inverted != mask.pick.inverted and not mask.frame:  # the rule picked its inverse
            candidate = candidate.inverse()
        self.ws.add_mask(item, candidate.mask, kind="object", source=f"{self.method}:{candidate.source}",
                         confidence=round(mask.confidence, 4), user=self.user,
                         params={"rule": self.params.rule, "candidate": mask.pick.candidate,
                                 "inverted": candidate.inverted, "score": mask.pick.score, "job": job_id})

    def undo_step(self) -> jobs.UndoStep:
        return jobs.UndoStep(self.class_ids, self.user, "object_mask", "object mask run")


def job_picks(ws: Workspace, job: jobs.Job) -> dict[int, list[tuple[Item, Pick]]]:
    """The images the job picked a candidate for, per class id, in the job's order."""
    picks: dict[int, list[tuple[Item, Pick]]] = {int(c): [] for c in job.params["classes"]}
    for key, text in jobs.item_results(ws.catalog, job.id):
        item = ws.catalog.item(int(key))
        picks[item.class_id].append((item, Pick(**json.loads(text))))
    return picks


def start_object_mask_job(ws: Workspace, classes: Sequence[ImageClass], params: ObjectMaskParams = ObjectMaskParams(),
                          sam: "SamConfig | None" = None, user: str = "") -> jobs.Job:
    """A queued job giving the kept normal images of the object classes an object mask (those that have one
    only with `params.redo`); `sam`: the SamConfig to use, None for the weight-free candidates."""
    method = method_for(params, sam)  # refuses 'sam' without a checkpoint, now
    keys, skipped = [], {}
    for cls in classes:
        items = [] if cls.is_texture else object_items(ws, cls)
        todo = [i for i in items if params.redo or ws.object_mask(i) is None]
        keys += [str(i.id) for i in todo]
        skipped[str(cls.id)] = len(items) - len(todo)
    sam_spec = {"checkpoint": str(sam.checkpoint), "model_type": sam.model_type, "device": sam.device} if sam else None
    spec = {"method": params.method, "rule": params.rule, "redo": params.redo,
            "sam": asdict(params.sam) if params.sam is not None else None}
    return jobs.create_job(ws.catalog, JOB_KIND, keys, {"params": spec, "sam": sam_spec, "user": user,
                                                        "method": method, "classes": skipped},
                           classes[0].id if len(classes) == 1 else None)


def job_reports(ws: Workspace, job: jobs.Job) -> dict[int, ObjectMaskReport]:
    """What the job did (or, while it runs, has picked so far), per class id."""
    reports = {}
    picks = job_picks(ws, job)
    for class_id, skipped in job.params["classes"].items():
        cls = ws.catalog.class_by_id(int(class_id))
        report = ObjectMaskReport(cls.name, job.params["method"], skipped=skipped)
        if cls.is_texture:
            report.note = "texture class: no object mask needed"
        report.fills_frame, settled = settle(picks[int(class_id)], job.params["params"]["rule"])
        report.written = len(settled)
        report.doubtful = sum(s.confidence < select.DOUBTFUL_BELOW for s in settled)
        reports[int(class_id)] = report
    return reports


def generate_with(ws: Workspace, classes: Sequence[ImageClass], params: ObjectMaskParams = ObjectMaskParams(),
                  sam: "SamConfig | None" = None, executor: jobs.Executor | None = None, user: str = "",
                  progress: Callable[[float], None] = lambda f: None) -> dict[int, ObjectMaskReport]:
    """Object masks for the classes as one job run here on `executor`; reports per class id."""
    job = start_object_mask_job(ws, classes, params, sam, user)
    return job_reports(ws, jobs.run_to_end(ws, job.id, f"object-mask job {job.id}", item="image", executor=executor,
                                           progress=progress))


def generate_for_class(ws: Workspace, cls: ImageClass, params: ObjectMaskParams = ObjectMaskParams(),
                       sam: "SamConfig | None" = None, user: str = "",
                       progress: Callable[[float], None] = lambda f: None) -> ObjectMaskReport:
    """`generate_with` for one class."""
    return generate_with(ws, [cls], params, sam, user=user, progress=progress)[cls.id]
