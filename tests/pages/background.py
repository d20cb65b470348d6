"""Pages start long phases as background jobs (detached worker processes): tests wait for them like a user."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from dsaii_core.jobs import list_jobs
from dsaii_core.workspace import Workspace


def finish_jobs(at: AppTest, ws: Workspace, kind: str, timeout: float = 120) -> AppTest:
    """Wait until every job of `kind` has ended, then rerun the page (as its job panel does within 2 s)."""
    deadline = time.time() + timeout
    while any(job.active for job in list_jobs(ws.catalog, kind)):
        assert time.time() < deadline, list_jobs(ws.catalog, kind)
        time.sleep(0.1)
    return at.run()
