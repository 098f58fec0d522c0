"""Benchmark of the segment KPIs (core.kpis): every KPI for N product-locations x W weeks.

Generates coded frames in memory (no store: the maths is what is timed; reading a million
product-locations from the store is the adapter's and the database's cost), then times
`shipped_per_line` (order lines joined with order-level shipments) and `compute_all` (fill rate,
OTIF, promised vs realised, inventory from one on-hand snapshot per product-location and week,
customer segments with cost-to-serve, migration against a previous run, adherence from
reconciliation, quarantine, exceptions, write-back). Target: <= 30 s on 2 cores at 1M x 104.

    python bench/bench_kpis.py                       # 1,000,000 product-locations x 104 weeks
    python bench/bench_kpis.py --pls 100000          # smaller
    python bench/bench_kpis.py --workers 1           # the KPI families one after the other
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.kpis.all_kpis import KpiInputs, compute_all, segment_of  # noqa: E402
from core.kpis.service_kpis import shipped_per_line  # noqa: E402

SEGMENTS = np.array([f"{a}-{x}" for a in "ABC" for x in "XYZ"], dtype=object)
START = np.datetime64("2024-01-01")  # a Monday


def product_locations(rng, n: int) -> pd.DataFrame:
    keys = pd.Series(np.arange(n)).map("P{:07d}|DC".format)
    return pd.DataFrame({"entity_key": keys, "segment": pd.Categorical(SEGMENTS[rng.integers(0, 9, n)]),
                         "unit_cost": rng.uniform(1, 50, n), "max_qty": rng.uniform(10, 100, n),
                         "service_level": rng.choice([0.9, 0.95, 0.98], n), "achieved_service": rng.uniform(0.85, 1, n),
                         "achieved_fill_rate": rng.uniform(0.9, 1, n)})


def order_lines(rng, pls: pd.DataFrame, weeks: int, lines_per_pl_week: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lines of two per order on average; one shipment per order, 3 % of orders never shipped."""
    n = int(len(pls) * weeks * lines_per_pl_week)
    pl = rng.integers(0, len(pls), n)
    day = START + rng.integers(0, weeks * 7, n).astype("timedelta64[D]")
    order = np.arange(n) // 2
    qty = rng.integers(1, 50, n).astype(float)
    price = pls["unit_cost"].to_numpy()[pl] * 1.3
    lines = pd.DataFrame({"order_id": order, "line_no": np.arange(n) % 2, "pl": pl, "customer_id": order % 50_000,
                          "order_date": day, "requested_date": day + rng.integers(1, 10, n).astype("timedelta64[D]"),
                          "quantity": qty, "net_value": qty * price, "cost": qty * pls["unit_cost"].to_numpy()[pl]})
    orders = np.unique(order)
    shipped = orders[rng.random(len(orders)) > 0.03]
    first = np.searchsorted(order, shipped)
    ship = day[first] + rng.integers(0, 5, len(shipped)).astype("timedelta64[D]")
    ships = pd.DataFrame({"order_id": shipped, "customer_id": shipped % 50_000, "ship_date": ship,
                          "delivery_date": ship + rng.integers(1, 6, len(shipped)).astype("timedelta64[D]"),
                          "freight_cost": rng.uniform(5, 200, len(shipped)),
                          "mode": rng.choice(["PARCEL", "LTL", "TL", "AIR"], len(shipped))})
    return lines, ships


def snapshots(rng, n: int, weeks: int) -> pd.DataFrame:
    """One on-hand per product-location and week (Mondays), 4 % out of stock."""
    on_hand = rng.gamma(2.0, 20.0, n * weeks)
    on_hand[rng.random(n * weeks) < 0.04] = 0.0
    return pd.DataFrame({"pl": np.repeat(np.arange(n, dtype=np.int32), weeks),
                         "snapshot_date": np.tile(START + (np.arange(weeks) * 7).astype("timedelta64[D]"), n),
                         "on_hand": on_hand})


def governance(rng, pls: pd.DataFrame) -> dict:
    """Segments of this and a previous run (3 dimensions), intended values (2 systems x 2 fields),
    open exceptions on 2 % of them, pull counts and write-back changes."""
    n = len(pls)
    keys = pls["entity_key"].to_numpy()
    def seg(flip: float) -> pd.DataFrame:
        parts = []
        for dim, classes in (("segment", SEGMENTS), ("abc", np.array(list("ABC"))), ("xyz", np.array(list("XYZ")))):
            v = classes[rng.integers(0, len(classes), n)] if flip else classes[np.arange(n) % len(classes)]
            parts.append(pd.DataFrame({"entity": "product_location", "entity_key": keys, "dimension": dim, "value": v}))
        return pd.concat(parts, ignore_index=True)
    target = np.char.add('{"k": "', keys.astype(str))
    intended = pd.concat([pd.DataFrame({"system": s, "entity": "Plan", "target_key": target, "field": f,
                                        "pl": np.arange(n)}) for s in ("sap", "wms") for f in ("SS", "ROP")],
                         ignore_index=True)
    bad = intended.sample(frac=0.02, random_state=1)
    exceptions = pd.DataFrame({"system": bad["system"].to_numpy(), "entity": "Plan",
                               "entity_key": bad["target_key"].to_numpy(), "field": bad["field"].to_numpy(),
                               "kind": "value_mismatch", "status": rng.choice(["open", "resolved", "waived"], len(bad)),
                               "first_seen": pd.Timestamp("2025-06-01", tz="UTC")
                               + pd.to_timedelta(rng.integers(0, 200, len(bad)), unit="D")})
    counts = pd.DataFrame({"system": "sap", "entity": "order_line", "read": 100_000, "quarantined": 12,
                           "started_at": pd.date_range("2024-01-01", periods=104, freq="W", tz="UTC")})
    changes = pd.DataFrame({"system": rng.choice(["sap", "wms"], n), "state": rng.choice(
        ["applied", "applied", "rejected", "pending"], n), "updated_at": pd.Timestamp("2025-12-01", tz="UTC")})
    return {"segments": seg(0.0), "previous_segments": seg(0.1), "intended": intended, "exceptions": exceptions,
            "entity_counts": counts, "changes": changes}


def customer_segments(customer_id: np.ndarray) -> pd.Categorical:
    """Every third customer strategic, the others standard (codes, no strings per row)."""
    return pd.Categorical.from_codes((customer_id % 3 == 0).astype(np.int8), ["standard", "strategic"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pls", type=int, default=1_000_000, help="product-locations")
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--lines", type=float, default=0.2, help="order lines per product-location and week")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="processes for the KPI families (2 cores: 2)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t = time.perf_counter()
    pls = product_locations(rng, args.pls)
    lines, ships = order_lines(rng, pls, args.weeks, args.lines)
    snaps = snapshots(rng, args.pls, args.weeks)
    gov = governance(rng, pls)
    print(f"generated {args.pls:,} product-locations x {args.weeks} weeks: {len(lines):,} order lines, "
          f"{len(ships):,} shipments, {len(snaps):,} on-hand snapshots, {len(gov['intended']):,} intended values "
          f"in {time.perf_counter() - t:.1f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    t0, c0 = time.perf_counter(), time.process_time()
    lines = shipped_per_line(lines, ships)
    lines["segment"] = segment_of(pls, lines["pl"].to_numpy())
    lines["customer_segment"] = customer_segments(lines["customer_id"].to_numpy())
    lines["unit_cost"] = pls["unit_cost"].to_numpy()[lines["pl"].to_numpy()]
    lines["unit_price"] = lines["net_value"].to_numpy() / lines["quantity"].to_numpy()
    ships["customer_segment"] = customer_segments(ships["customer_id"].to_numpy())
    t1 = time.perf_counter()
    inputs = KpiInputs(pls, lines, ships, snaps, {"per_order": 5.0, "per_line": 1.0, "per_shipment": 3.0},
                       now=datetime(2026, 1, 1, tzinfo=UTC), **gov)
    rows = compute_all(inputs, "week", workers=args.workers)
    t2, c2 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"CPU of the forked workers: {kids.ru_utime + kids.ru_stime:.1f} s")
    print(f"join shipments to lines: {t1 - t0:.1f} s; compute_all ({args.workers} workers): {t2 - t1:.1f} s; "
          f"total {t2 - t0:.1f} s wall, {c2 - c0:.1f} s CPU in this process; {len(rows):,} KPI rows, {rows['kpi'].nunique()} KPIs; peak RSS {peak:.1f} GB; "
          f"load average after {os.getloadavg()[0]:.2f}")
    print("target <= 30 s:", "met" if t2 - t0 <= 30 else "NOT met")


if __name__ == "__main__":
    main()
