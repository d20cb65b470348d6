"""A seed-sized run, end to end, as a user runs it from the command line: minutes per phase and in all.

    .venv/bin/python benchmarks/bench_seed_run.py                         # 78 classes × 20 normals, 512–1024 px
    .venv/bin/python benchmarks/bench_seed_run.py --classes 8 --normals 10   # a quick look
    .venv/bin/python benchmarks/bench_seed_run.py --workspace /tmp/seed-run  # keep the workspace (built afresh)

The workspace is made of real photos as benchmarks/bench_validate.py makes it (each class: random crops, turns,
mirrors and brightness changes of one photo from data/demo and ../shared/data), at 512–1024 px, every fourth
class a texture, plus the demo's real defects imported (their masks fill the mask bank). Then each weight-free
phase runs as its command, on every core: object masks, anomaly masks (bank), inpainting (weight-free), review
(accept everything that passes QC), the DSAII and MVTec exports (each validated) and the baseline benchmark.
Target (issue 15): the whole run under 10 minutes on 2 cores (a seed-sized run took about 45 before).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_validate import normal_from, source_photos  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.ingest import import_paths  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402

SIDES = (512, 640, 768, 896, 1024)
TARGET_S = 600


def build(root: Path, classes: int, normals: int, seed: int = 0) -> None:
    """`classes` classes of `normals` kept normal photos each (one source photo per class), and real defects."""
    rng = np.random.default_rng(seed)
    photos = source_photos()
    ws = Workspace.create(root)
    for index in range(classes):
        cls = ws.add_class(f"class_{index:02d}", "texture" if index % 4 == 3 else "object")
        photo = photos[index % len(photos)]
        for _ in range(normals):
            ws.add_image(cls, normal_from(photo, rng, SIDES))
    report = import_paths(ws, [DEMO_DIR])  # the demo's real defects: their masks make the bank
    assert not report.errors, report.errors
    ws.catalog.close()


def command(*args: object) -> float:
    """Seconds a `python -m dsaii_core` command takes; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dsaii_core", *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args[:1]))} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=78)
    parser.add_argument("--normals", type=int, default=20)
    parser.add_argument("--workspace", type=Path, help="build the workspace here (must not exist) and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-seed-run-") as tmp:
        ws = args.workspace or Path(tmp) / "ws"
        start = time.perf_counter()
        build(ws, args.classes, args.normals)
        print(f"{args.classes} classes × {args.normals} normals of {SIDES[0]}–{SIDES[-1]} px built in "
              f"{time.perf_counter() - start:.0f} s; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        phases = {
            "object masks": ("object-masks", ws, "--method", "grabcut"),
            "anomaly masks": ("anomaly-masks", ws),
            "inpainting": ("inpaint", ws, "--backend", "classical"),
            "review": ("review", ws, "--accept-passing-qc"),
            "export dsaii": ("export", ws, Path(tmp) / "dsaii", "--layout", "dsaii"),
            "export mvtec": ("export", ws, Path(tmp) / "mvtec", "--layout", "mvtec"),
            "benchmark (baseline)": ("bench", "run", ws, "--detector", "baseline"),
        }
        total = 0.0
        for name, call in phases.items():
            seconds = command(*call)
            total += seconds
            print(f"{name:<22}{seconds:8.1f} s")
        print(f"{'total':<22}{total:8.1f} s = {total / 60:.1f} min (target < {TARGET_S // 60} min: "
              f"{'met' if total < TARGET_S else 'NOT met'}); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
