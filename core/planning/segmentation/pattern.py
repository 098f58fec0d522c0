"""Demand pattern by Syntetos-Boylan: ADI (periods / non-zero periods) and CV^2 of non-zero sizes.

Cuts ADI 1.32 and CV^2 0.49, inclusive on the low side (ADI == 1.32 counts as frequent):
smooth (frequent, stable sizes), erratic (frequent, variable), intermittent (infrequent, stable),
lumpy (infrequent, variable). No demand (ADI NaN/inf) is 'none'.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NONE = "none"
ADI_CUT = 1.32
CV2_CUT = 0.49
_EPS = 1e-9


def classify_demand_pattern(adi, cv2, adi_cut: float = ADI_CUT, cv2_cut: float = CV2_CUT):
    """SBC class per series; Series in -> Series out."""
    a = np.asarray(adi, dtype="float64")
    c = np.asarray(cv2, dtype="float64")
    a, c = np.broadcast_arrays(a, c)
    frequent = a <= adi_cut + _EPS
    stable = c <= cv2_cut + _EPS
    out = np.where(frequent, np.where(stable, "smooth", "erratic"),
                   np.where(stable, "intermittent", "lumpy")).astype(object)
    out[~np.isfinite(a) | ~np.isfinite(c)] = NONE
    return pd.Series(out, index=adi.index) if isinstance(adi, pd.Series) else out
