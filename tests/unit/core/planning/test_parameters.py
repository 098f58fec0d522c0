"""Parameters as the ERP will use them: whole units, the order-up-to level in max_qty, calibrated levels,
unit cost from the product, and the source's current values carried for review."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning.engine import EngineOptions, run_engine
from core.planning.policy import Policy, load_policy

pytestmark = pytest.mark.unit


def _frames(seed=4, with_cost_on_pl=False):
    rng = np.random.default_rng(seed)
    days = pd.date_range("2025-01-06", periods=364, freq="D")
    rows = []
    for p, rate, size in (("P1", 0.9, 7), ("P2", 0.3, 3), ("P3", 0.05, 6)):
        for i, d in enumerate(days[rng.random(len(days)) < rate]):
            rows.append((f"{p}-{i}", "10", p, "DC", d, float(rng.poisson(size) + 1)))
    ol = pd.DataFrame(rows, columns=["order_id", "line_no", "product_id", "location_id", "order_date", "quantity"])
    products = pd.DataFrame({"id": ["P1", "P2", "P3"], "unit_price": 13.0, "unit_cost": 7.5, "category": "c"})
    pls = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "location_id": "DC", "lead_time_days": [7.0, 14.0, 21.0],
                        "current_safety_stock": [10.0, 5.0, 1.0], "current_reorder_point": [40.0, 20.0, 3.0]})
    if with_cost_on_pl:
        pls["unit_cost"] = 2.0
    return {"order_lines": ol, "products": products, "product_locations": pls}


def _policy(review=0, method="auto", stype="cycle", level=0.95) -> Policy:
    return Policy(default={**load_policy().default.model_dump(), "service_level": level, "service_type": stype,
                           "review_period_days": review, "ss_method": method})


@pytest.mark.parametrize("method", ["auto", "normal"])
def test_order_quantity_min_and_max_are_whole_units_without_an_order_multiple(method):
    pl = run_engine(_frames(), _policy(method=method), EngineOptions(simulate=False)).product_locations
    for c in ("order_quantity", "min_qty", "max_qty", "reorder_point", "safety_stock"):
        v = pl[c].to_numpy(float)
        assert np.isfinite(v).all() and (v == np.round(v)).all(), c
    assert (pl["order_quantity"] >= 1).all()


def test_periodic_review_holds_the_order_up_to_level_in_max_qty():
    pl = run_engine(_frames(), _policy(review=7), EngineOptions(simulate=False)).product_locations
    assert (pl["max_qty"] == pl["reorder_point"]).all() and (pl["min_qty"] == pl["reorder_point"]).all()
    cont = run_engine(_frames(), _policy(review=0), EngineOptions(simulate=False)).product_locations
    assert (cont["max_qty"] == cont["reorder_point"] + cont["order_quantity"]).all()


def test_auto_calibrates_every_stocked_row_and_says_so():
    pl = run_engine(_frames(), _policy(), EngineOptions(simulate=False)).product_locations
    assert set(pl["ss_method_used"]) == {"calibrated"}
    # the safety stock is what the calibrated level holds above the mean lead-time demand
    expected = np.ceil(np.round(np.maximum(pl["reorder_point"] - pl["mean"] * pl["lead_time"], 0), 6))
    assert (pl["safety_stock"] == expected).all() and (pl["reorder_point"] > 0).all()


def test_higher_target_gives_higher_calibrated_levels():
    lo = run_engine(_frames(), _policy(level=0.9), EngineOptions(simulate=False)).product_locations
    hi = run_engine(_frames(), _policy(level=0.99), EngineOptions(simulate=False)).product_locations
    assert (hi["reorder_point"].to_numpy() >= lo["reorder_point"].to_numpy()).all()
    assert hi["reorder_point"].sum() > lo["reorder_point"].sum()


def test_unit_cost_comes_from_the_product_when_the_location_has_none():
    pl = run_engine(_frames(), _policy(), EngineOptions(simulate=False)).product_locations
    assert (pl["unit_cost"] == 7.5).all()
    assert (pl["ss_value"] == pl["safety_stock"] * 7.5).all() and pl["ss_value"].sum() > 0
    own = run_engine(_frames(with_cost_on_pl=True), _policy(), EngineOptions(simulate=False)).product_locations
    assert (own["unit_cost"] == 2.0).all()  # the product-location's own cost wins


def test_current_values_of_the_source_are_carried_for_the_report():
    pl = run_engine(_frames(), _policy(), EngineOptions(simulate=False)).product_locations.set_index("product_id")
    assert pl.loc["P1", "current_safety_stock"] == 10.0 and pl.loc["P3", "current_reorder_point"] == 3.0


def test_review_rows_record_rule_method_and_achieved_service():
    res = run_engine(_frames(), _policy(), EngineOptions())
    par = res.parameters.set_index(["entity_key", "name"])
    assert par.loc[("P1|DC", "ss_method"), "value_text"] == "calibrated"
    assert par.loc[("P1|DC", "rule"), "value_text"] == "default"
    assert 0 <= par.loc[("P1|DC", "achieved_service"), "value_num"] <= 1
