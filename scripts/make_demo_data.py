"""Rebuild data/demo/ from ../shared/data (run once by maintainers; the result is committed).

The demo is an MVTec-AD-style root so `init --demo` goes through the ordinary MVTec importer:
hazelnut and transistor (MVTec AD, CC BY-NC-SA 4.0), ball_screw (BSData pitting, CC BY-SA 4.0)
and magnetic_tile (Magnetic-tile defects, research use with citation; a texture class).
"""

import json
import shutil
import sys
from pathlib import Path

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
OUT = Path("data/demo")


def copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def mvtec_class(name: str, train: int) -> None:
    root = SHARED / "mvtec_ind_knn_ad" / f"{name}_reduced"
    for src in sorted((root / "train/good").glob("*.png"))[:train]:
        copy(src, OUT / name / "train/good" / src.name)
    for src in sorted((root / "test").glob("*/*.png")):
        copy(src, OUT / name / "test" / src.parent.name / src.name)
    for src in sorted((root / "ground_truth").glob("*/*.png")):
        copy(src, OUT / name / "ground_truth" / src.parent.name / src.name)


def ball_screw(train: int, defects: int) -> None:
    root = SHARED / "bsdata"
    for index, src in enumerate(sorted((root / "images/unannotated").glob("*.jpg"))[:train]):
        copy(src, OUT / "ball_screw/train/good" / f"{index:03d}.jpg")
    small = [p for p in sorted((root / "images/pitting").glob("KGT*.jpg"))][:defects]
    for index, src in enumerate(small):
        copy(src, OUT / "ball_screw/test/pitting" / f"{index:03d}.jpg")
        copy(root / "masks" / f"{src.stem}_mask.png", OUT / "ball_screw/ground_truth/pitting" / f"{index:03d}_mask.png")


def magnetic_tile(train: int, per_defect: int) -> None:
    root = SHARED / "magnetic_tile"
    for index, src in enumerate(sorted((root / "MT_Free/Imgs").glob("*.jpg"))[:train]):
        copy(src, OUT / "magnetic_tile/train/good" / f"{index:03d}.jpg")
    for folder in ("MT_Blowhole", "MT_Break", "MT_Crack", "MT_Uneven"):
        defect = folder[3:].lower()
        for index, src in enumerate(sorted((root / folder / "Imgs").glob("*.jpg"))[:per_defect]):
            copy(src, OUT / "magnetic_tile/test" / defect / f"{index:03d}.jpg")
            copy(src.with_suffix(".png"), OUT / "magnetic_tile/ground_truth" / defect / f"{index:03d}_mask.png")


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    mvtec_class("hazelnut", 16)
    mvtec_class("transistor", 12)
    ball_screw(12, 6)
    magnetic_tile(16, 3)
    for name in ("mvtec_ind_knn_ad", "bsdata", "magnetic_tile"):
        copy(SHARED / name / "README.md", OUT / "licenses" / f"{name}.md")
    for extra in ("license.txt", "readme.txt"):
        src = SHARED / "mvtec_ind_knn_ad/hazelnut_reduced" / extra
        if src.exists():
            copy(src, OUT / "licenses" / f"mvtec_{extra}")
    meta = {
        "classes": {
            "hazelnut": {"kind": "object", "license": "CC BY-NC-SA 4.0", "source": "MVTec AD (via rvorias/ind_knn_ad)"},
            "transistor": {"kind": "object", "license": "CC BY-NC-SA 4.0", "source": "MVTec AD (via rvorias/ind_knn_ad)"},
            "ball_screw": {"kind": "object", "license": "CC BY-SA 4.0", "source": "BSData (2Obe/BSData)"},
            "magnetic_tile": {"kind": "texture", "license": "research use with citation (none stated)",
                              "source": "Magnetic-tile defect dataset (abin24)"},
        }
    }
    (OUT / "demo.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    main()
