"""Inventory per segment and period from on-hand snapshots: turns, days of supply, excess value,
stockout rate and stockout value. Without snapshots each is a row saying it is unavailable.

Inputs, joined by the integer `pl` code (a row number of `pls`):
  pls        `segment`, `unit_cost`, `max_qty` (the run's order-up-to level) per product-location
  snapshots  `pl`, `snapshot_date`, `on_hand` (and `unit_cost` where the source gives it)
  lines      `pl`, `segment`, `requested_date`, `order_date`, `quantity`, `shipped_quantity`,
             `unit_cost`, `unit_price` (per unit, from the order line)
Snapshots are taken on the same days across product-locations (a stock report): a period's average
inventory is the sum of its snapshot days' values over the number of those days, and its closing
inventory that of its last snapshot day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.kpis.kpi_rows import Grid, period_days, period_index, ratio_rows, sum_rows, unavailable
from core.kpis.service_kpis import due_period, line_outcomes

INVENTORY_KPIS = ("inventory_value_avg", "inventory_turns", "days_of_supply", "excess_value", "stockout_rate",
                  "stockout_value")
NO_ON_HAND = "unavailable: no on-hand data (inventory_snapshot is empty)"
_DAYS_PER_YEAR = 365.0
_CHUNK = 1 << 20  # snapshot rows per pass (8 MB per float column)


def inventory_kpis(pls: pd.DataFrame, snapshots: pd.DataFrame | None, lines: pd.DataFrame,
                   period: str = "week") -> pd.DataFrame:
    """The inventory KPIs (docs/kpis.md), or rows marking them unavailable when there is no on-hand."""
    if snapshots is None or snapshots.empty:
        return unavailable(pls["segment"].unique(), INVENTORY_KPIS, NO_ON_HAND)
    dates = _dates(snapshots["snapshot_date"])
    cal = _Calendar.of(dates, period)
    line_per = due_period(lines, period) if len(lines) else np.array([], dtype=np.int64)
    grid = Grid.of(pls["segment"].unique(), np.concatenate([cal.periods, line_per]), period)
    acc = _accumulate(pls, snapshots, dates, cal, grid)
    avg_value = acc["value"] / cal.days_in(grid)
    days = period_days(grid.periods, period)[None, :]
    cogs, stockout_value, lines_n = _line_sums(lines, line_per, grid, acc, len(pls))
    return pd.concat([
        sum_rows(grid, "inventory_value_avg", avg_value, acc["rows"], stock=True),
        ratio_rows(grid, "inventory_turns", cogs * _DAYS_PER_YEAR / days, avg_value),
        ratio_rows(grid, "days_of_supply", acc["closing_value"], cogs / days),
        sum_rows(grid, "excess_value", acc["excess"], acc["closing_rows"], stock=True),
        ratio_rows(grid, "stockout_rate", acc["zero"], acc["rows"]),
        sum_rows(grid, "stockout_value", stockout_value, lines_n),
    ], ignore_index=True)


def _dates(column: pd.Series) -> np.ndarray:
    """The snapshot dates as a datetime64 array (no copy when they already are)."""
    values = column.to_numpy()
    return values if np.issubdtype(values.dtype, np.datetime64) else pd.to_datetime(column).to_numpy()


@dataclass(frozen=True)
class _Calendar:
    """The snapshot days: the first, and per day since it its period and whether it closes its period."""

    first: int
    day_period: np.ndarray  # integer period of each day since `first`
    day_closing: np.ndarray  # the day is the last snapshot day of its period
    periods: np.ndarray  # integer periods that have snapshots
    count: dict  # integer period -> snapshot days in it
    period: str

    @classmethod
    def of(cls, dates: np.ndarray, period: str) -> _Calendar:
        first = int(dates.min().astype("datetime64[D]").astype(np.int64))
        last = int(dates.max().astype("datetime64[D]").astype(np.int64))
        seen = np.zeros(last - first + 1, dtype=bool)
        for i in range(0, len(dates), _CHUNK):
            seen[dates[i:i + _CHUNK].astype("datetime64[D]").astype(np.int64) - first] = True
        present = np.flatnonzero(seen) + first
        per_all = period_index((np.arange(last - first + 1) + first).astype("datetime64[D]"), period)
        per = per_all[present - first]
        closing = np.zeros(len(seen), dtype=bool)
        ends = np.r_[np.flatnonzero(np.diff(per)), len(per) - 1]  # present days are sorted: the last of each run
        closing[present[ends] - first] = True
        periods, count = np.unique(per, return_counts=True)
        return cls(first, per_all, closing, periods, dict(zip(periods.tolist(), count.tolist(), strict=True)), period)

    def days_in(self, grid: Grid) -> np.ndarray:
        """Snapshot days per grid period (at least 1), shaped to broadcast over segments."""
        return np.array([max(self.count.get(int(p), 0), 1) for p in grid.periods], dtype=float)[None, :]


def _accumulate(pls, snapshots, dates, cal: _Calendar, grid: Grid) -> dict:
    """Sums per segment and period over the snapshots, a chunk at a time: temporaries of a million
    rows are reused by the allocator, while whole-column ones (a hundred million rows) cost more in
    page faults than in arithmetic. Also marks (product-location, period) pairs out of stock."""
    n_per, n_cells = len(grid.periods), len(grid.segments) * len(grid.periods)
    seg = grid.segment_codes(pls["segment"])
    cost_pl = np.nan_to_num(pls["unit_cost"].to_numpy(float))
    max_pl = np.nan_to_num(pls["max_qty"].to_numpy(float), nan=np.inf) if "max_qty" in pls else \
        np.full(len(pls), np.inf)  # no order-up-to level: no excess
    day_pc = grid.period_codes(cal.day_period)
    pl_all, on_hand_all = snapshots["pl"].to_numpy(), snapshots["on_hand"].to_numpy(float)
    own_all = snapshots["unit_cost"].to_numpy(float) if "unit_cost" in snapshots else None
    sums = {k: np.zeros(n_cells + 1) for k in ("rows", "value", "closing_rows", "closing_value", "excess", "zero")}
    out = np.zeros(len(pls) * n_per, dtype=bool)
    counted = np.zeros(len(pls) * n_per, dtype=bool)
    for i in range(0, len(pl_all), _CHUNK):
        pl, on_hand = pl_all[i:i + _CHUNK], on_hand_all[i:i + _CHUNK]
        d = dates[i:i + _CHUNK].astype("datetime64[D]").astype(np.int64) - cal.first
        pc = day_pc[d]
        cells = np.where(seg[pl] >= 0, seg[pl] * n_per + pc, -1) + 1
        cost = cost_pl[pl] if own_all is None else _own_cost(own_all[i:i + _CHUNK], cost_pl[pl])
        value = np.maximum(on_hand, 0) * cost
        closing = np.where(cal.day_closing[d], cells, 0)
        zero = on_hand <= 0
        for key, idx, w in (("rows", cells, None), ("value", cells, value), ("closing_rows", closing, None),
                            ("closing_value", closing, value), ("excess", closing,
                                                                np.maximum(on_hand - max_pl[pl], 0) * cost),
                            ("zero", cells, zero)):
            sums[key] += np.bincount(idx, weights=w, minlength=n_cells + 1)
        out[pl[zero].astype(np.int64) * n_per + pc[zero]] = True
        counted[pl.astype(np.int64) * n_per + pc] = True
    shaped = {k: v[1:].reshape(len(grid.segments), n_per) for k, v in sums.items()}
    return shaped | {"out_of_stock": out, "counted": counted}


def _own_cost(own: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The snapshot's own unit cost where given, else the product-location's."""
    return np.where(np.isnan(own), base, own)


def _line_sums(lines, line_per, grid, acc, n_pl):
    """(cost of the units shipped, value of units not shipped where the product-location was out of
    stock at a snapshot of the period, lines) per segment and period. COGS counts only lines whose
    product-location has a snapshot in the period: turns and days of supply set it against that
    on-hand, so sales without a stock count beside them (another period, a product-location the
    stock report leaves out) would dilute them."""
    shape = (len(grid.segments), len(grid.periods))
    if lines.empty:
        return np.zeros(shape), np.zeros(shape), np.zeros(shape)
    o = line_outcomes(lines)
    lpc = grid.period_codes(line_per)
    cells = grid.codes(grid.segment_codes(lines["segment"]), line_per, lpc)
    lpl = lines["pl"].to_numpy()
    known = (lpl >= 0) & (lpc >= 0)
    at = np.where(known, lpl * len(grid.periods) + lpc, 0)
    counted = known & acc["counted"][at]
    cogs = grid.sum(cells, np.where(counted, o["filled"] * lines["unit_cost"].to_numpy(float), 0.0))
    hit = known & acc["out_of_stock"][at]
    unfilled = (o["qty"] - o["filled"]) * lines["unit_price"].to_numpy(float)
    return cogs, grid.sum(cells, np.where(hit, unfilled, 0.0)), grid.sum(cells)
