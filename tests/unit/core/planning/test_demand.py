"""Demand bucketing: zero periods counted, exclusions, stats conventions, outliers, lead times."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from basics.errors import DataError
from core.planning.demand import (
    DemandOptions,
    aggregate_by_product,
    bucket_demand,
    hampel,
    lead_times,
    period_index,
    series_stats,
)

pytestmark = pytest.mark.unit


def _lines(rows):
    return pd.DataFrame(rows, columns=["product_id", "location_id", "order_date", "quantity", "rejected",
                                       "promotion"]).assign(order_date=lambda f: pd.to_datetime(f["order_date"]))


def test_weekly_buckets_count_zero_periods():
    # Mondays 2024-01-01, -08, -15, -22; demand only in weeks 1 and 3
    lines = _lines([("P1", "DC", "2024-01-02", 5, False, False), ("P1", "DC", "2024-01-03", 3, False, False),
                    ("P1", "DC", "2024-01-17", 4, False, False), ("P1", "DC", "2024-01-23", 0, False, False)])
    h = bucket_demand(lines, DemandOptions(period="W", window=4, end_date=date(2024, 1, 28)))
    np.testing.assert_array_equal(h.matrix, [[8.0, 0.0, 4.0, 0.0]])
    assert h.period_starts[0] == pd.Timestamp("2024-01-01")
    s = h.stats.iloc[0]
    series = np.array([8.0, 0, 4, 0])
    assert s["mean"] == pytest.approx(series.mean())
    assert s["std"] == pytest.approx(series.std(ddof=1))
    assert s["nonzero"] == 2 and s["adi"] == pytest.approx(4 / 2)
    sizes = np.array([8.0, 4.0])
    assert s["cv2"] == pytest.approx((sizes.std(ddof=0) / sizes.mean()) ** 2)
    assert s["picks"] == 4  # order lines, the zero-quantity one included


def test_rejected_always_and_promotions_optionally_excluded():
    lines = _lines([("P1", "DC", "2024-01-02", 5, False, False), ("P1", "DC", "2024-01-02", 100, True, False),
                    ("P1", "DC", "2024-01-02", 50, False, True)])
    assert bucket_demand(lines, DemandOptions(window=1)).matrix.sum() == 55
    assert bucket_demand(lines, DemandOptions(window=1, exclude_promotions=True)).matrix.sum() == 5


def test_window_drops_older_lines_and_month_period():
    lines = _lines([("P1", "DC", "2023-01-15", 7, False, False), ("P1", "DC", "2024-03-31", 2, False, False),
                    ("P1", "DC", "2024-01-01", 1, False, False)])
    h = bucket_demand(lines, DemandOptions(period="M", window=3))
    np.testing.assert_array_equal(h.matrix, [[1.0, 0.0, 2.0]])
    assert list(h.period_starts.strftime("%Y-%m")) == ["2024-01", "2024-02", "2024-03"]


def test_day_period_index():
    assert period_index(np.array(["1970-01-02"], dtype="datetime64[D]"), "D")[0] == 1
    # 1970-01-05 was a Monday: it starts a new week
    w = period_index(np.array(["1970-01-04", "1970-01-05"], dtype="datetime64[D]"), "W")
    assert w[1] == w[0] + 1


def test_universe_adds_zero_series_and_keys_sorted():
    lines = _lines([("P2", "DC", "2024-01-02", 5, False, False)])
    uni = pd.DataFrame({"product_id": ["P1", "P2"], "location_id": ["DC", "DC"]})
    h = bucket_demand(lines, DemandOptions(window=2), universe=uni)
    assert h.keys["product_id"].tolist() == ["P1", "P2"]
    np.testing.assert_array_equal(h.matrix.sum(axis=1), [0, 5])
    assert np.isnan(h.stats.loc[0, "adi"]) and np.isnan(h.stats.loc[0, "cv"])


def test_missing_columns_and_empty_input_are_clear_errors():
    with pytest.raises(DataError, match="quantity"):
        bucket_demand(pd.DataFrame({"product_id": ["P"], "order_date": [pd.Timestamp("2024-01-01")]}))
    lines = _lines([("P1", "DC", "2024-01-02", 5, True, False)])
    with pytest.raises(DataError, match="no order lines"):
        bucket_demand(lines)


def test_one_nonzero_period_in_52_stats():
    m = np.zeros((1, 52))
    m[0, 7] = 10
    s = series_stats(m).iloc[0]
    assert s["adi"] == 52 and s["cv2"] == 0.0
    assert s["cv"] == pytest.approx(m[0].std(ddof=1) / m[0].mean())
    assert s["first_idx"] == 7 and s["last_idx"] == 7


def test_hampel_replaces_spike_but_keeps_intermittent_spikes():
    smooth = np.array([[10, 11, 9, 10, 100, 10, 11, 9, 10, 10.0]])
    out = hampel(smooth, 3, 3.0)
    assert out[0, 4] == pytest.approx(np.median(smooth[0, 1:8]))
    assert np.array_equal(np.delete(out[0], 4), np.delete(smooth[0], 4))
    sparse = np.array([[0, 0, 0, 0, 30, 0, 0, 0, 0, 0.0]])
    np.testing.assert_array_equal(hampel(sparse), sparse)


def test_aggregate_by_product_sums_locations():
    lines = _lines([("P1", "A", "2024-01-02", 5, False, False), ("P1", "B", "2024-01-09", 3, False, False),
                    ("P2", "A", "2024-01-09", 1, False, False)])
    agg = aggregate_by_product(bucket_demand(lines, DemandOptions(window=2)))
    assert agg.keys["product_id"].tolist() == ["P1", "P2"]
    np.testing.assert_array_equal(agg.matrix, [[5, 3], [0, 1]])
    assert agg.stats["picks"].tolist() == [2, 1]


def test_lead_times_receipts_then_master_then_default():
    keys = pd.DataFrame({"product_id": ["P1", "P2", "P3"], "location_id": ["DC"] * 3})
    rec = pd.DataFrame({"product_id": ["P1"] * 3, "location_id": ["DC"] * 3,
                        "order_date": pd.to_datetime(["2024-01-01"] * 3),
                        "receipt_date": pd.to_datetime(["2024-01-11", "2024-01-15", "2024-01-19"])})
    master = pd.DataFrame({"product_id": ["P1", "P2"], "location_id": ["DC", "DC"], "lead_time_days": [99.0, 21.0],
                           "lead_time_std_days": [0.0, 3.5]})
    lt = lead_times(keys, rec, master, "W", 14.0)
    assert lt["lead_time_source"].tolist() == ["receipts", "master", "default"]
    assert lt.loc[0, "lead_time_days"] == pytest.approx(14.0)
    assert lt.loc[0, "lead_time_std_days"] == pytest.approx(np.std([10, 14, 18], ddof=1))
    assert lt.loc[1, "lead_time"] == pytest.approx(3.0)  # 21 days = 3 weeks
    assert lt.loc[1, "lead_time_std"] == pytest.approx(0.5)
    assert lt.loc[2, "lead_time_days"] == 14.0


def test_categorical_location_ids_with_blanks_take_the_default_location():
    """Ids read as categoricals (Parquet, generated benches) bucket like text ones; a blank location is
    the default one (pandas refuses to fill a categorical with a value not among its categories)."""
    lines = _lines([("P1", "DC", "2024-01-02", 5, False, False), ("P1", None, "2024-01-03", 3, False, False)])
    cat = lines.assign(location_id=lines["location_id"].astype("category"))
    h = bucket_demand(cat, DemandOptions(period="W", window=1, end_date=date(2024, 1, 7)))
    assert sorted(h.keys["location_id"]) == ["-", "DC"]
    assert h.matrix.sum() == 8.0
