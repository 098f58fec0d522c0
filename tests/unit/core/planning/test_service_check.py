"""The engine's simulation check replays the parameters daily from the order lines."""

from __future__ import annotations

import numpy as np
import pytest

from core.planning.engine import EngineOptions, run_engine
from core.planning.policy import Policy, load_policy
from sandbox.demand_patterns import world

pytestmark = pytest.mark.unit


def _policy(review=0, method="auto"):
    return Policy(default={**load_policy().default.model_dump(), "service_level": 0.95, "service_type": "cycle",
                           "review_period_days": review, "ss_method": method})


def test_replay_reports_per_series_and_per_segment_and_pattern():
    frames, _, _ = world(20, 364, 1, seed=3)
    res = run_engine(frames, _policy(), EngineOptions())
    pl = res.product_locations
    assert pl["achieved_service"].between(0, 1).all() and (pl["replenishment_cycles"] > 0).all()
    assert (pl["holding_cost"] >= 0).all() and pl["avg_on_hand"].gt(0).all()
    sv = res.service
    assert set(sv["by"]) == {"segment", "pattern"}
    by_pattern = sv[sv["by"] == "pattern"].set_index("group")
    assert set(by_pattern.index) == set(pl["pattern"]) and by_pattern["series"].sum() == len(pl)
    assert {"target", "achieved", "gap", "fill_rate", "cycle_service_level", "holding_cost", "note"} <= set(sv)


def test_textbook_method_gap_is_explained_in_the_note():
    frames, _, _ = world(20, 364, 1, seed=3)
    res = run_engine(frames, _policy(method="normal"), EngineOptions())
    lumpy = res.service[(res.service["by"] == "pattern") & (res.service["group"] == "lumpy")].iloc[0]
    assert lumpy["gap"] < -0.02 and "textbook method" in lumpy["note"]


def test_bootstrap_replays_the_requested_number_of_days():
    frames, _, _ = world(5, 364, 1, seed=3)
    short = run_engine(frames, _policy(), EngineOptions(simulate_periods=100)).product_locations
    long = run_engine(frames, _policy(), EngineOptions(simulate_periods=3000)).product_locations
    assert long["replenishment_cycles"].sum() > 5 * short["replenishment_cycles"].sum()


def test_weekly_review_rows_are_replayed_as_order_up_to():
    frames, _, _ = world(10, 364, 1, seed=3)
    pl = run_engine(frames, _policy(review=7), EngineOptions()).product_locations
    live = pl[pl["abc"] != "none"]
    # order up to S every 7 days: about one arrival a week for series with demand most weeks
    smooth = live[live["pattern"] == "smooth"]
    assert np.all(smooth["replenishment_cycles"] >= 40)
