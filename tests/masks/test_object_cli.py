"""`object-masks` as users run it: weight-free default, resumable, SAM from a flag, candidate export, errors."""

from __future__ import annotations

import subprocess
import sys

from dsaii_core.workspace import Workspace
from tests.fixtures.tiny_sam import tiny_sam_checkpoint


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "dsaii_core", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


def test_object_masks_without_weights_then_resume(tiny_ws):
    root = tiny_ws.root
    first = cli("object-masks", root, "--user", "ana")
    assert first.returncode == 0, first.stderr
    assert "hazelnut: 3 object masks (grabcut)" in first.stdout and "no SAM checkpoint" in first.stderr
    again = cli("object-masks", root, "--class", "hazelnut")
    assert "0 object masks" in again.stdout and "3 already had one" in again.stdout
    ws = Workspace.open(root)
    assert len(ws.catalog.masks(kind="object")) == 3
    assert len(ws.catalog.undo(ws.get_class("hazelnut").id, "ana").decisions) == 3  # the run is one undo step of Ana's
    assert ws.catalog.masks(kind="object") == []


def test_object_masks_with_a_sam_checkpoint_and_candidate_export(tiny_ws, tmp_path):
    checkpoint = tiny_sam_checkpoint(tmp_path / "sam_tiny.pth")
    out = tmp_path / "candidates"
    result = cli("object-masks", tiny_ws.root, "--method", "sam", "--sam-checkpoint", checkpoint,
                 "--sam-model", "tiny", "--points-per-side", "2", "--export-candidates", out)
    assert result.returncode == 0, result.stderr
    assert "3 object masks (sam)" in result.stdout
    folders = sorted(p.name for p in (out / "hazelnut").iterdir())
    assert folders == ["000", "001", "002"] and (out / "hazelnut" / "000" / "metadata.csv").is_file()
    sources = {m.source.split(":")[0] for m in Workspace.open(tiny_ws.root).catalog.masks(kind="object")}
    assert sources == {"sam"}


def test_user_errors_are_one_line(tiny_ws, tmp_path):
    no_weights = cli("object-masks", tiny_ws.root, "--method", "sam")
    assert no_weights.returncode == 1 and no_weights.stderr.strip().splitlines()[-1].startswith("error: method 'sam'")
    missing = cli("object-masks", tiny_ws.root, "--sam-checkpoint", tmp_path / "nope.pth")
    assert missing.returncode == 1 and "SAM checkpoint not found" in missing.stderr
