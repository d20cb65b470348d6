"""What validate found: problems, each with its file, and the report that gathers them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

KINDS = ("layout", "pairing", "mask", "unreadable", "blank", "no_change", "outside_mask", "duplicate",
         "near_duplicate", "leakage", "provenance", "manifest")


@dataclass(frozen=True)
class Problem:
    path: str     # relative to the folder above the classes: <class>/<folder>/<file>
    what: str
    kind: str     # one of KINDS

    def line(self) -> str:
        return f"{self.path}: {self.what}"


@dataclass
class ValidationReport:
    root: Path
    layout: str
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)   # classes, normal, anomaly, mask
    settings: dict[str, float] = field(default_factory=dict)   # the thresholds the checks used

    @property
    def clean(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [p.line() for p in self.problems]

    def summary(self) -> str:
        seen = (f"{self.counts.get('classes', 0)} classes, {self.counts.get('normal', 0)} normal, "
                f"{self.counts.get('anomaly', 0)} anomaly and {self.counts.get('mask', 0)} mask images")
        verdict = "clean" if self.clean else f"{len(self.problems)} problem(s)"
        return f"{self.layout} dataset {self.root}: {seen}: {verdict}"

    def as_dict(self) -> dict:
        return {"root": str(self.root), "layout": self.layout, "clean": self.clean, "counts": self.counts,
                "settings": self.settings,
                "problems": [asdict(p) for p in self.problems]}

    @classmethod
    def from_dict(cls, data: dict) -> "ValidationReport":
        """The report `as_dict` gave (`clean` follows from the problems)."""
        return cls(Path(data["root"]), data["layout"], [Problem(**p) for p in data["problems"]],
                   dict(data["counts"]), dict(data["settings"]))
