"""Two people on one workspace at once: both review, one draws masks while the other reviews, both save masks.

Two headless Chromium sessions ('alice' and 'bob') drive one app on one workspace, clicking at the same
moment where it matters. Afterwards every click is a row in `decisions` (with its reviewer), each
tile's decisions chain from 'pending' to its final status, every mask row matches its file, and SQLite
finds the catalog intact.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dsaii_core.inpaint.generate import start_inpaint_job
from dsaii_core.inpaint.review import SYNTHETIC
from dsaii_core.jobs import run_job
from scripts.browser import chromium
from tests.e2e.conftest import UI
from tests.fixtures.masked_ws import build_masked_ws


@pytest.fixture
def second_ui():
    """A second, independent browser (own profile, own cookies): another person's session."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    driver = chromium(Path(profile))
    yield UI(driver)
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def together(*steps) -> None:
    """Run each session's steps in its own thread at the same time; re-raise the first failure."""
    with ThreadPoolExecutor(len(steps)) as pool:
        for future in [pool.submit(step) for step in steps]:
            future.result()


def review_page(ui: UI, url: str, reviewer: str) -> None:
    ui.open(url + "/review")
    ui.fill(".st-key-reviewer_field input", reviewer)
    ui.select("review_status", "all")  # decided tiles stay in the grid, so anyone can change them
    ui.wait_idle()


def test_two_sessions_review_and_edit_masks_without_losing_anything(app_server, ui, second_ui, tmp_path):
    try:
        two_sessions(app_server, ui, second_ui, tmp_path)
    except Exception:
        ui.screenshot("concurrency-failed-alice")  # where each session stood, for the person reading the failure
        second_ui.screenshot("concurrency-failed-bob")
        raise


def two_sessions(app_server, ui: UI, second_ui: UI, tmp_path: Path) -> None:
    ws = build_masked_ws(tmp_path / "ws", normals=6, size=128)
    run_job(ws, start_inpaint_job(ws, ws.classes(), "classical", seed=1).id)
    tiles = [i.id for i in ws.catalog.items(role="anomaly") if i.origin.startswith(SYNTHETIC)]
    assert len(tiles) == 6
    t1, t2, t3, t4, t5, t6 = tiles
    status = lambda item_id: ws.catalog.item(item_id).status  # noqa: E731
    url = app_server(ws.root)
    alice, bob = ui, second_ui
    clicks: list[tuple[int, str, str]] = []   # (tile, new status, reviewer): what each person clicked

    def decide(who: UI, name: str, tile: int, decision: str, barrier: threading.Barrier | None = None) -> None:
        """Click Accept / Reject on a tile, as a person would: then wait until the page has answered."""
        button = f".st-key-{'accept' if decision == 'accepted' else 'reject'}_{tile} button"
        who.wait_for(button)
        if barrier is not None:
            barrier.wait(timeout=60)
        who.click(button)
        clicks.append((tile, decision, name))
        who.wait_until(lambda: any(d.target_id == tile and d.new == decision and d.user == name
                                   for d in ws.catalog.history(limit=500)), 60)
        who.wait_idle()

    together(lambda: review_page(alice, url, "alice"), lambda: review_page(bob, url, "bob"))

    # 1. Both review different tiles at the same time.
    together(lambda: (decide(alice, "alice", t1, "accepted"), decide(alice, "alice", t2, "accepted")),
             lambda: (decide(bob, "bob", t3, "rejected"), decide(bob, "bob", t4, "rejected")))
    assert [status(t) for t in (t1, t2, t3, t4)] == ["accepted", "accepted", "rejected", "rejected"]

    # 2. Both decide the same tile at the same moment, differently: both decisions are kept, in some order.
    race = threading.Barrier(2)
    together(lambda: decide(alice, "alice", t5, "accepted", race), lambda: decide(bob, "bob", t5, "rejected", race))

    # 3. Alice draws anomaly masks while Bob keeps reviewing (and overrules one of Alice's decisions).
    normals = ws.catalog.items(role="normal", statuses=("kept",))
    masks_before = {m.id for m in ws.catalog.masks(kind="anomaly", active_only=False)}

    def alice_draws() -> None:
        alice.go("anomaly_masks", "Anomaly masks")
        alice.choose("am_view", "Draw")
        editor = alice.editor()
        for y in (40, 90):  # two strokes in the mask editor, each saved with Enter
            editor.show()
            editor.wait(lambda s: s["dirty"] == "false")
            saved = len(ws.catalog.masks(kind="anomaly", active_only=False))
            editor.drag([editor.client(30, y), editor.client(90, y)])
            editor.wait(lambda s: s["dirty"] == "true")
            editor.keys("\ue007")
            alice.wait_until(lambda: len(ws.catalog.masks(kind="anomaly", active_only=False)) == saved + 1, 60)
            alice.wait_idle()

    together(alice_draws, lambda: (decide(bob, "bob", t6, "accepted"), decide(bob, "bob", t1, "rejected"),
                                   decide(bob, "bob", t3, "accepted")))
    drawn = [m for m in ws.catalog.masks(kind="anomaly", active_only=False) if m.id not in masks_before]
    assert len(drawn) == 2 and all(m.source == "drawn" and m.item_id == normals[0].id for m in drawn)
    assert drawn[1].replaces == drawn[0].id  # the second drawing edits the saved one (the page selects it)

    # 4. Both save masks at the same moment: Alice an anomaly mask, Bob an object mask.
    target = normals[1]
    together(lambda: (alice.select("am_draw_item", Path(target.file).name), alice.wait_idle()),
             lambda: (bob.go("object_masks", "Object masks"), bob.click(f".st-key-om_open_{target.id} button"),
                      bob.wait_idle()))
    race = threading.Barrier(2)

    def draw_then_save(who: UI, saved) -> None:
        """A stroke in the page's mask editor; Enter at the same moment as the other person; wait for the row."""
        editor = who.editor()
        editor.show()
        editor.drag([editor.client(30, 64), editor.client(90, 64)])
        editor.wait(lambda s: s["dirty"] == "true")
        race.wait(timeout=60)
        editor.keys("\ue007")
        who.wait_until(saved, 60)

    alice.editor().wait(lambda s: s["revision"] == "new")  # the editor of the image Alice just chose is up
    together(lambda: draw_then_save(alice, lambda: len(ws.catalog.masks(item_id=target.id, kind="anomaly")) == 2),
             lambda: draw_then_save(bob, lambda: ws.object_mask(target) is not None))
    assert ws.object_mask(target).source == "editor"
    alice.screenshot("concurrency-alice")

    # 5. A job inpaints Alice's two new masks (and the pairs whose result was rejected) while Bob sits on
    # Review: the results reach his grid without a click, and he accepts one.
    job = start_inpaint_job(ws, ws.classes(), "classical", seed=3)
    assert job.total == 2 + sum(status(t) == "rejected" for t in tiles)  # a rejected result's pair waits again
    bob.go("review", "Review")
    bob.wait_text("inpaint job(s) running")
    run_job(ws, job.id)  # the job's worker: here, so it runs only once Bob's page is watching
    fresh = [i.id for i in ws.catalog.items(role="anomaly") if i.origin.startswith(SYNTHETIC) and i.id not in tiles]
    assert len(fresh) == job.total
    for tile in fresh:
        bob.wait_text(f"#{tile}", timeout=30)
    decide(bob, "bob", fresh[0], "accepted")
    bob.screenshot("concurrency-bob")

    # Every click is one decision, with its reviewer; each tile's decisions chain to its final status.
    logged = [d for d in reversed(ws.catalog.history(limit=10_000)) if d.target == "item"]
    assert sorted((d.target_id, d.new, d.user) for d in logged) == sorted(clicks)
    assert len(clicks) == 10
    for tile in tiles:
        chain = [d for d in logged if d.target_id == tile]
        assert chain[0].old == "pending"
        assert all(a.new == b.old for a, b in zip(chain, chain[1:])), chain
        assert status(tile) == chain[-1].new
    assert [status(t) for t in (t1, t2, t3, t4, t6)] == ["rejected", "accepted", "accepted", "rejected", "accepted"]
    assert {d.user for d in logged if d.target_id == t5} == {"alice", "bob"}

    # Every mask row, active or replaced, has its file, of its image's size, with the area it records.
    for mask in ws.catalog.masks(active_only=False):
        item = ws.catalog.item(mask.item_id)
        pixels = ws.read_mask(mask)
        assert pixels.shape == (item.height, item.width) and set(pixels.flat) <= {0, 255}
        assert math.isclose(mask.area, (pixels > 0).mean(), abs_tol=1e-6), mask
    mask_log = {d.target_id for d in ws.catalog.history(limit=10_000) if d.target == "mask"}
    assert {m.id for m in drawn} | {ws.object_mask(target).id} <= mask_log
    assert ws.catalog.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ws.catalog.db.execute("PRAGMA foreign_key_check").fetchall() == []
