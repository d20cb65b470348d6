"""Where a model runs: a CUDA GPU when there is one, else Apple's MPS, else the CPU. One rule for every model
(SAM, Stable Diffusion, the detectors) and for the job runner; torch is imported only when a device is chosen."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from dsaii_core.errors import DsaiiError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


def _mps_available(torch) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve_device(choice: str | None = "auto") -> "torch.device":
    """'auto' (or None): CUDA when there is a GPU, else Apple's MPS, else the CPU; or the device named, if it is
    there (a one-line error otherwise)."""
    import torch
    if choice in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available(torch) else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError:
        raise DsaiiError(f"unknown device '{choice}': choose one of {', '.join(DEVICES)}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DsaiiError("device 'cuda' asked for, but torch sees no CUDA GPU here (use auto or cpu)")
    if device.type == "mps" and not _mps_available(torch):
        raise DsaiiError("device 'mps' asked for, but this machine has no Apple GPU (use auto or cpu)")
    return device


def gpu_present() -> bool:
    """Whether torch sees a GPU; False before anything imported torch (then no model uses one yet)."""
    torch = sys.modules.get("torch")
    return torch is not None and (torch.cuda.is_available() or _mps_available(torch))
