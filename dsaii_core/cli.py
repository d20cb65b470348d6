"""`python -m dsaii_core ...`: every phase headless, calling the same functions as the pages.

User errors (DsaiiError) print one line and exit 1; bad usage exits 2 (click's convention).
Each module of PHASE_MODULES holds a phase's commands in its own `app`, merged into this one.
"""

from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path
from typing import Optional

import typer

from dsaii_core.catalog import ACTION_KINDS
from dsaii_core.cli_options import EXECUTOR, NUM_GPUS, RAY_ADDRESS, WORKERS, echo_json, executor_for, progress_bar
from dsaii_core.errors import DsaiiError, failure_message
from dsaii_core.workspace import MARKER, Workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="DSAII Studio: build synthetic industrial-anomaly datasets and benchmark detectors.")

# The modules of each phase's commands (their `app`s are merged into this one).
PHASE_MODULES: list[str] = [
    "dsaii_core.collect.cli",
    "dsaii_core.inpaint.cli",
    "dsaii_core.bench.cli",
    "dsaii_core.masks.anomaly_cli",
    "dsaii_core.masks.object_cli",
    "dsaii_core.class_cli",
    "dsaii_core.server.serve",
]


@app.command()
def init(ws: Path = typer.Argument(..., help="Folder of the new workspace."),
         demo: bool = typer.Option(False, "--demo", help="Fill it with the bundled demo data.")):
    """Create a workspace (optionally with the demo classes)."""
    from dsaii_core import demo as demo_data
    workspace = Workspace.create(ws)
    if demo:
        with progress_bar("demo") as bar:
            report = demo_data.build_demo(workspace, progress=bar)
        typer.echo(report.summary())
    typer.echo(f"workspace ready: {workspace.root}")


@app.command("import")
def import_(ws: Path = typer.Argument(..., help="Workspace folder."),
            paths: list[Path] = typer.Argument(..., help="Image files, folders, zips, DSAII or MVTec AD roots."),
            class_name: Optional[str] = typer.Option(None, "--class", help="Put every image found into this class."),
            texture: bool = typer.Option(False, "--texture", help="New classes are texture classes (no object mask)."),
            license: Optional[str] = typer.Option(None, "--license", help="License to record for these images "
                                                  "(default: read from a LICENSE / COPYING file beside them).")):
    """Import images; the layout of each folder is recognised automatically, masks beside images are paired."""
    from dsaii_core.ingest import import_paths
    workspace = Workspace.open(ws)
    with progress_bar("import") as bar:
        report = import_paths(workspace, paths, class_name=class_name, texture=texture, license=license,
                              progress=bar)
    for name, message in report.errors:
        typer.echo(f"rejected: {message}" if message.startswith(name) else f"rejected: {name}: {message}", err=True)
    for image, earlier in report.near_duplicates:
        typer.echo(f"near duplicate: {image} nearly repeats {earlier}")
    for image in report.empty_masks_among_anomalies():
        typer.echo(f"check: {image} has an empty mask among anomalies (imported as a normal image)")
    typer.echo(report.summary())
    if report.errors and not report.added and not report.duplicates:
        raise DsaiiError("nothing could be imported")


@app.command()
def export(ws: Path = typer.Argument(..., help="Workspace folder."),
           out: Path = typer.Argument(..., help="Folder to write (replaced if it is an earlier export)."),
           layout: str = typer.Option("dsaii", "--layout", help="dsaii or mvtec."),
           seed: int = typer.Option(0, "--seed", help="Seed of the train / test split (mvtec)."),
           test_ratio: float = typer.Option(0.2, "--test-ratio", help="Share of normals in test/good (mvtec)."),
           executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
           num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS):
    """Export kept normals and accepted anomalies in the DSAII or MVTec AD layout, then validate the export.

    The export is a job (the one the Export page starts), run here, one class per item."""
    from dsaii_core import jobs
    from dsaii_core.export_job import export_check, job_export_report, start_export_job
    workspace = Workspace.open(ws)
    job = start_export_job(workspace, out, layout, seed=seed, test_ratio=test_ratio)
    with executor_for(workspace.catalog, executor, ray_address, num_gpus, workers) as runner, \
            progress_bar("export") as bar:
        job = jobs.run_to_end(workspace, job.id, f"export job {job.id}", item="class", executor=runner, progress=bar)
    report = job_export_report(workspace, job)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(report.summary())
    check = export_check(workspace, job)
    if check is not None:
        typer.echo(f"validate: {check.summary()}" + ("" if check.clean else " (`validate` lists them)"), err=True)


@app.command()
def validate(folder: Path = typer.Argument(..., metavar="DIR", help="An export, a DSAII folder or an MVTec AD root "
                                                                    "(or one class folder of them)."),
             layout: Optional[str] = typer.Option(None, "--layout", help="dsaii or mvtec (default: detected)."),
             as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
             workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: one per core).")):
    """Check a dataset: every problem on one line, `<class>/<folder>/<file>: <what>`; exit 1 when there is any."""
    from dsaii_core.validate import validate as validate_folder
    with progress_bar("validate") as bar:
        report = validate_folder(folder, layout, workers=workers, progress=bar)
    if as_json:
        echo_json(report.as_dict())
    else:
        for line in report.lines():
            typer.echo(line)
        typer.echo(report.summary(), err=True)
    if not report.clean:
        raise typer.Exit(1)


@app.command()
def repair(ws: Path = typer.Argument(..., help="Workspace folder."),
           adopt: bool = typer.Option(False, "--adopt", help="Mark a workspace made by an older version as this "
                                      "app's first (only if every file in it was written by DSAII Studio).")):
    """Remove crash leftovers now, without the usual grace period: run it while no job or app uses the workspace."""
    workspace = Workspace.open(ws)
    if adopt:
        workspace.mark()
    if not workspace.is_marked:
        raise DsaiiError(f"{workspace.root}: has no {MARKER} marker (made by an older version?), so nothing in it "
                         "is removed; if every file in it was written by DSAII Studio, run `repair --adopt`")
    typer.echo(f"removed {workspace.repair(grace_s=0)} leftover file(s)")


@app.command("settings")
def settings_command(ws: Path = typer.Argument(..., help="Workspace folder."),
                     key: Optional[str] = typer.Argument(None, help="A setting (all when omitted)."),
                     value: Optional[str] = typer.Argument(None, help="Its new value ('' removes the workspace's "
                                                                      "value: the environment or default rules)."),
                     as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Show the workspace settings (value, where it comes from, meaning), or set one."""
    from dsaii_core import settings
    workspace = Workspace.open(ws)
    if value is not None:
        settings.put(workspace.catalog, key, value)
    keys = [key] if key else list(settings.SETTINGS)
    rows = [{"key": k, "value": settings.get(workspace.catalog, k), "source": settings.source(workspace.catalog, k),
             "meaning": settings.SETTINGS[k].meaning} for k in keys if settings.SETTINGS.get(k) or key]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['key']}\t{row['value'] or '-'}\t{row['source']}\t{row['meaning']}")


@app.command("classes")
def list_classes(ws: Path, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """List the classes of a workspace."""
    workspace = Workspace.open(ws)
    rows = [{"name": c.name, "folder": c.dirname, "kind": c.kind} for c in workspace.classes()]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            typer.echo(f"{row['name']}\t{row['kind']}\t{row['folder']}")


@app.command()
def status(ws: Path, as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Counts per class and stage."""
    from dsaii_core.stats import class_stats
    workspace = Workspace.open(ws)
    rows = [s.as_dict() for s in class_stats(workspace)]
    if as_json:
        echo_json(rows)
        return
    header = ["name", "kind", "normal", "candidate", "object_mask", "anomaly_mask", "anomaly", "accepted"]
    typer.echo("\t".join(header))
    for row in rows:
        typer.echo("\t".join(str(row[h]) for h in header))


@app.command("jobs")
def jobs_command(ws: Path,
                 cancel: Optional[int] = typer.Option(None, "--cancel", metavar="ID",
                                                      help="Ask job ID's worker to stop after its current batch."),
                 resume: Optional[int] = typer.Option(None, "--resume", metavar="ID",
                                                      help="Resume a job in a background worker "
                                                           "(where the workspace's settings say)."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Recent jobs, newest first: kind, state, progress and where they run; or cancel / resume one."""
    from dsaii_core import jobs
    workspace = Workspace.open(ws)
    if cancel is not None:
        job = jobs.request_cancel(workspace.catalog, cancel)
        typer.echo(f"job {job.id}: {job.state}")
    if resume is not None:
        job = jobs.prepare_resume(workspace.catalog, resume)
        typer.echo(f"job {job.id}: resumed by worker pid {jobs.start_worker(workspace, job.id)}")
    if cancel is not None or resume is not None:
        return
    rows = [{"id": j.id, "kind": j.kind, "state": j.state, "done": j.done, "failed": j.failed, "total": j.total,
             "runs_on": j.runs_on, "error": j.error} for j in jobs.list_jobs(workspace.catalog)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['id']}\t{row['kind']}\t{row['state']}\t{row['done']}/{row['total']}"
                   + (f" ({row['failed']} failed)" if row["failed"] else "") + f"\t{row['runs_on'] or '-'}"
                   + (f"\t{row['error']}" if row["error"] else ""))


@app.command()
def undo(ws: Path, class_name: str = typer.Argument(..., metavar="CLASS"),
         user: Optional[str] = typer.Option(None, "--user", help="Only this person's actions (default: anyone's)."),
         kind: Optional[list[str]] = typer.Option(None, "--kind", help=f"Only actions of this kind "
                                                  f"({', '.join(ACTION_KINDS)}); repeatable. Default: any.")):
    """Revert the class's last action that still stands (a click, a bulk action or a whole run) and name it."""
    workspace = Workspace.open(ws)
    if kind and not set(kind) <= set(ACTION_KINDS):
        raise DsaiiError(f"--kind must be one of {', '.join(ACTION_KINDS)}")
    undone = workspace.catalog.undo(workspace.get_class(class_name).id, user, kind or None)
    if undone is None:
        typer.echo("nothing to undo")
        return
    typer.echo(f"{undone.describe()} [{undone.action.kind}, {len(undone.decisions)} change(s)]")


for _module in PHASE_MODULES:
    app.add_typer(importlib.import_module(_module).app)


def main(argv: Optional[list[str]] = None) -> None:
    try:
        app(args=argv, prog_name="python -m dsaii_core")
    except DsaiiError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (sqlite3.OperationalError, OSError) as exc:  # a full disk, a busy or broken catalog: one line too
        message = failure_message(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(1)
