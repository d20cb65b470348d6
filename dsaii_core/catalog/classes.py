"""Classes: names, folders, kinds, prompts and per-class settings."""

from __future__ import annotations

import json
import time
from typing import Any

from dsaii_core.catalog.connection import Connected
from dsaii_core.catalog.rows import ImageClass, class_row


class Classes(Connected):
    def classes(self) -> list[ImageClass]:
        return [class_row(r) for r in self.db.execute("SELECT * FROM classes ORDER BY name")]

    def find_class(self, name: str) -> ImageClass | None:
        row = self.db.execute("SELECT * FROM classes WHERE name = ?", (name,)).fetchone()
        return class_row(row) if row else None

    def class_by_id(self, class_id: int) -> ImageClass:
        return class_row(self.db.execute("SELECT * FROM classes WHERE id = ?", (class_id,)).fetchone())

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
