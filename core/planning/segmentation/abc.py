"""ABC classification by cumulative share of a measure (value, volume, picks, margin).

Conventions: items are ranked by the measure descending, ties broken by id ascending; thresholds
are inclusive (an item whose cumulative share, itself included, is <= 80 % is A); items with a
zero, negative or missing measure are 'none' and do not count towards the total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NONE = "none"
_EPS = 1e-9


def _check_thresholds(thresholds) -> tuple[float, ...]:
    t = tuple(float(x) for x in thresholds)
    if not t or any(b <= a for a, b in zip(t, t[1:], strict=False)) or t[0] <= 0 or t[-1] > 1:
        raise ValueError(f"ABC thresholds must rise strictly within (0, 1], got {thresholds!r}")
    return t


def cumulative_share(values, ids=None, groups=None) -> np.ndarray:
    """Cumulative share (itself included) of each item within its group, ranked by value descending
    then id ascending. NaN for items with no positive value."""
    v = np.asarray(values, dtype="float64")
    n = v.shape[0]
    pos = np.isfinite(v) & (v > 0)
    key_id = np.arange(n) if ids is None else pd.factorize(np.asarray(ids), sort=True)[0]
    grp = np.zeros(n, dtype=np.int64) if groups is None else pd.factorize(np.asarray(groups))[0]
    vv = np.where(pos, v, 0.0)
    order = np.lexsort((key_id, -vv, grp))
    g_sorted, v_sorted = grp[order], vv[order]
    cs = pd.Series(v_sorted).groupby(g_sorted).cumsum().to_numpy()
    tot = np.bincount(grp, weights=vv)[g_sorted]
    share = np.empty(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        share[order] = cs / tot
    return np.where(pos, share, np.nan)


def classes_from_share(share, thresholds=(0.8, 0.95), labels=("A", "B", "C")) -> np.ndarray:
    """Class letters from cumulative shares with inclusive thresholds; NaN -> 'none'."""
    t = _check_thresholds(thresholds)
    if len(labels) != len(t) + 1:
        raise ValueError(f"need {len(t) + 1} labels for {len(t)} thresholds, got {labels!r}")
    s = np.asarray(share, dtype="float64")
    idx = np.searchsorted(np.asarray(t) + _EPS, np.nan_to_num(s, nan=0.0), side="left")
    out = np.asarray(labels, dtype=object)[idx]
    out[np.isnan(s)] = NONE
    return out


def classify_abc(values, thresholds=(0.8, 0.95), ids=None, groups=None, labels=("A", "B", "C")):
    """ABC class per item (Series in -> Series out with the same index; ids default to the Series
    index, else the position)."""
    if ids is None and isinstance(values, pd.Series):
        ids = values.index.to_numpy()
    share = cumulative_share(values, ids=ids, groups=groups)
    out = classes_from_share(share, thresholds, labels)
    return pd.Series(out, index=values.index) if isinstance(values, pd.Series) else out
