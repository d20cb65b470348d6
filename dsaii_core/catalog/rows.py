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
class Undone:
    """What an undo reverted: the action, and those of its decisions that still stood."""
    action: Action
    decisions: list[dict]
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
