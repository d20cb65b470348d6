"""Turn a workspace's (normal image, anomaly mask) pairs into pending anomalies, as a resumable job.

Each anomaly mask of a kept normal image is one job item (key = the mask id). The result is
stored as an anomaly item (role 'anomaly', status 'pending', parent = the normal image, mask_id =
the anomaly mask, origin 'inpaint:<backend>', its seed and QC figures in `info`), committed with
its job item in one transaction (see dsaii_core.jobs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from dsaii_core.catalog import ImageClass, Item, Mask
from dsaii_core.errors import DsaiiError
from dsaii_core.inpaint.base import Backend, InpaintFailed, InpaintParams, InpaintRequest, class_prompts
from dsaii_core.inpaint.classical import ClassicalBackend, DefectSource
from dsaii_core.inpaint.qc import check_result
from dsaii_core.jobs import Job, Task, create_job
from dsaii_core.workspace import StagedImage, Workspace

BACKENDS = ("classical", "diffusers", "webui")
MAX_DEFECT_SOURCES = 32
MAX_TEXTURES = 8


def pending_pairs(ws: Workspace, cls: ImageClass) -> list[Mask]:
    """Anomaly masks of kept normal images that have no pending or accepted anomaly yet."""
    kept = {item.id for item in ws.catalog.items(class_id=cls.id, role="normal", statuses=("kept",))}
    covered = {item.mask_id for item in ws.catalog.items(class_id=cls.id, role="anomaly",
                                                         statuses=("pending", "accepted"))}
    return [m for m in ws.catalog.masks(class_id=cls.id, kind="anomaly")
            if m.item_id in kept and m.id not in covered]


def defect_sources(ws: Workspace, cls: ImageClass, decoded: dict[int, DefectSource] | None = None
                   ) -> list[DefectSource]:
    """Real defects to transplant: imported anomalies with a mask of this class; else of the other classes
    of its kind (object / texture); of the other kind only when neither has any (QC flags each such result).

    A hazelnut's print on a magnetic tile is not a magnetic-tile defect: nearer sources come first. `decoded`
    (item id → source) keeps the sources a job decoded for one class for the next classes that share them.
    """
    decoded = {} if decoded is None else decoded
    sources = []
    for item, mask, owner in defect_rows(ws, cls):
        if item.id not in decoded:
            name = ws.catalog.provenance(item.id).original_name or item.file
            decoded[item.id] = DefectSource(ws.read_image(item), ws.read_mask(mask), item.defect or "", owner.name,
                                            owner.kind, item.id, name)
        sources.append(decoded[item.id])
    return sources


def defect_rows(ws: Workspace, cls: ImageClass) -> list[tuple[Item, Mask, ImageClass]]:
    """The catalog rows of `defect_sources` (nothing decoded): (real anomaly, its mask, its class) each."""
    others = [c for c in ws.catalog.classes() if c.id != cls.id]
    for tier in ([cls], [c for c in others if c.kind == cls.kind], [c for c in others if c.kind != cls.kind]):
        rows = [row for c in tier for row in _real_defects(ws, c)][:MAX_DEFECT_SOURCES]
        if rows:
            return rows
    return []


def _real_defects(ws: Workspace, cls: ImageClass) -> list[tuple[Item, Mask, ImageClass]]:
    """The imported anomalies of `cls` with a non-empty ground-truth mask."""
    rows = []
    for item in ws.catalog.items(class_id=cls.id, role="anomaly", statuses=("accepted", "pending")):
        if len(rows) == MAX_DEFECT_SOURCES:
            break
        if item.origin != "import" or item.mask_id is None:
            continue
        mask = ws.catalog.mask(item.mask_id)
        if mask.area:  # stored with every mask: its share of set pixels
            rows.append((item, mask, cls))
    return rows


def texture_pool(ws: Workspace, cls: ImageClass) -> list[np.ndarray]:
    """Foreign textures for DRAEM-style blending: normal images of the other classes."""
    others = [i for c in ws.catalog.classes() if c.id != cls.id
              for i in ws.catalog.items(class_id=c.id, role="normal", statuses=("kept",))[:2]]
    return [ws.read_image(item) for item in others[:MAX_TEXTURES]]


def make_backend(name: str, options: dict, ws: Workspace, cls: ImageClass,
                 decoded: dict[int, DefectSource] | None = None) -> Backend:
    """The backend a job names, built from its options (model path, web UI URL, classical method); `decoded`: see
    defect_sources."""
    if name == "classical":
        method = options.get("method", "auto")
        return ClassicalBackend(method, defect_sources(ws, cls, decoded) if method in ("auto", "transplant") else (),
                                texture_pool(ws, cls) if method == "texture" else ())
    if name == "diffusers":
        from dsaii_core.inpaint.diffusers_backend import DiffusersBackend
        if not options.get("model"):
            raise DsaiiError("the diffusers backend needs a model: a local diffusers folder or .safetensors file")
        return DiffusersBackend(options["model"], options.get("config"), options.get("device"))
    if name == "webui":
        from dsaii_core.inpaint.webui_backend import WebUIBackend, auth_for, settings_from
        settings = settings_from(ws)
        url = options.get("url") or settings["url"]
        return WebUIBackend(url, auth_for(ws, url),  # a password goes to its own origin only
                            float(options.get("timeout_s") or settings["timeout_s"]), options.get("sampler"))
    raise DsaiiError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")


def check_options(backend: str, options: dict) -> None:
    """Raise DsaiiError now for options a worker would only trip over later."""
    if backend == "diffusers":
        model = options.get("model")
        if not model:
            raise DsaiiError("the diffusers backend needs a model: a local diffusers folder or .safetensors file")
        if not Path(model).expanduser().exists():
            raise DsaiiError(f"{model}: no such model folder or file")
    if backend == "webui" and options.get("url") and not str(options["url"]).startswith(("http://", "https://")):
        raise DsaiiError(f"web UI URL must start with http:// or https://, not '{options['url']}'")


def start_inpaint_job(ws: Workspace, classes: Sequence[ImageClass], backend: str, *, options: dict | None = None,
                      params: InpaintParams = InpaintParams(), prompt: str | None = None,
                      negative_prompt: str | None = None, seed: int = 0, masks: Sequence[Mask] | None = None,
                      replaces: dict[int, int] | None = None, user: str = "") -> Job:
    """A queued inpaint job over the given masks (default: every pending pair of `classes`)."""
    if backend not in BACKENDS:
        raise DsaiiError(f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")
    params.check()
    check_options(backend, options or {})
    masks = list(masks) if masks is not None else [m for c in classes for m in pending_pairs(ws, c)]
    job_params = {"backend": backend, "options": options or {}, "params": params.as_dict(), "prompt": prompt,
                  "negative_prompt": negative_prompt, "seed": seed, "user": user,
                  "replaces": {str(k): v for k, v in (replaces or {}).items()}}
    return create_job(ws.catalog, "inpaint", [str(m.id) for m in masks], job_params,
                      classes[0].id if len(classes) == 1 else None)


@dataclass(frozen=True)
class _Result:
    image: StagedImage  # written by the worker into the shared workspace folder
    qc: dict
    prompt: str


class InpaintTask(Task):
    """The 'inpaint' job kind: compute = backend + QC + the image staged in the workspace folder (by the
    worker that made it), commit = the staged image filed as a pending anomaly item."""

    def __init__(self, ws: Workspace, job: Job):
        self.ws = ws
        self.spec = job.params
        self.params = InpaintParams.from_dict(self.spec.get("params", {})).check()
        self.batch_size = self.params.batch_size
        self.uses_gpu = self.spec["backend"] == "diffusers"  # the web UI's GPU is the web UI's business
        self.job_id = job.id
        self._backends: dict[int, Backend] = {}
        self._decoded: dict[int, DefectSource] = {}  # real defects, decoded once for every class that uses them
        self._normal: tuple[tuple[int, str], np.ndarray] | None = None  # the last normal read (item id, file)

    def backend(self, cls: ImageClass) -> Backend:
        # Classical backends draw defects from the class; diffusion backends are one per job.
        slot = cls.id if self.spec["backend"] == "classical" else 0
        if slot not in self._backends:
            self._backends[slot] = make_backend(self.spec["backend"], self.spec.get("options", {}), self.ws, cls,
                                                self._decoded)
        return self._backends[slot]

    def _pair(self, key: str) -> tuple[Mask, Item, ImageClass]:
        mask = self.ws.catalog.mask(int(key))
        normal = self.ws.catalog.item(mask.item_id)
        return mask, normal, self.ws.catalog.class_by_id(normal.class_id)

    def _read_normal(self, item: Item) -> np.ndarray:
        """The normal image of `item`, decoded once for its consecutive masks (a job lists an image's masks
        together); read-only, as every backend and the QC only read it."""
        if self._normal is None or self._normal[0] != (item.id, item.file):
            image = self.ws.read_image(item)
            image.flags.writeable = False
            self._normal = (item.id, item.file), image
        return self._normal[1]

    def compute(self, keys: Sequence[str], seeds: Sequence[int]) -> list[object]:
        outputs: list[object] = [None] * len(keys)
        groups: dict[int, list[tuple[int, InpaintRequest, ImageClass]]] = {}
        for index, (key, seed) in enumerate(zip(keys, seeds)):
            try:
                mask, normal, cls = self._pair(key)
                prompt, negative = class_prompts(cls)
                request = InpaintRequest(self._read_normal(normal), self.ws.read_mask(mask),
                                         self.spec.get("prompt") or prompt,
                                         self.spec.get("negative_prompt") or negative, seed)
            except DsaiiError as exc:  # a file gone missing or unreadable fails this item only
                outputs[index] = InpaintFailed(str(exc))
                continue
            groups.setdefault(cls.id if self.spec["backend"] == "classical" else 0, []).append((index, request, cls))
        for members in groups.values():
            backend = self.backend(members[0][2])
            results = backend.inpaint_batch([r for _, r, _ in members], self.params)
            for (index, request, cls), result in zip(members, results):
                if isinstance(result, Exception):
                    outputs[index] = result
                    continue
                # A transplant's QC knows the real defect it used: one of another class is flagged.
                classical = isinstance(backend, ClassicalBackend)
                source = backend.source_for(request.seed, self.params) if classical else None
                qc = check_result(request.image, result, request.mask, class_name=cls.name,
                                  source=source.provenance() if source else None)
                outputs[index] = _Result(self.ws.stage_image(result, self.job_id, f"{keys[index]}-{seeds[index]}"),
                                         qc.as_dict(), request.prompt)
        return outputs

    def commit(self, key: str, seed: int, output: object) -> str:
        assert isinstance(output, _Result)
        mask, normal, cls = self._pair(key)
        backend = self.backend(cls)
        info = {"qc": output.qc, "job_id": self.job_id, "backend": backend.name, "backend_label": backend.label,
                "options": self.spec.get("options", {}), "params": self.params.as_dict()}
        if backend.is_diffusion:
            info.update(prompt=output.prompt, negative_prompt=self.spec.get("negative_prompt"))
        item = self.ws.add_image(cls, output.image, role="anomaly", status="pending", origin=f"inpaint:{backend.name}",
                                 parent_id=normal.id, seed=seed, info=info, skip_duplicates=False).item
        self.ws.catalog.set_item_fields(item.id, mask_id=mask.id)
        replaced = self.spec.get("replaces", {}).get(key)
        if replaced is not None:  # one review action: its undo brings the old result back, retires this one
            self.ws.catalog.record_regeneration(item.id, int(replaced), user=self.spec.get("user", ""))
        return str(item.id)
