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
    both = pd.concat([previous[[*KEYS, "value"]], current[[*KEYS, "value"]]], ignore_index=True)
    codes = [pd.factorize(both[k])[0].astype(np.int64) for k in KEYS]
    key = (codes[0] * (codes[1].max() + 1) + codes[1]) * (codes[2].max() + 1) + codes[2]
    n_prev = len(previous)
    pos = pd.Index(key[:n_prev]).get_indexer(key[n_prev:])  # each current row's row in the previous run
    cur = np.flatnonzero(pos >= 0)
    if not len(cur):
        return empty_rows()
    pair = codes[0][n_prev + cur] * (codes[2].max() + 1) + codes[2][n_prev + cur]  # (entity, dimension)
    dim_codes, pairs = pd.factorize(pair)
    first = n_prev + cur[np.unique(dim_codes, return_index=True)[1]]
    dim_names = _dimension(both["entity"].iloc[first].reset_index(drop=True),
                           both["dimension"].iloc[first].reset_index(drop=True))
    value_codes, values = pd.factorize(both["value"].astype(str))
    old, new = value_codes[pos[cur]], value_codes[n_prev + cur]
    nv = len(values)
    counts = np.bincount((dim_codes * nv + old) * nv + new, minlength=len(dim_names) * nv * nv)
    rows = [one_row(str(values[f]), "migration_count", float(counts[i]), scope=f"{dim_names[d]}->{values[t]}")
            for i in np.flatnonzero(counts) for d, f, t in [(i // (nv * nv), (i // nv) % nv, i % nv)]]
    changed = np.bincount(dim_codes, weights=old != new, minlength=len(dim_names))
    total = np.bincount(dim_codes, minlength=len(dim_names))
    rows += [one_row(ALL, "churn_rate", changed[d] / total[d], scope=str(dim_names[d]), numerator=float(changed[d]),
                     denominator=float(total[d])) for d in np.argsort(dim_names)]
    return frame_of(rows)
