"""The action log: every change is a decision filed under an action (a click, a bulk action, a run) of one
kind and author; `undo` reverts the latest action of which something still stands."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from dsaii_core.catalog.connection import Connected
from dsaii_core.catalog.rows import Action, Decision, Undone, action_row, decision_row

def _mask_active(conn: sqlite3.Connection, mask_id: str) -> bool:
    row = conn.execute("SELECT active FROM masks WHERE id = ?", (int(mask_id),)).fetchone()
    return bool(row and row[0])


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


def reject_rivals(conn: sqlite3.Connection, item_id: int, now: float) -> list[sqlite3.Row]:
    """Reject the other accepted anomalies of `item_id`'s anomaly mask (one mask, one accepted anomaly: a
    regenerated result replaces the old one, never joins it); returns them as they were."""
    rivals = conn.execute("SELECT r.* FROM items r JOIN items i ON i.mask_id = r.mask_id AND i.id != r.id "
                          "WHERE i.id = ? AND i.role = 'anomaly' AND r.status = 'accepted'", (item_id,)).fetchall()
    conn.executemany("UPDATE items SET status = 'rejected', updated = ? WHERE id = ?", [(now, r["id"]) for r in rivals])
    return rivals


class ActionLog(Connected):
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
        first = self._last_decision(self.db)
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

    def history(self, class_id: int | None = None, limit: int = 50) -> list[Decision]:
        """The latest logged decisions (one row per changed thing), newest first."""
        where, args = ("WHERE class_id = ?", [class_id]) if class_id is not None else ("", [])
        rows = self.db.execute(f"SELECT * FROM decisions {where} ORDER BY id DESC LIMIT ?", [*args, limit])
        return [decision_row(r) for r in rows]

    def actions(self, class_id: int | None = None, limit: int = 50) -> list[Action]:
        """The latest actions (clicks, bulk actions, runs), newest first."""
        where, args = ("WHERE class_id = ?", [class_id]) if class_id is not None else ("", [])
        return [action_row(r) for r in self.db.execute(f"SELECT * FROM actions {where} ORDER BY id DESC LIMIT ?",
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
                        reverted.append(decision_row(decision))
                if reverted:
                    for decision in reverted:  # once all is reverted: the rule holds whatever the order
                        if decision.target == "item" and decision.old == "accepted":
                            reject_rivals(conn, decision.target_id, now)
                    conn.execute("UPDATE actions SET undone_at = ? WHERE id = ?", (now, action["id"]))
                    return Undone(action_row(action), reverted, len(decisions) - len(reverted))
        return None
