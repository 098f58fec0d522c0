"""Periods (Monday weeks, calendar months) and the ratio rows with their `all` totals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.kpis.kpi_rows import (
    Grid,
    period_days,
    period_index,
    period_label,
    ratio_rows,
    sum_rows,
    unavailable,
)

pytestmark = pytest.mark.unit


def test_weeks_start_on_monday_and_months_on_the_first():
    dates = pd.to_datetime(["2026-01-04", "2026-01-05", "2026-01-11", "2026-02-28"]).to_numpy()
    assert list(period_label(period_index(dates, "week"), "week")) == ["2025-12-29", "2026-01-05", "2026-01-05",
                                                                        "2026-02-23"]
    months = period_index(dates, "month")
    assert list(period_label(months, "month")) == ["2026-01-01"] * 3 + ["2026-02-01"]
    assert list(period_days(np.unique(months), "month")) == [31.0, 28.0]


def test_a_missing_date_has_no_period_and_an_unknown_period_kind_is_refused():
    assert period_index(pd.to_datetime(["2026-01-05", None]).to_numpy(), "week")[1] == -1
    with pytest.raises(ValueError, match="week, month"):
        period_index(pd.to_datetime(["2026-01-05"]).to_numpy(), "day")


def test_ratios_sum_numerators_and_denominators_for_the_totals():
    """A: 1/2 in week 1, 3/4 in week 2; B: 0/0 in week 1 (left out). all/all = 4/6, not the mean of ratios."""
    per = period_index(pd.to_datetime(["2026-01-05", "2026-01-12"]).to_numpy(), "week")
    grid = Grid.of(["A", "B"], per, "week")
    rows = ratio_rows(grid, "k", np.array([[1.0, 3.0], [0.0, 0.0]]), np.array([[2.0, 4.0], [0.0, 0.0]]))
    got = {(r.segment, r.period): r.value for r in rows.itertuples()}
    assert got == {("A", "2026-01-05"): 0.5, ("A", "2026-01-12"): 0.75, ("A", "all"): 4 / 6,
                   ("all", "2026-01-05"): 0.5, ("all", "2026-01-12"): 0.75, ("all", "all"): 4 / 6}


def test_a_stock_takes_the_last_period_as_its_window_value():
    per = period_index(pd.to_datetime(["2026-01-05", "2026-01-12"]).to_numpy(), "week")
    grid = Grid.of(["A"], per, "week")
    flow = sum_rows(grid, "f", np.array([[5.0, 7.0]]), np.ones((1, 2)))
    stock = sum_rows(grid, "s", np.array([[5.0, 7.0]]), np.ones((1, 2)), stock=True)
    assert flow.set_index(["segment", "period"]).loc[("A", "all"), "value"] == 12.0
    assert stock.set_index(["segment", "period"]).loc[("A", "all"), "value"] == 7.0


def test_a_stock_takes_the_last_period_that_has_one_when_the_lines_run_on():
    """Stock counted in week 1 only (segment A), in weeks 1 and 2 (B); week 3 has lines, no count."""
    per = period_index(pd.to_datetime(["2026-01-05", "2026-01-12", "2026-01-19"]).to_numpy(), "week")
    grid = Grid.of(["A", "B"], per, "week")
    stock = sum_rows(grid, "s", np.array([[5.0, 0.0, 0.0], [1.0, 2.0, 0.0]]),
                     np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), stock=True)
    window = stock[stock["period"] == "all"].set_index("segment")["value"].to_dict()
    assert window == {"A": 5.0, "B": 2.0, "all": 2.0}  # `all`: the last week any segment was counted


def test_unavailable_rows_carry_the_reason_and_no_value():
    rows = unavailable(["B", "A"], ["turns"], "no on-hand")
    assert list(rows["segment"]) == ["A", "B", "all"]
    assert rows["value"].isna().all() and set(rows["note"]) == {"no on-hand"}


def test_grid_codes_skip_unknown_segments_and_periods():
    per = period_index(pd.to_datetime(["2026-01-05"]).to_numpy(), "week")
    grid = Grid.of(["A"], per, "week")
    codes = grid.codes(grid.segment_codes(np.array(["A", "Z", "A"], dtype=object)), np.array([per[0], per[0], -1]))
    assert list(codes) == [0, -1, -1]
