"""Throughput of jobs on Ray with 1 and 2 workers, against the local executor, measured in one run.

    .venv/bin/python benchmarks/bench_ray.py              # 24 images at 512², a local 2-CPU Ray cluster
    .venv/bin/python benchmarks/bench_ray.py --n 8        # a quick run
    .venv/bin/python benchmarks/bench_ray.py --address auto --num-gpus 1   # on a real cluster

Two job kinds with the weight-free code paths: inpainting (classical backend: transplant a real
crack into an elliptical mask, with QC) and anomaly masks (the reference gen_mask rule on the
demo's MVTec ground-truth bank, 5 per image). Each run starts from a copy of the same workspace;
wall time covers the whole `run_job` including the workers' start (actor processes, task built
once per worker); "steady" counts from the first committed batch on. Configurations alternate
within each round and the best round is kept (the machine may be shared). Every Ray run is
checked to write the same bytes as the local one.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import ray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsaii_core import imageio  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.inpaint.generate import start_inpaint_job  # noqa: E402
from dsaii_core.jobs import run_job  # noqa: E402
from dsaii_core.masks.anomaly import class_params  # noqa: E402
from dsaii_core.masks.anomaly_job import start_anomaly_mask_job  # noqa: E402
from dsaii_core.masks.bank import import_bank  # noqa: E402
from dsaii_core.ray_executor import RayExecutor  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402


def build_template(root: Path, n: int, side: int) -> Path:
    """hazelnut: n real demo images at side², an elliptical anomaly mask each, one real crack, the demo's bank."""
    ws = Workspace.create(root)
    cls = ws.add_class("hazelnut")
    sources = sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))
    for index in range(n):
        image = cv2.resize(imageio.read_image(sources[index % len(sources)]), (side, side))
        item = ws.add_image(cls, np.roll(image, index, axis=1), skip_duplicates=False).item
        mask = np.zeros((side, side), np.uint8)
        cv2.ellipse(mask, (side // 2, side // 2), (side // 8, side // 12), 30, 0, 360, 255, -1)
        ws.add_mask(item, mask, kind="anomaly", source="drawn")
    crack = ws.add_image(cls, cv2.resize(imageio.read_image(DEMO_DIR / "hazelnut/test/crack/000.png"), (side, side)),
                         role="anomaly", status="accepted", origin="import", defect="crack").item
    truth = imageio.read_mask(DEMO_DIR / "hazelnut/ground_truth/crack/000_mask.png", shape=(side, side), resize=True)
    ws.catalog.set_item_fields(crack.id, mask_id=ws.add_mask(crack, truth, kind="anomaly", source="ground_truth").id)
    import_bank(ws, [DEMO_DIR / "hazelnut", DEMO_DIR / "transistor"], license="CC BY-NC-SA 4.0")
    ws.catalog.close()
    return root


def start(kind: str, ws: Workspace):
    if kind == "inpaint":
        return start_inpaint_job(ws, ws.classes(), "classical", seed=0)
    cls = ws.get_class("hazelnut")
    return start_anomaly_mask_job(ws, [(cls, class_params(cls).replace(per_image=5, seed=0))])


def outputs(kind: str, ws: Workspace) -> list[str]:
    if kind == "inpaint":
        return [i.sha256 for i in ws.catalog.items(role="anomaly") if i.origin.startswith("inpaint:")]
    return [ws.path(m.file).read_bytes().hex() for m in ws.catalog.masks(kind="anomaly") if m.source == "bank"]


def timed_run(kind: str, template: Path, folder: Path, executor) -> tuple[float, float, int, list[str]]:
    """(wall s, steady items/s, items, outputs) of one job on a fresh copy of the template."""
    shutil.copytree(template, folder)
    ws = Workspace.open(folder)
    job = start(kind, ws)
    marks: list[tuple[float, float]] = []
    began = time.perf_counter()
    done = run_job(ws, job.id, executor=executor, progress=lambda f: marks.append((time.perf_counter(), f)))
    wall = time.perf_counter() - began
    assert done.state == "done", done
    first = next((t, f) for t, f in marks if f > 0)
    steady = (1 - first[1]) * done.total / max(marks[-1][0] - first[0], 1e-9)
    return wall, steady, done.total, outputs(kind, ws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=24, help="images")
    parser.add_argument("--side", type=int, default=512, help="image side in pixels")
    parser.add_argument("--address", default=None, help="Ray cluster (default: start one here with --cpus)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local cluster")
    parser.add_argument("--num-gpus", type=float, default=None, help="GPUs per worker (default: 1 for GPU work "
                                                                      "on a cluster with GPUs, else 0)")
    parser.add_argument("--rounds", type=int, default=2, help="repetitions (the best is kept)")
    args = parser.parse_args()
    if args.address:
        ray.init(address=args.address, include_dashboard=False, logging_level="WARNING")
    else:
        ray.init(num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="WARNING")
    resources = ray.cluster_resources()
    print(f"Ray {ray.__version__}: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs in the cluster; "
          f"{args.n} images at {args.side}²")
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as scratch:
        template = build_template(Path(scratch) / "template", args.n, args.side)
        for kind, label in (("inpaint", "inpaint, classical backend"), ("anomaly", "anomaly masks, bank, 5 per image")):
            print(f"\n{label} (best of {args.rounds} rounds, configurations interleaved)")
            print(f"{'executor':<16}{'wall s':>8}{'items/s':>9}{'steady/s':>10}{'vs local':>10}  same bytes")
            best: dict[int, tuple] = {}
            for round_ in range(args.rounds):
                for workers in (0, 1, 2):  # 0: the local executor
                    executor = RayExecutor(num_gpus=args.num_gpus, workers=workers) if workers else None
                    try:
                        run = timed_run(kind, template, Path(scratch) / f"{kind}-{workers}-{round_}", executor)
                    finally:
                        if executor is not None:
                            executor.close()
                    if workers not in best or run[0] < best[workers][0]:
                        best[workers] = run
            base = best[0][2] / best[0][0]
            for workers, (wall, steady, total, got) in best.items():
                name = "local" if not workers else f"ray, {workers} worker" + "s" * (workers > 1)
                same = "-" if not workers else "yes" if got == best[0][3] else "NO"
                print(f"{name:<16}{wall:8.2f}{total / wall:9.2f}{steady:10.2f}{total / wall / base:10.2f}  {same}")
    ray.shutdown()


if __name__ == "__main__":
    main()
