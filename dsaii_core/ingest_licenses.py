"""License files beside imported images: the license a file found under an import root carries.

An imported file's license is read from the nearest LICENSE* / LICENCE* / COPYING* file in its own
folder or a folder above it, up to the import root — and, for an MVTec AD category imported on its own,
in the folder that holds the category (the MVTec AD download keeps license.txt beside its categories).
Nothing above that is looked at: an unrelated LICENSE in ~/Downloads must not label a user's photos.

The license recorded is a short id when the file names a license we recognise (an
`SPDX-License-Identifier:` line; the title of a Creative Commons, CC0, MIT or Apache-2.0 text, e.g.
"Attribution-NonCommercial-ShareAlike 4.0 International" → "CC BY-NC-SA 4.0", as crawled licenses are
written), else the file's first non-empty line.
"""

from __future__ import annotations

import re
from pathlib import Path

from dsaii_core import imageio

LICENSE_FILE = re.compile(r"^(licen[cs]e|copying)([._\-].*)?$", re.IGNORECASE)
MAX_LICENSE_BYTES = 64 * 1024
MAX_LICENSE_CHARS = 120
HEADER_LINES = 5  # a license's title is in its first lines; the legal text below repeats many names

_SPDX = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-]+(?:\s+(?:OR|AND|WITH)\s+[A-Za-z0-9.+\-]+)*)")
_CC = re.compile(r"\bAttribution((?:[- ](?:NonCommercial|ShareAlike|NoDerivatives|NoDerivs))*)[ ,-]+"
                 r"(?:International\s+)?(?:License\s+)?(?:v(?:ersion)?\s*)?(\d\.\d)", re.IGNORECASE)
_CC_PARTS = {"noncommercial": "NC", "sharealike": "SA", "noderivatives": "ND", "noderivs": "ND"}


def license_id(text: str) -> str | None:
    """A short license id for a license text, or its first non-empty line; None for an empty text."""
    if found := _SPDX.search(text):
        return found.group(1).strip()
    lines = [line.strip().strip("#*= ").strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    header = " ".join(lines[:HEADER_LINES])
    if re.search(r"\bCC0\b|Creative Commons Zero", header, re.IGNORECASE):
        return "CC0 1.0"
    if cc := _CC.search(header):
        parts = [_CC_PARTS[p.casefold()] for p in re.split(r"[- ]", cc.group(1)) if p]
        return " ".join(["CC", "-".join(["BY", *parts]), cc.group(2)])
    if re.match(r"(The )?MIT License", lines[0], re.IGNORECASE):
        return "MIT"
    if re.search(r"Apache License", header) and re.search(r"Version 2\.0", header):
        return "Apache-2.0"
    return lines[0][:MAX_LICENSE_CHARS]


def read_license(path: Path) -> str | None:
    """The license a license file names (see license_id); None when it is empty or unreadable."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_LICENSE_BYTES)
    except OSError:
        return None
    return license_id(data.decode("utf-8", errors="replace"))


class LicenseFinder:
    """The license of files under one import root, from the license files nearest to them (cached per folder)."""

    def __init__(self, root: Path, label: str, *, holder: bool = False):
        """`label` names the root in what is reported (its folder or zip name); `holder` also looks in
        the folder that holds the root."""
        self.root, self.label = root, label
        self.top = root.parent if holder else root
        self._folders: dict[Path, tuple[str, str] | None] = {}

    def _display(self, path: Path) -> str:
        if path.is_relative_to(self.root):
            return "/".join(part for part in (self.label, *path.relative_to(self.root).parts) if part)
        return f"{self.label}/../{path.name}"

    def _in_folder(self, folder: Path) -> tuple[str, str] | None:
        if folder not in self._folders:
            found = None
            try:
                files = sorted(p for p in folder.iterdir()
                               if LICENSE_FILE.match(p.name) and not imageio.is_image_name(p.name) and p.is_file())
            except OSError:
                files = []
            for path in files:
                if text := read_license(path):
                    found = (text, self._display(path))
                    break
            self._folders[folder] = found
        return self._folders[folder]

    def find(self, path: Path) -> tuple[str, str] | None:
        """(license, license file as reported) for a file under the root, or None when none applies."""
        folder = path.parent
        while True:
            if (found := self._in_folder(folder)) is not None:
                return found
            if folder == self.top or not folder.is_relative_to(self.top) or folder == folder.parent:
                return None
            folder = folder.parent
