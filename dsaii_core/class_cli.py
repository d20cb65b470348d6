"""`curate` and `class`: curation decisions and class management from the command line, as the pages make them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import KINDS, Workspace
from dsaii_core.cli_options import AS_USER, echo_json


app = typer.Typer()  # its commands join the root command (dsaii_core.cli)



@app.command()
def curate(ws: Path, class_name: str = typer.Argument(..., metavar="CLASS"),
           keep: list[int] = typer.Option([], "--keep", metavar="ID", help="Keep this image (repeatable)."),
           drop: list[int] = typer.Option([], "--drop", metavar="ID", help="Drop this image (repeatable)."),
           reset: list[int] = typer.Option([], "--reset", metavar="ID",
                                           help="Make this image a candidate again (repeatable)."),
           keep_top: Optional[int] = typer.Option(None, "--keep-top", metavar="N",
                                                  help="Keep the N candidates most similar to the reference, "
                                                       "drop the other candidates."),
           status: str = typer.Option("all", "--status", help="Images listed: candidate | kept | dropped | all"),
           as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."), user: str = AS_USER):
    """List a class's normal images with their status, or keep / drop them (one undoable action)."""
    from dsaii_core.collect import curate as curation
    workspace = Workspace.open(ws)
    cls = workspace.get_class(class_name)
    own = {i.id for i in workspace.catalog.items(cls.id, "normal")}
    strangers = sorted(set(keep + drop + reset) - own)
    if strangers:
        raise DsaiiError(f"not normal images of '{cls.name}': {', '.join(map(str, strangers))}")
    if keep or drop or reset:
        changes = {s: ids for s, ids in (("kept", keep), ("dropped", drop), ("candidate", reset)) if ids}
        typer.echo(f"{workspace.catalog.set_status_batch(changes, user)} image(s) changed")
    if keep_top is not None:
        typer.echo(f"{curation.keep_most_similar(workspace, cls, keep_top, user)} image(s) changed")
    if keep or drop or reset or keep_top is not None:
        return
    statuses = None if status == "all" else (status,)
    rows = [{"id": r.id, "status": r.status, "file": r.file, "similarity": r.similarity, "license": r.license,
             "url": r.source_url}
            for r in workspace.catalog.candidate_rows(cls.id, statuses=statuses)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        similarity = "-" if row["similarity"] is None else f"{row['similarity']:.3f}"
        typer.echo(f"{row['id']}\t{row['status']}\t{similarity}\t{row['license'] or '-'}\t{row['file']}")

@app.command("class")
def class_command(ws: Path, class_name: str = typer.Argument(..., metavar="CLASS"),
                  kind: Optional[str] = typer.Option(None, "--kind", help=f"{' | '.join(KINDS)}"),
                  prompt: Optional[str] = typer.Option(None, "--prompt", help="Inpainting prompt of the class."),
                  negative_prompt: Optional[str] = typer.Option(None, "--negative-prompt"),
                  target: Optional[int] = typer.Option(None, "--target",
                                                       help="Accepted anomalies the class aims for."),
                  rename: Optional[str] = typer.Option(None, "--rename", metavar="NAME", help="A new name."),
                  delete: bool = typer.Option(False, "--delete", help="Remove the class (an empty one; with "
                                              "--force also its images and masks, for good)."),
                  force: bool = typer.Option(False, "--force", help="With --delete: even if it holds images."),
                  as_json: bool = typer.Option(False, "--json", help="Print the class as JSON."),
                  user: str = AS_USER):
    """Show a class, or change its kind, prompts, target or name (undoable), or delete it."""
    from dsaii_core.inpaint.review import class_target, set_target
    workspace = Workspace.open(ws)
    cls = workspace.get_class(class_name)
    if delete:
        removed = workspace.delete_class(cls, force=force)
        typer.echo(f"deleted class '{cls.name}' ({removed} files removed)")
        return
    if kind is not None and kind not in KINDS:
        raise DsaiiError(f"--kind must be one of {', '.join(KINDS)}")
    fields = {k: v for k, v in (("kind", kind), ("prompt", prompt), ("negative_prompt", negative_prompt))
              if v is not None}
    if fields:
        cls = workspace.catalog.update_class(cls, user=user, **fields)
    if target is not None:
        cls = set_target(workspace, cls, target, user)
    if rename is not None:
        cls = workspace.rename_class(cls, rename, user)
    row = {"name": cls.name, "folder": cls.dirname, "kind": cls.kind, "prompt": cls.prompt,
           "negative_prompt": cls.negative_prompt, "target": class_target(workspace, cls)}
    if as_json:
        echo_json(row)
    else:
        typer.echo("\n".join(f"{key}\t{'' if value is None else value}" for key, value in row.items()))
