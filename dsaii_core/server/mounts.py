"""Which file system a folder lies on, to warn about network file systems (SQLite's locking and WAL fail there).

Linux only (/proc/mounts); elsewhere the type is unknown and nothing is said.
"""

from __future__ import annotations

import re
from pathlib import Path

MOUNTS = Path("/proc/mounts")
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afs", "ncpfs", "9p", "ceph", "glusterfs", "lustre",
    "gpfs", "beegfs", "davfs", "sshfs", "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.davfs2", "fuse.s3fs",
    "fuse.rclone", "fuse.gcsfuse", "fuse.juicefs", "fuse.beegfs",
})


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash in paths as octal escapes (\040 ...).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(path: str | Path, mounts: Path = MOUNTS) -> str | None:
    """The type of the file system `path` (or its nearest existing parent) lies on; None where it cannot be told."""
    target = Path(path).expanduser().resolve()
    try:
        lines = mounts.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    best, best_type = None, None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = Path(_unescape(fields[1]))
        if target.is_relative_to(point) and (best is None or len(point.parts) >= len(best.parts)):
            best, best_type = point, fields[2]  # later mounts on the same point hide earlier ones
    return best_type


def network_filesystem(path: str | Path, mounts: Path = MOUNTS) -> str | None:
    """The network file system's type when `path` lies on one (nfs4, cifs, fuse.sshfs ...), else None."""
    kind = filesystem_type(path, mounts)
    return kind if kind is not None and kind.lower() in NETWORK_FILESYSTEMS else None
