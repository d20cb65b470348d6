"""The workspace's SQLite catalog: the one source of truth for classes, items, masks,
provenance, decisions (with undo), jobs and benchmark runs.

WAL mode and a busy timeout let several app sessions and a job worker share one workspace;
every write is a short `BEGIN IMMEDIATE` transaction. Files are written before the row that
names them and deleted after it, so a crash leaves at most an orphan file (see Workspace.repair).
"""

from __future__ import annotations

import getpass
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from dsaii_core.errors import DsaiiError

# Each entry upgrades the schema by one version; never edit a released entry, append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE classes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        dirname TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL DEFAULT 'object' CHECK (kind IN ('object', 'texture')),
        prompt TEXT,
        negative_prompt TEXT,
        settings TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        class_id INTEGER NOT NULL REFERENCES classes(id),
        role TEXT NOT NULL CHECK (role IN ('normal', 'anomaly')),
        file TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        status TEXT NOT NULL,
        parent_id INTEGER REFERENCES items(id),
        mask_id INTEGER REFERENCES masks(id),
        defect TEXT,
        origin TEXT NOT NULL,
        seed INTEGER,
        info TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE INDEX items_class_role ON items(class_id, role, status);
    CREATE INDEX items_sha ON items(class_id, sha256);
    CREATE TABLE masks (
        id INTEGER PRIMARY KEY,
        item_id INTEGER NOT NULL REFERENCES items(id),
        kind TEXT NOT NULL CHECK (kind IN ('object', 'anomaly')),
        file TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        replaces INTEGER REFERENCES masks(id),
        area REAL,
        confidence REAL,
        seed INTEGER,
        params TEXT NOT NULL DEFAULT '{}',
        created REAL NOT NULL
    );
    CREATE INDEX masks_item ON masks(item_id, kind, active);
    CREATE TABLE provenance (
        item_id INTEGER PRIMARY KEY REFERENCES items(id),
        source_url TEXT, page_url TEXT, license TEXT, attribution TEXT,
        engine TEXT, query TEXT, title TEXT, fetched_at REAL
    );
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER REFERENCES classes(id),
        target TEXT NOT NULL CHECK (target IN ('item', 'mask', 'class')),
        target_id INTEGER NOT NULL,
        action TEXT NOT NULL,
        old TEXT,
        new TEXT,
        user TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        undone_at REAL
    );
    CREATE TABLE bank_masks (
        id INTEGER PRIMARY KEY,
        file TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL UNIQUE,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        area REAL NOT NULL,
        source TEXT NOT NULL,
        license TEXT,
        defect TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        class_id INTEGER REFERENCES classes(id),
        params TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'queued',
        total INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        pid INTEGER,
        heartbeat REAL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE job_items (
        job_id INTEGER NOT NULL REFERENCES jobs(id),
        key TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        result TEXT,
        error TEXT,
        PRIMARY KEY (job_id, key)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        detector TEXT NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}',
        maps_dir TEXT,
        created REAL NOT NULL
    );
    CREATE TABLE run_metrics (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        class_name TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, class_name, metric)
    );
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # collect (issue 4): what happened to every crawled URL (resume, errors per URL); bulk decisions undo as one.
    """
    CREATE TABLE crawl_urls (
        class_id INTEGER NOT NULL REFERENCES classes(id),
        url TEXT NOT NULL,
        state TEXT NOT NULL,
        reason TEXT,
        item_id INTEGER REFERENCES items(id),
        engine TEXT,
        at REAL NOT NULL,
        PRIMARY KEY (class_id, url)
    );
    ALTER TABLE decisions ADD COLUMN batch INTEGER;
    """,
    # anomaly masks (issue 6): bank masks are stored cropped; the frame they were cut from (size, offset)
    # keeps the reference augmentation exact (its translate range and centre are relative to that frame).
    """
    ALTER TABLE bank_masks ADD COLUMN frame_width INTEGER;
    ALTER TABLE bank_masks ADD COLUMN frame_height INTEGER;
    ALTER TABLE bank_masks ADD COLUMN frame_left INTEGER;
    ALTER TABLE bank_masks ADD COLUMN frame_top INTEGER;
    """,
    # Ray (issue 10): where a job's worker runs it (this machine, or which Ray cluster), for the pages.
    """
    ALTER TABLE jobs ADD COLUMN runs_on TEXT;
    """,
    # trust the output (issue 14): undo is an action log (each click, bulk action or run is one named entry of
    # one kind: curate, review, object_mask, anomaly_mask, class); imported files keep their original name.
    """
    PRAGMA defer_foreign_keys = ON;
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        class_id INTEGER REFERENCES classes(id),
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        user TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        undone_at REAL
    );
    CREATE INDEX actions_class_kind ON actions(class_id, kind, user);
    ALTER TABLE decisions ADD COLUMN action_id INTEGER REFERENCES actions(id);
    ALTER TABLE decisions ADD COLUMN kind TEXT;
    UPDATE decisions SET kind = CASE
        WHEN target = 'class' THEN 'class'
        WHEN target = 'item' THEN (SELECT CASE role WHEN 'normal' THEN 'curate' ELSE 'review' END
                                   FROM items WHERE items.id = decisions.target_id)
        ELSE (SELECT CASE kind WHEN 'object' THEN 'object_mask' ELSE 'anomaly_mask' END
              FROM masks WHERE masks.id = CAST(COALESCE(decisions.new, decisions.old) AS INTEGER)) END;
    UPDATE decisions SET action_id = (SELECT MIN(e.id) FROM decisions e WHERE e.batch = decisions.batch
                                      AND e.class_id IS decisions.class_id AND e.kind IS decisions.kind)
        WHERE batch IS NOT NULL;
    UPDATE decisions SET action_id = id WHERE action_id IS NULL;
    INSERT INTO actions (id, class_id, kind, label, user, at, undone_at)
        SELECT action_id, class_id, COALESCE(kind, 'class'), 'earlier change', user, MIN(at), MAX(undone_at)
        FROM decisions GROUP BY action_id;
    CREATE INDEX decisions_action ON decisions(action_id);
    CREATE INDEX items_newest ON items(class_id, role, id);
    ALTER TABLE provenance ADD COLUMN original_name TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
JOB_FINAL_STATES = ("done", "failed", "cancelled")  # a job in one of these has no worker left

NORMAL_STATUSES = ("candidate", "kept", "dropped", "deleted")
ANOMALY_STATUSES = ("pending", "accepted", "rejected", "deleted")


@dataclass(frozen=True)
class ImageClass:
    id: int
    name: str
    dirname: str
    kind: str
    prompt: str | None
    negative_prompt: str | None
    settings: dict

    @property
    def is_texture(self) -> bool:
        return self.kind == "texture"


@dataclass(frozen=True)
class Item:
    id: int
    class_id: int
    role: str
    file: str
    sha256: str
    width: int
    height: int
    status: str
    parent_id: int | None
    mask_id: int | None
    defect: str | None
    origin: str
    seed: int | None
    info: dict


@dataclass(frozen=True)
class Mask:
    id: int
    item_id: int
    kind: str
    file: str
    source: str
    active: bool
    replaces: int | None
    area: float | None
    confidence: float | None
    seed: int | None
    params: dict


ACTION_KINDS = ("curate", "review", "object_mask", "anomaly_mask", "class")


@dataclass(frozen=True)
class Action:
    """One entry of the undo log: a click, a bulk action or a generation run, on one class, by one person."""
    id: int
    class_id: int | None
    kind: str      # one of ACTION_KINDS: which page's Undo reverts it
    label: str     # what it did, in words ("kept 3 images", "anomaly mask run (54 masks)")
    user: str
    at: float
    undone_at: float | None


@dataclass(frozen=True)
class Undone:
    """What an undo reverted: the action, and those of its decisions that still stood."""
    action: Action
    decisions: list[dict]
    passed_over: int  # decisions of the action that someone had overruled since: left as they are

    def describe(self) -> str:
        who = f" by {self.action.user}" if self.action.user else ""
        kept = f"; {self.passed_over} change(s) overruled since were left as they are" if self.passed_over else ""
        return f"undid '{self.action.label}'{who}{kept}"


def os_user() -> str:
    """The name a decision carries when nobody gave one: the operating system's user, else no name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _class(row: sqlite3.Row) -> ImageClass:
    return ImageClass(row["id"], row["name"], row["dirname"], row["kind"], row["prompt"],
                      row["negative_prompt"], json.loads(row["settings"]))


def _item(row: sqlite3.Row) -> Item:
    return Item(row["id"], row["class_id"], row["role"], row["file"], row["sha256"], row["width"],
                row["height"], row["status"], row["parent_id"], row["mask_id"], row["defect"],
                row["origin"], row["seed"], json.loads(row["info"]))


def _mask(row: sqlite3.Row) -> Mask:
    return Mask(row["id"], row["item_id"], row["kind"], row["file"], row["source"], bool(row["active"]),
                row["replaces"], row["area"], row["confidence"], row["seed"], json.loads(row["params"]))


def _mask_active(conn: sqlite3.Connection, mask_id: str) -> bool:
    row = conn.execute("SELECT active FROM masks WHERE id = ?", (int(mask_id),)).fetchone()
    return bool(row and row[0])


def _action(row: sqlite3.Row) -> Action:
    return Action(row["id"], row["class_id"], row["kind"], row["label"], row["user"], row["at"], row["undone_at"])


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


_STATUS_VERBS = {"kept": "kept", "dropped": "dropped", "candidate": "reset", "deleted": "deleted",
                 "accepted": "accepted", "rejected": "rejected", "pending": "reset"}
_NOUNS = {"curate": ("image", "images"), "review": ("anomaly", "anomalies"),
          "object_mask": ("object mask", "object masks"), "anomaly_mask": ("anomaly mask", "anomaly masks")}


def _describe(kind: str, decisions: list[sqlite3.Row]) -> str:
    """A label for an action from its decisions, e.g. 'kept 2, dropped 3 images'."""
    if kind == "class":
        return ", ".join(f"class {d['action']}" + (f" {d['old']} → {d['new']}" if d["action"] == "kind" else "")
                         for d in decisions)
    singular, plural = _NOUNS[kind]
    noun = singular if len(decisions) == 1 else plural
    if kind in ("curate", "review"):
        counts: dict[str, int] = {}
        for d in decisions:
            counts[d["new"]] = counts.get(d["new"], 0) + 1
        return f"{', '.join(f'{_STATUS_VERBS.get(status, status)} {n}' for status, n in counts.items())} {noun}"
    if all(d["new"] is None for d in decisions):
        return f"deleted {len(decisions)} {noun}"
    if all(d["old"] is not None for d in decisions):
        return f"replaced {len(decisions)} {noun}"
    return f"made {len(decisions)} {noun}"


def _still_stands(conn: sqlite3.Connection, decision: sqlite3.Row) -> bool:
    """Whether a logged decision's effect is still in place (nobody has changed that thing since)."""
    target, new = decision["target"], decision["new"]
    if target == "item":
        row = conn.execute("SELECT status FROM items WHERE id = ?", (decision["target_id"],)).fetchone()
        return row is not None and row[0] == new
    if target == "class":
        row = conn.execute(f"SELECT {decision['action']} FROM classes WHERE id = ?",
                           (decision["target_id"],)).fetchone()
        return row is not None and (None if row[0] is None else str(row[0])) == new
    # a mask was added (new), replaced (old and new) or deleted (old only)
    return _mask_active(conn, new) if new is not None else not _mask_active(conn, decision["old"])


def _revert(conn: sqlite3.Connection, decision: sqlite3.Row, now: float) -> None:
    target, old, new = decision["target"], decision["old"], decision["new"]
    if target == "item":
        conn.execute("UPDATE items SET status = ?, updated = ? WHERE id = ?", (old, now, decision["target_id"]))
    elif target == "class":
        conn.execute(f"UPDATE classes SET {decision['action']} = ? WHERE id = ?", (old, decision["target_id"]))
    else:
        if new is not None:
            conn.execute("UPDATE masks SET active = 0 WHERE id = ?", (int(new),))
        if old is not None:
            conn.execute("UPDATE masks SET active = 1 WHERE id = ?", (int(old),))


def _reject_rivals(conn: sqlite3.Connection, item_id: int, now: float) -> list[sqlite3.Row]:
    """Reject the other accepted anomalies of `item_id`'s anomaly mask (one mask, one accepted anomaly: a
    regenerated result replaces the old one, never joins it); returns them as they were."""
    rivals = conn.execute("SELECT r.* FROM items r JOIN items i ON i.mask_id = r.mask_id AND i.id != r.id "
                          "WHERE i.id = ? AND i.role = 'anomaly' AND r.status = 'accepted'", (item_id,)).fetchall()
    conn.executemany("UPDATE items SET status = 'rejected', updated = ? WHERE id = ?", [(now, r["id"]) for r in rivals])
    return rivals


class Catalog:
    """Typed access to one workspace database; safe to share between threads."""

    def __init__(self, path: Path, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self.migrate()

    # -- connection and transactions ---------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction; nested use joins the outer one."""
        conn = self.db
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise DsaiiError(f"{self.path}: made by a newer DSAII Studio (schema {version} > {SCHEMA_VERSION})")
        for number in range(version, SCHEMA_VERSION):
            with self.transaction() as conn:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    # -- classes ------------------------------------------------------------------------------
    def classes(self) -> list[ImageClass]:
        return [_class(r) for r in self.db.execute("SELECT * FROM classes ORDER BY name")]

    def find_class(self, name: str) -> ImageClass | None:
        row = self.db.execute("SELECT * FROM classes WHERE name = ?", (name,)).fetchone()
        return _class(row) if row else None

    def class_by_id(self, class_id: int) -> ImageClass:
        return _class(self.db.execute("SELECT * FROM classes WHERE id = ?", (class_id,)).fetchone())

    def delete_class(self, class_id: int) -> list[str]:
        """Remove a class and every row of its images (masks, provenance, crawl records, its undo log); returns
        the workspace-relative files those rows named, for the caller to remove. Jobs and runs keep their rows."""
        with self.transaction() as conn:
            items = "SELECT id FROM items WHERE class_id = ?"
            files = [r[0] for r in conn.execute(f"SELECT file FROM masks WHERE item_id IN ({items}) UNION ALL "
                                                "SELECT file FROM items WHERE class_id = ?", (class_id, class_id))]
            conn.execute("DELETE FROM decisions WHERE class_id = ?", (class_id,))
            conn.execute("DELETE FROM actions WHERE class_id = ?", (class_id,))
            conn.execute("DELETE FROM crawl_urls WHERE class_id = ?", (class_id,))
            conn.execute(f"DELETE FROM provenance WHERE item_id IN ({items})", (class_id,))
            conn.execute("UPDATE items SET mask_id = NULL, parent_id = NULL WHERE class_id = ?", (class_id,))
            conn.execute(f"UPDATE masks SET replaces = NULL WHERE item_id IN ({items})", (class_id,))
            conn.execute(f"DELETE FROM masks WHERE item_id IN ({items})", (class_id,))
            conn.execute("DELETE FROM items WHERE class_id = ?", (class_id,))
            conn.execute("UPDATE jobs SET class_id = NULL WHERE class_id = ?", (class_id,))
            conn.execute("DELETE FROM classes WHERE id = ?", (class_id,))
        return files

    def dirname_taken(self, dirname: str) -> bool:
        """Whether a class folder of this name exists on a case-insensitive disk ("Éclair" is "éclair").

        Compared casefolded in Python: SQLite's lower() folds ASCII letters only.
        """
        folded = dirname.casefold()
        return any(taken.casefold() == folded for (taken,) in self.db.execute("SELECT dirname FROM classes"))

    def insert_class(self, name: str, dirname: str, kind: str) -> ImageClass:
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO classes (name, dirname, kind, created) VALUES (?, ?, ?, ?)",
                               (name, dirname, kind, time.time()))
        return self.class_by_id(cur.lastrowid)

    def update_class(self, cls: ImageClass, user: str = "", **fields: Any) -> ImageClass:
        """Change name / kind / prompt / negative_prompt / settings, logging the change for undo."""
        allowed = {"name", "kind", "prompt", "negative_prompt", "settings"}
        if not set(fields) <= allowed:
            raise ValueError(f"cannot update {set(fields) - allowed}")
        with self._changes() as conn:
            for key, value in fields.items():
                old = getattr(cls, key)
                encode = json.dumps if key == "settings" else (lambda v: v)
                conn.execute(f"UPDATE classes SET {key} = ? WHERE id = ?", (encode(value), cls.id))
                self._log(conn, cls.id, "class", "class", cls.id, key, encode(old), encode(value), user)
        return self.class_by_id(cls.id)

    # -- items --------------------------------------------------------------------------------
    def insert_item(self, *, class_id: int, role: str, file: str, sha256: str, width: int, height: int,
                    status: str, origin: str, parent_id: int | None = None, defect: str | None = None,
                    seed: int | None = None, info: dict | None = None) -> Item:
        now = time.time()
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO items (class_id, role, file, sha256, width, height, status, parent_id, defect,"
                " origin, seed, info, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (class_id, role, file, sha256, width, height, status, parent_id, defect, origin, seed,
                 json.dumps(info or {}), now, now))
        return self.item(cur.lastrowid)

    def item(self, item_id: int) -> Item:
        row = self.db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise DsaiiError(f"no item with id {item_id}")
        return _item(row)

    def items(self, class_id: int | None = None, role: str | None = None,
              statuses: tuple[str, ...] | None = None, parent_id: int | None = None) -> list[Item]:
        """Items filtered by class, role, statuses and parent, in insertion order."""
        where, args = ["1"], []
        for column, value in (("class_id", class_id), ("role", role), ("parent_id", parent_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if statuses is not None:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        rows = self.db.execute(f"SELECT * FROM items WHERE {' AND '.join(where)} ORDER BY id", args)
        return [_item(r) for r in rows]

    def has_sha(self, class_id: int, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM items WHERE class_id = ? AND sha256 = ? AND status != 'deleted'",
                               (class_id, sha256)).fetchone() is not None

    def max_index(self, class_id: int, role: str) -> int:
        """The file number of the class's newest item of a role (-1 when none): numbers only grow, so the next
        one is free. One indexed row, not a scan of the class (imports stay O(1) per image)."""
        row = self.db.execute("SELECT file FROM items WHERE class_id = ? AND role = ? ORDER BY id DESC LIMIT 1",
                              (class_id, role)).fetchone()
        stem = Path(row[0]).stem if row else ""
        return int(stem) if stem.isdigit() else -1

    def set_item_fields(self, item_id: int, **fields: Any) -> Item:
        """Update bookkeeping fields (mask_id, info, seed, defect) with no undo entry."""
        allowed = {"mask_id", "info", "seed", "defect", "sha256", "width", "height"}
        if not set(fields) <= allowed:
            raise ValueError(f"cannot set {set(fields) - allowed}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = [json.dumps(v) if k == "info" else v for k, v in fields.items()]
        with self.transaction() as conn:
            conn.execute(f"UPDATE items SET {sets}, updated = ? WHERE id = ?", (*values, time.time(), item_id))
        return self.item(item_id)

    def set_status(self, item_ids: list[int], status: str, user: str = "") -> int:
        """Set the status of items (one user action, logged for undo); returns how many changed.

        Accepting an anomaly rejects any other accepted anomaly of the same anomaly mask (in the same action).
        """
        changed = 0
        with self._changes() as conn:
            for item_id in item_ids:
                row = conn.execute("SELECT class_id, role, status FROM items WHERE id = ?", (item_id,)).fetchone()
                if row is None:
                    raise DsaiiError(f"no item with id {item_id}")
                allowed = NORMAL_STATUSES if row["role"] == "normal" else ANOMALY_STATUSES
                if status not in allowed:
                    raise DsaiiError(f"'{status}' is not a status of a {row['role']} item")
                if row["status"] == status:
                    continue
                now = time.time()
                conn.execute("UPDATE items SET status = ?, updated = ? WHERE id = ?", (status, now, item_id))
                self._log_status(conn, row, item_id, row["status"], status, user)
                if status == "accepted":
                    for rival in _reject_rivals(conn, item_id, now):
                        self._log_status(conn, rival, rival["id"], "accepted", "rejected", user)
                changed += 1
        return changed

    def record_regeneration(self, item_id: int, replaced_id: int, user: str = "") -> None:
        """Log a regenerated anomaly (new, pending) and reject the one it replaces, as one review action:
        its undo brings the old result back and retires the new one."""
        new, old = self.item(item_id), self.item(replaced_id)
        with self._changes(label=f"regenerated anomaly {Path(old.file).name}") as conn:
            self._log(conn, new.class_id, "review", "item", new.id, "status", "deleted", new.status, user)
            self.set_status([replaced_id], "rejected", user)

    # -- masks --------------------------------------------------------------------------------
    def insert_mask(self, *, item_id: int, kind: str, file: str, source: str, area: float | None = None,
                    confidence: float | None = None, seed: int | None = None, params: dict | None = None,
                    replaces: int | None = None, user: str = "") -> Mask:
        """Add a mask; with `replaces`, the old one is deactivated. Logged for undo."""
        with self._changes() as conn:
            if kind == "object" and replaces is None:
                old = conn.execute("SELECT id FROM masks WHERE item_id = ? AND kind = 'object' AND active = 1",
                                   (item_id,)).fetchone()
                replaces = old["id"] if old else None
            cur = conn.execute(
                "INSERT INTO masks (item_id, kind, file, source, area, confidence, seed, params, replaces, created)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (item_id, kind, file, source, area, confidence, seed, json.dumps(params or {}), replaces, time.time()))
            if replaces is not None:
                conn.execute("UPDATE masks SET active = 0 WHERE id = ?", (replaces,))
            class_id = conn.execute("SELECT class_id FROM items WHERE id = ?", (item_id,)).fetchone()[0]
            self._log(conn, class_id, f"{kind}_mask", "mask", cur.lastrowid, "mask", replaces, cur.lastrowid, user)
        return self.mask(cur.lastrowid)

    def mask(self, mask_id: int) -> Mask:
        row = self.db.execute("SELECT * FROM masks WHERE id = ?", (mask_id,)).fetchone()
        if row is None:
            raise DsaiiError(f"no mask with id {mask_id}")
        return _mask(row)

    def masks(self, item_id: int | None = None, kind: str | None = None, class_id: int | None = None,
              active_only: bool = True) -> list[Mask]:
        where, args = ["1"], []
        if item_id is not None:
            where.append("m.item_id = ?")
            args.append(item_id)
        if kind is not None:
            where.append("m.kind = ?")
            args.append(kind)
        if class_id is not None:
            where.append("i.class_id = ?")
            args.append(class_id)
        if active_only:
            where.append("m.active = 1")
        rows = self.db.execute(f"SELECT m.* FROM masks m JOIN items i ON i.id = m.item_id "
                               f"WHERE {' AND '.join(where)} ORDER BY m.id", args)
        return [_mask(r) for r in rows]

    def delete_mask(self, mask_id: int, user: str = "") -> None:
        """Deactivate a mask (kept on disk so it can be undone)."""
        with self._changes() as conn:
            row = conn.execute("SELECT m.active, m.kind, i.class_id FROM masks m JOIN items i ON i.id = m.item_id "
                               "WHERE m.id = ?", (mask_id,)).fetchone()
            if row is None or not row["active"]:
                return
            conn.execute("UPDATE masks SET active = 0 WHERE id = ?", (mask_id,))
            self._log(conn, row["class_id"], f"{row['kind']}_mask", "mask", mask_id, "mask", mask_id, None, user)

    # -- the action log and undo ------------------------------------------------------------
    @staticmethod
    def _log(conn: sqlite3.Connection, class_id: int | None, kind: str, target: str, target_id: int, action: str,
             old: Any, new: Any, user: str) -> None:
        conn.execute("INSERT INTO decisions (class_id, kind, target, target_id, action, old, new, user, at)"
                     " VALUES (?,?,?,?,?,?,?,?,?)",
                     (class_id, kind, target, target_id, action, None if old is None else str(old),
                      None if new is None else str(new), user, time.time()))

    def _log_status(self, conn: sqlite3.Connection, row: sqlite3.Row, item_id: int, old: str, new: str,
                    user: str) -> None:
        kind = "curate" if row["role"] == "normal" else "review"
        self._log(conn, row["class_id"], kind, "item", item_id, "status", old, new, user)

    @staticmethod
    def _last_decision(conn: sqlite3.Connection) -> int:
        return conn.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0]

    @contextmanager
    def _changes(self, label: str | None = None) -> Iterator[sqlite3.Connection]:
        """A write transaction whose logged decisions become one action per (class, kind, user), named
        `label` or described from its decisions. A nested call joins the outer call's action."""
        with self.transaction() as conn:
            if getattr(self._local, "acting", False):
                yield conn
                return
            first = self._last_decision(conn)
            self._local.acting = True
            try:
                yield conn
            finally:
                self._local.acting = False
            groups: dict[tuple, list[sqlite3.Row]] = {}
            for row in conn.execute("SELECT * FROM decisions WHERE id > ? AND action_id IS NULL ORDER BY id",
                                    (first,)):
                groups.setdefault((row["class_id"], row["kind"], row["user"]), []).append(row)
            for (class_id, kind, user), rows in groups.items():
                cur = conn.execute("INSERT INTO actions (class_id, kind, label, user, at) VALUES (?,?,?,?,?)",
                                   (class_id, kind, label or _describe(kind, rows), user, time.time()))
                conn.executemany("UPDATE decisions SET action_id = ? WHERE id = ?",
                                 [(cur.lastrowid, r["id"]) for r in rows])

    @contextmanager
    def one_action(self, class_ids: Iterable[int], user: str, kind: str, label: str) -> Iterator[None]:
        """What `user` logs of `kind` on these classes inside the block (a generation run, over many
        transactions and threads) becomes one action per class named `label`, also when the block fails
        midway. A colleague's changes meanwhile stay out of it."""
        first = self.last_decision_id()
        try:
            yield
        finally:
            with self.transaction() as conn:
                for class_id in class_ids:
                    rows = conn.execute("SELECT * FROM decisions WHERE id > ? AND class_id = ? AND user = ? "
                                        "AND kind = ? ORDER BY id", (first, class_id, user, kind)).fetchall()
                    if not rows:
                        continue
                    keep, *merged = sorted({r["action_id"] for r in rows})
                    conn.executemany("UPDATE decisions SET action_id = ? WHERE action_id = ?",
                                     [(keep, old) for old in merged])
                    conn.executemany("DELETE FROM actions WHERE id = ?", [(old,) for old in merged])
                    conn.execute("UPDATE actions SET label = ? WHERE id = ?",
                                 (f"{label} ({_describe(kind, rows)})", keep))

    def last_decision_id(self) -> int:
        return self._last_decision(self.db)

    def history(self, class_id: int | None = None, limit: int = 50) -> list[dict]:
        """The latest logged decisions (one row per changed thing), newest first."""
        where, args = ("WHERE class_id = ?", [class_id]) if class_id is not None else ("", [])
        rows = self.db.execute(f"SELECT * FROM decisions {where} ORDER BY id DESC LIMIT ?", [*args, limit])
        return [dict(r) for r in rows]

    def actions(self, class_id: int | None = None, limit: int = 50) -> list[Action]:
        """The latest actions (clicks, bulk actions, runs), newest first."""
        where, args = ("WHERE class_id = ?", [class_id]) if class_id is not None else ("", [])
        return [_action(r) for r in self.db.execute(f"SELECT * FROM actions {where} ORDER BY id DESC LIMIT ?",
                                                     [*args, limit])]

    def undo(self, class_id: int | None = None, user: str | None = None,
             kinds: Iterable[str] | None = None) -> Undone | None:
        """Revert the latest action (of a class, a user, some kinds) of which something still stands.

        Decisions someone has since overruled are passed over: undoing them would silently throw away
        the later change (a colleague's, on a shared workspace). None when there is nothing to undo.
        """
        where, args = ["undone_at IS NULL"], []
        for column, value in (("class_id", class_id), ("user", user)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if kinds is not None:
            kinds = tuple(kinds)
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        with self.transaction() as conn:
            candidates = conn.execute(f"SELECT * FROM actions WHERE {' AND '.join(where)} ORDER BY id DESC",
                                      args).fetchall()
            for action in candidates:
                decisions = conn.execute("SELECT * FROM decisions WHERE action_id = ? AND undone_at IS NULL "
                                         "ORDER BY id DESC", (action["id"],)).fetchall()
                now, reverted = time.time(), []
                for decision in decisions:  # newest first, so a thing changed twice ends as it was before both
                    if _still_stands(conn, decision):
                        _revert(conn, decision, now)
                        conn.execute("UPDATE decisions SET undone_at = ? WHERE id = ?", (now, decision["id"]))
                        reverted.append(dict(decision))
                if reverted:
                    for decision in reverted:  # once all is reverted: the rule holds whatever the order
                        if decision["target"] == "item" and decision["old"] == "accepted":
                            _reject_rivals(conn, decision["target_id"], now)
                    conn.execute("UPDATE actions SET undone_at = ? WHERE id = ?", (now, action["id"]))
                    return Undone(_action(action), reverted, len(decisions) - len(reverted))
        return None

    # -- provenance ---------------------------------------------------------------------------
    def set_provenance(self, item_id: int, **fields: Any) -> None:
        columns = ("source_url", "page_url", "license", "attribution", "engine", "query", "title", "fetched_at",
                   "original_name")
        values = [fields.get(c) for c in columns]
        with self.transaction() as conn:
            conn.execute(f"INSERT OR REPLACE INTO provenance (item_id, {', '.join(columns)}) "
                         f"VALUES (?, {', '.join('?' * len(columns))})", (item_id, *values))

    def provenance(self, item_id: int) -> dict:
        row = self.db.execute("SELECT * FROM provenance WHERE item_id = ?", (item_id,)).fetchone()
        return dict(row) if row else {}

    # -- mask bank ----------------------------------------------------------------------------
    def insert_bank_mask(self, *, file: str, sha256: str, width: int, height: int, area: float, source: str,
                         license: str | None, defect: str | None,
                         frame: tuple[int, int, int, int] | None = None) -> int | None:
        """Add a bank mask; returns its id, or None when the same mask is already in the bank.

        `frame` = (width, height, left, top): the mask the crop was cut from, and where.
        """
        frame = frame or (None, None, None, None)
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM bank_masks WHERE sha256 = ?", (sha256,)).fetchone():
                return None
            cur = conn.execute("INSERT INTO bank_masks (file, sha256, width, height, area, source, license, defect,"
                               " created, frame_width, frame_height, frame_left, frame_top)"
                               " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               (file, sha256, width, height, area, source, license, defect, time.time(), *frame))
        return cur.lastrowid

    def bank_masks(self) -> list[dict]:
        return [dict(r) for r in self.db.execute("SELECT * FROM bank_masks ORDER BY id")]

    # -- settings -----------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def known_files(self) -> set[str]:
        """Every workspace-relative file a row names (items, masks, bank masks): what `repair` must keep."""
        return {r[0] for r in self.db.execute("SELECT file FROM items UNION SELECT file FROM masks "
                                              "UNION SELECT file FROM bank_masks")}

    def job_state(self, job_id: int) -> str | None:
        """A job's state, None when no such job exists."""
        row = self.db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    # -- summary ------------------------------------------------------------------------------
    def counts(self) -> dict[int, dict[str, int]]:
        """Per class id: counts of items by 'role:status' and of active masks of normals by kind."""
        out: dict[int, dict[str, int]] = {c.id: {} for c in self.classes()}
        for row in self.db.execute("SELECT class_id, role, status, COUNT(*) n FROM items GROUP BY 1, 2, 3"):
            out.setdefault(row["class_id"], {})[f"{row['role']}:{row['status']}"] = row["n"]
        # Masks of normal images only: a real anomaly's ground truth is not a stage of the pipeline.
        for row in self.db.execute("SELECT i.class_id, m.kind, COUNT(*) n FROM masks m JOIN items i ON i.id = m.item_id"
                                   " WHERE m.active = 1 AND i.role = 'normal' AND i.status != 'deleted' GROUP BY 1, 2"):
            out.setdefault(row["class_id"], {})[f"mask:{row['kind']}"] = row["n"]
        return out

    # -- collect (issue 4): crawl bookkeeping, candidate queries, bulk decisions -------------------
    def record_crawl_url(self, class_id: int, url: str, state: str, reason: str | None = None,
                         item_id: int | None = None, engine: str | None = None) -> None:
        """Remember what became of a crawled URL ('added', 'duplicate', 'rejected', 'failed')."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO crawl_urls (class_id, url, state, reason, item_id, engine, at)"
                         " VALUES (?,?,?,?,?,?,?)", (class_id, url, state, reason, item_id, engine, time.time()))

    def crawl_urls(self, class_id: int, states: tuple[str, ...] | None = None) -> list[dict]:
        """Crawled URLs of a class (newest first), optionally only some states."""
        where, args = "class_id = ?", [class_id]
        if states is not None:
            where += f" AND state IN ({','.join('?' * len(states))})"
            args.extend(states)
        return [dict(r) for r in self.db.execute(f"SELECT * FROM crawl_urls WHERE {where} ORDER BY at DESC", args)]

    def candidate_rows(self, class_id: int, statuses: tuple[str, ...] | None = None,
                       licenses: tuple[str, ...] | None = None, engines: tuple[str, ...] | None = None) -> list[dict]:
        """Normal items of a class joined with their provenance (lightweight: no image data), by id."""
        where, args = ["i.class_id = ?", "i.role = 'normal'"], [class_id]
        for column, values in (("i.status", statuses), ("COALESCE(p.license, '')", licenses),
                               ("COALESCE(p.engine, '')", engines)):
            if values is not None:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        rows = self.db.execute(
            "SELECT i.id, i.file, i.status, i.width, i.height, i.origin, i.info, p.source_url, p.page_url,"
            " p.license, p.attribution, p.engine, p.query, p.title, p.fetched_at FROM items i"
            f" LEFT JOIN provenance p ON p.item_id = i.id WHERE {' AND '.join(where)} ORDER BY i.id", args)
        return [{**dict(r), "info": json.loads(r["info"])} for r in rows]

    def set_status_batch(self, changes: dict[str, list[int]], user: str = "") -> int:
        """Set statuses ({status: item ids}) as one action that a single `undo` reverts."""
        with self._changes():
            return sum(self.set_status(item_ids, status, user) for status, item_ids in changes.items())

    # -- benchmark runs (bench phase) ------------------------------------------------------------
    def insert_run(self, *, name: str, detector: str, settings: dict, maps_dir: str | None,
                   metrics: dict[str, dict[str, float | None]]) -> int:
        """Record a benchmark run with its per-class metrics (class -> metric -> value); returns its id."""
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (name, detector, settings, maps_dir, created) VALUES (?,?,?,?,?)",
                               (name, detector, json.dumps(settings, sort_keys=True), maps_dir, time.time()))
            conn.executemany("INSERT INTO run_metrics (run_id, class_name, metric, value) VALUES (?,?,?,?)",
                             [(cur.lastrowid, cls, metric, value)
                              for cls, values in metrics.items() for metric, value in values.items()])
        return cur.lastrowid

    def set_run_metrics(self, run_id: int, class_name: str, metrics: dict[str, float | None]) -> None:
        """Record (or replace) the metrics of one class of a run."""
        with self.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO run_metrics (run_id, class_name, metric, value) VALUES (?,?,?,?)",
                             [(run_id, class_name, metric, value) for metric, value in metrics.items()])

    def runs(self) -> list[dict]:
        """Every run, oldest first, with its settings decoded."""
        rows = self.db.execute("SELECT * FROM runs ORDER BY id")
        return [{**dict(r), "settings": json.loads(r["settings"])} for r in rows]

    def run_metrics(self, run_ids: list[int] | None = None) -> list[dict]:
        """Rows (run_id, class_name, metric, value) of some runs (all when None)."""
        where, args = ("", []) if run_ids is None else (f"WHERE run_id IN ({','.join('?' * len(run_ids))})", run_ids)
        rows = self.db.execute(f"SELECT * FROM run_metrics {where} ORDER BY run_id, class_name, metric", args)
        return [dict(r) for r in rows]

    def delete_run(self, run_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM run_metrics WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
