"""Benchmark of the engine's hot path: bucketing, classification, parameters.

Default: 1,000,000 product-locations (100,000 products x 10 locations) x 104 weekly periods from
about 20,000,000 order lines. `--n 100000` for the small case. Prints seconds per stage and peak
RSS. Targets (issue 4): <= 30 s end to end and <= 6 GB for 1M; <= 4 s for 100k. `--calibrate` also
times the calibration of `ss_method: auto` on the daily view (issue 15: reported on its own).

    python bench/bench_engine.py            # 1M
    python bench/bench_engine.py --n 100000
    python bench/bench_engine.py --n 100000 --calibrate
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.planning.daily import daily_demand, daily_stats, day_window  # noqa: E402
from core.planning.demand import DemandOptions, aggregate_by_product, bucket_demand, lead_times  # noqa: E402
from core.planning.engine import EngineOptions, _govern, classify_product_locations, classify_products  # noqa: E402
from core.planning.parameters import DailyInputs, compute_parameters  # noqa: E402
from core.planning.policy import load_policy, match_products  # noqa: E402

LOCATIONS = 10


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def generate(n_pl: int, weeks: int, lines_per_series: float, seed: int = 0):
    """Order lines with skewed (log-normal) rates per series: ABC, XYZ and SBC classes all occur."""
    rng = np.random.default_rng(seed)
    n_prod = max(n_pl // LOCATIONS, 1)
    rate = rng.lognormal(0.0, 1.2, n_pl)
    rate *= lines_per_series * n_pl / rate.sum()
    counts = rng.poisson(rate)
    series = np.repeat(np.arange(n_pl, dtype=np.int64), counts)
    n = len(series)
    prod_names = np.char.add("P", np.arange(n_prod).astype(str).astype("U8"))
    loc_names = np.char.add("L", np.arange(LOCATIONS).astype(str))
    lines = pd.DataFrame({
        "product_id": pd.Categorical.from_codes(series // LOCATIONS, categories=prod_names),
        "location_id": pd.Categorical.from_codes(series % LOCATIONS, categories=loc_names),
        "order_date": np.datetime64("2023-01-02") + rng.integers(0, weeks * 7, n).astype("timedelta64[D]"),
        "quantity": rng.integers(1, 12, n).astype("float64"),
    })
    price = rng.uniform(1, 100, n_prod)
    lines["net_value"] = lines["quantity"].to_numpy() * price[series // LOCATIONS]
    pls = pd.DataFrame({"product_id": np.repeat(prod_names, LOCATIONS), "location_id": np.tile(loc_names, n_prod),
                        "lead_time_days": rng.choice([7.0, 14.0, 21.0, 35.0], n_pl), "lead_time_std_days": 2.0,
                        "moq": 10.0, "order_multiple": 5.0, "unit_cost": np.repeat(price * 0.6, LOCATIONS)})
    return lines, pls


def run(n_pl: int, weeks: int = 104, lines_per_series: float = 20.0, calibrate: bool = False) -> dict[str, float]:
    t0 = time.perf_counter()
    lines, pls = generate(n_pl, weeks, lines_per_series)
    print(f"generated {len(lines):,} order lines for {n_pl:,} product-locations in "
          f"{time.perf_counter() - t0:.1f} s (not counted)", flush=True)
    policy = load_policy()
    policy.classification.window = weeks
    timings = {}
    t = time.perf_counter()
    hist = bucket_demand(lines, DemandOptions(period="W", window=weeks), universe=pls)
    timings["bucketing"] = time.perf_counter() - t
    daily = _daily(lines, hist) if calibrate else None
    del lines
    t = time.perf_counter()
    pl = classify_product_locations(hist, policy, None)
    prod = classify_products(aggregate_by_product(hist), policy)
    pl["product_abc"] = pl["product_id"].map(prod.set_index("product_id")["abc"])
    empty = pd.DataFrame(columns=["entity", "entity_key", "name", "value"])
    pl, prod, _ = _govern(pl, prod, policy, EngineOptions(), empty)
    timings["classification"] = time.perf_counter() - t
    t = time.perf_counter()
    match = match_products(pl, policy)
    pl = pd.concat([pl, match.settings], axis=1)
    pl["rule"] = match.rule
    lt = lead_times(hist.keys, None, pls, "W", 14.0)
    matched = pl
    pl = compute_parameters(matched, lt, hist, pls, "W")
    timings["parameters"] = time.perf_counter() - t
    timings["total"] = sum(timings.values())
    if daily is not None:  # the calibration's own figure, outside the hot path's total
        timings["daily view"] = daily[1]
        t = time.perf_counter()
        compute_parameters(matched, lt, hist, pls, "W", None, daily[0])
        timings["calibrated parameters"] = time.perf_counter() - t
    print(f"series {len(pl):,}  segments: " + ", ".join(f"{k} {v:,}" for k, v in
                                                         pl["segment"].value_counts().head(6).items()))
    return timings


def _daily(lines: pd.DataFrame, hist) -> tuple[DailyInputs, float]:
    """The daily view the calibration reads (timed: it is part of the calibration's figure)."""
    t = time.perf_counter()
    first, n_days = day_window(hist.period_starts, 7.0, lines["order_date"].max())
    dd = daily_demand(lines, hist.keys, first, n_days)
    return DailyInputs(daily_stats(dd), n_days), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="product-locations (default 1,000,000)")
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--lines-per-series", type=float, default=20.0)
    ap.add_argument("--calibrate", action="store_true", help="also time the daily view and the calibration "
                                                                 "of ss_method auto (reported apart from total)")
    args = ap.parse_args()
    timings = run(args.n, args.weeks, args.lines_per_series, args.calibrate)
    for k, v in timings.items():
        print(f"{k:15s} {v:7.2f} s")
    print(f"peak RSS        {peak_rss_gb():7.2f} GB (includes generating the data)")


if __name__ == "__main__":
    main()
