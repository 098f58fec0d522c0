"""ABC / XYZ / Syntetos-Boylan / lifecycle / customer segmentation conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning.segmentation import (
    classify_abc,
    classify_customers,
    classify_demand_pattern,
    classify_lifecycle,
    classify_xyz,
    customer_metrics,
    kmeans_segments,
    rule_segments,
)

pytestmark = pytest.mark.unit


def test_abc_inclusive_thresholds():
    # cumulative shares 0.4, 0.8, 0.9, 0.95, 1.0: exactly 80 % is A, exactly 95 % is B
    values = pd.Series([40, 40, 10, 5, 5], index=["P1", "P2", "P3", "P4", "P5"])
    assert classify_abc(values).tolist() == ["A", "A", "B", "B", "C"]


def test_abc_tie_at_boundary_broken_by_product_id():
    # P3 (40) first, then the tie at 30: the lower id takes the A slot (cum 0.7), the other is C
    values = pd.Series([30.0, 30.0, 40.0], index=["P2", "P1", "P3"])
    got = classify_abc(values, thresholds=(0.7, 0.9))
    assert got.to_dict() == {"P2": "C", "P1": "A", "P3": "A"}
    swapped = pd.Series([30.0, 30.0, 40.0], index=["P1", "P2", "P3"])
    assert classify_abc(swapped, thresholds=(0.7, 0.9)).to_dict() == {"P1": "A", "P2": "C", "P3": "A"}


def test_abc_no_demand_is_none_and_not_counted():
    values = pd.Series([80.0, 0.0, 20.0, np.nan], index=list("abcd"))
    assert classify_abc(values).tolist() == ["A", "none", "C", "none"]


def test_abc_per_group():
    got = classify_abc(np.array([90.0, 10.0, 10.0, 90.0]), ids=["P1", "P2", "P1", "P2"],
                       groups=["DC1", "DC1", "DC2", "DC2"])
    # 90 % share alone exceeds 80 %: B (0.9 <= 0.95); the 10 % item then reaches 100 %: C
    assert got.tolist() == ["B", "C", "C", "B"]


def test_abc_rejects_bad_thresholds():
    with pytest.raises(ValueError, match="rise strictly"):
        classify_abc([1, 2], thresholds=(0.95, 0.8))


def test_xyz_inclusive_and_none():
    got = classify_xyz(np.array([0.0, 0.5, 0.5001, 1.0, 1.2, np.nan]))
    assert got.tolist() == ["X", "X", "Y", "Y", "Z", "none"]


def test_sbc_quadrants_and_cuts():
    adi = np.array([1.0, 1.32, 1.33, 1.0, 2.0, np.nan])
    cv2 = np.array([0.2, 0.49, 0.49, 0.5, 1.0, np.nan])
    assert classify_demand_pattern(adi, cv2).tolist() == ["smooth", "smooth", "intermittent", "erratic",
                                                          "lumpy", "none"]


def test_one_nonzero_period_in_52_is_intermittent_and_z():
    series = np.zeros(52)
    series[30] = 12.0
    adi = 52 / 1
    cv2 = 0.0  # a single non-zero size has no dispersion (ddof=0)
    assert classify_demand_pattern(adi, cv2) == "intermittent"
    cv = series.std(ddof=1) / series.mean()
    assert classify_xyz(np.array([cv]))[0] == "Z"


def test_lifecycle():
    first = np.array([0, 45, 0, 0, -1])
    last = np.array([51, 51, 30, 51 - 52, -1])
    got = classify_lifecycle(first, last, 52, new_periods=13, phase_out_periods=13, obsolete_periods=40)
    assert got.tolist()[:3] == ["active", "new", "phase-out"]
    assert got[4] == "none"


def _lines():
    return pd.DataFrame({
        "order_id": ["O1", "O1", "O2", "O3"], "customer_id": ["C1", "C1", "C1", "C2"],
        "order_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01", "2024-03-01"]),
        "requested_date": pd.to_datetime(["2024-01-08", "2024-01-08", "2024-02-03", "2024-03-11"]),
        "net_value": [100.0, 50.0, 200.0, 30.0], "cost": [60.0, 30.0, 120.0, 25.0]})


def test_cost_to_serve_and_profit():
    ships = pd.DataFrame({"customer_id": ["C1", "C1", "C2"], "freight_cost": [10.0, 12.0, 8.0],
                          "mode": ["LTL", "AIR", "PARCEL"]})
    rates = {"per_order": 5.0, "per_line": 1.0, "per_shipment": 2.0, "surcharges": {"AIR": 20.0}}
    m = customer_metrics(_lines(), ships, rates)
    # C1: 2 orders, 3 lines, 2 shipments, freight 22, AIR surcharge 20
    c1_cts = 5 * 2 + 1 * 3 + 2 * 2 + 22 + 20
    assert m.loc["C1", "cost_to_serve"] == pytest.approx(c1_cts)
    assert m.loc["C1", "gross_margin"] == pytest.approx(350 - 210)
    assert m.loc["C1", "profit"] == pytest.approx(140 - c1_cts)
    assert m.loc["C2", "profit"] == pytest.approx(5 - (5 + 1 + 2 + 8))
    assert m.loc["C1", "lines_per_order"] == pytest.approx(1.5)
    assert m.loc["C1", "lead_time_tolerance_days"] == pytest.approx((7 + 7 + 2) / 3)


def test_rule_segments_first_match_wins():
    m = pd.DataFrame({"profit": [100.0, -5.0, 50.0], "customer_abc": ["A", "A", "B"]}, index=["C1", "C2", "C3"])
    rules = [{"segment": "strategic", "abc": ["A"], "min": {"profit": 0}}, {"segment": "loss", "max": {"profit": 0}}]
    assert rule_segments(m, rules, "standard").tolist() == ["strategic", "loss", "standard"]
    with pytest.raises(KeyError, match="unknown metric"):
        rule_segments(m, [{"segment": "x", "min": {"revnue": 1}}])


def _cluster_frame(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    centers = {"big": (1e6, 2e5, 50, 20), "mid": (5e4, 8e3, 10, 5), "small": (1e3, 50, 1, 1)}
    rows, idx = [], []
    for name, c in centers.items():
        for i in range(20):
            rows.append([v * rng.uniform(0.9, 1.1) for v in c])
            idx.append(f"{name}{i:02d}")
    return pd.DataFrame(rows, index=idx, columns=["revenue", "profit", "order_frequency", "lines_per_order"])


def test_kmeans_labels_stable_across_runs():
    f = _cluster_frame(0)
    labels1, cents = kmeans_segments(f, 3, ["gold", "silver", "bronze"])
    assert set(labels1[[i for i in f.index if i.startswith("big")]]) == {"gold"}
    assert set(labels1[[i for i in f.index if i.startswith("small")]]) == {"bronze"}
    shuffled = f.sample(frac=1.0, random_state=3)
    labels2, _ = kmeans_segments(shuffled, 3, ["gold", "silver", "bronze"], previous_centroids=cents, seed=7)
    assert (labels2.reindex(f.index) == labels1).all()


def test_classify_customers_abc_and_default_segment():
    m = customer_metrics(_lines(), None, {})
    c = classify_customers(m, {"rules": [{"segment": "key", "abc": ["A"]}], "default_segment": "std"})
    assert c.loc["C1", "customer_abc"] == "B"  # 350 / 380 = 0.92: inclusive B
    assert c.loc["C1", "customer_segment"] == "std"


def test_customer_orders_without_order_ids_count_order_days():
    lines = _lines().drop(columns=["order_id"])
    m = customer_metrics(lines, None, {})
    days = lines.groupby("customer_id")["order_date"].nunique()
    assert m["orders"].tolist() == days.tolist() == [2, 1]


def test_shipments_without_customer_ids_add_no_surcharge_instead_of_failing():
    ships = pd.DataFrame({"shipment_id": ["S1"], "mode": ["AIR"], "freight_cost": [5.0]})
    m = customer_metrics(_lines(), ships, {"surcharges": {"AIR": 20.0}})
    assert m["cost_to_serve"].tolist() == [0.0, 0.0]
