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

import numpy as np
import pandas as pd

from core.kpis.kpi_rows import Grid, period_days, period_index, ratio_rows, sum_rows, unavailable
from core.kpis.service_kpis import due_period, line_outcomes

INVENTORY_KPIS = ("inventory_value_avg", "inventory_turns", "days_of_supply", "excess_value", "stockout_rate",
                  "stockout_value")
NO_ON_HAND = "unavailable: no on-hand data (inventory_snapshot is empty)"
_DAYS_PER_YEAR = 365.0


def inventory_kpis(pls: pd.DataFrame, snapshots: pd.DataFrame | None, lines: pd.DataFrame,
                   period: str = "week") -> pd.DataFrame:
    """The inventory KPIs (docs/kpis.md), or rows marking them unavailable when there is no on-hand."""
    if snapshots is None or snapshots.empty:
        return unavailable(pls["segment"].unique(), INVENTORY_KPIS, NO_ON_HAND)
    pl = snapshots["pl"].to_numpy()
    day = pd.to_datetime(snapshots["snapshot_date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    per = period_index(day.astype("datetime64[D]"), period)
    line_per = due_period(lines, period) if len(lines) else np.array([], dtype=np.int64)
    grid = Grid.of(pls["segment"].unique(), np.concatenate([per, line_per]), period)
    seg_of_pl = grid.segment_codes(pls["segment"].to_numpy())
    cells = grid.codes(seg_of_pl[pl], per)
    cost = _snapshot_cost(pls, snapshots, pl)
    on_hand = snapshots["on_hand"].to_numpy(float)
    value = np.maximum(on_hand, 0) * cost
    n_days, last_day = _snapshot_days(day, per, grid)
    closing = day == last_day[np.clip(np.searchsorted(grid.periods, per), 0, len(grid.periods) - 1)]
    avg_value = grid.sum(cells, value) / n_days
    end_value = grid.sum(np.where(closing, cells, -1), value)
    days = period_days(grid.periods, period)[None, :]
    cogs, stockout_value, lines_n = _line_sums(lines, line_per, grid, pl, per, on_hand, len(pls))
    max_qty = pls["max_qty"].to_numpy(float)[pl] if "max_qty" in pls else np.full(len(pl), np.nan)
    excess = np.where(np.isnan(max_qty), 0.0, np.maximum(on_hand - np.nan_to_num(max_qty), 0)) * cost
    closing_cells = np.where(closing, cells, -1)
    return pd.concat([
        sum_rows(grid, "inventory_value_avg", avg_value, grid.sum(cells), stock=True),
        ratio_rows(grid, "inventory_turns", cogs * _DAYS_PER_YEAR / days, avg_value),
        ratio_rows(grid, "days_of_supply", end_value, cogs / days),
        sum_rows(grid, "excess_value", grid.sum(closing_cells, excess), grid.sum(closing_cells), stock=True),
        ratio_rows(grid, "stockout_rate", grid.sum(cells, on_hand <= 0), grid.sum(cells)),
        sum_rows(grid, "stockout_value", stockout_value, lines_n),
    ], ignore_index=True)


def _snapshot_cost(pls: pd.DataFrame, snapshots: pd.DataFrame, pl: np.ndarray) -> np.ndarray:
    """Unit cost per snapshot row: the snapshot's own where given, else the product-location's."""
    base = np.nan_to_num(pls["unit_cost"].to_numpy(float))[pl]
    if "unit_cost" in snapshots:
        own = snapshots["unit_cost"].to_numpy(float)
        return np.where(np.isnan(own), base, own)
    return base


def _snapshot_days(day: np.ndarray, per: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(distinct snapshot days per period, shaped to broadcast over segments; last snapshot day per period)."""
    first = day.min()
    present = np.flatnonzero(np.bincount(day - first)) + first
    p = period_index(present.astype("datetime64[D]"), grid.period)
    pc = np.searchsorted(grid.periods, p)
    count = np.bincount(pc, minlength=len(grid.periods)).astype(float)
    last = np.full(len(grid.periods), np.iinfo(np.int64).min)
    np.maximum.at(last, pc, present)
    return np.maximum(count, 1.0)[None, :], last


def _line_sums(lines, line_per, grid, pl, per, on_hand, n_pl):
    """(cost of the units shipped, value of units not shipped where the product-location was out of
    stock at a snapshot of the period, lines) per segment and period."""
    shape = (len(grid.segments), len(grid.periods))
    if lines.empty:
        return np.zeros(shape), np.zeros(shape), np.zeros(shape)
    o = line_outcomes(lines)
    cells = grid.codes(grid.segment_codes(lines["segment"].to_numpy()), line_per)
    cogs = grid.sum(cells, o["filled"] * np.nan_to_num(lines["unit_cost"].to_numpy(float)))
    pc = np.clip(np.searchsorted(grid.periods, per), 0, len(grid.periods) - 1)
    out = np.zeros(n_pl * max(len(grid.periods), 1), dtype=bool)
    out[(pl * len(grid.periods) + pc)[on_hand <= 0]] = True
    lpl = lines["pl"].to_numpy()
    lpc = np.clip(np.searchsorted(grid.periods, line_per), 0, len(grid.periods) - 1)
    hit = (lpl >= 0) & out[np.where(lpl >= 0, lpl, 0) * len(grid.periods) + lpc]
    unfilled = (o["qty"] - o["filled"]) * np.nan_to_num(lines["unit_price"].to_numpy(float))
    return cogs, grid.sum(cells, np.where(hit, unfilled, 0.0)), grid.sum(cells)
