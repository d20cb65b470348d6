"""Fixtures of the inpaint tests."""

from __future__ import annotations

import pytest

from dsaii_core.workspace import Workspace
from tests.fixtures.masked_ws import build_masked_ws


@pytest.fixture
def masked_ws(tmp_path) -> Workspace:
    """hazelnut: four real 128² normals with one drawn anomaly mask each, plus one real crack defect."""
    return build_masked_ws(tmp_path / "ws")
