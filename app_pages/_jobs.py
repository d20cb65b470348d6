"""The job panel of every page with a long phase: progress, where it runs, errors, cancel and resume.

A page creates the job (the phase's core `start_*` function) and hands it to `start`; the work runs in a
detached worker (`python -m dsaii_core worker`), so the session stays free and the job outlives the tab.
"""

from __future__ import annotations

from typing import Callable

import streamlit as st

from dsaii_core import jobs
from dsaii_core.catalog import Job
from dsaii_core.workspace import Workspace


def start(ws: Workspace, job: Job, what: str = "item") -> None:
    """Run `job` in a background worker, where the workspace's settings say, and say so."""
    jobs.start_worker(ws, job.id)
    st.toast(f"Job {job.id} started in the background: {job.total} {what}(s)")


def running(ws: Workspace, kind: str, class_id: int | None = None) -> bool:
    """Whether a job of `kind` (of that class, or over several classes) is queued or running: its page's start
    button waits for it."""
    return any(job.active for job in jobs.list_jobs(ws.catalog, kind, class_id, limit=5))


def started_by(job: Job) -> str:
    """A job's heading: its number and who started it."""
    return f"Job {job.id}" + (f" · started by {job.params['user']}" if job.params.get("user") else "")


def _resume(ws: Workspace, job_id: int) -> None:
    jobs.prepare_resume(ws.catalog, job_id)
    jobs.start_worker(ws, job_id)


def _told(ws: Workspace, summary: Callable[[Job], str | None], job: Job, key: str) -> str | None:
    """What a finished job did, worked out once per session and panel `key` (the panel redraws every 2 s; a job
    that ended does not change, unless resumed, which changes its `updated`)."""
    told = st.session_state.setdefault(f"{key}_told", {})
    stamp = (str(ws.root), job.id, job.updated)
    if stamp not in told:
        told[stamp] = summary(job)
    return told[stamp]


@st.fragment(run_every=2)
def job_panel(ws: Workspace, kind: str, key: str, describe: Callable[[Job], str], *,
              class_id: int | None = None, summary: Callable[[Job], str | None] | None = None,
              item: str = "", hide_done: bool = False, rerun_on_progress: bool = False, limit: int = 5) -> None:
    """The recent jobs of `kind` (of one class when `class_id` is given), newest first, refreshed every 2 s.

    `describe(job)` heads a job's bar; `summary(job)` says what a finished job did (once per `key`: a page whose
    summaries depend on more, such as its class, puts that in the key); `item` names a job's items in
    its error lines ("mask 12: …"). The page reruns when a job ends (or, with `rerun_on_progress`, when one
    advances), so what the page shows above the panel follows the job.
    """
    recent = jobs.list_jobs(ws.catalog, kind, class_id, limit)
    seen = [(j.id, j.state) + ((j.done,) if rerun_on_progress else ()) for j in recent if j.active
            or rerun_on_progress]
    before = st.session_state.get(f"{key}_seen")
    st.session_state[f"{key}_seen"] = seen
    if before is not None and before != seen:
        st.rerun()
    shown = [j for j in recent if not (hide_done and j.state == "done")]
    if not shown:
        return
    st.subheader("Jobs")
    for job in shown:
        with st.container(border=True):
            failed = f" · {job.failed} failed" if job.failed else ""
            where = f" · on {job.runs_on}" if job.runs_on else ""
            st.progress(job.fraction, text=f"{describe(job)} · **{job.state}** · {job.done} of {job.total} "
                                           f"done{failed}{where}")
            if job.error:
                st.caption(f"⚠️ {job.error}")
            for name, error in jobs.item_errors(ws.catalog, job.id, limit=3):
                st.caption(f"{item} {name}: {error}".strip())
            told = _told(ws, summary, job, key) if summary is not None and job.state in ("done", "failed") else None
            if told:
                st.caption(told)
            cols = st.columns(4)
            if job.active:
                cols[0].button("Cancel", key=f"{key}_cancel_{job.id}", on_click=jobs.request_cancel,
                               args=(ws.catalog, job.id))
            if job.resumable:
                cols[1].button("Resume", key=f"{key}_resume_{job.id}", on_click=_resume, args=(ws, job.id))
