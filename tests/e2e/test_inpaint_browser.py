"""The Inpaint page in a real browser: a job started there keeps running after the tab is gone."""

import time

from dsaii_core.jobs import get_job, list_jobs
from tests.fixtures.masked_ws import build_masked_ws


def test_a_job_started_in_the_browser_survives_closing_the_tab(app_server, ui, tmp_path):
    ws = build_masked_ws(tmp_path / "ws", normals=6, size=256)
    url = app_server(ws.root)
    ui.open(url + "/inpaint")
    ui.wait_text("6 anomaly mask(s) wait")
    ui.wait_text("not diffusion")
    ui.click(".st-key-start button")
    deadline = time.time() + 30
    while not list_jobs(ws.catalog, "inpaint") and time.time() < deadline:
        time.sleep(0.1)
    [job] = list_jobs(ws.catalog, "inpaint")
    ui.driver.get("about:blank")  # the tab leaves the app; the worker is not the app's script run
    deadline = time.time() + 90
    while get_job(ws.catalog, job.id).state != "done" and time.time() < deadline:
        time.sleep(0.2)
    assert get_job(ws.catalog, job.id).done == 6
    ui.open(url + "/inpaint")
    ui.wait_text(f"Job {job.id}")
    ui.wait_text("6 of 6 done")
    ui.screenshot("inpaint-job-done")
