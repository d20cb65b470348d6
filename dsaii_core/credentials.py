"""Passwords a workspace needs (the SD web UI's --api-auth), kept out of the catalog.

The catalog sits on shared lab disks and is copied with the workspace; a credential lives in
`<workspace>/credentials.json` instead, readable by its owner only (mode 0600).
"""

from __future__ import annotations

import json
from pathlib import Path

from dsaii_core.atomic import atomic_write_text

FILE_NAME = "credentials.json"


def _stored(path: Path) -> dict:
    """The file's key → value mapping; an unreadable or malformed file counts as empty (the user types it again)."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def read_credential(root: Path, key: str) -> str | None:
    """The stored value, or None."""
    value = _stored(Path(root) / FILE_NAME).get(key)
    return value if isinstance(value, str) and value else None


def write_credential(root: Path, key: str, value: str | None) -> None:
    """Store `value` under `key` (an empty value removes it), owner-only."""
    path = Path(root) / FILE_NAME
    stored = _stored(path)
    if value:
        stored[key] = value
    else:
        stored.pop(key, None)
    atomic_write_text(path, json.dumps(stored, indent=1), mode=0o600)
