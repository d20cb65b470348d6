"""`python -m dsaii_core bench ...`: run a detector (built-in or anomalib's), import a detector's maps, report runs.

torch, pandas and plotly are imported inside the commands, so other commands of the CLI start fast.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from dsaii_core.errors import DsaiiError
from dsaii_core.cli_options import EXECUTOR, NUM_GPUS, RAY_ADDRESS, WORKERS, echo_json, executor_for, progress_bar
from dsaii_core.workspace import Workspace

bench = typer.Typer(no_args_is_help=True, help="Benchmark anomaly detectors on a workspace's MVTec export.")


def _clean(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value


def _print_report(report, as_json: bool) -> None:
    if as_json:
        echo_json({"run_id": report.run_id, "name": report.name, "detector": report.detector,
                   "settings": report.settings, "maps_dir": str(report.maps_dir) if report.maps_dir else None,
                   "classes": {c.name: {"metrics": c.metrics, "notes": c.notes} for c in report.classes}})
        return
    for result in report.classes:
        for note in result.notes:
            typer.echo(f"{result.name}: {note}", err=True)
    typer.echo(report.table().to_string(float_format=lambda v: f"{v:.4f}", na_rep="n/a"))
    typer.echo(f"run #{report.run_id} stored" if report.run_id is not None else "not stored (not a workspace)")


@bench.command("run")
def run(path: Path = typer.Argument(..., help="Workspace (exported to MVTec AD with --seed) or an MVTec AD folder."),
        detector: str = typer.Option("baseline", "--detector", help="baseline (weak, weight-free), patchcore, or "
                                     "anomalib:<Model> (e.g. anomalib:Patchcore, anomalib:Padim, anomalib:"
                                     "Supersimplenet, anomalib:EfficientAd; needs requirements-anomalib.txt)."),
        backbone: Optional[str] = typer.Option(None, "--backbone", help="Backbone architecture (PatchCore: a "
                                               "torchvision ResNet, default wide_resnet50_2; anomalib: a timm name, "
                                               "default the model's)."),
        weights: Optional[Path] = typer.Option(None, "--weights", help="Backbone state dict (.pth / .safetensors); "
                                               "for anomalib:EfficientAd its teacher's."),
        layers: Optional[str] = typer.Option(None, "--layers", help="anomalib: backbone layers, comma-separated "
                                             "(e.g. layer2,layer3; default the model's)."),
        epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="anomalib: training epochs (default the "
                                             "model's own, e.g. one pass for Patchcore / Padim)."),
        imagenet_dir: Optional[Path] = typer.Option(None, "--imagenet-dir", help="anomalib:EfficientAd: a local "
                                                    "folder of penalty images, one sub-folder per class "
                                                    "(e.g. imagenette2/train)."),
        device: str = typer.Option("auto", "--device", help="auto (a CUDA or Apple GPU when there is one, else "
                                   "every CPU core), cpu, cuda or mps."),
        shots: Optional[int] = typer.Option(None, "--shots", help="Train normals per class (default: all)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the export split, the shots and the coreset / training."),
        coreset_ratio: float = typer.Option(0.1, "--coreset-ratio", help="Share of patches kept in the memory bank "
                                            "(built-in detectors)."),
        image_size: Optional[int] = typer.Option(None, "--image-size", help="Side the images are resized to "
                                                 "(default 224, anomalib 256)."),
        classes: Optional[list[str]] = typer.Option(None, "--class", help="Only this class (repeatable)."),
        name: Optional[str] = typer.Option(None, "--name", help="Name of the stored run."),
        maps_out: Optional[Path] = typer.Option(None, "--maps-out", help="Keep the maps here (MVTec folder input)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
        num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS):
    """Train a detector per class on k normals and score the test images (one class per job item)."""
    from dsaii_core.bench.detectors import detector_spec
    from dsaii_core.bench.dataset import is_workspace
    from dsaii_core.bench.runs import run_detector
    spec = detector_spec(detector, backbone=backbone, weights=weights, layers=layers, epochs=epochs,
                         imagenet_dir=imagenet_dir, device=device, coreset_ratio=coreset_ratio,
                         image_size=image_size, seed=seed)
    catalog = Workspace.open(path).catalog if is_workspace(path) else None
    if catalog is None and executor == "ray":
        raise DsaiiError("--executor ray needs a workspace (an MVTec AD folder is scored in this process)")
    with executor_for(catalog, executor, ray_address, num_gpus, workers) as runner, \
            progress_bar(f"bench {detector}") as bar:
        report = run_detector(path, spec, name=name, shots=shots, class_names=classes, maps_out=maps_out,
                              progress=bar, executor=runner)
    _print_report(report, as_json)


@bench.command("import")
def import_maps(ws: Path = typer.Argument(..., help="Workspace folder."),
                maps_dir: Path = typer.Argument(..., help="Folder of <class>/<defect>/<stem>.npy maps (+ scores.csv)."),
                name: str = typer.Option(..., "--name", help="Name of the run."),
                seed: int = typer.Option(0, "--seed", help="Seed of the MVTec export the maps were made on."),
                classes: Optional[list[str]] = typer.Option(None, "--class", help="Only this class (repeatable)."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Evaluate another detector's maps and scores and store them as a run."""
    from dsaii_core.bench.runs import import_run
    with progress_bar("import maps") as bar:
        report = import_run(ws, maps_dir, name, seed=seed, class_names=classes, progress=bar)
    _print_report(report, as_json)


@bench.command("report")
def report(ws: Path = typer.Argument(..., help="Workspace folder."),
           runs: Optional[list[int]] = typer.Option(None, "--run", help="Only this run id (repeatable)."),
           as_json: bool = typer.Option(False, "--json", help="Print JSON."),
           as_csv: bool = typer.Option(False, "--csv", help="Print CSV.")):
    """Per-class metrics of the stored runs (with the mean over classes); where a class has real and synthetic
    anomalies, every metric also on each kind apart (an `anomalies` column: all / real / synthetic)."""
    from dsaii_core.bench.reports import wide_table
    from dsaii_core.bench.runs import metrics_frame
    workspace = Workspace.open(ws)
    known = {r.id for r in workspace.catalog.runs()}
    unknown = sorted(set(runs or []) - known)
    if unknown:
        raise DsaiiError(f"no run #{unknown[0]} in {ws}")
    frame = metrics_frame(workspace, runs or None)
    if frame.empty:
        raise DsaiiError(f"{ws}: no benchmark runs yet (python -m dsaii_core bench run {ws})")
    table = wide_table(frame)
    if as_json:
        levels = table.index.names
        echo_json([{**dict(zip(levels, index)), **{k: _clean(v) for k, v in row.items()}}
                   for index, row in table.to_dict("index").items()])
    elif as_csv:
        typer.echo(table.to_csv(float_format="%.6f"), nl=False)
    else:
        typer.echo(table.to_string(float_format=lambda v: f"{v:.4f}", na_rep="n/a"))


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)
app.add_typer(bench, name="bench")
