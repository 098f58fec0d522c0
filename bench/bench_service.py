"""Benchmark of the truth criterion: do the shipped default policy's parameters deliver their target
when replayed day by day, as an ERP runs them, on fresh demand from the same process?

Four demand patterns (smooth, erratic, intermittent, lumpy; `sandbox.demand_patterns`), 150 series
each by default, 364 days of history turned into order lines, parameters from the whole engine
(`run_engine` with the shipped policy, targets and review period set per cell), then 2,000 fresh
days replayed with `core.planning.simulation.simulate` (which shares no maths with the
calibration). Cells: cycle service 95 % and fill rate 98 %, continuous review and weekly review.
The same run computes the textbook normal method (`ss_method: normal`, the method the shipped policy
used before) as the reference: its achieved service and the safety-stock value ratio.

    python bench/bench_service.py                 # 150 series per pattern
    python bench/bench_service.py --variant alt   # other demand laws (log-normal, normal)
    python bench/bench_service.py --calibration 100000   # calibration time at 100k series
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.planning.engine import EngineOptions, run_engine  # noqa: E402
from core.planning.policy import load_policy  # noqa: E402
from core.planning.simulation import achieved, simulate  # noqa: E402
from sandbox.demand_patterns import PATTERNS, world  # noqa: E402

CELLS = [("cycle", 0.95, 0), ("fill_rate", 0.98, 0), ("cycle", 0.95, 7), ("fill_rate", 0.98, 7)]
TOLERANCE = 0.02


def cell_policy(service_type: str, level: float, review_days: int, method: str | None = None):
    """The shipped policy with every rule's target and review period set to the cell's."""
    pol = load_policy()
    for s in [pol.default, *pol.rules]:
        if s is pol.default or s.service_level is not None:
            s.service_level = level
        if s is pol.default or s.service_type is not None:
            s.service_type = service_type
        if s is pol.default or s.review_period_days is not None:
            s.review_period_days = review_days
        if method and (s is pol.default or s.ss_method is not None):
            s.ss_method = method
    return pol


def replay(pl: pd.DataFrame, fresh: np.ndarray, keys: pd.DataFrame) -> pd.DataFrame:
    """Replay each series' parameters on its fresh days; one row per series with pattern and cost."""
    pl = pl.set_index("product_id").loc[keys["product_id"]]
    review = np.rint(pl["review_period_days"].to_numpy(float)).astype(int)
    kind = "RS" if review.max() > 0 else "sQ"
    sim = simulate(fresh, pl["lead_time_days"].to_numpy(float), kind, pl["reorder_point"].to_numpy(float),
                   np.maximum(pl["order_quantity"].to_numpy(float), 1.0), np.maximum(review, 1))
    return pd.DataFrame({"pattern": keys["generated_pattern"].to_numpy(),
                         "achieved": achieved(sim, pl["service_type"].to_numpy()),
                         "ss_value": pl["ss_value"].to_numpy(float),
                         "on_hand_value": sim["avg_on_hand"].to_numpy() * pl["unit_cost"].to_numpy(float)})


def run_cells(per_pattern: int, fresh_days: int, seed: int, variant: str, methods=("auto", "normal")):
    """{method: DataFrame pattern x cell of mean achieved service}, and safety-stock and on-hand values."""
    frames, fresh, keys = world(per_pattern, 364, fresh_days, seed, variant)
    table, value = {}, {}
    for method in methods:
        cols, vals = {}, {}
        for stype, level, review in CELLS:
            res = run_engine(frames, cell_policy(stype, level, review, method), EngineOptions(simulate=False))
            r = replay(res.product_locations, fresh, keys)
            name = f"{'cycle' if stype == 'cycle' else 'fill'} {level:.0%} {'weekly' if review else 'continuous'}"
            cols[name] = r.groupby("pattern")["achieved"].mean()
            vals[name] = (r["ss_value"].sum(), r["on_hand_value"].sum())
        table[method] = pd.DataFrame(cols).loc[list(PATTERNS)]
        value[method] = vals
    return table, value


def targets() -> dict[str, float]:
    return {f"{'cycle' if s == 'cycle' else 'fill'} {lv:.0%} {'weekly' if r else 'continuous'}": lv
            for s, lv, r in CELLS}


def report(table, value) -> int:
    tg = targets()
    misses = 0
    for method, t in table.items():
        print(f"\n{method}: mean achieved service per pattern (target within {TOLERANCE:.0%} marked ok)")
        print(f"{'pattern':14s}" + "".join(f"{c:>24s}" for c in t.columns))
        for pat, row in t.iterrows():
            cells = []
            for c, v in row.items():
                ok = abs(v - tg[c]) <= TOLERANCE
                misses += (not ok) and method == "auto"
                cells.append(f"{v:.3f} {'ok' if ok else '--'}")
            print(f"{pat:14s}" + "".join(f"{x:>24s}" for x in cells))
    if "normal" in value:
        print("\nsafety-stock value and replayed average on-hand value, auto / normal (reference)")
        for c in tg:
            (ss_a, oh_a), (ss_n, oh_n) = value["auto"][c], value["normal"][c]
            print(f"  {c:24s} safety stock {ss_a:12,.0f} / {ss_n:12,.0f} = {ss_a / ss_n:5.2f}   "
                  f"on hand {oh_a:12,.0f} / {oh_n:12,.0f} = {oh_a / oh_n:5.2f}")
    print(f"\ncells off target (auto): {misses} of {len(CELLS) * len(PATTERNS)}")
    return misses


def calibration_figure(n: int) -> None:
    """Seconds for the daily view and calibration of n series (engine without the replay)."""
    per = max(n // 4, 1)
    frames, _, _ = world(per, 364, 1, 0)
    t = time.perf_counter()
    run_engine(frames, cell_policy("fill_rate", 0.98, 0, "normal"), EngineOptions(simulate=False))
    base = time.perf_counter() - t
    t = time.perf_counter()
    run_engine(frames, cell_policy("fill_rate", 0.98, 0, "auto"), EngineOptions(simulate=False))
    cal = time.perf_counter() - t
    print(f"{4 * per:,} series: engine with the normal method {base:.1f} s, with calibration {cal:.1f} s "
          f"(ratio {cal / base:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-pattern", type=int, default=150)
    ap.add_argument("--fresh-days", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variant", choices=["base", "alt"], default="base")
    ap.add_argument("--calibration", type=int, default=0, help="only time the calibration for this many series")
    args = ap.parse_args()
    if args.calibration:
        calibration_figure(args.calibration)
        return
    t = time.perf_counter()
    table, value = run_cells(args.per_pattern, args.fresh_days, args.seed, args.variant)
    misses = report(table, value)
    print(f"({time.perf_counter() - t:.0f} s)")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
