"""Typed rows of the catalog: what its methods return, and the statuses and kinds they use."""

from __future__ import annotations

import getpass
import json
import sqlite3
from dataclasses import dataclass

JOB_FINAL_STATES = ("done", "failed", "cancelled")  # a job in one of these has no worker left
ACTIVE_STATES = ("queued", "running", "cancelling")

NORMAL_STATUSES = ("candidate", "kept", "dropped", "deleted")
ANOMALY_STATUSES = ("pending", "accepted", "rejected", "deleted")
ACTION_KINDS = ("curate", "review", "object_mask", "anomaly_mask", "class")


@dataclass(frozen=True)
class ImageClass:
    id: int
    name: str
    dirname: str
    kind: str
    prompt: str | None
    negative_prompt: str | None
    settings: dict

    @property
    def is_texture(self) -> bool:
        return self.kind == "texture"


@dataclass(frozen=True)
class Item:
    id: int
    class_id: int
    role: str
    file: str
    sha256: str
    width: int
    height: int
    status: str
    parent_id: int | None
    mask_id: int | None
    defect: str | None
    origin: str
    seed: int | None
    info: dict


@dataclass(frozen=True)
class Mask:
    id: int
    item_id: int
    kind: str
    file: str
    source: str
    active: bool
    replaces: int | None
    area: float | None
    confidence: float | None
    seed: int | None
    params: dict


@dataclass(frozen=True)
class Action:
    """One entry of the undo log: a click, a bulk action or a generation run, on one class, by one person."""
    id: int
    class_id: int | None
    kind: str      # one of ACTION_KINDS: which page's Undo reverts it
    label: str     # what it did, in words ("kept 3 images", "anomaly mask run (54 masks)")
    user: str
    at: float
    undone_at: float | None


@dataclass(frozen=True)
class Decision:
    """One logged change of the undo log: what changed (`target`, `target_id`, `action`) from `old` to `new`."""
    id: int
    action_id: int    # the Action it is part of: undone together
    class_id: int | None
    kind: str         # one of ACTION_KINDS
    target: str       # 'item', 'mask' or 'class'
    target_id: int
    action: str       # what changed: 'status', 'mask' (the active one), or a class setting
    old: str | None
    new: str | None
    user: str
    at: float
    undone_at: float | None


@dataclass(frozen=True)
class Provenance:
    """Where an item came from (crawl, import); every field but item_id is None for an item made here."""
    item_id: int
    source_url: str | None = None
    page_url: str | None = None
    license: str | None = None
    attribution: str | None = None
    engine: str | None = None
    query: str | None = None
    title: str | None = None
    fetched_at: float | None = None
    original_name: str | None = None  # its path in the folder or archive it was imported from


@dataclass(frozen=True)
class CurationRow:
    """A normal image of a class as curation lists it: the item's columns (no pixels) and its provenance's."""
    id: int
    file: str
    status: str
    width: int
    height: int
    origin: str | None
    info: dict
    source_url: str | None
    page_url: str | None
    license: str | None
    attribution: str | None
    engine: str | None
    query: str | None
    title: str | None
    fetched_at: float | None

    @property
    def similarity(self) -> float | None:
        """Its similarity to the class's reference image (None when it was not ranked)."""
        return self.info.get("similarity")


@dataclass(frozen=True)
class CrawledUrl:
    """What became of a URL a crawl of a class met: 'added', 'duplicate', 'rejected' or 'failed'."""
    class_id: int
    url: str
    state: str
    reason: str | None
    item_id: int | None
    engine: str | None
    at: float


@dataclass(frozen=True)
class BankMaskRow:
    """A defect mask of the workspace bank, as stored (cropped); masks.augment.BankMask is it decoded."""
    id: int
    file: str
    sha256: str
    width: int
    height: int
    area: float
    source: str
    license: str | None
    defect: str | None
    created: float
    frame: tuple[int, int, int, int] | None  # (width, height, left, top) of the mask it was cut from; None: itself


@dataclass(frozen=True)
class Run:
    """A stored benchmark run; its metrics are RunMetric rows."""
    id: int
    name: str
    detector: str
    settings: dict
    maps_dir: str | None  # workspace-relative folder of its maps, scores and notes; None for none kept
    created: float


@dataclass(frozen=True)
class RunMetric:
    run_id: int
    class_name: str
    metric: str            # a name of bench.METRICS, suffixed for real / synthetic anomalies apart
    value: float | None    # None: not defined for this class (e.g. no anomalies)


@dataclass(frozen=True)
class Undone:
    """What an undo reverted: the action, and those of its decisions that still stood."""
    action: Action
    decisions: list[Decision]
    passed_over: int  # decisions of the action that someone had overruled since: left as they are

    def describe(self) -> str:
        who = f" by {self.action.user}" if self.action.user else ""
        kept = f"; {self.passed_over} change(s) overruled since were left as they are" if self.passed_over else ""
        return f"undid '{self.action.label}'{who}{kept}"


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    class_id: int | None
    params: dict
    state: str         # queued, running, cancelling, cancelled, done, failed, or 'interrupted' (worker gone)
    total: int
    done: int
    failed: int
    error: str | None
    pid: int | None
    heartbeat: float | None
    created: float
    updated: float
    runs_on: str | None  # where its last worker ran it: "this machine", "Ray (ADDRESS)"

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def resumable(self) -> bool:
        # Every item done but not the job: its worker stopped in the task's `finish`, which a resume runs again.
        return self.state in ("interrupted", "cancelled", "failed")


def os_user() -> str:
    """The name a decision carries when nobody gave one: the operating system's user, else no name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def class_row(row: sqlite3.Row) -> ImageClass:
    return ImageClass(row["id"], row["name"], row["dirname"], row["kind"], row["prompt"],
                      row["negative_prompt"], json.loads(row["settings"]))


def item_row(row: sqlite3.Row) -> Item:
    return Item(row["id"], row["class_id"], row["role"], row["file"], row["sha256"], row["width"],
                row["height"], row["status"], row["parent_id"], row["mask_id"], row["defect"],
                row["origin"], row["seed"], json.loads(row["info"]))


def mask_row(row: sqlite3.Row) -> Mask:
    return Mask(row["id"], row["item_id"], row["kind"], row["file"], row["source"], bool(row["active"]),
                row["replaces"], row["area"], row["confidence"], row["seed"], json.loads(row["params"]))


def action_row(row: sqlite3.Row) -> Action:
    return Action(row["id"], row["class_id"], row["kind"], row["label"], row["user"], row["at"], row["undone_at"])


def decision_row(row: sqlite3.Row) -> Decision:
    return Decision(row["id"], row["action_id"], row["class_id"], row["kind"], row["target"], row["target_id"],
                    row["action"], row["old"], row["new"], row["user"], row["at"], row["undone_at"])


def provenance_row(row: sqlite3.Row) -> Provenance:
    return Provenance(row["item_id"], row["source_url"], row["page_url"], row["license"], row["attribution"],
                      row["engine"], row["query"], row["title"], row["fetched_at"], row["original_name"])


def bank_mask_row(row: sqlite3.Row) -> BankMaskRow:
    frame = None if row["frame_width"] is None else (row["frame_width"], row["frame_height"], row["frame_left"],
                                                     row["frame_top"])
    return BankMaskRow(row["id"], row["file"], row["sha256"], row["width"], row["height"], row["area"],
                       row["source"], row["license"], row["defect"], row["created"], frame)


def run_row(row: sqlite3.Row) -> Run:
    return Run(row["id"], row["name"], row["detector"], json.loads(row["settings"]), row["maps_dir"], row["created"])


def run_metric_row(row: sqlite3.Row) -> RunMetric:
    return RunMetric(row["run_id"], row["class_name"], row["metric"], row["value"])
