"""The truth criterion, small: the shipped default policy's parameters, replayed day by day as an ERP
runs them on fresh demand from the same process, deliver their targets on all four demand patterns.
(bench/bench_service.py runs the full size: 150 series per pattern, 2,000 fresh days.)"""

from __future__ import annotations

import numpy as np
import pytest

from core.planning.engine import EngineOptions, run_engine
from core.planning.policy import load_policy
from core.planning.simulation import achieved, simulate
from sandbox.demand_patterns import PATTERNS, world

pytestmark = pytest.mark.e2e

CELLS = [("cycle", 0.95, 0), ("fill_rate", 0.98, 0), ("cycle", 0.95, 7), ("fill_rate", 0.98, 7)]
TOLERANCE = 0.03  # 60 series and 1,000 days per cell: the full benchmark holds 0.02


def _cell_policy(stype, level, review):
    pol = load_policy()  # the shipped default policy, every rule's target and review set to the cell's
    for s in [pol.default, *pol.rules]:
        s.service_level = level if s is pol.default or s.service_level is not None else None
        s.service_type = stype if s is pol.default or s.service_type is not None else None
        s.review_period_days = review if s is pol.default or s.review_period_days is not None else None
    return pol


@pytest.fixture(scope="module")
def bench_world():
    return world(60, 364, 1000, seed=11)


@pytest.mark.parametrize("stype, level, review", CELLS)
def test_shipped_policy_meets_its_target_on_every_pattern(bench_world, stype, level, review):
    frames, fresh, keys = bench_world
    pl = run_engine(frames, _cell_policy(stype, level, review), EngineOptions(simulate=False)).product_locations
    pl = pl.set_index("product_id").loc[keys["product_id"]]
    assert set(pl["ss_method_used"]) == {"calibrated"}
    sim = simulate(fresh, pl["lead_time_days"].to_numpy(float), "RS" if review else "sQ",
                   pl["reorder_point"].to_numpy(float), np.maximum(pl["order_quantity"].to_numpy(float), 1.0),
                   max(review, 1))
    got = keys.assign(a=achieved(sim, np.full(len(keys), stype))).groupby("generated_pattern")["a"].mean()
    for pattern in PATTERNS:
        assert abs(got[pattern] - level) <= TOLERANCE, (pattern, round(got[pattern], 3))
