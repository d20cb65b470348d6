"""Class names that differ only by case are distinct classes with distinct folders, even on disks that
ignore case (macOS, Windows): folder names are compared casefolded."""

from __future__ import annotations

import pytest

from dsaii_core.workspace import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


@pytest.mark.parametrize("first, second, folder", [
    ("Éclair", "éclair", "éclair-2"),     # beyond ASCII: SQLite's lower() leaves É alone
    ("Screw", "screw", "screw-2"),
    ("Straße", "STRASSE", "STRASSE-2"),   # full case folding: ß is ss
    ("ΣΊΣΥΦΟΣ", "σίσυφος", "σίσυφος-2"),
])
def test_names_that_differ_only_by_case_get_distinct_folders(ws, first, second, folder):
    a, b = ws.add_class(first), ws.add_class(second)
    assert (a.name, b.name) == (first, second) and a.id != b.id  # distinct classes, names kept as given
    assert a.dirname == first and b.dirname == folder
    assert ws.add_class(second).id == b.id and ws.catalog.find_class(first).id == a.id


def test_a_third_name_by_case_gets_the_next_suffix(ws):
    dirnames = [ws.add_class(name).dirname for name in ("Éclair", "éclair", "ÉCLAIR")]
    assert dirnames == ["Éclair", "éclair-2", "ÉCLAIR-3"]
    assert len({d.casefold() for d in dirnames}) == 3
