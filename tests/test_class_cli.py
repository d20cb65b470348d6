"""CLI parity: curate, class management and per-item review, as the pages do them."""

from __future__ import annotations

import numpy as np

from dsaii_core.workspace import Workspace
from tests.test_cli import cli


def test_curate_lists_keeps_drops_and_keeps_the_most_similar(tiny_ws):
    root, cls = tiny_ws.root, tiny_ws.get_class("hazelnut")
    a, b, c = [i.id for i in tiny_ws.catalog.items(cls.id)]
    tiny_ws.catalog.set_status([a, b, c], "candidate")
    for item_id, similarity in ((a, 0.2), (b, 0.9), (c, 0.5)):
        tiny_ws.catalog.set_item_fields(item_id, info={"similarity": similarity})
    listed = cli("curate", root, "hazelnut", "--status", "candidate")
    assert listed.returncode == 0 and [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        str(a), str(b), str(c)]
    assert "2 image(s) changed" in cli("curate", root, "hazelnut", "--keep", a, "--drop", c, "--user", "ana").stdout
    status = lambda: [tiny_ws.catalog.item(i).status for i in (a, b, c)]  # noqa: E731
    assert status() == ["kept", "candidate", "dropped"]
    assert cli("curate", root, "hazelnut", "--reset", a, "--reset", c).returncode == 0
    assert cli("curate", root, "hazelnut", "--keep-top", "1").returncode == 0
    assert status() == ["dropped", "kept", "dropped"]  # b is the most similar
    refused = cli("curate", root, "hazelnut", "--keep", 999)
    assert refused.returncode == 1 and "not normal images of 'hazelnut': 999" in refused.stderr


def test_class_kind_prompt_target_and_name_change_and_undo(tiny_ws):
    root = tiny_ws.root
    changed = cli("class", root, "hazelnut", "--kind", "texture", "--prompt", "cracked shell", "--target", "7",
                  "--rename", "nut", "--user", "ana")
    assert changed.returncode == 0 and "name\tnut" in changed.stdout and "target\t7" in changed.stdout
    cls = tiny_ws.get_class("nut")
    assert (cls.kind, cls.prompt, cls.dirname) == ("texture", "cracked shell", "hazelnut")  # the folder stays
    assert "class name" in cli("undo", root, "nut", "--user", "ana").stdout
    assert tiny_ws.catalog.find_class("hazelnut") is not None
    tiny_ws.add_class("walnut")
    clash = cli("class", root, "hazelnut", "--rename", "walnut")
    assert clash.returncode == 1 and "already a class named 'walnut'" in clash.stderr
    assert cli("class", root, "hazelnut", "--kind", "metal").returncode == 1


def test_deleting_a_class_needs_force_when_it_holds_images_and_leaves_the_rest(tiny_ws):
    root = tiny_ws.root
    other = tiny_ws.add_class("walnut")
    tiny_ws.add_image(other, np.full((16, 16, 3), 90, np.uint8))
    item = tiny_ws.catalog.items(tiny_ws.get_class("hazelnut").id)[0]
    tiny_ws.add_mask(item, np.full((item.height, item.width), 255, np.uint8), kind="object", source="drawn")
    files = [tiny_ws.path(i.file) for i in tiny_ws.catalog.items(tiny_ws.get_class("hazelnut").id)]
    refused = cli("class", root, "hazelnut", "--delete")
    assert refused.returncode == 1 and "holds 3 images" in refused.stderr and all(f.exists() for f in files)
    done = cli("class", root, "hazelnut", "--delete", "--force")
    assert done.returncode == 0 and "4 files removed" in done.stdout
    ws = Workspace.open(root)
    assert [c.name for c in ws.catalog.classes()] == ["walnut"] and not any(f.exists() for f in files)
    assert not (root / "classes" / "hazelnut").exists()
    assert all(ws.path(i.file).is_file() for i in ws.catalog.items())
    empty = ws.add_class("mistake")
    assert cli("class", root, "mistake", "--delete").returncode == 0 and ws.catalog.find_class("mistake") is None
    assert empty.id not in {c.id for c in ws.catalog.classes()}


def test_review_accepts_rejects_and_regenerates_one_anomaly(reviewed_ws):
    root = reviewed_ws.root
    first, second, third = [i.id for i in reviewed_ws.catalog.items(role="anomaly", statuses=("pending",))
                            if i.origin.startswith("inpaint")][:3]
    result = cli("review", root, "--accept", first, "--reject", second, "--regenerate", third, "--user", "cy")
    assert result.returncode == 0, result.stderr
    assert "1 anomaly(ies) accepted" in result.stdout and f"anomaly {third}: regenerated" in result.stdout
    status = lambda i: reviewed_ws.catalog.item(i).status  # noqa: E731
    assert (status(first), status(second), status(third)) == ("accepted", "rejected", "rejected")
    assert "regenerated anomaly" in cli("undo", root, "hazelnut", "--user", "cy").stdout
    assert status(third) == "pending"
