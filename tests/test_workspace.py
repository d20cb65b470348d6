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


def age(path, seconds=3600):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_repair_removes_crash_leftovers_but_keeps_catalogued_files(tiny_ws):
    folder = tiny_ws.path("classes/hazelnut/normal")
    orphan, temp = folder / "099.png", folder / ".tmp-abc.png"
    orphan.write_bytes(b"half")
    temp.write_bytes(b"half")
    age(orphan)
    age(temp)
    assert tiny_ws.repair() == 2
    assert not orphan.exists() and not temp.exists()
    assert len(list(folder.iterdir())) == 3


def test_repair_leaves_fresh_temp_files_and_files_not_of_our_naming(tiny_ws):
    folder = tiny_ws.path("classes/hazelnut/normal")
    fresh = folder / ".tmp-inflight.png"          # another process's write, about to be renamed
    users = [folder / "holiday.png", folder / "IMG_0001.PNG", tiny_ws.root / "mask_bank" / "notes" / "defect.png"]
    fresh.write_bytes(b"half")
    for path in users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"mine")
        age(path)
    assert tiny_ws.repair() == 0
    assert fresh.exists() and all(p.exists() for p in users)


@pytest.mark.parametrize("layout", ["classes", "mask_bank", "both"])
def test_a_workspace_is_never_created_over_a_user_s_folder(tmp_path, layout):
    """`init` on a folder of one's own photos used to adopt it, and the next command deleted them."""
    photos = tmp_path / "photos"
    for sub in {"classes": ["classes/nut"], "mask_bank": ["mask_bank/x"], "both": ["classes/a", "mask_bank/b"]}[layout]:
        (photos / sub).mkdir(parents=True)
        (photos / sub / "000.png").write_bytes(b"a user's photo")
        age(photos / sub / "000.png")
    with pytest.raises(DsaiiError, match="not empty"):
        Workspace.create(photos)
    with pytest.raises(DsaiiError, match="not a DSAII workspace"):
        Workspace.open(photos)
    with pytest.raises(DsaiiError, match="not empty"):
        Workspace.open_or_create(photos)  # what the sidebar's Folder field does
    assert sorted(p.read_bytes() for p in photos.rglob("*.png")) == [b"a user's photo"] * len(list(photos.rglob("*.png")))
    assert not (photos / "dsaii.sqlite").exists()


def test_an_unmarked_folder_with_a_catalog_is_opened_but_never_repaired(tmp_path):
    """A catalog someone put into a folder of photos (an older version's `init`) must not delete them."""
    from dsaii_core.catalog import Catalog
    root = tmp_path / "old"
    (root / "classes" / "nut" / "normal").mkdir(parents=True)
    photo = root / "classes" / "nut" / "normal" / "001.png"
    photo.write_bytes(b"a user's photo")
    age(photo)
    Catalog(root / "dsaii.sqlite").close()
    ws = Workspace.open(root)
    assert not ws.is_marked and ws.repair(grace_s=0) == 0 and photo.exists()
    with pytest.raises(DsaiiError, match="already a DSAII workspace"):
        Workspace.create(root)


def test_create_makes_a_marked_workspace_in_a_new_or_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "new", tmp_path / "empty"):
        assert Workspace.create(root).is_marked


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


def test_cli_init_refuses_a_non_empty_folder_and_repair_adopts_an_older_workspace(tmp_path):
    from tests.test_cli import cli
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.png").write_bytes(b"x")
    result = cli("init", tmp_path / "photos")
    assert result.returncode == 1 and "not empty" in result.stderr and "Traceback" not in result.stderr
    from dsaii_core.catalog import Catalog
    Catalog(tmp_path / "photos" / "dsaii.sqlite").close()   # as an older version's `init` left it
    refused = cli("repair", tmp_path / "photos")
    assert refused.returncode == 1 and "--adopt" in refused.stderr
    assert cli("repair", tmp_path / "photos", "--adopt").returncode == 0
    assert Workspace.open(tmp_path / "photos").is_marked and (tmp_path / "photos" / "a.png").exists()
