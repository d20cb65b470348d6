"""Benchmark runs and their per-class metrics."""

from __future__ import annotations

import json
import time

from dsaii_core.catalog.connection import Connected
from dsaii_core.catalog.rows import Run, RunMetric, run_metric_row, run_row


class Runs(Connected):
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

    def runs(self) -> list[Run]:
        """Every run, oldest first, with its settings decoded."""
        return [run_row(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id")]

    def run_metrics(self, run_ids: list[int] | None = None) -> list[RunMetric]:
        """The metrics of some runs (all when None), by run, class and metric."""
        where, args = ("", []) if run_ids is None else (f"WHERE run_id IN ({','.join('?' * len(run_ids))})", run_ids)
        rows = self.db.execute(f"SELECT * FROM run_metrics {where} ORDER BY run_id, class_name, metric", args)
        return [run_metric_row(r) for r in rows]

    def delete_run(self, run_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM run_metrics WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
