"""Published results shipped in data/reference/, as tables in our metric names (values as fractions 0..1).

- dsaii_reference/: the only DSAII numbers (means over its 78 classes): PatchCore 57.2 / 87.5 and
  SimpleNet 69.1 / 65.3 image / pixel AUROC % (NTHU-CVLAB-Synthetic-Images README, MIT).
- patchcore_results/: the official PatchCore per-class MVTec AD results (amazon-science/patchcore-inspection,
  Apache-2.0), one CSV per configuration.
- anomalib_benchmarks/: per-class MVTec AD tables from anomalib's model READMEs (Apache-2.0).
Each folder's README gives the source commit and license.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "data" / "reference"
PATCHCORE_DEFAULT = "IM224_WR50_L2-3_P01_D1024-1024_PS-3_AN-1"
_PATCHCORE_COLUMNS = {"instance_auroc": "image_auroc", "full_pixel_auroc": "pixel_auroc", "full_pro": "aupro"}
_ANOMALIB_METRICS = {"Image-Level AUC": "image_auroc", "Pixel-Level AUC": "pixel_auroc",
                     "Image F1 Score": "f1_max", "Pixel F1 Score": "pixel_f1_max"}
COLUMNS = ["source", "class", "metric", "value"]


@lru_cache(maxsize=1)
def dsaii_means() -> pd.DataFrame:
    """The DSAII paper's means: source ('DSAII PatchCore' / 'DSAII SimpleNet'), class 'mean', metric, value."""
    table = pd.read_csv(REFERENCE_DIR / "dsaii_reference" / "dsaii_readme_results.csv")
    rows = [{"source": f"DSAII {r.method}", "class": "mean", "metric": metric, "value": getattr(r, column) / 100}
            for r in table.itertuples() for column, metric in (("mean_image_auroc_pct", "image_auroc"),
                                                               ("mean_pixel_auroc_pct", "pixel_auroc"))]
    return pd.DataFrame(rows, columns=COLUMNS)


def patchcore_configs() -> list[str]:
    return sorted(p.stem for p in (REFERENCE_DIR / "patchcore_results").glob("*.csv"))


@lru_cache(maxsize=8)
def patchcore_mvtec(config: str = PATCHCORE_DEFAULT) -> pd.DataFrame:
    """Official PatchCore per-class MVTec AD results of one configuration (class 'mean' for the mean)."""
    table = pd.read_csv(REFERENCE_DIR / "patchcore_results" / f"{config}.csv")
    rows = []
    for record in table.to_dict("records"):
        name = str(record["Row Names"])
        name = "mean" if name.lower() == "mean" else name.removeprefix("mvtec_")
        rows += [{"source": f"PatchCore {config}", "class": name, "metric": metric, "value": float(record[column])}
                 for column, metric in _PATCHCORE_COLUMNS.items()]
    return pd.DataFrame(rows, columns=COLUMNS)


@lru_cache(maxsize=1)
def _anomalib_raw() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "anomalib_benchmarks" / "anomalib_mvtec_readme_tables.csv")


def anomalib_sources() -> list[str]:
    """'anomalib <model> (<config>)' for every table shipped."""
    raw = _anomalib_raw()
    return sorted({f"anomalib {m} ({c})" for m, c in zip(raw["model"], raw["config"])})


def anomalib_mvtec(source: str) -> pd.DataFrame:
    """One anomalib table (see anomalib_sources) in our metric names; class 'mean' for anomalib's 'avg'."""
    raw = _anomalib_raw()
    raw = raw[[f"anomalib {m} ({c})" == source for m, c in zip(raw["model"], raw["config"])]]
    raw = raw[raw["metric"].isin(_ANOMALIB_METRICS)]
    return pd.DataFrame({"source": source, "class": raw["category"].replace({"avg": "mean"}),
                         "metric": raw["metric"].map(_ANOMALIB_METRICS), "value": raw["value"].astype(float)},
                        columns=COLUMNS).reset_index(drop=True)


def reference_sources() -> list[str]:
    """Every per-class reference table, PatchCore's default configuration first."""
    patchcore = [f"PatchCore {c}" for c in [PATCHCORE_DEFAULT] + [c for c in patchcore_configs() if c != PATCHCORE_DEFAULT]]
    return patchcore + anomalib_sources()


def reference_table(source: str) -> pd.DataFrame:
    """A per-class reference table by its name in reference_sources()."""
    if source.startswith("PatchCore "):
        return patchcore_mvtec(source.removeprefix("PatchCore "))
    return anomalib_mvtec(source)
