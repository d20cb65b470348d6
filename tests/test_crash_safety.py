"""kill -9 in the middle of an import or an export: nothing half-written is visible afterwards."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dsaii_core.demo import DEMO_DIR
from dsaii_core.workspace import Workspace


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "dsaii_core", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def kill_after(process, seconds):
    time.sleep(seconds)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()


def assert_valid_export(out):
    manifest = json.loads((out / "manifest.json").read_text())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json", ".dsaii-export"}
    assert files == set(manifest["files"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("delay", [0.8, 2.0])
def test_export_killed_midway_leaves_the_previous_export_intact(demo_ws, tmp_path, delay):
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "dsaii_core", "export", demo_ws.root, out, "--layout", "mvtec"], check=True,
                   capture_output=True)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    kill_after(start("export", demo_ws.root, out, "--layout", "mvtec", "--seed", "7"), delay)
    assert_valid_export(out)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before or json.loads((out / "manifest.json").read_text())["settings"]["seed"] == 7


@pytest.mark.parametrize("delay", [1.0, 3.0])
def test_import_killed_midway_leaves_catalog_and_files_in_agreement(tmp_path, delay):
    root = tmp_path / "ws"
    Workspace.create(root).catalog.close()
    kill_after(start("import", root, DEMO_DIR), delay)
    ws = Workspace.open(root)
    ws.repair(grace_s=0)  # the killed import's temp files are fresh: nothing else runs, so no grace is needed
    for item in ws.catalog.items():
        assert ws.path(item.file).is_file()
    for mask in ws.catalog.masks(active_only=False):
        assert ws.path(mask.file).is_file()
    assert not list(root.rglob(".tmp-*"))
    # Resuming the import completes it without duplicates.
    subprocess.run([sys.executable, "-m", "dsaii_core", "import", root, DEMO_DIR], check=True, capture_output=True)
    assert len(ws.catalog.items()) == 94
