import json

import pytest

from dsaii_core.cli import main


def _run(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exited.value.code or 0, out.out, out.err


def test_inpaint_then_review_from_the_command_line(masked_ws, capsys):
    root = masked_ws.root
    code, out, _ = _run(capsys, "inpaint", root, "--class", "hazelnut", "--backend", "classical", "--seed", "4")
    assert code == 0 and "done: 4 of 4 anomalies written, 0 failed" in out
    code, out, _ = _run(capsys, "inpaint", root, "--backend", "classical")
    assert code == 0 and "nothing to inpaint" in out
    code, out, _ = _run(capsys, "review", root, "--list", "--json")
    listed = json.loads(out)
    assert code == 0 and len(listed["anomalies"]) == 4
    assert {a["backend"] for a in listed["anomalies"]} == {"classical"}
    passing = sum(a["qc"]["passed"] for a in listed["anomalies"])
    code, out, _ = _run(capsys, "review", root, "--accept-passing-qc")
    assert code == 0 and f"accepted {passing} anomalies" in out
    code, out, _ = _run(capsys, "review", root, "--list", "--status", "accepted")
    assert f"hazelnut: {passing} accepted of 4" in out


def test_cli_errors_are_one_line(masked_ws, capsys):
    code, _, err = _run(capsys, "inpaint", masked_ws.root, "--backend", "dalle")
    assert code == 1 and err.strip() == "error: unknown backend 'dalle' (choose from classical, diffusers, webui)"
    code, _, err = _run(capsys, "inpaint", masked_ws.root, "--backend", "diffusers")
    assert code == 1 and "needs a model" in err


def test_background_start_and_resume_from_the_command_line(masked_ws, capsys):
    import time

    from dsaii_core.jobs import get_job, list_jobs
    code, out, _ = _run(capsys, "inpaint", masked_ws.root, "--background")
    [job] = list_jobs(masked_ws.catalog)
    assert code == 0 and f"job {job.id}: 4 items, worker pid" in out
    deadline = time.time() + 60
    while get_job(masked_ws.catalog, job.id).state != "done" and time.time() < deadline:
        time.sleep(0.1)
    assert get_job(masked_ws.catalog, job.id).done == 4
    code, out, err = _run(capsys, "inpaint", masked_ws.root, "--resume", job.id)
    assert code == 1 and "already done" in err
