import sqlite3
import threading

import numpy as np
import pytest

from dsaii_core.catalog import SCHEMA_VERSION, Catalog
from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace


def test_new_catalog_is_at_current_schema_in_wal_mode(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    assert catalog.schema_version() == SCHEMA_VERSION
    assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_upgrade_an_older_database(tmp_path, monkeypatch):
    from dsaii_core.catalog import schema as module
    path = tmp_path / "c.sqlite"
    Catalog(path).close()
    extra = "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"
    monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS + [extra])
    monkeypatch.setattr(module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    upgraded = Catalog(path)
    assert upgraded.schema_version() == SCHEMA_VERSION + 1
    upgraded.db.execute("INSERT INTO notes (text) VALUES ('ok')")


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "c.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(DsaiiError, match="newer DSAII Studio"):
        Catalog(path)


def test_status_decisions_are_logged_and_undone_in_order(tiny_ws):
    items = tiny_ws.catalog.items(role="normal")
    tiny_ws.catalog.set_status([items[0].id], "dropped", user="ana")
    tiny_ws.catalog.set_status([items[1].id], "dropped", user="ben")
    assert [d.user for d in tiny_ws.catalog.history()] == ["ben", "ana"]
    undone = tiny_ws.catalog.undo()
    assert [d.target_id for d in undone.decisions] == [items[1].id]
    assert (undone.action.kind, undone.action.label, undone.action.user) == ("curate", "dropped 1 image", "ben")
    assert tiny_ws.catalog.item(items[1].id).status == "kept"
    assert tiny_ws.catalog.item(items[0].id).status == "dropped"
    tiny_ws.catalog.undo()
    assert tiny_ws.catalog.undo() is None
    assert tiny_ws.catalog.item(items[0].id).status == "kept"


def test_undo_reverts_only_the_users_own_decisions_that_still_stand(tiny_ws):
    catalog, cls = tiny_ws.catalog, tiny_ws.get_class("hazelnut")
    a, b, c = [i.id for i in catalog.items(role="normal")]
    catalog.set_status([a], "dropped", user="ana")
    catalog.set_status_batch({"dropped": [b, c]}, "ana")
    catalog.set_status([c], "kept", user="ben")         # Ben overrules one image of Ana's bulk decision
    catalog.set_status([a], "candidate", user="ben")
    undone = catalog.undo(cls.id, "ana", kinds=("curate",))
    assert [d.target_id for d in undone.decisions] == [b] and undone.passed_over == 1  # not c: Ben's stands
    assert "1 change(s) overruled since" in undone.describe()
    assert [catalog.item(i).status for i in (a, b, c)] == ["candidate", "kept", "kept"]
    assert catalog.undo(cls.id, "ana") is None           # her first decision on `a` was overruled too
    assert catalog.undo(cls.id).action.user == "ben"     # anyone's: Ben's last one
    assert catalog.item(a).status == "dropped"


def test_a_page_s_undo_reverts_only_the_kinds_of_change_that_page_shows(reviewed_ws):
    """Keep an image in Curate, accept an anomaly in Review, press Undo in Curate: the curation goes back."""
    ws = reviewed_ws
    cls = ws.get_class("hazelnut")
    normal = ws.catalog.items(cls.id, "normal")[0]
    anomaly = next(i for i in ws.catalog.items(cls.id, "anomaly", ("pending",)) if i.origin.startswith("inpaint"))
    ws.catalog.set_status([normal.id], "dropped", user="ana")
    ws.add_mask(normal, np.full((normal.height, normal.width), 255, np.uint8), kind="object", source="drawn",
                user="ana")
    ws.catalog.set_status([anomaly.id], "accepted", user="ana")
    undone = ws.catalog.undo(cls.id, "ana", kinds=("curate",))
    assert undone.action.label == "dropped 1 image" and ws.catalog.item(normal.id).status == "kept"
    assert ws.catalog.item(anomaly.id).status == "accepted"           # Review's decision stands
    assert ws.object_mask(normal) is not None                          # and the object mask too
    assert ws.catalog.undo(cls.id, "ana", kinds=("anomaly_mask",)) is None  # not the object mask either
    assert ws.catalog.undo(cls.id, "ana", kinds=("object_mask",)).action.kind == "object_mask"
    assert ws.catalog.undo(cls.id, "ana", kinds=("review",)).action.label == "accepted 1 anomaly"
    assert ws.catalog.item(anomaly.id).status == "pending"


def test_one_anomaly_mask_has_at_most_one_accepted_anomaly(reviewed_ws):
    ws = reviewed_ws
    first = next(i for i in ws.catalog.items(role="anomaly") if i.origin.startswith("inpaint"))
    twin = ws.add_image(ws.catalog.class_by_id(first.class_id), ws.read_image(first)[::-1].copy(), role="anomaly",
                        origin=first.origin, parent_id=first.parent_id).item
    ws.catalog.set_item_fields(twin.id, mask_id=first.mask_id)
    ws.catalog.set_status([first.id], "accepted", user="ana")
    ws.catalog.set_status([twin.id], "accepted", user="ana")
    assert (ws.catalog.item(first.id).status, ws.catalog.item(twin.id).status) == ("rejected", "accepted")
    undone = ws.catalog.undo(user="ana")
    assert len(undone.decisions) == 2  # the rival's rejection was part of the same action
    assert (ws.catalog.item(first.id).status, ws.catalog.item(twin.id).status) == ("accepted", "pending")


def test_migration_turns_batches_of_an_older_catalog_into_actions(tmp_path, monkeypatch):
    from dsaii_core.catalog import schema as module
    path = tmp_path / "c.sqlite"
    monkeypatch.setattr(module, "SCHEMA_VERSION", 4)
    old = Catalog(path)
    cls_id = old.db.execute("INSERT INTO classes (name, dirname, created) VALUES ('nut', 'nut', 0)").lastrowid
    for n in range(3):
        old.db.execute("INSERT INTO items (class_id, role, file, sha256, width, height, status, origin, created,"
                       " updated) VALUES (?, 'normal', ?, 'x', 1, 1, 'dropped', 'import', 0, 0)", (cls_id, f"{n}.png"))
    for item_id, batch in ((1, None), (2, 7), (3, 7)):
        old.db.execute("INSERT INTO decisions (class_id, target, target_id, action, old, new, user, at, batch)"
                       " VALUES (?, 'item', ?, 'status', 'kept', 'dropped', 'ana', 1, ?)", (cls_id, item_id, batch))
    old.close()
    monkeypatch.setattr(module, "SCHEMA_VERSION", len(module.MIGRATIONS))
    catalog = Catalog(path)
    assert [(a.kind, a.user) for a in catalog.actions()] == [("curate", "ana")] * 2
    assert len(catalog.undo(cls_id).decisions) == 2  # the old batch is one action
    assert [catalog.item(i).status for i in (1, 2, 3)] == ["dropped", "kept", "kept"]


def test_status_must_fit_the_role(tiny_ws):
    item = tiny_ws.catalog.items()[0]
    with pytest.raises(DsaiiError, match="not a status of a normal item"):
        tiny_ws.catalog.set_status([item.id], "accepted")


def test_replacing_an_object_mask_can_be_undone(tiny_ws):
    item = tiny_ws.catalog.items()[0]
    full = np.full((item.height, item.width), 255, np.uint8)
    first = tiny_ws.add_mask(item, full, kind="object", source="grabcut")
    second = tiny_ws.add_mask(item, np.zeros_like(full), kind="object", source="drawn")
    assert tiny_ws.object_mask(item).id == second.id
    tiny_ws.catalog.undo()
    assert tiny_ws.object_mask(item).id == first.id
    assert np.array_equal(tiny_ws.read_mask(tiny_ws.object_mask(item)), full)


def test_undo_passes_over_a_mask_or_class_change_a_colleague_has_overruled(tiny_ws):
    item, cls = tiny_ws.catalog.items()[0], tiny_ws.get_class("hazelnut")
    full = np.full((item.height, item.width), 255, np.uint8)
    first = tiny_ws.add_mask(item, full, kind="object", source="grabcut")
    tiny_ws.add_mask(item, np.zeros_like(full), kind="object", source="drawn", replaces=first.id, user="ana")
    tiny_ws.catalog.update_class(cls, user="ana", kind="texture")
    anas = tiny_ws.object_mask(item)
    bens = tiny_ws.add_mask(item, full, kind="object", source="drawn", replaces=anas.id, user="ben")
    tiny_ws.catalog.update_class(tiny_ws.get_class("hazelnut"), user="ben", kind="object")
    assert tiny_ws.catalog.undo(cls.id, "ana") is None  # both of Ana's changes were overruled by Ben
    assert [m.id for m in tiny_ws.catalog.masks(item_id=item.id, kind="object")] == [bens.id]
    assert tiny_ws.catalog.undo(cls.id, "ben").decisions[0].target == "class"
    assert tiny_ws.get_class("hazelnut").is_texture
    assert tiny_ws.catalog.undo(cls.id, "ana").decisions[0].new == "texture"  # in place again: hers to undo
    assert not tiny_ws.get_class("hazelnut").is_texture
    assert tiny_ws.catalog.undo(cls.id, "ben").decisions[0].new == str(bens.id)
    assert [m.id for m in tiny_ws.catalog.masks(item_id=item.id, kind="object")] == [tiny_ws.object_mask(item).id]


def test_class_kind_change_can_be_undone(tiny_ws):
    cls = tiny_ws.get_class("hazelnut")
    tiny_ws.catalog.update_class(cls, kind="texture")
    assert tiny_ws.get_class("hazelnut").is_texture
    tiny_ws.catalog.undo()
    assert not tiny_ws.get_class("hazelnut").is_texture


def test_concurrent_writers_lose_no_decision(tiny_ws):
    ids = [i.id for i in tiny_ws.catalog.items()]
    other = Workspace.open(tiny_ws.root)

    changed = {"a": 0, "b": 0}

    def flip(ws, user):
        for _ in range(20):
            for item_id in ids:
                changed[user] += ws.catalog.set_status([item_id], "dropped", user=user)
                changed[user] += ws.catalog.set_status([item_id], "kept", user=user)

    threads = [threading.Thread(target=flip, args=(ws, u)) for ws, u in ((tiny_ws, "a"), (other, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = tiny_ws.catalog.db.execute("SELECT user, COUNT(*) FROM decisions GROUP BY user").fetchall()
    assert {r[0]: r[1] for r in rows} == changed
    # Every item ends in the state its last logged decision says.
    for item_id in ids:
        last = tiny_ws.catalog.db.execute("SELECT new FROM decisions WHERE target_id = ? ORDER BY id DESC LIMIT 1",
                                          (item_id,)).fetchone()[0]
        assert tiny_ws.catalog.item(item_id).status == last == "kept"
