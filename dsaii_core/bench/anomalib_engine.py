"""Train one of anomalib's image models on one class of an MVTec export and predict its test set, offline.

Imported only when an `anomalib:<Model>` run starts (anomalib is an optional extra); anomalib_detector.py is
the part the app and the CLI see. What this module guarantees:
- nothing is downloaded: a model's pretrained backbone is created by timm from the user's state dict
  (`pretrained_cfg_overlay={"state_dict": ...}`, the same file the built-in PatchCore reads: timm's ResNets
  take torchvision's weights), EfficientAd's teacher comes from that file and its penalty images from a local
  folder; any other download anomalib would start stops the run with a message instead;
- raw scores: anomalib's post-processor (min-max normalisation and clamping to [0, 1], which ties scores) is
  left out, as are its evaluator and visualiser; our metrics are computed on the maps;
- images of any size: each is resized to image_size² when loaded (the datamodule's augmentations), so
  batches collate, and ground truth is resized with it (nearest).
"""

from __future__ import annotations

import functools
import inspect
import logging
import shutil
import sys
import tempfile
import types
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

with warnings.catch_warnings():   # anomalib 2.7's imports warn about timm's and its own deprecated paths
    warnings.simplefilter("ignore", FutureWarning)
    import anomalib.data.utils.download as anomalib_download
    import anomalib.models as anomalib_models
    import lightning
    import timm
    import torch
    import tqdm
    from anomalib.data import MVTecAD
    from anomalib.engine import Engine
    from anomalib.models import EfficientAd
    from torchvision.transforms.v2 import Resize

from dsaii_core.bench.dataset import ClassSplit
from dsaii_core.bench.detectors import read_state_dict
from dsaii_core.errors import DsaiiError

for _name in ("lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric", "pytorch_lightning",
              "anomalib", "timm"):
    logging.getLogger(_name).setLevel(logging.ERROR)   # the Trainer's banners and tips are not our user's business


# -- offline -------------------------------------------------------------------------------------
@contextmanager
def _swapped(owner: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


def _refuse_download(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        target = next((str(a) for a in args if isinstance(a, str) and "://" in a), "")
        raise DsaiiError(f"{what} wants to download {target or 'files'}; DSAII Studio runs anomalib offline, "
                         "so this model is not supported here (see the README's anomalib section)")
    return refuse


def _quiet_progress_bars(stack: ExitStack) -> None:
    """anomalib's own tqdm bars (coreset selection, EfficientAd's statistics) off: our progress is the job's."""
    quiet = functools.partial(tqdm.tqdm, disable=True)
    for module in [m for name, m in sys.modules.items() if name.startswith("anomalib.") and m is not None]:
        found = getattr(module, "tqdm", None)
        if found is tqdm.tqdm:
            stack.enter_context(_swapped(module, "tqdm", quiet))
        elif found is tqdm:
            stack.enter_context(_swapped(module, "tqdm", types.SimpleNamespace(tqdm=quiet)))


@contextmanager
def offline(model_name: str, weights: Path | None) -> Iterator[None]:
    """While a model is built and trained: timm's pretrained weights come from `weights`, downloads fail (and
    anomalib's progress bars are off)."""
    create_model = timm.create_model
    state = read_state_dict(weights) if weights is not None else None

    def local_weights(name: str, pretrained: bool = False, **kwargs: Any) -> torch.nn.Module:
        if pretrained:
            if state is None:
                raise DsaiiError(f"anomalib:{model_name} needs backbone weights: pass the path of a {name} state "
                                 "dict (.pth / .safetensors, e.g. torchvision's ImageNet weights saved locally)")
            kwargs["pretrained_cfg_overlay"] = {**(kwargs.get("pretrained_cfg_overlay") or {}), "state_dict": state}
        try:
            model = create_model(name, pretrained=pretrained, **kwargs)
        except RuntimeError as exc:   # a state dict whose tensors do not fit the architecture
            raise DsaiiError(f"{weights}: does not fit {name} ({str(exc).splitlines()[0]})") from exc
        # timm loads a backbone's weights leniently (it drops the classifier); a tensor left random is an error here
        missing = [k for k in model.state_dict() if pretrained and k not in state]
        if missing:
            raise DsaiiError(f"{weights}: does not fit {name} ({len(missing)} missing tensors, e.g. {missing[0]})")
        return model

    with ExitStack() as stack:
        stack.enter_context(_swapped(timm, "create_model", local_weights))
        stack.enter_context(_swapped(anomalib_download, "urlretrieve", _refuse_download(f"anomalib:{model_name}")))
        stack.enter_context(_swapped(torch.hub, "download_url_to_file", _refuse_download(f"anomalib:{model_name}")))
        stack.enter_context(_swapped(torch.hub, "load_state_dict_from_url", _refuse_download(f"anomalib:{model_name}")))
        _quiet_progress_bars(stack)
        yield


class OfflineEfficientAd(EfficientAd):
    """EfficientAd with its teacher from a local file and its penalty images from a local folder.

    anomalib computes the map quantiles that balance its two maps on the validation set (the test set's
    normals by default); here they come from the train normals after training, as the paper does with its
    held-out normals, so no test image shapes the model.
    """

    def __init__(self, teacher: Path, imagenet_dir: Path, **kwargs: Any) -> None:
        super().__init__(imagenet_dir=imagenet_dir, **kwargs)
        self.teacher_file = Path(teacher)

    def prepare_pretrained_model(self) -> None:
        state = read_state_dict(self.teacher_file)
        try:
            self.model.teacher.load_state_dict(state)
        except RuntimeError as exc:
            raise DsaiiError(f"{self.teacher_file}: not an EfficientAd {self.model_size.value} teacher "
                             f"({str(exc).splitlines()[0]})") from exc

    def prepare_imagenette_data(self, image_size: tuple[int, int] | torch.Size) -> None:
        if not self.imagenet_dir.is_dir():
            raise DsaiiError(f"{self.imagenet_dir}: no such folder of penalty images (EfficientAd needs a local "
                             "ImageNet-like folder with one sub-folder per class, e.g. imagenette2/train)")
        super().prepare_imagenette_data(image_size)

    def on_train_end(self) -> None:
        self.model.quantiles.update(self.map_norm_quantiles(self.trainer.datamodule.train_dataloader()))


# -- building, training, predicting --------------------------------------------------------------
def model_class(name: str) -> type:
    """anomalib's model class of that name; DsaiiError for one it does not have."""
    cls = getattr(anomalib_models, name, None)
    if not inspect.isclass(cls) or not issubclass(cls, anomalib_models.AnomalibModule):
        raise DsaiiError(f"anomalib has no model '{name}'")
    return cls


def build_model(name: str, *, backbone: str | None, layers: tuple[str, ...] | None, weights: Path | None,
                image_size: int, imagenet_dir: Path | None,
                coreset_ratio: float | None = None) -> anomalib_models.AnomalibModule:
    """The model with our options where it takes them, raw outputs (no post-processing), ready for Engine.fit."""
    cls = model_class(name)
    accepted = inspect.signature(cls.__init__).parameters
    options: dict[str, Any] = {"post_processor": False, "evaluator": False, "visualizer": False,
                               "pre_processor": cls.configure_pre_processor(image_size=(image_size, image_size))}
    if backbone and "backbone" in accepted:
        options["backbone"] = backbone
    if layers and "layers" in accepted:
        options["layers"] = list(layers)
    if "pre_trained" in accepted:
        options["pre_trained"] = True      # from the weights file, see offline()
    if coreset_ratio is not None and "coreset_sampling_ratio" in accepted:
        options["coreset_sampling_ratio"] = coreset_ratio
    if cls is EfficientAd:
        if weights is None:
            raise DsaiiError("anomalib:EfficientAd needs its teacher's weights: pass the path of "
                             "pretrained_teacher_small.pth (or _medium) from anomalib's EfficientAd weights")
        if imagenet_dir is None:
            raise DsaiiError("anomalib:EfficientAd needs a local folder of penalty images (e.g. imagenette2/train, "
                             "one sub-folder per class): pass --imagenet-dir")
        cls, options = OfflineEfficientAd, {**options, "teacher": weights, "imagenet_dir": imagenet_dir}
    with offline(name, weights):
        try:
            return cls(**options)
        except (ValueError, TypeError, KeyError) as exc:   # anomalib's own checks of the options
            raise DsaiiError(f"anomalib:{name}: {exc}") from exc


def _datamodule(root: Path, category: str, image_size: int, train_batch_size: int, seed: int) -> MVTecAD:
    return MVTecAD(root=root, category=category, train_batch_size=train_batch_size, eval_batch_size=16,
                   num_workers=0, augmentations=Resize((image_size, image_size)), val_split_mode="none", seed=seed)


@contextmanager
def _class_root(split: ClassSplit, train: list[Path]) -> Iterator[Path]:
    """An MVTec root holding the class with only `train` in train/good (hard links, or copies across file
    systems: anomalib's folder scan does not follow symbolic links)."""
    if sorted(train) == sorted(split.train):
        yield split.folder.parent
        return
    with tempfile.TemporaryDirectory(prefix="dsaii-anomalib-") as scratch:
        target = Path(scratch) / split.folder.name
        (target / "train" / "good").mkdir(parents=True)
        for path in train:
            _link_or_copy(path, target / "train" / "good" / path.name)
        for part in ("test", "ground_truth"):
            for path in sorted((split.folder / part).rglob("*")) if (split.folder / part).is_dir() else []:
                if path.is_file():
                    (target / path.relative_to(split.folder)).parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(path, target / path.relative_to(split.folder))
        yield Path(scratch)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        target.hardlink_to(source)
    except OSError:
        shutil.copy2(source, target)


class _Progress(lightning.Callback):
    """Reports training epochs (up to 80 %) and predicted batches; lets the caller stop the run by raising."""

    def __init__(self, progress: Callable[[float], None], epochs: int):
        self.progress, self.epochs = progress, max(1, epochs)

    def on_train_batch_end(self, trainer, *args: Any) -> None:
        batches = max(1, trainer.num_training_batches)
        step = trainer.current_epoch + (trainer.fit_loop.epoch_loop.batch_progress.current.completed / batches)
        self.progress(0.8 * min(1.0, step / self.epochs))

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0):
        total = trainer.num_predict_batches[dataloader_idx] if trainer.num_predict_batches else 1
        self.progress(0.8 + 0.2 * (batch_idx + 1) / max(1, total))


def train_and_predict(split: ClassSplit, train: list[Path], *, model_name: str, backbone: str | None,
                      layers: tuple[str, ...] | None, weights: Path | None, image_size: int, epochs: int | None,
                      accelerator: str, seed: int, imagenet_dir: Path | None, coreset_ratio: float | None = None,
                      progress: Callable[[float], None] = lambda f: None) -> list:
    """Fit a fresh model on `train` (normals of the class) with anomalib's Engine; its prediction batches for
    the class's test images (image_path, anomaly_map, pred_score, gt_mask, gt_label at image_size²)."""
    lightning.seed_everything(seed, workers=True, verbose=False)
    model = build_model(model_name, backbone=backbone, layers=layers, weights=weights, image_size=image_size,
                        imagenet_dir=imagenet_dir, coreset_ratio=coreset_ratio)
    max_epochs = epochs or model.trainer_arguments.get("max_epochs") or 1
    with _class_root(split, train) as root, tempfile.TemporaryDirectory(prefix="dsaii-anomalib-") as scratch, \
            offline(model_name, weights), warnings.catch_warnings():
        warnings.simplefilter("ignore")    # Lightning's advice on workers, eval-mode modules, missing optimisers
        datamodule = _datamodule(root, split.folder.name, image_size, 1 if isinstance(model, EfficientAd) else 16,
                                 seed)
        # barebones: no checkpoint (a Patchcore memory bank written per class), logger, progress bar or summary
        engine = Engine(max_epochs=max_epochs, accelerator=accelerator, devices=1, default_root_dir=scratch,
                        logger=False, barebones=True, limit_val_batches=0, callbacks=[_Progress(progress, max_epochs)])
        engine.fit(model=model, datamodule=datamodule)
        predictions = engine.predict(model=model, datamodule=datamodule, return_predictions=True)
    return list(predictions or [])
