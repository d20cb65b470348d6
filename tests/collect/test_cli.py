import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from dsaii_core import imageio
from dsaii_core.cli import main
from dsaii_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
GOOD = [f"/img/{n}.png" for n in ("coffee", "chelsea", "rocket", "astronaut", "camera", "brick", "grass", "gravel",
                                  "coins")]


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dsaii_core", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_crawl_command_adds_candidates_and_lists_errors(web, tmp_path, capsys):
    web.use_results(GOOD[:3] + ["/html-as.png", "/mirror/coffee-copy.png"])
    reference = tmp_path / "ref.png"
    imageio.write_png(reference, web.images["coffee"])
    try:
        main(["crawl", str(tmp_path / "ws"), "--class", "cups", "--reference", str(reference), "--query", "cup",
              "--engine", "openverse", "--base-url", web.url(""), "--allow-private", "--max", "10", "--json"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert len(out["added"]) == 3 and "3 added" in out["summary"]
    states = {o["url"]: o["state"] for o in out["outcomes"]}
    assert states[web.url("/html-as.png")] == "rejected" and states[web.url("/mirror/coffee-copy.png")] == "duplicate"


def exit_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return exc.code or 0
    return 0


def test_crawl_command_needs_one_of_reference_or_query_and_permission_for_loopback(web, tmp_path, capsys):
    assert exit_code(["crawl", str(tmp_path / "ws"), "--class", "x"]) == 1
    assert "give --reference IMG or --query TEXT" in capsys.readouterr().err
    web.use_results(GOOD[:1])
    assert exit_code(["crawl", str(tmp_path / "ws"), "--class", "x", "--query", "q", "--base-url", web.url("")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused loopback address" in err


def test_a_killed_crawl_resumes_where_it_stopped(web, tmp_path):
    web.use_results(GOOD)
    ws_root = tmp_path / "ws"
    args = ("crawl", str(ws_root), "--class", "things", "--query", "q", "--base-url", web.url(""),
            "--allow-private", "--max", "20")
    process = cli(*args)
    deadline = time.time() + 60
    added = 0
    while time.time() < deadline and added < 2:  # the per-host rate limit spaces downloads by 0.25 s
        time.sleep(0.05)
        if (ws_root / "dsaii.sqlite").exists():
            try:
                with sqlite3.connect(ws_root / "dsaii.sqlite") as db:
                    added = db.execute("SELECT COUNT(*) FROM crawl_urls WHERE state = 'added'").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    first = Workspace.open(ws_root)
    done = {row.url for row in first.catalog.crawl_urls(first.get_class("things").id)}
    assert 2 <= len(done) < len(GOOD)
    first.catalog.close()
    before = len(web.requests)
    rerun = cli(*args)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    refetched = {web.url(path) for path, _ in web.requests[before:]} & done
    assert not refetched
    ws = Workspace.open(ws_root)
    items = ws.catalog.items(ws.get_class("things").id)
    assert len(items) == len(GOOD) and len({i.sha256 for i in items}) == len(GOOD)
    assert all(ws.catalog.provenance(i.id).source_url for i in items)
