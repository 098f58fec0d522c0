"""Values as the outbox keeps them (text) and the one comparison plan, apply and reconcile share.

Values are stored as text exactly as the target system receives them ("120.500", "A", "01"),
so comparing must be numeric where both sides are numbers ("120.5" equals "120.500") and
honour per-field tolerances; otherwise a value equals another only when the texts match.

Example:
    >>> same("120.5", "120.500")
    True
    >>> same("10", "10.4", Tolerance(absolute=0.5))
    True
"""

from __future__ import annotations

import math
from typing import Any

from core.writeback.writeback_settings import Tolerance


def to_text(value: Any) -> str | None:
    """A value as outbox text; None for nulls (None, NaN, empty)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return f"{value:.12g}"
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    text = str(value)
    return text if text != "" else None


def as_number(value: Any) -> float | None:
    """The number in a value, or None when it is not one (`inf`, `nan`, `1e309` are not numbers here)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def same(current: Any, intended: Any, tolerance: Tolerance | None = None) -> bool:
    """True when `current` already holds `intended` (numbers within tolerance, else equal text)."""
    a, b = to_text(current), to_text(intended)
    if a is None or b is None:
        return a is None and b is None
    x, y = as_number(a), as_number(b)
    if x is None or y is None:
        return a.strip() == b.strip()
    if tolerance is not None and tolerance.decimals is not None:
        x, y = round(x, tolerance.decimals), round(y, tolerance.decimals)
    diff = abs(x - y)
    if diff <= 1e-9 * max(1.0, abs(x), abs(y)):
        return True
    if tolerance is None:
        return False
    if tolerance.absolute is not None and diff <= tolerance.absolute:
        return True
    return tolerance.relative is not None and diff <= tolerance.relative * abs(x)


def direction(current: Any, intended: Any) -> int:
    """+1 for an increase, -1 for a decrease, 0 when not both numeric (a class change) or equal."""
    x, y = as_number(current), as_number(intended)
    if x is None or y is None or x == y:
        return 0
    return 1 if y > x else -1
