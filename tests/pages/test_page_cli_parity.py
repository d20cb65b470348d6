"""One implementation per phase: what a page makes (its job, in a background worker) is, byte for byte, what its
command makes (the same job, in process). Export's page and command: tests/pages/test_export_page.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core.masks.bank import import_bank
from dsaii_core.demo import DEMO_DIR
from dsaii_core.workspace import Workspace
from tests.fixtures.jobs_here import finish_jobs
from tests.fixtures.masked_ws import build_masked_ws
from tests.test_cli import cli

REPO = Path(__file__).resolve().parents[2]
PHASES = {"object_masks": ("object_masks.py", "om_generate", "object", "object-masks"),
          "anomaly_masks": ("anomaly_masks.py", "am_generate", "anomaly", "anomaly-masks")}


def written(ws: Workspace, kind: str) -> list[tuple]:
    """Each mask as stored: file name, bytes, source, confidence and parameters (less the job that made it)."""
    return [(m.file, ws.path(m.file).read_bytes(), m.source, m.confidence,
             {k: v for k, v in m.params.items() if k != "job"}) for m in ws.catalog.masks(kind=kind)]


@pytest.mark.parametrize("phase", PHASES)
def test_the_page_and_the_command_write_the_same_bytes(tiny_ws, tmp_path, monkeypatch, phase):
    monkeypatch.delenv("DSAII_SAM_CHECKPOINT", raising=False)
    script, button, kind, command = PHASES[phase]
    import_bank(tiny_ws, [DEMO_DIR / "hazelnut"], license="CC BY-NC-SA 4.0")
    shutil.copytree(tiny_ws.root, tmp_path / "by-command")
    at = AppTest.from_file(str(REPO / "app_pages" / script), default_timeout=60)
    at.session_state["workspace_path"] = str(tiny_ws.root)
    at.session_state["class_name"] = "hazelnut"
    at.run().button(key=button).click().run()
    finish_jobs(at, tiny_ws, phase)
    assert not at.exception
    done = cli(command, tmp_path / "by-command")
    assert done.returncode == 0, done.stderr
    by_page, by_command = written(tiny_ws, kind), written(Workspace.open(tmp_path / "by-command"), kind)
    assert len(by_page) == 3 and by_page == by_command


def test_the_inpaint_page_and_command_write_the_same_anomalies(tmp_path):
    ws = build_masked_ws(tmp_path / "by-page", normals=3, size=96)
    shutil.copytree(ws.root, tmp_path / "by-command")
    at = AppTest.from_file(str(REPO / "app_pages" / "inpaint.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    at.session_state["class_name"] = "hazelnut"
    at.run().button(key="start").click().run()
    finish_jobs(at, ws, "inpaint")
    assert not at.exception
    done = cli("inpaint", tmp_path / "by-command", "--backend", "classical")
    assert done.returncode == 0, done.stderr

    def anomalies(ws: Workspace) -> list[tuple]:
        return [(i.file, ws.path(i.file).read_bytes(), i.seed, i.mask_id, i.info["qc"])
                for i in ws.catalog.items(role="anomaly") if i.origin.startswith("inpaint:")]

    by_page, by_command = anomalies(ws), anomalies(Workspace.open(tmp_path / "by-command"))
    assert len(by_page) == 3 and by_page == by_command
