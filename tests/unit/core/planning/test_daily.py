"""The daily view of demand: per series and day from the order lines, sparse, with its statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning.daily import daily_demand, daily_stats, day_window, dense

pytestmark = pytest.mark.unit

KEYS = pd.DataFrame({"product_id": ["A", "B"], "location_id": ["DC", "DC"]})


def _lines(rows):
    return pd.DataFrame(rows, columns=["product_id", "location_id", "order_date", "quantity"])


def test_lines_of_a_day_are_summed_and_outside_lines_left_out():
    lines = _lines([("A", "DC", "2025-01-01", 2), ("A", "DC", "2025-01-01", 3), ("A", "DC", "2025-01-03", 1),
                    ("B", "DC", "2025-01-02", 4), ("B", "DC", "2024-12-31", 9),  # before the window
                    ("C", "DC", "2025-01-02", 7)])  # not a series of this run
    dd = daily_demand(lines, KEYS, "2025-01-01", 5)
    assert dense(dd, [0, 1]).tolist() == [[5, 0, 1, 0, 0], [0, 4, 0, 0, 0]]


def test_returns_netted_to_nothing_leave_no_demand_day():
    lines = _lines([("A", "DC", "2025-01-01", 3), ("A", "DC", "2025-01-01", -3), ("A", "DC", "2025-01-02", 2)])
    dd = daily_demand(lines, KEYS, "2025-01-01", 3)
    assert dense(dd, [0]).tolist() == [[0, 2, 0]]


def test_stats_give_share_of_demand_days_and_size_moments():
    lines = _lines([("A", "DC", "2025-01-01", 2), ("A", "DC", "2025-01-03", 4), ("B", "DC", "2025-01-02", 1.5)])
    st = daily_stats(daily_demand(lines, KEYS, "2025-01-01", 4))
    a, b = st.iloc[0], st.iloc[1]
    assert a["events"] == 2 and a["p"] == 0.5 and a["size_mean"] == 3 and a["size_var"] == 2
    assert a["daily_mean"] == 1.5 and bool(a["integer"]) and not bool(b["integer"])
    assert b["size_var"] == 0  # one demand day: no spread measured (the calibration assumes one)


def test_window_ends_at_the_last_order_day_not_the_end_of_its_week():
    starts = pd.DatetimeIndex(["2025-01-06", "2025-01-13"])  # two Monday weeks
    first, n = day_window(starts, 7.0, pd.Timestamp("2025-01-15"))
    assert first == np.datetime64("2025-01-06") and n == 10
    assert day_window(starts, 7.0)[1] == 14
