"""Hand-computed fixtures of the KPI tests: tiny tables whose answers are worked out in the docstrings."""

from __future__ import annotations

import pandas as pd
import pytest


def kpi(rows: pd.DataFrame, name: str, segment: str = "all", period: str = "all", scope: str = "") -> pd.Series:
    """The one row of a KPI (fails when there is none or more than one)."""
    hit = rows[(rows["kpi"] == name) & (rows["segment"] == segment) & (rows["period"] == period)
               & (rows["scope"].fillna("") == scope)]
    assert len(hit) == 1, f"{name} {segment} {period} {scope}: {len(hit)} rows\n{rows}"
    return hit.iloc[0]


@pytest.fixture
def service_lines() -> pd.DataFrame:
    """Week of 2026-01-05: AX L1 10/10 on time, L2 6 of 10 (partial, early), L3 5/5 two days late;
    CZ L4 4 ordered, nothing shipped. Week of 2026-01-12: CZ L5 2/2 on its requested day."""
    d = pd.to_datetime
    return pd.DataFrame({
        "segment": ["AX", "AX", "AX", "CZ", "CZ"],
        "order_date": d(["2026-01-02"] * 4 + ["2026-01-09"]),
        "requested_date": d(["2026-01-07", "2026-01-07", "2026-01-08", "2026-01-08", "2026-01-14"]),
        "quantity": [10.0, 10.0, 5.0, 4.0, 2.0],
        "shipped_quantity": [10.0, 6.0, 5.0, 0.0, 2.0],
        "delivered_on": d(["2026-01-07", "2026-01-06", "2026-01-10", None, "2026-01-14"])})
