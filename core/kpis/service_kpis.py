"""Service to customers per segment and period: fill rate (units, complete lines), OTIF, and
promised against achieved (replay) against realised service.

Input `lines` (one row per order line that was not rejected): `segment`, `order_date`,
`requested_date`, `quantity`, `shipped_quantity`, `delivered_on` (date the shipped quantity
arrived; NaT when nothing shipped). `shipped_per_line` builds the last two from shipment lines
(partial deliveries visible) or, for orders without lines, order-level shipments.
A line counts in the period its requested date falls in (its order date when it has none): that
is when the customer expected it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.kpis.kpi_rows import ALL, Grid, empty_rows, frame_of, one_row, period_index, ratio_rows

SERVICE_KPIS = ("fill_rate_units", "fill_rate_lines", "otif")


def shipped_per_line(lines: pd.DataFrame, shipments: pd.DataFrame | None,
                     shipment_lines: pd.DataFrame | None = None) -> pd.DataFrame:
    """`lines` with `shipped_quantity` and `delivered_on` from the shipments.

    `shipment_lines` (the canonical `shipment_line`: `order_id`, `order_line_no`, `quantity`, ship and
    delivery date) are line-level: the lines of an order that has any take their quantities from them,
    so a partial delivery shows. The lines of other orders take them from `shipments`, line-level too
    when it has `line_no` and `quantity`, else order-level (see `_shipped`)."""
    if shipment_lines is None or shipment_lines.empty:
        return _shipped(lines, shipments)
    by_line = shipment_lines.drop(columns=["line_no"], errors="ignore").rename(columns={"order_line_no": "line_no"})
    from_lines = _shipped(lines, by_line)
    covered = lines["order_id"].isin(pd.unique(shipment_lines["order_id"])).to_numpy()
    if covered.all():
        return from_lines
    rest = _shipped(lines, shipments)
    for col in ("shipped_quantity", "delivered_on"):
        from_lines[col] = np.where(covered, from_lines[col].to_numpy(), rest[col].to_numpy())
    return from_lines


def _shipped(lines: pd.DataFrame, shipments: pd.DataFrame | None) -> pd.DataFrame:
    """Shipments with `line_no` and `quantity` are line-level: a line's shipped quantity is their sum and
    it arrived on the latest delivery date (ship date where no delivery date). An order-level shipment
    (one row per order, no quantities, as the canonical `shipment`) counts every line of its order as
    shipped in full on the order's latest delivery date, and an order without shipment as not shipped."""
    out = lines.copy(deep=False)  # new columns only: the caller's frame and its columns stay as they were
    if shipments is None or shipments.empty:
        out["shipped_quantity"] = 0.0
        out["delivered_on"] = pd.NaT
        return out
    arrived = pd.to_datetime(shipments["delivery_date"], errors="coerce") if "delivery_date" in shipments else None
    ship_date = pd.to_datetime(shipments["ship_date"], errors="coerce") if "ship_date" in shipments else None
    arrived = ship_date if arrived is None else (arrived if ship_date is None else arrived.fillna(ship_date))
    line_level = {"line_no", "quantity"} <= set(shipments.columns)
    keys = ["order_id", "line_no"] if line_level else ["order_id"]
    by = [shipments[k].to_numpy() for k in keys]
    last = pd.Series(arrived.to_numpy()).groupby(by, sort=False).max()
    pos = last.index.get_indexer(pd.MultiIndex.from_arrays([lines[k].to_numpy() for k in keys])
                                 if line_level else lines["order_id"].to_numpy())
    found = pos >= 0
    delivered = np.where(found, last.to_numpy()[np.maximum(pos, 0)], np.datetime64("NaT"))
    out["delivered_on"] = delivered.astype("datetime64[ns]")
    if line_level:
        qty = pd.Series(shipments["quantity"].to_numpy(float)).groupby(by, sort=False).sum()
        out["shipped_quantity"] = np.where(found, qty.to_numpy()[np.maximum(pos, 0)], 0.0)
    else:
        out["shipped_quantity"] = np.where(found & ~np.isnat(delivered), out["quantity"].to_numpy(float), 0.0)
    return out


def line_outcomes(lines: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per line: units filled (capped at the order), complete, on time, in full and on time."""
    qty = lines["quantity"].to_numpy(float)
    shipped = np.nan_to_num(lines["shipped_quantity"].to_numpy(float))
    complete = (shipped >= qty) & (qty > 0)
    req = pd.to_datetime(lines["requested_date"], errors="coerce").to_numpy()
    arrived = pd.to_datetime(lines["delivered_on"], errors="coerce").to_numpy()
    has_req = ~np.isnat(req)
    on_time = has_req & ~np.isnat(arrived) & (arrived <= req)
    return {"filled": np.clip(shipped, 0, np.maximum(qty, 0)), "qty": np.maximum(qty, 0), "complete": complete,
            "has_req": has_req, "otif": complete & on_time}


def due_period(lines: pd.DataFrame, period: str) -> np.ndarray:
    """The period each line was due in: its requested date, else its order date."""
    req = pd.to_datetime(lines["requested_date"], errors="coerce")
    return period_index(req.fillna(pd.to_datetime(lines["order_date"], errors="coerce")).to_numpy(), period)


def service_kpis(lines: pd.DataFrame, period: str = "week", grid: Grid | None = None) -> pd.DataFrame:
    """fill_rate_units, fill_rate_lines and otif per segment and period (see docs/kpis.md)."""
    if lines.empty:
        return empty_rows()
    per = due_period(lines, period)
    grid = grid or Grid.of(pd.unique(lines["segment"]), per, period)
    cells = grid.codes(grid.segment_codes(lines["segment"]), per)
    o = line_outcomes(lines)
    parts = [ratio_rows(grid, "fill_rate_units", grid.sum(cells, o["filled"]), grid.sum(cells, o["qty"])),
             ratio_rows(grid, "fill_rate_lines", grid.sum(cells, o["complete"]), grid.sum(cells)),
             ratio_rows(grid, "otif", grid.sum(cells, o["otif"]), grid.sum(cells, o["has_req"]))]
    return pd.concat(parts, ignore_index=True)


def promised_vs_achieved(pls: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Per product segment over the window: the service promised (mean target `service_level` of its
    product-locations), achieved in the planning replay (mean `achieved_service` and
    `achieved_fill_rate`), and realised (fill rate by units from the shipments)."""
    rows = []
    for seg, g in [*pls.groupby("segment", sort=True, observed=False), (ALL, pls)]:  # as before pandas 3
        for kpi, col in (("service_promised", "service_level"), ("service_achieved_replay", "achieved_service"),
                         ("fill_rate_achieved_replay", "achieved_fill_rate")):
            v = pd.to_numeric(g[col], errors="coerce") if col in g else pd.Series(dtype=float)
            n = int(v.notna().sum())
            rows.append(one_row(str(seg), kpi, float(v.mean()) if n else np.nan, numerator=float(v.sum()),
                                denominator=float(n), note=None if n else f"no {col} in the segment run"))
    if not lines.empty:
        o = line_outcomes(lines)
        frame = pd.DataFrame({"f": o["filled"], "q": o["qty"]})
        sums = frame.groupby(pd.Categorical(lines["segment"]), observed=True)[["f", "q"]].sum()
        sums.loc[ALL] = sums.sum()
        for seg, r in sums.iterrows():
            if r["q"] > 0:
                rows.append(one_row(str(seg), "service_realised", r["f"] / r["q"], numerator=r["f"],
                                    denominator=r["q"]))
    return frame_of(rows)
