"""Segment stability between two consecutive segment runs: the migration matrix per dimension and
the churn rate (the share of entities present in both runs whose class changed).

Input: the runs' `segment_assignment` rows (`entity`, `entity_key`, `dimension`, `value`). Rows come out
with the previous class as `segment`, `scope` `<dimension>-><new class>` for `migration_count`, and
`scope` `<dimension>` for `churn_rate`; dimensions of customers and products are named
`customer.<dimension>` and `product.<dimension>`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.kpis.kpi_rows import ALL, empty_rows, frame_of, one_row

KEYS = ["entity", "entity_key", "dimension"]


def _dimension(entity: pd.Series, dimension: pd.Series) -> np.ndarray:
    """Product-location dimensions by their name, other entities' as `<entity>.<dimension>`."""
    dim = dimension.astype(str)
    return np.where(entity == "product_location", dim, entity.astype(str) + "." + dim)


def migration_kpis(previous: pd.DataFrame | None, current: pd.DataFrame) -> pd.DataFrame:
    """Migration counts and churn rate per dimension; nothing when there is no previous run."""
    if previous is None or previous.empty or current.empty:
        return empty_rows()
    both = previous[[*KEYS, "value"]].merge(current[[*KEYS, "value"]], on=KEYS, suffixes=("_from", "_to"))
    if both.empty:
        return empty_rows()
    both["dim"] = _dimension(both["entity"], both["dimension"])
    counts = both.groupby(["dim", "value_from", "value_to"], sort=True).size()
    rows = [one_row(str(f), "migration_count", float(n), scope=f"{d}->{t}") for (d, f, t), n in counts.items()]
    changed = (both["value_from"].astype(str) != both["value_to"].astype(str))
    churn = changed.groupby(both["dim"]).agg(["sum", "size"])
    rows += [one_row(ALL, "churn_rate", r["sum"] / r["size"], scope=str(d), numerator=float(r["sum"]),
                     denominator=float(r["size"])) for d, r in churn.iterrows()]
    return frame_of(rows)
