"""The one exception type for errors a user can cause (bad input, missing file, unknown class), and one line
for the failures of the disk or the catalog that a user can act on."""

import errno
import sqlite3


class DsaiiError(Exception):
    """A problem the user can fix; its message is shown as-is, on one line, with no traceback."""


def failure_message(exc: BaseException) -> str | None:
    """One line for a failure of the disk or the catalog a user can read and act on; None for anything else."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"The disk is full ({exc.filename} could not be written): free some space or ask for more quota, "
                "then try again." if exc.filename else "The disk is full: free some space, then try again.")
    if isinstance(exc, sqlite3.OperationalError):
        code = getattr(exc, "sqlite_errorname", "") or ""
        if code == "SQLITE_FULL" or "full" in str(exc):
            return "The disk holding the workspace is full: free some space, then try again."
        if code in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc):
            return "The workspace catalog is busy (another program is writing it): try again in a moment."
        return (f"The workspace catalog cannot be read or written ({exc}): check the disk it lies on (a network "
                "file system does not work), then reload the page.")
    return None
