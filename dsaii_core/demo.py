"""The bundled demo workspace: real, licensed images from data/demo (see data/demo/licenses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from dsaii_core.ingest import ImportReport, import_paths
from dsaii_core.workspace import Workspace

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"


def build_demo(ws: Workspace, progress: Callable[[float], None] = lambda f: None,
               demo_dir: Path = DEMO_DIR) -> ImportReport:
    """Import every demo class (an MVTec-style root) with its kind and license."""
    meta = json.loads((demo_dir / "demo.json").read_text())["classes"]
    report = ImportReport()
    names = sorted(meta)
    for index, name in enumerate(names):
        def step(fraction: float, index: int = index) -> None:
            progress((index + fraction) / len(names))
        report.merge(import_paths(ws, [demo_dir / name], texture=meta[name]["kind"] == "texture",
                                  license=meta[name]["license"], progress=step))
    return report
