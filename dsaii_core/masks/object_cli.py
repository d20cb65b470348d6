"""`object-masks`: phase 2a from the command line, calling the same functions as the Object Masks page."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from dsaii_core.cli_options import AS_USER, EXECUTOR, NUM_GPUS, RAY_ADDRESS, WORKERS, executor_for, progress_bar
from dsaii_core.workspace import Workspace


class Method(str, Enum):
    auto = "auto"
    sam = "sam"
    grabcut = "grabcut"


class Rule(str, Enum):
    objectness = "objectness"
    largest_bbox = "largest_bbox"


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)



@app.command("object-masks")
def object_masks_command(
        ws: Path = typer.Argument(..., help="Workspace folder."),
        class_name: Optional[str] = typer.Option(None, "--class", help="Only this class (default: all)."),
        method: Method = typer.Option(Method.auto, "--method", help="auto: SAM when a checkpoint is configured, "
                                                                    "else GrabCut."),
        rule: Rule = typer.Option(Rule.objectness, "--rule", help="How to choose among candidates; "
                                                                  "largest_bbox = the reference's rule."),
        sam_checkpoint: Optional[Path] = typer.Option(None, "--sam-checkpoint", help="SAM weights (.pth or "
                                                      ".safetensors); default: workspace setting, then "
                                                      "DSAII_SAM_CHECKPOINT."),
        sam_model: Optional[str] = typer.Option(None, "--sam-model", help="vit_b, vit_l or vit_h (default: "
                                                                          "read from the weights)."),
        points_per_side: Optional[int] = typer.Option(None, "--points-per-side", min=1,
                                                      help="SAM automatic grid (default 32)."),
        redo: bool = typer.Option(False, "--redo", help="Replace existing object masks too (undoable)."),
        export_dir: Optional[Path] = typer.Option(None, "--export-candidates", help="Also write every "
                                                  "candidate as <class>/<image>/<k>.png + metadata.csv."),
        executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
        num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS, user: str = AS_USER):
    """Give every kept normal image of the object classes an object mask (resumable: done images are skipped).

    One job: each image's candidates are made and one picked where the executor runs (on Ray workers with
    --executor ray, else on this machine's cores), then the masks are written class by class.
    """
    from dsaii_core.masks.object_job import generate_with, load_backend
    from dsaii_core.masks.objects import ObjectMaskParams, export_candidates
    workspace = Workspace.open(ws)
    auto, config = None, None
    if method != Method.grabcut:
        from dsaii_core.masks.sam_config import AutoParams, SamConfig
        config = SamConfig.resolve(workspace.catalog, sam_checkpoint, sam_model)
        if config is not None:
            auto = AutoParams(points_per_side=points_per_side) if points_per_side else None
        elif method == Method.auto:
            typer.echo("no SAM checkpoint configured: using GrabCut (give --sam-checkpoint for SAM masks)",
                       err=True)
    params = ObjectMaskParams(method=method.value, rule=rule.value, redo=redo, sam=auto)
    classes = workspace.classes(class_name)
    with executor_for(workspace.catalog, executor, ray_address, num_gpus, workers) as runner, \
            progress_bar("object masks") as bar:
        reports = generate_with(workspace, classes, params, config, runner, user, progress=bar)
    for cls in classes:
        typer.echo(reports[cls.id].summary())
        if export_dir is not None and not cls.is_texture:
            backend = load_backend(config, workspace.cache_dir / "sam") if config is not None else None
            with progress_bar(f"{cls.name} candidates") as bar:
                count = export_candidates(workspace, cls, export_dir, backend, params, progress=bar)
            typer.echo(f"{cls.name}: candidates of {count} images written to {export_dir / cls.dirname}")
