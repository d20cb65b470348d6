"""The crawl panel of the Collect page: find images like a reference image on the web or in a folder.

The crawl is a job (the one the `crawl` command runs): the search runs when the button is clicked, the
downloads in a background worker shown in the job panel; the URLs not added are listed when it ends.
"""

from __future__ import annotations

import streamlit as st

from dsaii_core import imageio, jobs
from dsaii_core.catalog import Job
from dsaii_core.collect.crawl import JOB_KIND, CrawlReport, UrlOutcome, crawl_report, start_crawl_job
from dsaii_core.collect.engines import DEFAULT_ENGINE, engine_names, engine_spec
from dsaii_core.workspace import Workspace
from app_pages import _jobs
from app_pages._ui import current_class, current_workspace, is_admin, select_class, user_errors, user_path


def _outcome_rows(outcomes: list[UrlOutcome]) -> list[dict]:
    return [{"state": o.state, "url": o.url, "reason": o.reason or ""} for o in outcomes]


def _show_report(report: CrawlReport) -> None:
    """The URLs the last finished crawl did not add, and why."""
    problems = report.errors + report.duplicates
    if problems:
        with st.expander(f"{len(problems)} URLs not added", expanded=bool(report.errors)):
            st.dataframe(_outcome_rows(problems), hide_index=True, width="stretch")


def crawl_panel() -> None:
    """Reference upload, engine, count, live progress and the per-URL errors of the last crawl."""
    ws = current_workspace()
    st.subheader("Find similar images")
    st.caption("Openverse and Wikimedia Commons return license and attribution with every image (the default); "
               "browser engines drive a search site in headless Chromium; 'local' ranks a folder of your own. "
               "Everything found lands as *candidates* on the **Curate** page.")
    names = engine_names()
    left, right = st.columns(2)
    with left:
        current = current_class()
        class_name = st.text_input("Class", value=current.name if current else "", key="crawl_class",
                                   help="Candidates go into this class (created if new).")
        reference = st.file_uploader("Reference image", type=[s.lstrip(".") for s in imageio.IMAGE_SUFFIXES],
                                     key="crawl_reference", help="Found images are ranked by similarity to it.")
        query = st.text_input("Keywords", key="crawl_query",
                              help="For keyword engines; empty: the class name is used.")
    with right:
        engine = st.selectbox("Engine", names, index=names.index(DEFAULT_ENGINE), key="crawl_engine",
                              format_func=lambda n: engine_spec(n).get("title", n))
        folder = st.text_input("Folder to search", key="crawl_folder") if engine_spec(engine)["kind"] == "local" else None
        count = st.number_input("How many new candidates", 1, 1000, 30, key="crawl_max")
        allow_private, base_url = False, ""
        if is_admin():  # what the server may reach is the server's business, not a member's
            with st.expander("Network"):
                allow_private = st.checkbox("Allow private and loopback addresses", key="crawl_allow_private",
                                            help="Off by default, so no page can make the crawler reach your "
                                                 "local network. Turn on for a server on your own network.")
                base_url = st.text_input("Engine base URL (optional)", key="crawl_base_url",
                                         help="Another address for the engine, e.g. a self-hosted API mirror.")
    if st.button("Crawl", type="primary", key="crawl_start", disabled=not class_name.strip()):
        with user_errors(), st.spinner("Searching…"):
            cls = ws.add_class(class_name)
            image = imageio.read_image(reference.getvalue(), name=reference.name) if reference else None
            job = start_crawl_job(ws, cls, reference=image, query=query.strip() or None, engine=engine,
                                  max_images=int(count), allow_private=allow_private,
                                  base_url=base_url.strip() or None, folder=user_path(folder) if folder else None)
            _jobs.start(ws, job, "URL")
            select_class(cls.name)  # the sidebar's picker is already drawn in this run
    _jobs.job_panel(ws, JOB_KIND, "crawl_jobs", lambda job: _describe(ws, job), item="URL",
                    summary=lambda job: crawl_report(ws, job).summary())
    finished = [j for j in jobs.list_jobs(ws.catalog, JOB_KIND, limit=5) if j.state in ("done", "failed")]
    if finished:
        _show_report(crawl_report(ws, finished[0]))


def _describe(ws: Workspace, job: Job) -> str:
    cls = ws.catalog.class_by_id(job.class_id)
    query = f" '{job.params['query']}'" if job.params.get("query") else ""
    return f"Job {job.id} · {cls.name} ← {job.params['engine']}{query}"
