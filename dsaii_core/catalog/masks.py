"""Masks (object and anomaly masks of items) and the mask bank."""

from __future__ import annotations

import json
import time

from dsaii_core.catalog.connection import Connected
from dsaii_core.catalog.rows import BankMaskRow, Mask, bank_mask_row, mask_row
from dsaii_core.errors import DsaiiError


class Masks(Connected):
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
        return mask_row(row)

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
        return [mask_row(r) for r in rows]

    def delete_mask(self, mask_id: int, user: str = "") -> None:
        """Deactivate a mask (kept on disk so it can be undone)."""
        with self._changes() as conn:
            row = conn.execute("SELECT m.active, m.kind, i.class_id FROM masks m JOIN items i ON i.id = m.item_id "
                               "WHERE m.id = ?", (mask_id,)).fetchone()
            if row is None or not row["active"]:
                return
            conn.execute("UPDATE masks SET active = 0 WHERE id = ?", (mask_id,))
            self._log(conn, row["class_id"], f"{row['kind']}_mask", "mask", mask_id, "mask", mask_id, None, user)

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

    def bank_masks(self) -> list[BankMaskRow]:
        """Every mask of the bank, by id."""
        return [bank_mask_row(r) for r in self.db.execute("SELECT * FROM bank_masks ORDER BY id")]
