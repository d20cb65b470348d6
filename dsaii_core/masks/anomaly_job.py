"""Anomaly masks of whole classes as a job, the one way they are made: the page runs it in a background
worker, the `anomaly-masks` command in process (on this machine's cores or on Ray). One item per normal image.

`compute` draws an image's missing masks from its random streams (keyed by seed, image and how many masks the
image had; on a worker the bank is decoded once per class), `commit` stores them, so any executor writes the
same bytes under the same file names. Each class's masks of the run are one undo step of the person who
started it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from dsaii_core import jobs
from dsaii_core.catalog import ImageClass
from dsaii_core.masks.anomaly import (GenerationReport, MaskMaker, check_bank, normal_images, store_mask,
                                      without_object_mask_note)
from dsaii_core.masks.augment import AugmentParams, MaskResult
from dsaii_core.workspace import Workspace

JOB_KIND = "anomaly_masks"


@dataclass(frozen=True)
class ImageMasks:
    """An image's new masks, drawn but not stored: (stream, result) each."""
    draws: list[tuple[list[int], MaskResult]]
    complete: bool                 # the image already had its masks
    without_object_mask: bool      # an object-class image whose masks could go anywhere


class AnomalyMaskTask(jobs.Task):
    """The 'anomaly_masks' job kind: compute = draw an image's missing masks, commit = store them."""
    batch_size = 4

    def __init__(self, ws: Workspace, job: jobs.Job):
        self.ws = ws
        self.params = {int(class_id): AugmentParams.from_dict(data, ws.catalog.class_by_id(int(class_id)).kind)
                       for class_id, data in job.params["classes"].items()}
        self.user = job.params.get("user", "")
        # Built now, so a bank that cannot serve a class fails the job at once (each worker decodes it once).
        self.makers = {class_id: MaskMaker(ws, ws.catalog.class_by_id(class_id), params)
                       for class_id, params in self.params.items()}

    def undo_step(self) -> jobs.UndoStep:
        return jobs.UndoStep(tuple(self.params), self.user, "anomaly_mask", "anomaly mask run")

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        outputs: list[object] = []
        for key in keys:
            item = self.ws.catalog.item(int(key))
            maker = self.makers[item.class_id]
            made = self.ws.catalog.masks(item_id=item.id, kind="anomaly", active_only=False)
            missing = self.params[item.class_id].per_image - sum(m.active for m in made)
            history, draws = len(made), []
            while len(draws) < missing:
                stream, result = maker.draw(item, history)
                if result.mask is None:  # nothing stored, the history stays: every draw left would repeat this one
                    draws += [(stream, result)] * (missing - len(draws))
                    break
                draws.append((stream, result))
                history += 1
            outputs.append(ImageMasks(draws, missing <= 0, bool(draws) and not maker.cls.is_texture
                                      and self.ws.object_mask(item) is None))
        return outputs

    def commit(self, key: str, seed: int, output: object) -> str:
        assert isinstance(output, ImageMasks)
        item = self.ws.catalog.item(int(key))
        report = GenerationReport()
        for stream, result in output.draws:
            store_mask(self.ws, item, self.params[item.class_id], stream, result, report, user=self.user)
        return json.dumps({"written": report.written, "mask_ids": report.mask_ids, "misses": report.misses,
                           "complete": output.complete,
                           "without_object_mask": Path(item.file).name if output.without_object_mask else None})



def start_anomaly_mask_job(ws: Workspace, plan: Sequence[tuple[ImageClass, AugmentParams]],
                           user: str = "") -> jobs.Job:
    """A queued job over the kept normal images of the classes, each class with its parameters; its masks
    carry `user`'s name."""
    for _, params in plan:
        check_bank(ws, params)  # now, not in the worker
    keys = [str(item.id) for cls, _ in plan for item in normal_images(ws, cls)]
    return jobs.create_job(ws.catalog, JOB_KIND, keys,
                           {"classes": {str(c.id): p.as_dict() for c, p in plan}, "user": user},
                           plan[0][0].id if len(plan) == 1 else None)


def job_reports(ws: Workspace, job: jobs.Job) -> dict[int, GenerationReport]:
    """What the job did, per class id."""
    reports = {int(class_id): GenerationReport() for class_id in job.params["classes"]}
    without: dict[int, list[str]] = {}
    for key, text in jobs.item_results(ws.catalog, job.id):
        report, done = reports[ws.catalog.item(int(key)).class_id], json.loads(text)
        report.written += done["written"]
        report.mask_ids += done["mask_ids"]
        report.misses += done["misses"]
        report.complete += done["complete"]
        if done["without_object_mask"]:
            without.setdefault(ws.catalog.item(int(key)).class_id, []).append(done["without_object_mask"])
    for class_id, names in without.items():
        reports[class_id].notes.append(without_object_mask_note(names))
    return reports


def generate_with(ws: Workspace, plan: Sequence[tuple[ImageClass, AugmentParams]],
                  executor: jobs.Executor | None = None, user: str = "",
                  progress: Callable[[float], None] = lambda f: None) -> dict[int, GenerationReport]:
    """Every kept normal image of each (class, params) of `plan` gets its `per_image` anomaly masks (images that
    have them are skipped), as one job run here on `executor`; reports per class id."""
    job = start_anomaly_mask_job(ws, plan, user)
    return job_reports(ws, jobs.run_to_end(ws, job.id, f"anomaly-mask job {job.id}", item="image", executor=executor,
                                           progress=progress))


def generate_for_class(ws: Workspace, cls: ImageClass, params: AugmentParams, user: str = "",
                       progress: Callable[[float], None] = lambda f: None) -> GenerationReport:
    """`generate_with` for one class: the reference gen_mask rule (augment.augment_mask) or procedural masks,
    deterministic for params.seed, one undo step of `user`."""
    return generate_with(ws, [(cls, params)], user=user, progress=progress)[cls.id]
