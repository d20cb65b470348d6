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
    from dsaii_core import catalog as module
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
    assert [d["user"] for d in tiny_ws.catalog.history()] == ["ben", "ana"]
    [undone] = tiny_ws.catalog.undo()
    assert undone["target_id"] == items[1].id
    assert tiny_ws.catalog.item(items[1].id).status == "kept"
    assert tiny_ws.catalog.item(items[0].id).status == "dropped"
    tiny_ws.catalog.undo()
    assert tiny_ws.catalog.undo() == []
    assert tiny_ws.catalog.item(items[0].id).status == "kept"


def test_undo_batch_reverts_only_the_users_own_decisions_that_still_stand(tiny_ws):
    catalog, cls = tiny_ws.catalog, tiny_ws.get_class("hazelnut")
    a, b, c = [i.id for i in catalog.items(role="normal")]
    catalog.set_status([a], "dropped", user="ana")
    catalog.set_status_batch({"dropped": [b, c]}, "ana")
    catalog.set_status([c], "kept", user="ben")         # Ben overrules one image of Ana's bulk decision
    catalog.set_status([a], "candidate", user="ben")
    assert [d["target_id"] for d in catalog.undo_batch(cls.id, "ana")] == [b]  # not c: Ben's "kept" stands
    assert [catalog.item(i).status for i in (a, b, c)] == ["candidate", "kept", "kept"]
    assert catalog.undo_batch(cls.id, "ana") == []      # her first decision on `a` was overruled too
    assert [d["user"] for d in catalog.undo_batch(cls.id)] == ["ben"]  # anyone's: Ben's last one
    assert catalog.item(a).status == "dropped"


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
    assert tiny_ws.catalog.undo(cls.id, "ana") == []  # both of Ana's changes were overruled by Ben
    assert [m.id for m in tiny_ws.catalog.masks(item_id=item.id, kind="object")] == [bens.id]
    assert tiny_ws.catalog.undo(cls.id, "ben")[0]["target"] == "class"
    assert tiny_ws.get_class("hazelnut").is_texture
    assert tiny_ws.catalog.undo(cls.id, "ana")[0]["new"] == "texture"  # in place again, so hers to undo
    assert not tiny_ws.get_class("hazelnut").is_texture
    assert tiny_ws.catalog.undo(cls.id, "ben")[0]["new"] == str(bens.id)
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
