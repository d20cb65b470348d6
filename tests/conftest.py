"""Shared fixtures: the demo workspace (built once per session, copied per test) and small ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from dsaii_core import imageio
from dsaii_core.demo import DEMO_DIR, build_demo
from dsaii_core.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A workspace built from data/demo once per test session (do not modify: copy it)."""
    root = tmp_path_factory.mktemp("demo-template") / "ws"
    ws = Workspace.create(root)
    report = build_demo(ws)
    assert not report.errors, report.errors
    ws.catalog.close()
    return root


@pytest.fixture
def demo_ws(demo_template, tmp_path) -> Workspace:
    """A fresh copy of the demo workspace: hazelnut, transistor, ball_screw (objects), magnetic_tile (texture)."""
    root = tmp_path / "demo-ws"
    shutil.copytree(demo_template, root)
    return Workspace.open(root)


@pytest.fixture
def tiny_ws(tmp_path) -> Workspace:
    """A workspace with one object class 'hazelnut' of three real 64×64 images (fast tests)."""
    ws = Workspace.create(tmp_path / "tiny-ws")
    cls = ws.add_class("hazelnut")
    for path in sorted((DEMO_DIR / "hazelnut" / "train" / "good").glob("*.png"))[:3]:
        ws.add_image(cls, imageio.thumbnail(imageio.read_image(path), 64))
    return ws


@pytest.fixture
def reviewed_ws(tmp_path) -> Workspace:
    """build_masked_ws's hazelnut after a weight-free inpaint job: four pending synthetic anomalies."""
    from dsaii_core.inpaint.generate import start_inpaint_job
    from dsaii_core.jobs import run_job
    from tests.fixtures.masked_ws import build_masked_ws
    ws = build_masked_ws(tmp_path / "reviewed-ws")
    run_job(ws, start_inpaint_job(ws, [ws.get_class("hazelnut")], "classical", seed=3).id)
    return ws


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
