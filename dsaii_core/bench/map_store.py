"""A run's anomaly maps on disk, compactly: one compressed .npz per class, at the detector's resolution.

    <run>/maps/<class folder>.npz
        keys     (N,) str       the test images' keys "<defect>/<stem>"
        shapes   (N, 2) int     H, W of each test image: a map covers its whole image and is scored at that size
        scale    (2,) float64   low, high: code c stands for low + c · (high − low) / 65535
        m0 … mN-1 (h, w) uint16 the codes of each map, at the resolution the detector made it, delta-coded

One scale per class keeps the order of scores across the class's images (a monotone code: nearby scores
may tie, none swap), so pixel metrics move by ties within 1/65535 of the class's range only
(`benchmarks/bench_maps.py` measures it: ≤ 1e-4). The codes are stored as their second differences
(along rows, then columns, modulo 2¹⁶: exactly invertible), small numbers because maps are smooth, and the
.npz is compressed with bzip2 (np.load reads it like np.savez_compressed's deflate). A map is read back at
its image's size by the same bilinear resize the detectors use, so what is stored is what was scored. A 224²
map takes about 20 KB instead of float32's 256 KB at 256², 1 MB at 512², 4 MB at 1024².

Runs made before this format kept float32 maps at image resolution as <run>/<class folder>/<defect>/<stem>.npy
(the score-import layout); they are read as they are.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dsaii_core.atomic import atomic_write_bytes
from dsaii_core.errors import DsaiiError

MAPS_FOLDER = "maps"
LEVELS = 65535


@dataclass(frozen=True)
class AnomalyMap:
    """A detector's map at its own resolution, and the H×W of the image it covers."""
    values: np.ndarray                  # float32 h×w
    shape: tuple[int, int]              # the image's H×W

    def full(self) -> np.ndarray:
        """The map at its image's size (bilinear, as the detectors upsample), float32."""
        if self.values.shape == tuple(self.shape):
            return self.values
        return cv2.resize(self.values, (int(self.shape[1]), int(self.shape[0])), interpolation=cv2.INTER_LINEAR)


def class_file(root: Path, class_folder: str) -> Path:
    return Path(root) / MAPS_FOLDER / f"{class_folder}.npz"


def legacy_file(root: Path, class_folder: str, key: str) -> Path:
    """Where runs made before the compact format kept the map of one test image (float32 .npy)."""
    return Path(root) / class_folder / f"{key}.npy"


def _delta(codes: np.ndarray) -> np.ndarray:
    """Second differences (rows, then columns) modulo 2¹⁶: small numbers for a smooth map."""
    rows = np.diff(codes, axis=1, prepend=np.uint16(0))
    return np.diff(rows, axis=0, prepend=np.uint16(0))


def _undelta(deltas: np.ndarray) -> np.ndarray:
    return np.cumsum(np.cumsum(deltas, axis=0, dtype=np.uint16), axis=1, dtype=np.uint16)


def _decode(deltas: np.ndarray, low: float, high: float) -> np.ndarray:
    step = (high - low) / LEVELS
    return (low + _undelta(deltas).astype(np.float64) * step).astype(np.float32)


def encode(maps: dict[str, AnomalyMap]) -> dict[str, np.ndarray]:
    """The arrays of a class's .npz: uint16 codes on one scale over all the maps."""
    if not maps:
        raise DsaiiError("no maps to store")
    values = [np.asarray(m.values, dtype=np.float32) for m in maps.values()]
    if not all(v.ndim == 2 and np.isfinite(v).all() for v in values):
        raise DsaiiError("a map must be a 2-D array of finite numbers")
    low = float(min(v.min() for v in values))
    high = float(max(v.max() for v in values))
    factor = LEVELS / (high - low) if high > low else 0.0
    arrays = {"keys": np.array(list(maps), dtype=str), "shapes": np.array([m.shape for m in maps.values()], np.int64),
              "scale": np.array([low, high], np.float64)}
    for index, v in enumerate(values):
        arrays[f"m{index}"] = _delta(np.rint((v.astype(np.float64) - low) * factor).astype(np.uint16))
    return arrays


def decode(arrays) -> dict[str, AnomalyMap]:
    """The maps of a class from its .npz arrays (a dict or an open NpzFile)."""
    low, high = (float(v) for v in arrays["scale"])
    return {str(key): AnomalyMap(_decode(arrays[f"m{index}"], low, high), (int(shape[0]), int(shape[1])))
            for index, (key, shape) in enumerate(zip(arrays["keys"], arrays["shapes"]))}


def write_class(root: Path, class_folder: str, maps: dict[str, AnomalyMap]) -> dict[str, AnomalyMap]:
    """Store a class's maps (atomically); returns them as a reader will get them back (score these)."""
    arrays = encode(maps)
    buffer = io.BytesIO()
    # an .npz as np.savez_compressed writes it, but bzip2 (np.load reads any zip method): 1.5× smaller on maps
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_BZIP2) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(class_file(root, class_folder), buffer.getvalue())
    return decode(arrays)


def has_class(root: Path, class_folder: str) -> bool:
    return class_file(root, class_folder).is_file()


def read_class(root: Path, class_folder: str, keys: list[str] | None = None) -> dict[str, AnomalyMap]:
    """A class's stored maps, from the compact file or, for an older run, the .npy of each of `keys`."""
    path = class_file(root, class_folder)
    if path.is_file():
        with np.load(path, allow_pickle=False) as arrays:
            return decode(arrays)
    if keys is None:
        raise DsaiiError(f"{path}: no stored maps")
    out = {}
    for key in keys:
        legacy = legacy_file(root, class_folder, key)
        if not legacy.is_file():
            raise DsaiiError(f"{legacy}: no stored map")
        values = np.load(legacy, allow_pickle=False).astype(np.float32, copy=False)
        out[key] = AnomalyMap(values, values.shape)
    return out


def read_map(root: Path, class_folder: str, key: str) -> np.ndarray:
    """One test image's stored map at its image's size, from either format."""
    path = class_file(root, class_folder)
    if not path.is_file():
        return np.load(legacy_file(root, class_folder, key), allow_pickle=False)
    with np.load(path, allow_pickle=False) as arrays:
        keys = [str(k) for k in arrays["keys"]]
        if key not in keys:
            raise DsaiiError(f"{path}: no map for {key}")
        index = keys.index(key)
        low, high = (float(v) for v in arrays["scale"])
        shape = arrays["shapes"][index]
        return AnomalyMap(_decode(arrays[f"m{index}"], low, high), (int(shape[0]), int(shape[1]))).full()


def stored_bytes(root: Path) -> int:
    """Bytes of the maps a run folder holds (either format; not its scores, notes or dataset copy)."""
    root = Path(root)
    total = sum(p.stat().st_size for p in (root / MAPS_FOLDER).glob("*.npz"))
    return total + sum(p.stat().st_size for p in root.glob("*/*/*.npy"))
