"""XYZ classification by the coefficient of variation of per-period demand.

Inclusive thresholds: cv <= 0.5 is X, cv <= 1.0 is Y, else Z. A series with no demand (cv NaN)
is 'none'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NONE = "none"
_EPS = 1e-9


def classify_xyz(cv, thresholds=(0.5, 1.0), labels=("X", "Y", "Z")):
    """XYZ class per series; Series in -> Series out."""
    t = tuple(float(x) for x in thresholds)
    if len(t) != len(labels) - 1 or any(b <= a for a, b in zip(t, t[1:], strict=False)) or t[0] < 0:
        raise ValueError(f"XYZ thresholds must rise strictly and be >= 0, got {thresholds!r}")
    c = np.asarray(cv, dtype="float64")
    idx = np.searchsorted(np.asarray(t) + _EPS, np.nan_to_num(c, nan=0.0), side="left")
    out = np.asarray(labels, dtype=object)[idx]
    out[~np.isfinite(c)] = NONE
    return pd.Series(out, index=cv.index) if isinstance(cv, pd.Series) else out
