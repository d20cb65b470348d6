"""Items (normal and anomaly images): rows, statuses, provenance, candidates and counts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from dsaii_core.catalog.actions import reject_rivals
from dsaii_core.catalog.connection import Connected
from dsaii_core.catalog.rows import (ANOMALY_STATUSES, NORMAL_STATUSES, CrawledUrl, CurationRow, Item, Provenance,
                                     item_row, provenance_row)
from dsaii_core.errors import DsaiiError


class Items(Connected):
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
        return item_row(row)

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
        return [item_row(r) for r in rows]

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
                    for rival in reject_rivals(conn, item_id, now):
                        self._log_status(conn, rival, rival["id"], "accepted", "rejected", user)
                changed += 1
        return changed

    def set_status_batch(self, changes: dict[str, list[int]], user: str = "") -> int:
        """Set statuses ({status: item ids}) as one action that a single `undo` reverts."""
        with self._changes():
            return sum(self.set_status(item_ids, status, user) for status, item_ids in changes.items())

    def record_regeneration(self, item_id: int, replaced_id: int, user: str = "") -> None:
        """Log a regenerated anomaly (new, pending) and reject the one it replaces, as one review action:
        its undo brings the old result back and retires the new one."""
        new, old = self.item(item_id), self.item(replaced_id)
        with self._changes(label=f"regenerated anomaly {Path(old.file).name}") as conn:
            self._log(conn, new.class_id, "review", "item", new.id, "status", "deleted", new.status, user)
            self.set_status([replaced_id], "rejected", user)

    def set_provenance(self, item_id: int, **fields: Any) -> None:
        columns = ("source_url", "page_url", "license", "attribution", "engine", "query", "title", "fetched_at",
                   "original_name")
        values = [fields.get(c) for c in columns]
        with self.transaction() as conn:
            conn.execute(f"INSERT OR REPLACE INTO provenance (item_id, {', '.join(columns)}) "
                         f"VALUES (?, {', '.join('?' * len(columns))})", (item_id, *values))

    def provenance(self, item_id: int) -> Provenance:
        """Where an item came from; every field None when it has no provenance (made here)."""
        row = self.db.execute("SELECT * FROM provenance WHERE item_id = ?", (item_id,)).fetchone()
        return provenance_row(row) if row else Provenance(item_id)

    def candidate_rows(self, class_id: int, statuses: tuple[str, ...] | None = None,
                       licenses: tuple[str, ...] | None = None,
                       engines: tuple[str, ...] | None = None) -> list[CurationRow]:
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
        return [CurationRow(**{**dict(r), "info": json.loads(r["info"])}) for r in rows]

    def record_crawl_url(self, class_id: int, url: str, state: str, reason: str | None = None,
                         item_id: int | None = None, engine: str | None = None) -> None:
        """Remember what became of a crawled URL ('added', 'duplicate', 'rejected', 'failed')."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO crawl_urls (class_id, url, state, reason, item_id, engine, at)"
                         " VALUES (?,?,?,?,?,?,?)", (class_id, url, state, reason, item_id, engine, time.time()))

    def crawl_urls(self, class_id: int, states: tuple[str, ...] | None = None) -> list[CrawledUrl]:
        """Crawled URLs of a class (newest first), optionally only some states."""
        where, args = "class_id = ?", [class_id]
        if states is not None:
            where += f" AND state IN ({','.join('?' * len(states))})"
            args.extend(states)
        return [CrawledUrl(**dict(r)) for r in self.db.execute(f"SELECT * FROM crawl_urls WHERE {where} ORDER BY at DESC",
                                                                args)]

    def known_files(self) -> set[str]:
        """Every workspace-relative file a row names (items, masks, bank masks): what `repair` must keep."""
        return {r[0] for r in self.db.execute("SELECT file FROM items UNION SELECT file FROM masks "
                                              "UNION SELECT file FROM bank_masks")}

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
