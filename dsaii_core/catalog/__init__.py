"""The workspace's SQLite catalog: the one source of truth for classes, items, masks, provenance, the
action log (undo), jobs and benchmark runs, and the only code that speaks SQL. One module per concern;
`Catalog` is all of them. Files are written before the row that names them and deleted after it, so a
crash leaves at most an orphan file (see Workspace.repair).
"""

from dsaii_core.catalog.actions import ActionLog
from dsaii_core.catalog.classes import Classes
from dsaii_core.catalog.items import Items
from dsaii_core.catalog.jobs import Jobs
from dsaii_core.catalog.masks import Masks
from dsaii_core.catalog.rows import (ACTION_KINDS, ACTIVE_STATES, ANOMALY_STATUSES, JOB_FINAL_STATES, NORMAL_STATUSES,
                                     Action, BankMaskRow, CrawledUrl, CurationRow, Decision, ImageClass, Item, Job,
                                     Mask, Provenance, Run, RunMetric, Undone, os_user)
from dsaii_core.catalog.runs import Runs
from dsaii_core.catalog.schema import MIGRATIONS, SCHEMA_VERSION


class Catalog(Classes, Items, Masks, ActionLog, Jobs, Runs):
    """Typed access to one workspace database; safe to share between threads."""


__all__ = ["ACTION_KINDS", "ACTIVE_STATES", "ANOMALY_STATUSES", "JOB_FINAL_STATES", "MIGRATIONS", "NORMAL_STATUSES",
           "SCHEMA_VERSION", "Action", "BankMaskRow", "Catalog", "Decision", "ImageClass", "Item", "Job", "Mask",
           "Provenance", "Run", "RunMetric", "Undone", "os_user"]
