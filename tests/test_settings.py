"""The typed settings registry: the value in force, where it comes from, checks, and the CLI."""

import pytest

from dsaii_core import settings
from dsaii_core.errors import DsaiiError
from tests.test_cli import cli


def test_workspace_value_then_environment_then_default(tiny_ws, monkeypatch):
    monkeypatch.delenv("DSAII_MODEL", raising=False)
    assert (settings.get(tiny_ws.catalog, "diffusers.model"), settings.source(tiny_ws.catalog, "diffusers.model")) \
        == ("", "default")
    monkeypatch.setenv("DSAII_MODEL", "/models/env")
    assert settings.get(tiny_ws.catalog, "diffusers.model") == "/models/env"
    settings.put(tiny_ws.catalog, "diffusers.model", "/models/ws")
    assert (settings.get(tiny_ws.catalog, "diffusers.model"), settings.source(tiny_ws.catalog, "diffusers.model")) \
        == ("/models/ws", "workspace")
    settings.put(tiny_ws.catalog, "diffusers.model", "")
    assert settings.get(tiny_ws.catalog, "diffusers.model") == "/models/env"
    assert settings.get(None, "executor") == "local"


def test_unknown_keys_and_bad_values_are_refused(tiny_ws):
    with pytest.raises(DsaiiError, match="unknown setting 'diffusers.modle'"):
        settings.put(tiny_ws.catalog, "diffusers.modle", "x")
    with pytest.raises(DsaiiError, match="not one of local, ray"):
        settings.put(tiny_ws.catalog, "executor", "cloud")
    with pytest.raises(DsaiiError, match="not a number of at least 1"):
        settings.put(tiny_ws.catalog, "ray_workers", "0")


def test_the_model_the_inpaint_page_saved_is_the_one_the_cli_uses(tiny_ws, tmp_path):
    """The page saved diffusers.model, which `inpaint --backend diffusers` never read."""
    assert cli("settings", tiny_ws.root, "diffusers.model", str(tmp_path / "sd-inpaint")).returncode == 0
    listed = cli("settings", tiny_ws.root)
    assert f"diffusers.model\t{tmp_path / 'sd-inpaint'}\tworkspace" in listed.stdout
    tiny_ws.add_mask(tiny_ws.catalog.items()[0], _square(tiny_ws.catalog.items()[0]), kind="anomaly", source="drawn")
    result = cli("inpaint", tiny_ws.root, "--backend", "diffusers")
    assert result.returncode == 1 and f"{tmp_path / 'sd-inpaint'}: no such model folder or file" in result.stderr
    assert "unknown setting" in cli("settings", tiny_ws.root, "nope", "1").stderr


def _square(item):
    import numpy as np
    mask = np.zeros((item.height, item.width), np.uint8)
    mask[8:24, 8:24] = 255
    return mask
