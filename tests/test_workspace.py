import os
import time

import numpy as np
import pytest

from dsaii_core.errors import DsaiiError
from dsaii_core.workspace import Workspace, safe_dirname


@pytest.mark.parametrize("name", ["../x", "/etc", "a/b", "..", "CON", "con.txt", "", " . ", "x" * 300,
                                  "ñandú 🥜", "a\\b", "\x00evil", "LPT1"])
def test_class_folders_never_escape_the_workspace(tmp_path, name):
    ws = Workspace.create(tmp_path / "ws")
    try:
        cls = ws.add_class(name)
    except DsaiiError as exc:
        assert "empty" in str(exc)
        return
    folder = ws.path(ws.class_folder(cls, "normal"))
    assert folder.is_relative_to(ws.root / "classes")
    assert "/" not in cls.dirname and "\\" not in cls.dirname and len(cls.dirname) <= 64
    assert cls.dirname.split(".")[0].upper() not in {"CON", "LPT1"}
    ws.add_image(cls, np.zeros((4, 4, 3), np.uint8))
    assert any(folder.iterdir())


def test_unicode_names_are_kept_for_display():
    assert safe_dirname("ñandú 🥜") == "ñandú _"


def test_similar_names_get_distinct_folders(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    a, b = ws.add_class("a/b"), ws.add_class("a:b")
    assert a.dirname != b.dirname


def test_same_image_twice_is_skipped(tiny_ws):
    cls = tiny_ws.get_class("hazelnut")
    image = tiny_ws.read_image(tiny_ws.catalog.items()[0])
    assert tiny_ws.add_image(cls, image).skipped == "already in the class"


def test_files_get_the_users_usual_mode_so_colleagues_can_read_a_shared_workspace(tiny_ws):
    umask = os.umask(0o022)
    os.umask(umask)
    item = tiny_ws.catalog.items()[0]
    mask = tiny_ws.add_mask(item, np.zeros((item.height, item.width), np.uint8), kind="object", source="drawn")
    for path in (tiny_ws.path(item.file), tiny_ws.path(mask.file)):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_open_refuses_a_folder_that_is_no_workspace(tmp_path):
    with pytest.raises(DsaiiError, match="not a DSAII workspace"):
        Workspace.open(tmp_path)


def test_paths_outside_the_workspace_are_refused(tiny_ws):
    with pytest.raises(DsaiiError, match="outside the workspace"):
        tiny_ws.path("../../etc/passwd")


def test_repair_removes_crash_leftovers_but_keeps_catalogued_files(tiny_ws):
    folder = tiny_ws.path("classes/hazelnut/normal")
    orphan, temp = folder / "099.png", folder / ".tmp-abc.png"
    orphan.write_bytes(b"half")
    temp.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(orphan, (old, old))
    assert tiny_ws.repair() == 2
    assert not orphan.exists() and not temp.exists()
    assert len(list(folder.iterdir())) == 3


def test_repair_removes_the_staged_images_of_jobs_that_ended_but_not_of_a_live_one(tiny_ws):
    from dsaii_core.jobs import create_job, request_cancel
    image = np.zeros((8, 8, 3), np.uint8)
    ended, live = (create_job(tiny_ws.catalog, "inpaint", ["1"], {}) for _ in range(2))
    request_cancel(tiny_ws.catalog, ended.id)
    for job in (ended, live):
        tiny_ws.stage_image(image, job.id, "1-7")
    tiny_ws.stage_image(image, 999, "1-7")  # a job that no longer exists
    assert tiny_ws.repair() == 2
    assert sorted(p.name for p in (tiny_ws.root / "staging").iterdir()) == [f"job{live.id}"]


def test_concurrent_adds_never_share_a_file_name(tiny_ws):
    import threading
    cls = tiny_ws.get_class("hazelnut")
    other = Workspace.open(tiny_ws.root)
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for _ in range(40)]

    def add(ws, chunk):
        for image in chunk:
            ws.add_image(cls, image)

    threads = [threading.Thread(target=add, args=(ws, images[i::2])) for i, ws in enumerate((tiny_ws, other))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    items = tiny_ws.catalog.items(cls.id)
    assert len(items) == 43 == len({i.file for i in items})
    stored = {tiny_ws.read_image(i).tobytes() for i in items[3:]}
    assert stored == {image.tobytes() for image in images}
