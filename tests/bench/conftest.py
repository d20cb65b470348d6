"""Fixtures of the benchmark tests: a real two-class workspace, and the same with one baseline run stored."""

from __future__ import annotations

import pytest

from dsaii_core.workspace import Workspace
from tests.fixtures.bench_data import build_bench_workspace, build_run_workspace, copy_workspace


@pytest.fixture(scope="session")
def bench_template(tmp_path_factory):
    return build_bench_workspace(tmp_path_factory.mktemp("bench-template") / "ws")


@pytest.fixture
def bench_ws(bench_template, tmp_path) -> Workspace:
    """A fresh workspace with the real hazelnut and transistor demo classes."""
    return copy_workspace(bench_template, tmp_path / "ws")


@pytest.fixture(scope="session")
def run_template(bench_template, tmp_path_factory):
    """The bench workspace with one stored weak-baseline run (5 shots, seed 0)."""
    return build_run_workspace(bench_template, tmp_path_factory.mktemp("run-template") / "ws")


@pytest.fixture
def run_ws(run_template, tmp_path) -> Workspace:
    return copy_workspace(run_template, tmp_path / "ws")
