"""CLI commands of the inpaint phase: `inpaint`, `review` and the background `worker`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dsaii_core.cli_options import (AS_USER, EXECUTOR, NUM_GPUS, RAY_ADDRESS, WORKERS, echo_json, executor_for,
                                    progress_bar)
from dsaii_core.inpaint.base import InpaintParams


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)


from dsaii_core.workspace import Workspace

@app.command()
def inpaint(ws: Path,
            cls: Optional[str] = typer.Option(None, "--class", help="Only this class (default: all)."),
            backend: str = typer.Option("classical", "--backend", help="classical | diffusers | webui"),
            method: str = typer.Option("auto", "--method",
                                       help="classical: auto | transplant | texture | procedural"),
            model: Optional[Path] = typer.Option(None, "--model",
                                                 help="diffusers: local model folder or .safetensors file"),
            config: Optional[Path] = typer.Option(None, "--config",
                                                  help="diffusers: config folder for a .safetensors file"),
            webui_url: Optional[str] = typer.Option(None, "--webui-url", help="webui: e.g. http://127.0.0.1:7860"),
            prompt: Optional[str] = typer.Option(None, "--prompt", help="Default: the class prompt."),
            negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt"),
            steps: int = typer.Option(InpaintParams.steps, "--steps"),
            strength: float = typer.Option(InpaintParams.strength, "--strength"),
            guidance: float = typer.Option(InpaintParams.guidance, "--guidance"),
            scheduler: Optional[str] = typer.Option(None, "--scheduler"),
            batch_size: int = typer.Option(1, "--batch-size"),
            seed: int = typer.Option(0, "--seed"),
            resume: Optional[int] = typer.Option(None, "--resume", help="Resume this job id instead."),
            background: bool = typer.Option(False, "--background", help="Start a worker and return."),
            executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
            num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS, user: str = AS_USER):
    """Inpaint every anomaly mask that has no pending or accepted anomaly yet (a resumable job)."""
    from dsaii_core import jobs
    from dsaii_core.inpaint.generate import start_inpaint_job
    workspace = Workspace.open(ws)
    if resume is not None:
        job = jobs.prepare_resume(workspace.catalog, resume)
    else:
        from dsaii_core import settings
        saved_model, saved_config = (settings.get(workspace.catalog, f"diffusers.{k}") for k in ("model", "config"))
        model = model or (Path(saved_model) if saved_model else None)  # else what the Inpaint page saved
        config = config or (Path(saved_config) if saved_config else None)
        options = {"method": method} if backend == "classical" else \
            {"model": str(model.resolve()) if model else None, "config": str(config.resolve()) if config else None} \
            if backend == "diffusers" else {"url": webui_url}
        params = InpaintParams(steps=steps, strength=strength, guidance=guidance, scheduler=scheduler,
                               batch_size=batch_size)
        job = start_inpaint_job(workspace, workspace.classes(cls), backend, options=options, params=params,
                                prompt=prompt, negative_prompt=negative_prompt, seed=seed, user=user)
    if job.total == 0:
        typer.echo("nothing to inpaint: every anomaly mask already has a pending or accepted anomaly")
        return
    if background:
        choice = jobs.ExecutorChoice.resolve(workspace.catalog, executor, ray_address, num_gpus, workers)
        pid = jobs.start_worker(workspace, job.id, choice)
        typer.echo(f"job {job.id}: {job.total} items, worker pid {pid}")
        return
    with executor_for(workspace.catalog, executor, ray_address, num_gpus, workers) as runner, \
            progress_bar(f"inpaint ({backend})") as bar:
        job = jobs.run_job(workspace, job.id, executor=runner, progress=bar)
    typer.echo(f"job {job.id} {job.state}: {job.done} of {job.total} anomalies written, {job.failed} failed")
    for key, error in jobs.item_errors(workspace.catalog, job.id, limit=5):
        typer.echo(f"  mask {key}: {error}", err=True)
    if job.state != "done":
        raise typer.Exit(1)

@app.command()
def review(ws: Path,
           cls: Optional[str] = typer.Option(None, "--class", help="Only this class."),
           accept_passing_qc: bool = typer.Option(False, "--accept-passing-qc",
                                                  help="Accept every pending anomaly whose QC passed."),
           accept: list[int] = typer.Option([], "--accept", metavar="ID", help="Accept this anomaly (repeatable)."),
           reject: list[int] = typer.Option([], "--reject", metavar="ID", help="Reject this anomaly (repeatable)."),
           reset: list[int] = typer.Option([], "--reset", metavar="ID", help="Make it pending again (repeatable)."),
           regenerate: list[int] = typer.Option([], "--regenerate", metavar="ID",
                                                help="Inpaint this one's mask again with a new seed; the old "
                                                     "result is rejected when the new one lands (repeatable)."),
           list_tiles: bool = typer.Option(False, "--list", help="List synthetic anomalies and their QC."),
           status: str = typer.Option("pending", "--status", help="With --list: pending | accepted | rejected | all"),
           as_json: bool = typer.Option(False, "--json", help="Print JSON."), user: str = AS_USER):
    """Accept, reject or regenerate synthetic anomalies (one by one, or all that pass QC), or list them."""
    from dsaii_core.inpaint import review as reviewing
    workspace = Workspace.open(ws)
    class_id = workspace.get_class(cls).id if cls else None
    for decision, ids in (("accepted", accept), ("rejected", reject), ("pending", reset)):
        if ids:
            typer.echo(f"{reviewing.decide(workspace, ids, decision, user=user)} anomaly(ies) {decision}")
    for item_id in regenerate:
        job = reviewing.regenerate(workspace, item_id, user=user)
        typer.echo(f"anomaly {item_id}: regenerated" if job.state == "done" else
                   f"anomaly {item_id}: job {job.id} started in the background")
    if accept_passing_qc:
        accepted = reviewing.accept_passing_qc(workspace, class_id, user=user)
        typer.echo(f"accepted {accepted} anomalies that passed QC")
    acted = accept_passing_qc or accept or reject or reset or regenerate
    if list_tiles or not acted:
        statuses = reviewing.REVIEWABLE if status == "all" else (status,)
        rows = [{"id": t.anomaly.id, "class": t.class_name, "file": t.anomaly.file, "status": t.anomaly.status,
                 "normal": t.normal.file, "mask": t.mask.file if t.mask else None, "backend": t.backend,
                 "seed": t.anomaly.seed, "qc": t.qc} for t in reviewing.tiles(workspace, class_id, statuses)]
        progress = [p.as_dict() for p in reviewing.class_progress(workspace)]
        if as_json:
            echo_json({"anomalies": rows, "progress": progress})
            return
        for row in rows:
            flags = ",".join(row["qc"].get("flags", [])) or "ok"
            typer.echo(f"{row['id']}\t{row['class']}\t{row['status']}\t{row['backend']}\t{flags}\t{row['file']}")
        for p in progress:
            typer.echo(f"{p['name']}: {p['accepted']} accepted of {p['target']} "
                       f"({p['pending']} pending, {p['rejected']} rejected)")

@app.command(hidden=True)
def worker(ws: Path, job_id: int, executor: Optional[str] = EXECUTOR, ray_address: Optional[str] = RAY_ADDRESS,
           num_gpus: Optional[float] = NUM_GPUS, workers: Optional[int] = WORKERS):
    """Run a job (started detached by the app or `inpaint --background`), here or on Ray per the settings."""
    from dsaii_core import jobs
    workspace = Workspace.open(ws)
    with executor_for(workspace.catalog, executor, ray_address, num_gpus, workers) as runner:
        job = jobs.run_job(workspace, job_id, executor=runner)
    typer.echo(f"job {job.id} {job.state}: {job.done}/{job.total}")
