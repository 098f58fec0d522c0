"""Lifecycle from first and last demand within the window: new, active, phase-out, obsolete.

Given period indexes of the first and last non-zero period (-1 when none) and the window length:
- obsolete: no demand in the last `obsolete_periods` periods (or none at all in the window);
- phase-out: no demand in the last `phase_out_periods` periods;
- new: first demand within the last `new_periods` periods;
- active: otherwise. A series with no demand at all is 'none'.
"""

from __future__ import annotations

import numpy as np

NONE = "none"


def classify_lifecycle(first_idx, last_idx, n_periods: int, new_periods: int = 13,
                       phase_out_periods: int = 13, obsolete_periods: int = 52) -> np.ndarray:
    """Lifecycle class per series (vectorised)."""
    first = np.asarray(first_idx)
    last = np.asarray(last_idx)
    since_last = (n_periods - 1) - last
    age = (n_periods - 1) - first
    out = np.full(first.shape, "active", dtype=object)
    out[age < new_periods] = "new"
    out[since_last >= phase_out_periods] = "phase-out"
    out[since_last >= min(obsolete_periods, n_periods)] = "obsolete"
    out[last < 0] = NONE
    return out
