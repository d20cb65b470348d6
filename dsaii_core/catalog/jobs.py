"""Jobs and their items: the rows a job runner, a worker and a job panel read and write."""

from __future__ import annotations

import json
import time
from typing import Sequence

import psutil

from dsaii_core.catalog.connection import Connected
from dsaii_core.catalog.rows import ACTIVE_STATES, Job
from dsaii_core.errors import DsaiiError

STALE_S = 30.0  # a worker whose heartbeat is older than this is gone
# A job row with its count of failed items, in one statement (a job panel lists many jobs every few seconds).
_JOB_ROWS = ("SELECT j.*, (SELECT COUNT(*) FROM job_items i WHERE i.job_id = j.id AND i.state = 'failed') AS failed "
             "FROM jobs j")


def pid_alive(pid: int) -> bool:
    """Whether a process runs (a killed child nobody has reaped yet, a zombie, is dead for our purpose)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def worker_alive(pid: int, heartbeat: float | None) -> bool:
    return pid_alive(pid) and (heartbeat is None or time.time() - heartbeat < STALE_S)


def job_row(row) -> Job:
    state = row["state"]
    if state in ACTIVE_STATES and row["pid"] is not None and not worker_alive(row["pid"], row["heartbeat"]):
        state = "interrupted"
    return Job(row["id"], row["kind"], row["class_id"], json.loads(row["params"]), state, row["total"],
               row["done"], row["failed"], row["error"], row["pid"], row["heartbeat"], row["created"], row["updated"],
               row["runs_on"])


class Jobs(Connected):
    def job(self, job_id: int) -> Job:
        """The job with its live state ('interrupted' when its worker died without finishing)."""
        row = self.db.execute(f"{_JOB_ROWS} WHERE j.id = ?", (job_id,)).fetchone()
        if row is None:
            raise DsaiiError(f"no job with id {job_id}")
        return job_row(row)

    def jobs(self, kind: str | None = None, class_id: int | None = None, limit: int = 20) -> list[Job]:
        """Recent jobs, newest first; with `class_id`, that class's and those over several classes."""
        where, args = ["1"], []
        for clause, value in (("j.kind = ?", kind), ("(j.class_id = ? OR j.class_id IS NULL)", class_id)):
            if value is not None:
                where.append(clause)
                args.append(value)
        rows = self.db.execute(f"{_JOB_ROWS} WHERE {' AND '.join(where)} ORDER BY j.id DESC LIMIT ?",
                               [*args, limit]).fetchall()
        return [job_row(r) for r in rows]

    def job_state(self, job_id: int) -> str | None:
        """A job's stored state, None when no such job exists."""
        row = self.db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def insert_job(self, kind: str, keys: Sequence[str], params: dict, class_id: int | None = None) -> Job:
        """A queued job over `keys` (in that order)."""
        now = time.time()
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO jobs (kind, class_id, params, state, total, done, created, updated) "
                               "VALUES (?, ?, ?, 'queued', ?, 0, ?, ?)",
                               (kind, class_id, json.dumps(params), len(keys), now, now))
            conn.executemany("INSERT INTO job_items (job_id, key) VALUES (?, ?)", [(cur.lastrowid, k) for k in keys])
        return self.job(cur.lastrowid)

    def job_item_errors(self, job_id: int, limit: int = 20) -> list[tuple[str, str]]:
        """(key, last error) of items that failed or are being retried."""
        rows = self.db.execute("SELECT key, error FROM job_items WHERE job_id = ? AND error IS NOT NULL "
                               "ORDER BY rowid LIMIT ?", (job_id, limit))
        return [(r["key"], r["error"]) for r in rows]

    def job_item_results(self, job_id: int) -> list[tuple[str, str | None]]:
        """(key, result) of the job's done items, in the job's order."""
        rows = self.db.execute("SELECT key, result FROM job_items WHERE job_id = ? AND state = 'done' "
                               "ORDER BY rowid", (job_id,))
        return [(r["key"], r["result"]) for r in rows]

    def job_todo(self, job_id: int, max_attempts: int) -> list[tuple[str, int]]:
        """(key, attempts so far) of the items still to do, in the job's order."""
        rows = self.db.execute("SELECT key, attempts FROM job_items WHERE job_id = ? AND state IN ('pending', "
                               "'running') AND attempts < ? ORDER BY rowid", (job_id, max_attempts))
        return [(r["key"], r["attempts"]) for r in rows]

    def set_job_state(self, job_id: int, state: str, error: str | None = None) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE jobs SET state = ?, error = ?, updated = ? WHERE id = ?",
                         (state, error, time.time(), job_id))

    def requeue_job(self, job_id: int) -> None:
        """Queue a job again; its failed items get fresh attempts."""
        with self.transaction() as conn:
            conn.execute("UPDATE job_items SET state = 'pending', attempts = 0 WHERE job_id = ? AND state = 'failed'",
                         (job_id,))
            conn.execute("UPDATE jobs SET state = 'queued', pid = NULL, error = NULL, updated = ? WHERE id = ?",
                         (time.time(), job_id))

    def mark_job_started(self, job_id: int, pid: int) -> None:
        """A worker process was started for a queued job (it claims the job itself once it runs)."""
        with self.transaction() as conn:
            conn.execute("UPDATE jobs SET pid = ?, heartbeat = ?, updated = ? WHERE id = ? AND state = 'queued'",
                         (pid, time.time(), time.time(), job_id))

    def claim_job(self, job_id: int, pid: int, runs_on: str) -> Job:
        """Mark the job running under `pid`; refuses a job another live worker runs or a finished one."""
        with self.transaction() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise DsaiiError(f"no job with id {job_id}")
            if row["state"] in ("running", "cancelling") and row["pid"] not in (None, pid) \
                    and worker_alive(row["pid"], row["heartbeat"]):
                raise DsaiiError(f"job {job_id} is already running (worker pid {row['pid']})")
            if row["state"] == "done":
                raise DsaiiError(f"job {job_id} is already done")
            if row["state"] in ("cancelled", "failed", "cancelling"):
                conn.execute("UPDATE job_items SET state = 'pending', attempts = 0 WHERE job_id = ? "
                             "AND state = 'failed'", (job_id,))
            conn.execute("UPDATE job_items SET state = 'pending' WHERE job_id = ? AND state = 'running'", (job_id,))
            conn.execute("UPDATE jobs SET state = 'running', pid = ?, heartbeat = ?, error = NULL, updated = ?, "
                         "runs_on = ? WHERE id = ?", (pid, time.time(), time.time(), runs_on, job_id))
        return self.job(job_id)

    def job_heartbeat(self, job_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time(), job_id))

    def record_job_item(self, job_id: int, key: str, state: str, result: str | None, error: str | None) -> None:
        """An item done (with its result), or one failed attempt (state 'pending' to retry, 'failed' when out)."""
        with self.transaction() as conn:
            if state == "done":
                conn.execute("UPDATE job_items SET state = 'done', result = ?, error = NULL WHERE job_id = ? "
                             "AND key = ?", (result, job_id, key))
            else:
                conn.execute("UPDATE job_items SET attempts = attempts + 1, error = ?, state = ? WHERE job_id = ? "
                             "AND key = ?", (error, state, job_id, key))
            conn.execute("UPDATE jobs SET done = (SELECT COUNT(*) FROM job_items WHERE job_id = ? AND "
                         "state = 'done'), updated = ? WHERE id = ?", (job_id, time.time(), job_id))
