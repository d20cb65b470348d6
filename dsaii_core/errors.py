"""The one exception type for errors a user can cause (bad input, missing file, unknown class)."""


class DsaiiError(Exception):
    """A problem the user can fix; its message is shown as-is, on one line, with no traceback."""
