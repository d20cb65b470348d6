"""Speed of the weight-free inpainting backends and the overhead of the job runner, measured in one run.

    .venv/bin/python benchmarks/bench_inpaint.py            # 512² and 1024², 12 / 6 images per method
    .venv/bin/python benchmarks/bench_inpaint.py --n 4      # a quick run

1. images/s of each weight-free method (transplant, texture, procedural) on a real demo image (hazelnut,
   resized) with an elliptical mask of ~3 % of the image (the reference rule: 1–5 % for objects).
2. Runner overhead at 512²: `run_job` (job rows, one transaction per item, heartbeat thread, progress)
   against the same per-item work done in a plain loop with no runner (InpaintTask.compute + commit:
   read the pair, inpaint, QC, write the PNG and its catalog row). Target: < 5 %. The share of the bare
   backend call (`backend.inpaint` alone) in that per-item work is printed too.
3. seconds per 512² image of Stable Diffusion 1.5-size inpainting (random weights, 30 steps) in fp16 on
   CUDA; without a CUDA device this is not measured (--sd-check-cpu runs the same code at 1/10 width).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsaii_core import imageio  # noqa: E402
from dsaii_core.demo import DEMO_DIR  # noqa: E402
from dsaii_core.inpaint.base import InpaintParams  # noqa: E402
from dsaii_core.inpaint.classical import METHODS, ClassicalBackend, DefectSource  # noqa: E402
from dsaii_core.inpaint.generate import InpaintTask, pending_pairs, start_inpaint_job  # noqa: E402
from dsaii_core.jobs import get_job, item_seed, run_job  # noqa: E402
from dsaii_core.workspace import Workspace  # noqa: E402


def ellipse_mask(side: int, area: float = 0.03) -> np.ndarray:
    mask = np.zeros((side, side), np.uint8)
    axes = (int(side * np.sqrt(area / np.pi) * 1.3), int(side * np.sqrt(area / np.pi) / 1.3))
    cv2.ellipse(mask, (side // 2, side // 2), axes, 25, 0, 360, 255, -1)
    return mask


def real_inputs(side: int):
    normal = cv2.resize(imageio.read_image(DEMO_DIR / "hazelnut/train/good/000.png"), (side, side),
                        interpolation=cv2.INTER_CUBIC)
    defect = DefectSource(imageio.read_image(DEMO_DIR / "hazelnut/test/crack/000.png"),
                          imageio.read_mask(DEMO_DIR / "hazelnut/ground_truth/crack/000_mask.png"), "crack")
    texture = imageio.read_image(DEMO_DIR / "transistor/train/good/000.png")
    return normal, ellipse_mask(side), defect, texture


def backend_speed(n: int) -> None:
    print("1. weight-free backends, images/s (one process, this machine)")
    print(f"{'method':<12}{'512²':>10}{'1024²':>10}")
    for method in METHODS:
        rates = []
        for side, count in ((512, n), (1024, max(2, n // 2))):
            normal, mask, defect, texture = real_inputs(side)
            backend = ClassicalBackend(method, [defect], [texture])
            backend.inpaint(normal, mask, "", "", 0, InpaintParams())  # warm-up
            start = time.perf_counter()
            for seed in range(count):
                backend.inpaint(normal, mask, "", "", seed, InpaintParams())
            rates.append(count / (time.perf_counter() - start))
        print(f"{method:<12}{rates[0]:>10.1f}{rates[1]:>10.1f}")


def make_workspace(root: Path, n: int, side: int) -> Workspace:
    ws = Workspace.create(root)
    cls = ws.add_class("hazelnut")
    paths = sorted((DEMO_DIR / "hazelnut/train/good").glob("*.png"))
    for index in range(n):
        image = cv2.resize(imageio.read_image(paths[index % len(paths)]), (side, side), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image.astype(np.int16) + index, 0, 255).astype(np.uint8)  # distinct content per item
        item = ws.add_image(cls, image).item
        ws.add_mask(item, ellipse_mask(side), kind="anomaly", source="drawn")
    normal, mask, _, _ = real_inputs(side)
    crack = cv2.resize(imageio.read_image(DEMO_DIR / "hazelnut/test/crack/000.png"), (side, side))
    truth = imageio.read_mask(DEMO_DIR / "hazelnut/ground_truth/crack/000_mask.png", shape=(side, side), resize=True)
    real = ws.add_image(cls, crack, role="anomaly", status="accepted", origin="import", defect="crack").item
    ws.catalog.set_item_fields(real.id, mask_id=ws.add_mask(real, truth, kind="anomaly", source="ground_truth").id)
    return ws


def runner_overhead(n: int, side: int = 512, repeats: int = 3) -> None:
    print(f"\n2. runner overhead at {side}², {n} items, classical backend (best of {repeats})")
    plain_times, runner_times, backend_times = [], [], []
    for repeat in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            ws_plain = make_workspace(Path(tmp) / "plain", n, side)
            ws_runner = make_workspace(Path(tmp) / "runner", n, side)
            cls = ws_plain.get_class("hazelnut")
            # plain loop: the same per-item work with no job machinery
            job = start_inpaint_job(ws_plain, [cls], "classical", seed=repeat)
            task = InpaintTask(ws_plain, get_job(ws_plain.catalog, job.id))
            keys = [str(m.id) for m in pending_pairs(ws_plain, cls)]
            start = time.perf_counter()
            for key in keys:
                seed = item_seed(repeat, key)
                [output] = task.compute([key], [seed])
                task.commit(key, seed, output)
            plain_times.append(time.perf_counter() - start)
            # the bare backend call alone, on the same pairs
            backend = task.backend(cls)
            pairs = [(ws_plain.read_image(ws_plain.catalog.item(ws_plain.catalog.mask(int(k)).item_id)),
                      ws_plain.read_mask(ws_plain.catalog.mask(int(k)))) for k in keys]
            start = time.perf_counter()
            for (image, mask), key in zip(pairs, keys):
                backend.inpaint(image, mask, "", "", item_seed(repeat, key), InpaintParams())
            backend_times.append(time.perf_counter() - start)
            # the runner
            job = start_inpaint_job(ws_runner, [ws_runner.get_class("hazelnut")], "classical", seed=repeat)
            start = time.perf_counter()
            done = run_job(ws_runner, job.id)
            runner_times.append(time.perf_counter() - start)
            assert done.state == "done" and done.done == n
    plain, runner, bare = min(plain_times), min(runner_times), min(backend_times)
    print(f"  bare backend.inpaint:              {bare:7.3f} s  ({n / bare:6.1f} images/s)")
    print(f"  same work, plain loop (no runner): {plain:7.3f} s  ({n / plain:6.1f} images/s; backend is "
          f"{100 * bare / plain:.0f} % of it, the rest is reading, QC and writing)")
    print(f"  run_job (resumable runner):        {runner:7.3f} s  ({n / runner:6.1f} images/s)")
    print(f"  runner overhead vs plain loop: {100 * (runner / plain - 1):+.1f} %  (target < 5 %)")


SD15 = {"unet": dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
                     attention_head_dim=8, sample_size=64),
        "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32),
        "text": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12),
        "side": 512, "steps": 30}
# The same architecture at a tenth of the width: checks this code path on a CPU in seconds.
SD15_SHAPE_CHECK = {"unet": dict(block_out_channels=(32, 64, 128, 128), layers_per_block=2, cross_attention_dim=64,
                                 attention_head_dim=8, sample_size=8, norm_num_groups=32),
                    "vae": dict(block_out_channels=(16, 32, 64, 64), layers_per_block=2, norm_num_groups=8),
                    "text": dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_hidden_layers=2),
                    "side": 64, "steps": 2}


def random_sd15_pipeline(config: dict, folder: Path):
    """An SD 1.5-architecture inpainting pipeline with random weights (timing only needs the shapes)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from tests.fixtures.tiny_inpaint import write_tokenizer_files
    torch.manual_seed(0)
    unet = UNet2DConditionModel(in_channels=9, out_channels=4,
                                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, **config["unet"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, **config["vae"])
    vocab, merges = write_tokenizer_files(folder)
    tokenizer = CLIPTokenizer(vocab=str(vocab), merges=str(merges), model_max_length=77)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                        pad_token_id=1, projection_dim=config["text"]["hidden_size"], **config["text"]))
    return StableDiffusionInpaintPipeline(vae=vae.eval(), text_encoder=text.eval(), tokenizer=tokenizer,
                                          unet=unet.eval(), scheduler=DDIMScheduler(steps_offset=1),
                                          safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def sd15_fp16(check_on_cpu: bool) -> None:
    import torch

    from dsaii_core.inpaint.diffusers_backend import DiffusersBackend
    print("\n3. Stable Diffusion 1.5-size inpainting (random weights), fp16 on CUDA")
    if torch.cuda.is_available():
        config, device, dtype = SD15, "cuda", torch.float16
    elif check_on_cpu:
        config, device, dtype = SD15_SHAPE_CHECK, "cpu", torch.float32
        print("  no CUDA device: running the 1/10-width shape check on the CPU instead (not a timing of SD 1.5)")
    else:
        print("  not measured: no CUDA device on this machine (pass --sd-check-cpu to exercise the code path)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = random_sd15_pipeline(config, Path(tmp)).to(device, dtype)
    pipeline.set_progress_bar_config(disable=True)
    backend = DiffusersBackend(Path("random-sd15"), pipeline=pipeline)
    side = config["side"]
    normal, mask, _, _ = real_inputs(side)
    params = InpaintParams(steps=config["steps"], strength=1.0, resolution=side)
    backend.inpaint(normal, mask, "broken, cracked, severely shattered", "", 0, params)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    runs = 3
    for seed in range(runs):
        backend.inpaint(normal, mask, "broken, cracked, severely shattered", "", seed, params)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / runs
    print(f"  {device} {str(dtype).removeprefix('torch.')}: {seconds:.2f} s per {side}² image, {params.steps} steps, "
          f"guidance {params.guidance} ({params.steps / seconds:.1f} steps/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12, help="images per method at 512² (half at 1024²)")
    parser.add_argument("--runner-items", type=int, default=24)
    parser.add_argument("--sd-check-cpu", action="store_true", help="without CUDA, run a 1/10-width SD shape check")
    args = parser.parse_args()
    backend_speed(args.n)
    runner_overhead(args.runner_items)
    sd15_fp16(args.sd_check_cpu)


if __name__ == "__main__":
    main()
