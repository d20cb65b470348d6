"""`anomaly-masks`, `gen-masks` and `bank`: phase 2b from the command line, same functions as the page."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from dsaii_core.cli_options import (AS_USER, EXECUTOR, NUM_GPUS, RAY_ADDRESS, WORKERS, echo_json, executor_for,
                                    progress_bar)
from dsaii_core.masks.anomaly import class_params, gen_masks_folder, save_class_params
from dsaii_core.masks.anomaly_job import generate_with
from dsaii_core.masks.bank import import_bank
from dsaii_core.workspace import Workspace


class Source(str, Enum):
    bank = "bank"
    procedural = "procedural"


def _print_report(report) -> None:
    for line in [*getattr(report, "notes", []), *report.misses]:
        typer.echo(f"note: {line}", err=True)
    typer.echo(report.summary())


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)



@app.command("anomaly-masks")
def anomaly_masks_command(
        ws: Path = typer.Argument(..., help="Workspace folder."),
        class_name: Optional[str] = typer.Option(None, "--class", help="Only this class (default: all)."),
        source: Optional[Source] = typer.Option(None, "--source", help="bank or procedural (default: the "
                                                                       "class's saved choice, else bank)."),
        per_image: Optional[int] = typer.Option(None, "--per-image", help="Anomaly masks per normal image."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same masks)."),
        executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
        num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS, user: str = AS_USER):
    """Give every kept normal image its anomaly masks (the reference gen_mask rule, or procedural)."""
    workspace = Workspace.open(ws)
    plan = []
    for cls in workspace.classes(class_name):
        changes = {k: v for k, v in (("source", source.value if source else None), ("per_image", per_image),
                                     ("seed", seed)) if v is not None}
        params = class_params(cls).replace(**changes)
        plan.append((save_class_params(workspace, cls, params, user), params))
    with executor_for(workspace.catalog, executor, ray_address, num_gpus, workers) as runner, \
            progress_bar("anomaly masks") as bar:
        reports = generate_with(workspace, plan, runner, user, progress=bar)
    for cls, _ in plan:
        typer.echo(f"{cls.name}: ", nl=False)
        _print_report(reports[cls.id])

@app.command("gen-masks")
def gen_masks_command(
        objects: Path = typer.Option(..., "--objects", help="Folder of <class>/<image>.png object masks "
                                                            "(255 = background, as SAM's were saved)."),
        bank: Path = typer.Option(..., "--bank", help="MVTec AD root (its */ground_truth/*/*.png are the bank)."),
        out: Path = typer.Option(..., "--out", help="Folder to write <class>/<image>.png anomaly masks to."),
        textures: str = typer.Option("", "--textures", help="Comma-separated texture classes (no object mask, "
                                                            "5–10 % area)."),
        seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same masks).")):
    """Drop-in replacement of the reference gen_mask.py on folders: same rule, binary, reproducible."""
    names = tuple(n.strip() for n in textures.split(",") if n.strip())
    with progress_bar("gen-masks") as bar:
        report = gen_masks_folder(objects, bank, out, textures=names, seed=seed, progress=bar)
    for _, reason in report.rejected_bank:
        typer.echo(f"bank file refused: {reason}", err=True)
    _print_report(report)

bank_app = typer.Typer(no_args_is_help=True, help="The mask bank: defect masks to augment.")
app.add_typer(bank_app, name="bank")

@bank_app.command("import")
def bank_import_command(
        ws: Path = typer.Argument(..., help="Workspace folder."),
        paths: list[Path] = typer.Argument(..., help="MVTec AD roots, DSAII datasets, folders or mask files."),
        license: Optional[str] = typer.Option(None, "--license", help="License of these masks."),
        source: Optional[str] = typer.Option(None, "--source", help="File them under this source name.")):
    """Add defect masks to the workspace's bank (binarised, cropped, de-duplicated)."""
    workspace = Workspace.open(ws)
    with progress_bar("bank import") as bar:
        report = import_bank(workspace, paths, license=license, source=source, progress=bar)
    for _, reason in report.rejected:
        typer.echo(f"rejected: {reason}", err=True)
    typer.echo(report.summary())

@bank_app.command("list")
def bank_list_command(ws: Path = typer.Argument(..., help="Workspace folder.")):
    """Bank masks per source, as JSON."""
    counts: dict[str, dict] = {}
    for row in Workspace.open(ws).catalog.bank_masks():
        entry = counts.setdefault(row.source, {"masks": 0, "license": row.license})
        entry["masks"] += 1
    echo_json(counts)
