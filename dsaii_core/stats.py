"""Per-class counts by stage, for the sidebar, the status command and the pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dsaii_core.workspace import Workspace


@dataclass(frozen=True)
class ClassStats:
    name: str
    kind: str
    normal: int        # kept normals
    candidate: int     # normals waiting for curation
    object_mask: int
    anomaly_mask: int
    anomaly: int       # anomalies not deleted or rejected
    accepted: int

    def as_dict(self) -> dict:
        return asdict(self)


def class_stats(ws: Workspace) -> list[ClassStats]:
    counts = ws.catalog.counts()
    return [ClassStats(name=c.name, kind=c.kind,
                       normal=counts[c.id].get("normal:kept", 0),
                       candidate=counts[c.id].get("normal:candidate", 0),
                       object_mask=counts[c.id].get("mask:object", 0),
                       anomaly_mask=counts[c.id].get("mask:anomaly", 0),
                       anomaly=counts[c.id].get("anomaly:pending", 0) + counts[c.id].get("anomaly:accepted", 0),
                       accepted=counts[c.id].get("anomaly:accepted", 0))
            for c in ws.catalog.classes()]
