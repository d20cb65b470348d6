"""`python -m dsaii_core bench ...`: outputs and exit codes (through cli.main, as `python -m` runs it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dsaii_core.cli import main
from dsaii_core.demo import DEMO_DIR


@pytest.fixture
def bench(capsys):
    """Run `bench ARGS...` through cli.main in this process; returns (exit code, stdout, stderr)."""
    def call(*args):
        try:
            main(["bench", *map(str, args)])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err
    return call


def test_run_import_and_report(bench_ws, bench):
    code, out, err = bench("run", bench_ws.root, "--detector", "baseline", "--shots", "3", "--class", "hazelnut",
                           "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["detector"] == "baseline" and run["settings"]["shots"] == 3
    assert 0 <= run["classes"]["hazelnut"]["metrics"]["aupro"] <= 1
    code, out, err = bench("import", bench_ws.root, run["maps_dir"], "--name", "copy", "--class", "hazelnut")
    assert code == 0, err
    assert "run #2 stored" in out and "hazelnut" in out
    code, out, err = bench("report", bench_ws.root, "--csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "run,class,image_auroc,pixel_auroc,aupro,f1_max,pixel_f1_max"
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["#1 baseline", "hazelnut"], ["#1 baseline", "mean"], ["#2 copy", "hazelnut"], ["#2 copy", "mean"]]
    rows = json.loads(bench("report", bench_ws.root, "--json", "--run", "2")[1])
    assert [r["class"] for r in rows] == ["hazelnut", "mean"]
    assert rows[0]["pixel_auroc"] == pytest.approx(run["classes"]["hazelnut"]["metrics"]["pixel_auroc"])


def test_report_shows_real_and_synthetic_anomalies_apart(tmp_path, bench):
    from tests.fixtures.bench_data import build_origins_workspace
    root = build_origins_workspace(tmp_path / "ws", size=96)
    code, out, err = bench("run", root, "--detector", "baseline", "--device", "cpu", "--shots", "5")
    assert code == 0, err
    assert "anomalies" in out and "synthetic" in out      # the run's table has a row per kind of anomaly
    code, out, err = bench("report", root, "--csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "run,class,anomalies,image_auroc,pixel_auroc,aupro,f1_max,pixel_f1_max"
    assert [line.split(",")[1:3] for line in lines[1:]] == [
        ["hazelnut", "all"], ["hazelnut", "real"], ["hazelnut", "synthetic"],
        ["mean", "all"], ["mean", "real"], ["mean", "synthetic"]]
    rows = json.loads(bench("report", root, "--json")[1])
    assert [(r["class"], r["anomalies"]) for r in rows][:3] == [("hazelnut", "all"), ("hazelnut", "real"),
                                                                ("hazelnut", "synthetic")]
    assert all(0 <= r["image_auroc"] <= 1 for r in rows)


def test_anomalib_detector_from_the_command_line(bench_ws, tmp_path, bench):
    pytest.importorskip("anomalib")
    import torch
    import torchvision
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    code, out, err = bench("run", bench_ws.root, "--detector", "anomalib:Padim", "--backbone", "resnet18",
                           "--layers", "layer1,layer2", "--weights", tmp_path / "r18.pth", "--image-size", "64",
                           "--device", "cpu", "--class", "hazelnut", "--shots", "4", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["detector"] == "anomalib:Padim" and run["settings"]["layers"] == ["layer1", "layer2"]
    assert run["settings"]["image_size"] == 64 and run["settings"]["shots"] == 4
    assert 0 <= run["classes"]["hazelnut"]["metrics"]["pixel_auroc"] <= 1


def test_python_m_run_on_an_mvtec_folder_prints_without_storing():
    result = subprocess.run([sys.executable, "-m", "dsaii_core", "bench", "run", str(DEMO_DIR), "--class", "hazelnut",
                             "--shots", "2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "hazelnut" in result.stdout and "not stored" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "{tmp}/nowhere"], "no such workspace or folder"),
    (["run", "{ws}", "--detector", "padim"], "unknown detector 'padim'"),
    (["run", "{ws}", "--detector", "anomalib:Patchcore"], "needs weights from a local file"),
    (["run", "{ws}", "--device", "cuda"], "no CUDA GPU"),
    (["run", "{ws}", "--detector", "patchcore", "--backbone", "resnet18"], "needs backbone weights"),
    (["run", "{ws}", "--coreset-ratio", "0"], "coreset ratio must be in"),
    (["run", "{tmp}"], "not an MVTec AD folder"),
    (["import", "{ws}", "{tmp}/missing", "--name", "x"], "no such folder of maps"),
    (["report", "{ws}"], "no benchmark runs yet"),
    (["report", "{ws}", "--run", "7"], "no run #7"),
])
def test_user_errors_exit_1_with_one_line(bench_ws, tmp_path, bench, args, message):
    code, out, err = bench(*[a.format(tmp=tmp_path, ws=bench_ws.root) for a in args])
    assert code == 1, out + err
    assert message in err and "Traceback" not in err
    assert err.strip().count("\n") == 0


def test_bad_usage_exits_2(bench_ws, bench):
    assert bench("import", bench_ws.root)[0] == 2
    assert bench("run")[0] == 2
    assert bench("report", bench_ws.root, "--run", "one")[0] == 2
