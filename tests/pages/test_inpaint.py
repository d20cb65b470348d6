"""AppTest of the Inpaint page: backend choice, a background job started from the page, cancel / resume."""

import subprocess
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.jobs import get_job, list_jobs
from dsaii_core.workspace import Workspace
from tests.fixtures.masked_ws import build_masked_ws

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return build_masked_ws(tmp_path / "ws", normals=3, size=96)


def page(ws: Workspace) -> AppTest:
    at = AppTest.from_file(str(REPO / "app_pages/inpaint.py"), default_timeout=60)
    at.session_state["workspace_path"] = str(ws.root)
    at.session_state["class_name"] = "hazelnut"
    return at.run()


def wait_done(ws: Workspace, job_id: int) -> None:
    deadline = time.time() + 60
    while get_job(ws.catalog, job_id).state not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.1)
    assert get_job(ws.catalog, job_id).state == "done", get_job(ws.catalog, job_id)


def test_weight_free_is_the_default_and_labelled_not_diffusion(ws):
    at = page(ws)
    assert not at.exception
    assert at.radio(key="backend").value == "classical"
    text = " ".join(i.value for i in at.info)
    assert "not diffusion" in text and "1 real defect image" in text
    assert "3 anomaly mask(s) wait" in " ".join(c.value for c in at.caption)


def test_start_runs_a_background_job_that_writes_pending_anomalies(ws):
    at = page(ws)
    at.button(key="start").click().run()
    assert not at.exception
    [job] = list_jobs(ws.catalog, "inpaint")
    assert job.pid is not None and job.total == 3
    wait_done(ws, job.id)
    assert len(ws.catalog.items(role="anomaly", statuses=("pending",))) == 3
    at.run()
    assert any(f"Job {job.id}" in str(p.proto) and "done" in str(p.proto) and "on this machine" in str(p.proto)
               for p in at.get("progress"))


def test_diffusers_needs_an_existing_model_and_says_so(ws):
    at = page(ws)
    at.radio(key="backend").set_value("diffusers").run()
    assert at.text_input(key="prompt_class prompt").value == "broken, cracked, severely shattered"
    at.text_input(key="model").set_value(str(ws.root / "no-model")).run()
    at.button(key="start").click().run()
    assert "no such model" in " ".join(e.value for e in at.error)
    assert list_jobs(ws.catalog) == []


def test_an_interrupted_job_can_be_resumed_from_the_page(ws):
    job = start_inpaint_job(ws, ws.classes(), "classical")
    dead = subprocess.Popen(["true"])
    dead.wait()
    with ws.catalog.transaction() as conn:
        conn.execute("UPDATE jobs SET state = 'running', pid = ? WHERE id = ?", (dead.pid, job.id))
    at = page(ws)
    assert get_job(ws.catalog, job.id).state == "interrupted"
    at.button(key=f"inpaint_jobs_resume_{job.id}").click().run()
    wait_done(ws, job.id)


def test_cancel_asks_a_running_worker_to_stop(ws):
    job = start_inpaint_job(ws, ws.classes(), "classical")
    worker = subprocess.Popen(["sleep", "60"])  # stands in for a live worker process
    try:
        with ws.catalog.transaction() as conn:
            conn.execute("UPDATE jobs SET state = 'running', pid = ?, heartbeat = ? WHERE id = ?",
                         (worker.pid, time.time(), job.id))
        at = page(ws)
        at.button(key=f"inpaint_jobs_cancel_{job.id}").click().run()
        assert get_job(ws.catalog, job.id).state == "cancelling"
    finally:
        worker.kill()
        worker.wait()
