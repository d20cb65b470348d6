"""What the commands share: options (where a job runs: `--executor local|ray`, ...; `--user`), the progress bar
and JSON output. Every module of commands imports it; it imports none of them."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import typer
from tqdm import tqdm

from dsaii_core.catalog import Catalog, os_user
from dsaii_core.jobs import Executor, ExecutorChoice

EXECUTOR = typer.Option(None, "--executor", help="local (this process) or ray (a Ray cluster); default: the "
                                                 "workspace's setting, else local.")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="With ray: the cluster to join, e.g. auto (the cluster this "
                                                       "node belongs to); default: the setting, else a new local one.")
NUM_GPUS = typer.Option(None, "--num-gpus", min=0.0, help="With ray: GPUs each worker asks for (0.5 = two workers "
                                                          "per GPU); default: the setting, else 1 for SAM and "
                                                          "Stable Diffusion on a cluster with GPUs, 0 otherwise.")
WORKERS = typer.Option(None, "--workers", min=1, help="Worker processes: locally, default every core (big jobs "
                                                      "only; 1 = this process); with ray, default as many as the "
                                                      "cluster has room for.")


@contextmanager
def executor_for(catalog: Catalog | None, kind: str | None, ray_address: str | None, num_gpus: float | None,
                 workers: int | None) -> Iterator[Executor]:
    """The executor the flags (over the workspace's settings, when there is a workspace) ask for, closed afterwards."""
    executor = ExecutorChoice.resolve(catalog, kind, ray_address, num_gpus, workers).build()
    try:
        yield executor
    finally:
        executor.close()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[float], None]]:
    """A tqdm bar driven by a `progress(fraction)` callback, as core functions take."""
    with tqdm(total=1000, desc=label, unit="‰", file=sys.stderr, leave=False, disable=None) as bar:
        def update(fraction: float) -> None:
            bar.update(int(round(min(max(fraction, 0.0), 1.0) * 1000)) - bar.n)
        yield update


AS_USER = typer.Option(os_user(), "--user", show_default="the OS user",
                       help="Your name, saved with the changes (Undo in the app reverts them as yours).")


def echo_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
