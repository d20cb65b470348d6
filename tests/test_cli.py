"""CLI exit codes and messages, run as users run it (`python -m dsaii_core`)."""

import json
import subprocess
import sys

import pytest

from dsaii_core.demo import DEMO_DIR


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "dsaii_core", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_init_import_status_export_round_trip(tmp_path):
    ws = tmp_path / "ws"
    assert cli("init", ws).returncode == 0
    result = cli("import", ws, DEMO_DIR / "hazelnut", DEMO_DIR / "magnetic_tile", "--texture")
    assert result.returncode == 0, result.stderr
    assert "54 images added (20 real anomalies)" in result.stdout
    status = json.loads(cli("status", ws, "--json").stdout)
    assert {row["name"]: row["normal"] for row in status} == {"hazelnut": 18, "magnetic_tile": 16}
    classes = json.loads(cli("classes", ws, "--json").stdout)
    assert {c["kind"] for c in classes} == {"texture"}
    exported = cli("export", ws, tmp_path / "out", "--layout", "mvtec", "--seed", "1", "--test-ratio", "0.5")
    assert exported.returncode == 0, exported.stderr
    assert len(list((tmp_path / "out/hazelnut/test/good").glob("*.png"))) == 9


@pytest.mark.parametrize("args, message", [
    (["status", "{tmp}/nowhere"], "not a DSAII workspace"),
    (["import", "{ws}", "{tmp}/missing.png"], "no such file"),
    (["export", "{ws}", "{tmp}/o", "--layout", "coco"], "layout must be one of"),
])
def test_user_errors_exit_1_with_one_line_and_no_traceback(tmp_path, args, message):
    cli("init", tmp_path / "ws")
    args = [a.format(tmp=tmp_path, ws=tmp_path / "ws") for a in args]
    result = cli(*args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_bad_image_is_named_and_exit_1_when_nothing_imported(tmp_path):
    cli("init", tmp_path / "ws")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    result = cli("import", tmp_path / "ws", bad, "--class", "x")
    assert result.returncode == 1 and "bad.png" in result.stderr and "Traceback" not in result.stderr


def test_undo_reverts_a_class_s_last_change_by_a_person(tmp_path):
    from dsaii_core.workspace import Workspace
    ws = tmp_path / "ws"
    cli("init", ws)
    cli("import", ws, DEMO_DIR / "hazelnut")
    catalog = Workspace.open(ws).catalog
    first, second = [i.id for i in catalog.items(role="normal")[:2]]
    catalog.set_status([first], "dropped", user="ana")
    catalog.set_status([second], "dropped", user="ben")
    result = cli("undo", ws, "hazelnut", "--user", "ana")
    assert result.returncode == 0 and "undid 'dropped 1 image' by ana [curate, 1 change(s)]" in result.stdout
    assert [catalog.item(i).status for i in (first, second)] == ["kept", "dropped"]
    assert "nothing to undo" in cli("undo", ws, "hazelnut", "--user", "ana").stdout
    assert cli("undo", ws, "no-such-class").returncode == 1

    ground_truth = len(catalog.masks(kind="anomaly"))  # the imported real anomalies' masks
    made = cli("anomaly-masks", ws, "--source", "procedural", "--per-image", "1", "--user", "ben")
    count = len(catalog.masks(kind="anomaly")) - ground_truth
    assert made.returncode == 0 and count > 1
    result = cli("undo", ws, "hazelnut", "--user", "ben")  # the whole run, then the settings it saved
    assert f"undid 'anomaly mask run (made {count} anomaly masks)' by ben [anomaly_mask, {count} change(s)]" \
        in result.stdout
    assert len(catalog.masks(kind="anomaly")) == ground_truth
    assert "undid 'class settings' by ben [class" in cli("undo", ws, "hazelnut", "--user", "ben").stdout
    assert "--kind must be one of" in cli("undo", ws, "hazelnut", "--kind", "nonsense").stderr
    assert [catalog.item(i).status for i in (first, second)] == ["kept", "dropped"]


def test_bad_usage_exits_2():
    assert cli("export").returncode == 2
    assert cli("no-such-command").returncode == 2


@pytest.mark.parametrize("command", ["init", "import", "classes", "status", "export", "undo", "jobs"])
def test_every_command_has_help(command):
    result = cli(command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


def test_jobs_lists_cancels_and_resumes_a_background_job(tmp_path):
    import time

    from dsaii_core.inpaint.generate import start_inpaint_job
    from dsaii_core.jobs import get_job
    from tests.fixtures.masked_ws import build_masked_ws
    ws = build_masked_ws(tmp_path / "ws", normals=3, size=64)
    job = start_inpaint_job(ws, ws.classes(), "classical")
    assert cli("jobs", ws.root).stdout.split("\t")[:4] == [str(job.id), "inpaint", "queued", "0/3"]
    assert cli("jobs", ws.root, "--cancel", job.id).stdout.strip() == f"job {job.id}: cancelled"
    resumed = cli("jobs", ws.root, "--resume", job.id)
    assert resumed.returncode == 0 and "resumed by worker pid" in resumed.stdout
    deadline = time.time() + 60
    while get_job(ws.catalog, job.id).state != "done" and time.time() < deadline:
        time.sleep(0.2)
    [row] = json.loads(cli("jobs", ws.root, "--json").stdout)
    assert (row["state"], row["done"], row["runs_on"]) == ("done", 3, "this machine")
    finished = cli("jobs", ws.root, "--resume", job.id)
    assert finished.returncode == 1 and f"job {job.id} is already done" in finished.stderr
    assert cli("jobs", ws.root, "--resume", 999).stderr.strip() == "error: no job with id 999"


def test_a_busy_catalog_or_a_full_disk_is_one_line_not_a_traceback(tiny_ws, monkeypatch, capsys):
    import errno
    import sqlite3
    from dsaii_core import cli as cli_module
    from dsaii_core.workspace import Workspace
    for failure, words in ((sqlite3.OperationalError("database is locked"), "catalog is busy"),
                           (OSError(errno.ENOSPC, "No space left on device", "x.png"), "disk is full")):
        def fail(root, failure=failure):
            raise failure
        monkeypatch.setattr(Workspace, "open", fail)
        with pytest.raises(SystemExit) as exit_:
            cli_module.main(["status", str(tiny_ws.root)])
        assert exit_.value.code == 1 and words in capsys.readouterr().err
