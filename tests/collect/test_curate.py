import pytest

from dsaii_core.collect import curate
from dsaii_core.collect.curate import CandidateFilter
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace
from tests.collect.candidates import add_candidates


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    add_candidates(ws, "parts", 30)
    return ws


def test_pages_cover_every_candidate_once_with_groups_adjacent(ws):
    cls = ws.get_class("parts")
    seen, groups_seen = [], []
    first = curate.candidate_page(ws, cls, per_page=7)
    assert first.total == 30 and first.pages == 5 and first.groups == 5 and first.duplicates == 5
    for page in range(first.pages):
        shown = curate.candidate_page(ws, cls, page=page, per_page=7).items
        seen += [v.id for v in shown]
        groups_seen += [v.group for v in shown]
    assert sorted(seen) == list(range(1, 31))
    runs = [g for i, g in enumerate(groups_seen) if i == 0 or groups_seen[i - 1] != g]
    assert len(runs) == len(set(groups_seen))  # every group's members appear together


def test_filters_by_status_license_and_engine(ws):
    cls = ws.get_class("parts")
    facets = curate.facets(ws, cls)
    assert facets.statuses == {"candidate": 30} and facets.engines == {"openverse": 15, "wikimedia": 15}
    assert set(facets.licenses) == {"", "CC BY 4.0", "CC0 1.0", "CC BY-NC 2.0"}
    only = curate.candidate_page(ws, cls, CandidateFilter(licenses=("CC0 1.0",), engines=("wikimedia",)), per_page=50)
    assert only.total == 8 and all(v.license == "CC0 1.0" and v.engine == "wikimedia" for v in only.items)
    unlicensed = curate.candidate_page(ws, cls, CandidateFilter(licenses=("",)), per_page=50)
    assert unlicensed.total == 7 and unlicensed.items[0].badge == ("no license", "gray")


def undone(ws, cls) -> int:
    """How many images the Curate page's Undo changes back."""
    action = ws.catalog.undo(cls.id, kinds=("curate",))
    return len(action.decisions) if action else 0


def test_bulk_decisions_undo_as_one_and_single_ones_alone(ws):
    cls = ws.get_class("parts")
    assert curate.decide(ws, [1, 2, 3], "kept") == 3
    assert curate.decide(ws, [4], "dropped") == 1
    status = lambda: {i.id: i.status for i in ws.catalog.items(cls.id)}  # noqa: E731
    assert undone(ws, cls) == 1 and status()[4] == "candidate" and status()[1] == "kept"
    assert undone(ws, cls) == 3 and set(status().values()) == {"candidate"}
    assert undone(ws, cls) == 0
    with pytest.raises(DsaiiError, match="curation decision"):
        curate.decide(ws, [1], "deleted")


def test_keep_most_similar_keeps_the_top_and_drops_the_rest(ws):
    cls = ws.get_class("parts")
    curate.keep_most_similar(ws, cls, 5)
    items = ws.catalog.items(cls.id)
    kept = sorted((i for i in items if i.status == "kept"), key=lambda i: -i.info["similarity"])
    dropped = [i for i in items if i.status == "dropped"]
    assert len(kept) == 5 and len(dropped) == 25
    assert min(i.info["similarity"] for i in kept) >= max(i.info["similarity"] for i in dropped)
    assert undone(ws, cls) == 30


def test_drop_near_duplicates_leaves_one_per_group(ws):
    cls = ws.get_class("parts")
    assert curate.drop_near_duplicates(ws, cls) == 5
    page = curate.candidate_page(ws, cls, CandidateFilter(statuses=("candidate",)), per_page=100)
    assert page.total == 25 and page.groups == 0
