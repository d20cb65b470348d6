"""The test protocol read from an MVTec AD folder: per class, train normals and labelled test images.

    <class>/train/good/*.png   <class>/test/good/*.png   <class>/test/<defect>/*.png
    <class>/ground_truth/<defect>/<stem>_mask.png

A test image is named by its key `<defect>/<stem>` (e.g. `crack/000`, `good/003`), unique in its class;
maps of imported scores and of stored runs use the same keys. An anomaly is real or synthetic by its defect
folder: our export puts every anomaly that has no defect name of its own (what inpainting makes, and the
anomalies of an imported DSAII dataset) under `synthetic/`, and imported real defects under their own names.
A workspace is benchmarked through its MVTec export (`export_workspace(..., layout='mvtec', seed=seed)`), which
is deterministic per seed.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from dsaii_core import imageio
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import DB_NAME, Workspace

SYNTHETIC_DEFECT = "synthetic"     # the export's folder for anomalies without a defect name of their own
ORIGINS = ("real", "synthetic")


@dataclass(frozen=True)
class BenchImage:
    key: str                  # "<defect>/<stem>"
    image: Path
    mask: Path | None         # None for test/good

    @property
    def defect(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def label(self) -> int:
        return 0 if self.defect == "good" else 1

    @property
    def origin(self) -> str:
        """'normal' for a good image; an anomaly is 'synthetic' (in the export's synthetic/ folder) or 'real'."""
        if self.label == 0:
            return "normal"
        return "synthetic" if self.defect == SYNTHETIC_DEFECT else "real"

    def read_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The ground truth as H×W uint8 0/255 (all zero for a normal image), resized to `shape` if needed."""
        if self.mask is None:
            return np.zeros(shape, np.uint8)
        return imageio.read_mask(self.mask, shape=shape, resize=True)


@dataclass(frozen=True)
class ClassSplit:
    name: str                 # the class name (from the export manifest, else the folder name)
    folder: Path
    train: list[Path]
    test: list[BenchImage]

    def shots(self, k: int | None, seed: int) -> list[Path]:
        """k train normals drawn with `seed` (all of them when k is None), in file order."""
        if k is None or k >= len(self.train):
            return list(self.train)
        if k < 1:
            raise DsaiiError(f"shots must be at least 1, not {k}")
        chosen = np.random.default_rng(seed).choice(len(self.train), size=k, replace=False)
        return [self.train[i] for i in sorted(chosen)]


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and imageio.is_image_name(p.name)) if folder.is_dir() else []


def _class_names(root: Path) -> dict[str, str]:
    """Folder name -> class name, from our export manifest when there is one."""
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return {}
    classes = json.loads(manifest.read_text(encoding="utf-8")).get("classes", {})
    return {info["folder"]: name for name, info in classes.items()}


def read_class(folder: Path, name: str | None = None, *, test_only: bool = False) -> ClassSplit:
    """One MVTec class folder; DsaiiError when it has no test images, or no train normals (unless `test_only`)."""
    train = _images(folder / "train" / "good")
    test: list[BenchImage] = []
    test_root = folder / "test"
    for defect_dir in sorted(p for p in test_root.iterdir() if p.is_dir()) if test_root.is_dir() else []:
        for image in _images(defect_dir):
            mask = None
            if defect_dir.name != "good":
                mask = folder / "ground_truth" / defect_dir.name / f"{image.stem}_mask.png"
                if not mask.is_file():
                    raise DsaiiError(f"{image}: no ground-truth mask at {mask}")
            test.append(BenchImage(f"{defect_dir.name}/{image.stem}", image, mask))
    if not train and not test_only:
        raise DsaiiError(f"{folder}: no training images in train/good")
    if not test:
        raise DsaiiError(f"{folder}: no test images in test/")
    return ClassSplit(name or folder.name, folder, train, test)


def read_mvtec(root: Path, class_names: list[str] | None = None, *, test_only: bool = False) -> list[ClassSplit]:
    """Every class of an MVTec AD root (or the one class a class folder is), optionally only some.

    With `test_only`, class folders need only test/ (a stored run's copy of its test set).
    """
    root = Path(root)
    marker = Path("test") if test_only else Path("train") / "good"
    if (root / marker).is_dir():
        splits = [read_class(root, test_only=test_only)]
    else:
        names = _class_names(root)
        folders = sorted(p for p in root.iterdir() if (p / marker).is_dir()) if root.is_dir() else []
        if not folders:
            raise DsaiiError(f"{root}: not an MVTec AD folder (no <class>/{marker.as_posix()})")
        splits = [read_class(p, names.get(p.name, p.name), test_only=test_only) for p in folders]
    if class_names:
        unknown = set(class_names) - {s.name for s in splits}
        if unknown:
            raise DsaiiError(f"no class {', '.join(sorted(unknown))} in {root}")
        splits = [s for s in splits if s.name in class_names]
    return splits


def is_workspace(path: Path) -> bool:
    return (Path(path) / DB_NAME).is_file()


@contextmanager
def benchmark_root(path: Path, seed: int, class_names: list[str] | None = None) -> Iterator[tuple[Path, Workspace | None]]:
    """(MVTec root, workspace or None): a workspace is exported to a temporary MVTec folder with `seed`."""
    path = Path(path)
    if not path.exists():
        raise DsaiiError(f"{path}: no such workspace or folder")
    if not is_workspace(path):
        yield path, None
        return
    from dsaii_core.export import export_workspace
    ws = Workspace.open(path)
    with tempfile.TemporaryDirectory(prefix="dsaii-bench-") as scratch:
        out = Path(scratch) / "mvtec"
        export_workspace(ws, out, "mvtec", seed=seed, class_names=class_names)
        yield out, ws
