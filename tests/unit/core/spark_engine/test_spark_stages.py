"""The per-partition stages are the engine's own functions on part of the series: split the series in
two halves, hand each half the global values, and the halves give what the whole gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.planning import engine as eng
from core.planning.demand import bucket_demand
from core.planning.policy import load_policy
from core.spark_engine import spark_stages as st
from tests.e2e.spark_fixtures import parity_frames

POL = load_policy()


def test_last_demand_day_skips_rejected_lines_and_unusable_batches():
    lines = pd.DataFrame({"product_id": ["A", "A", "B"], "order_date": pd.to_datetime(["2025-01-02", "2025-03-01",
                                                                                        "2025-02-01"]),
                          "quantity": [1.0, 2.0, 3.0], "rejected": [False, True, False]})
    assert st.last_demand_day(lines, POL)["last_day"].tolist() == [pd.Timestamp("2025-02-01")]
    bad = pd.DataFrame({"product_id": [""], "order_date": pd.to_datetime(["2025-01-01"]), "quantity": [1.0]})
    assert st.last_demand_day(bad, POL).empty


def test_window_days_is_the_engines_daily_window():
    frames = parity_frames()
    lines = frames["order_lines"]
    last = lines.loc[~lines["rejected"] & (lines["quantity"] > 0), "order_date"].max().date()
    dopts = st.demand_options(POL, None)
    hist = bucket_demand(lines, dopts)
    dd, _ = eng._daily(lines, hist, dopts)
    first, n_days, starts = st.window_days(POL, last)
    assert (first, n_days) == (dd.first_day, dd.n_days)
    assert (starts == hist.period_starts).all()


def test_series_of_two_buckets_equal_the_whole():
    frames = parity_frames()
    lines, pls = frames["order_lines"], frames["product_locations"]
    last = lines.loc[~lines["rejected"], "order_date"].max().date()
    whole = st.series_stage(lines, {"product_locations": pls, "products": frames["products"], "receipts": None},
                            POL, last)
    first = lambda f: f["product_id"] < "P012"  # noqa: E731 - a bucket: whole products
    parts = pd.concat([st.series_stage(lines[first(lines) == side], {
        "product_locations": pls[first(pls) == side], "products": frames["products"], "receipts": None}, POL, last)
        for side in (True, False)], ignore_index=True)
    key = ["_kind", "product_id", "location_id"]
    a = whole.sort_values(key, na_position="first").reset_index(drop=True)
    b = parts.sort_values(key, na_position="first").reset_index(drop=True)
    assert len(a[a["_kind"] == "pl"]) > 60 and (a["_kind"] == "product").any()
    for c in ["mean", "std", "cv", "adi", "cv2", "quantity", "picks", "value", "p", "size_mean", "lead_time"]:
        np.testing.assert_allclose(a[c].astype(float), b[c].astype(float), rtol=1e-12, equal_nan=True, err_msg=c)
    assert (a["valued"] == b["valued"]).all()


def test_abc_values_follow_the_group_flag():
    rows = pd.DataFrame({"value": [0.0, 5.0], "quantity": [3.0, 2.0], "group_valued": [False, True]})
    out = st.abc_values(rows, "value")
    assert out["abc_basis"].tolist() == ["volume", "value"]
    assert out["abc_value"].tolist() == [3.0, 5.0]


def test_master_frames_rebuild_what_compute_parameters_reads():
    rows = pd.DataFrame({"product_id": ["A", "B"], "location_id": ["L", "L"], "m_present": [True, False],
                         "m_moq": [10.0, np.nan], "p_present": [True, True], "p_unit_cost": [2.0, 3.0]})
    pls, products = st.master_frames(rows)
    assert pls.to_dict("records") == [{"product_id": "A", "location_id": "L", "moq": 10.0}]
    assert products.to_dict("records") == [{"id": "A", "unit_cost": 2.0}, {"id": "B", "unit_cost": 3.0}]


def test_shares_join_their_rows_by_kind_and_key_products_without_location():
    rows = pd.DataFrame({"_kind": ["pl", "pl", "product"], "product_id": ["A", "B", "A"],
                         "location_id": ["L1", "L1", None], "mean": [1.0, 2.0, 3.0]})
    shares = pd.DataFrame({"_kind": ["product", "pl", "pl"], "product_id": ["A", "B", "A"],
                           "location_id": [None, "L1", "L1"], "abc_value": [9.0, 8.0, 7.0],
                           "abc_basis": ["value"] * 3, "abc_share": [1.0, 0.5, 0.9], "velocity_share": [np.nan, 0.4, 1.0]})
    out = st.with_shares(rows, shares)
    assert out["mean"].tolist() == [1.0, 2.0, 3.0]
    assert out["abc_value"].tolist() == [7.0, 8.0, 9.0] and out["abc_share"].tolist() == [0.9, 0.5, 1.0]
    assert out["location_id"].tolist() == ["L1", "L1", None]


def test_the_period_matrix_is_kept_only_where_empirical_safety_stock_reads_it():
    assert not st.needs_matrix(POL)  # the shipped policy: no rule on empirical
    rules = [r.model_copy(update={"ss_method": "empirical"}) if r.name == "A-X" else r for r in POL.rules]
    assert st.needs_matrix(POL.model_copy(update={"rules": rules}))
    rows = pd.DataFrame({"matrix": [np.array([1.0, 2.0]), None]})
    np.testing.assert_array_equal(st._matrix(rows), [[1.0, 2.0], [0.0, 0.0]])
    assert st._matrix(pd.DataFrame({"x": [1, 2]})).shape == (2, 0)
