"""Crash-safe file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


TEMP_PREFIX = ".tmp-"  # the temp files of atomic writes (Workspace.repair removes stale ones)
_FILE_MODE = 0o666 & ~_umask()  # what open() would give; read once, at import, while no other thread writes


def atomic_write_bytes(path: Path, data: bytes, mode: int = _FILE_MODE) -> None:
    """Write `data` to `path` through a temp file in the same folder, fsync and rename.

    The file gets `mode` (by default the user's usual one: mkstemp's private 0600 would lock lab
    colleagues out of a shared workspace).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str, mode: int = _FILE_MODE) -> None:
    """Write UTF-8 text atomically (see atomic_write_bytes)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
