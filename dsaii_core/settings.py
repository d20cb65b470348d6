"""The workspace settings: one typed registry that pages, commands and jobs read and write through.

Each setting has a key (stored in the catalog's `settings` table), what it means, an environment variable that
stands in when the workspace has no value, a default, and a check of what may be stored. Admins alone change
them when the app is served to a lab (they decide what the server reaches and loads).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from dsaii_core.catalog import Catalog
from dsaii_core.errors import DsaiiError


def _number(minimum: float) -> Callable[[str], None]:
    def check(value: str) -> None:
        try:
            if float(value) < minimum:
                raise ValueError
        except ValueError:
            raise DsaiiError(f"'{value}' is not a number of at least {minimum:g}") from None
    return check


def _one_of(*choices: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in choices:
            raise DsaiiError(f"'{value}' is not one of {', '.join(choices)}")
    return check


@dataclass(frozen=True)
class Setting:
    key: str
    meaning: str
    env: str | None = None
    default: str = ""
    check: Callable[[str], None] | None = None  # raises DsaiiError on a value that may not be stored


SETTINGS: dict[str, Setting] = {s.key: s for s in (
    Setting("executor", "where jobs run: local (this machine) or ray (a Ray cluster)", default="local",
            check=_one_of("local", "ray")),
    Setting("ray_address", "the Ray cluster to join (empty: a new one on this machine)"),
    Setting("ray_num_gpus", "GPUs each Ray worker asks for (empty: one for SAM and Stable Diffusion where the "
                            "cluster has GPUs)", check=_number(0)),
    Setting("ray_workers", "worker processes: locally (empty: every core) or on Ray (empty: as many as fit)",
            check=_number(1)),
    Setting("webui.url", "the Stable Diffusion web UI to send inpainting to", env="DSAII_WEBUI_URL",
            default="http://127.0.0.1:7860"),
    Setting("webui.timeout_s", "seconds to wait for one web UI answer", default="300", check=_number(1)),
    Setting("diffusers.model", "a local diffusers inpainting folder or .safetensors file", env="DSAII_MODEL"),
    Setting("diffusers.config", "the config folder a single .safetensors file needs"),
    Setting("sam.checkpoint", "a local Segment Anything checkpoint (.pth or .safetensors)",
            env="DSAII_SAM_CHECKPOINT"),
    Setting("sam.model_type", "its architecture: vit_b, vit_l or vit_h (empty: read from the weights)",
            env="DSAII_SAM_MODEL", check=_one_of("", "vit_b", "vit_l", "vit_h", "tiny")),
)}


def _setting(key: str) -> Setting:
    if key not in SETTINGS:
        raise DsaiiError(f"unknown setting '{key}' (settings: {', '.join(SETTINGS)})")
    return SETTINGS[key]


def get(catalog: Catalog | None, key: str) -> str:
    """The value in force: the workspace's, else the environment's, else the default ('' when none)."""
    setting = _setting(key)
    stored = catalog.get_setting(key) if catalog is not None else None
    return stored or (os.environ.get(setting.env, "") if setting.env else "") or setting.default


def source(catalog: Catalog | None, key: str) -> str:
    """Where get()'s value comes from: 'workspace', 'environment' or 'default'."""
    setting = _setting(key)
    if catalog is not None and catalog.get_setting(key):
        return "workspace"
    return "environment" if setting.env and os.environ.get(setting.env) else "default"


def put(catalog: Catalog, key: str, value: str) -> None:
    """Store a value (checked); an empty one removes the workspace's value, so the environment or default rules."""
    setting, value = _setting(key), value.strip()
    if value and setting.check is not None:
        setting.check(value)
    catalog.set_setting(key, value)
