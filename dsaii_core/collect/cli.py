"""`crawl` and `engines`: phase 1 from the command line, calling the same functions as the pages."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dsaii_core import imageio
from dsaii_core import jobs
from dsaii_core.collect.crawl import crawl_report, start_crawl_job
from dsaii_core.collect.engines import DEFAULT_ENGINE, engine_names, engine_spec
from dsaii_core.errors import DsaiiError
from dsaii_core.cli_options import EXECUTOR, NUM_GPUS, RAY_ADDRESS, WORKERS, echo_json, executor_for, progress_bar
from dsaii_core.workspace import Workspace


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)



@app.command("crawl")
def crawl_command(
        ws: Path = typer.Argument(..., help="Workspace folder."),
        class_name: str = typer.Option(..., "--class", help="Class to add candidates to (created if new)."),
        reference: Optional[Path] = typer.Option(None, "--reference", help="Reference image to search by."),
        query: Optional[str] = typer.Option(None, "--query", help="Keywords to search for."),
        engine: str = typer.Option(DEFAULT_ENGINE, "--engine", help="Engine name or path of an engine .toml file."),
        max_images: int = typer.Option(30, "--max", help="Most new candidates to add."),
        allow_private: bool = typer.Option(False, "--allow-private",
                                           help="Also fetch from loopback / private-network addresses."),
        folder: Optional[Path] = typer.Option(None, "--folder", help="Folder searched by the 'local' engine."),
        base_url: Optional[str] = typer.Option(None, "--base-url", help="Override the engine's base URL."),
        cnn_weights: Optional[Path] = typer.Option(None, "--cnn-weights",
                                                   help="torchvision resnet18 state dict for similarity."),
        as_json: bool = typer.Option(False, "--json", help="Print the outcome of every URL as JSON."),
        executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
        num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS):
    """Search an engine for images like a reference (or matching a query) and add them as candidates.

    The crawl is a job (the one the Collect page starts), run here: killed, the same command resumes it."""
    if reference is None and query is None:
        raise DsaiiError("give --reference IMG or --query TEXT (both: search by keywords, rank by the image)")
    workspace = Workspace.open_or_create(ws)
    cls = workspace.add_class(class_name)
    image = imageio.read_image(reference) if reference else None
    job = start_crawl_job(workspace, cls, reference=image, query=query, engine=engine, max_images=max_images,
                          allow_private=allow_private, folder=folder, base_url=base_url, cnn_weights=cnn_weights)
    with executor_for(workspace.catalog, executor, ray_address, num_gpus, workers) as runner, \
            progress_bar(f"crawl {cls.name}") as bar:
        report = crawl_report(workspace, jobs.run_job(workspace, job.id, executor=runner, progress=bar))
    if as_json:
        echo_json({"summary": report.summary(), "added": report.added,
                   "outcomes": [o.__dict__ for o in report.outcomes]})
        return
    for outcome in report.errors + report.duplicates:
        typer.echo(f"{outcome.state}: {outcome.reason}", err=True)
    typer.echo(report.summary())

@app.command("engines")
def engines_command():
    """List the search engines (one engine file each) and what they need."""
    for name in engine_names():
        spec = engine_spec(name)
        typer.echo(f"{name}\t{spec.get('kind')}\t{spec.get('title', '')}")
