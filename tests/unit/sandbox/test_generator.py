"""The data generator: canonical columns, determinism, realistic patterns, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from core.model import CANONICAL_ENTITIES
from sandbox.generator import FREIGHT, generate

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def ds():
    return generate(seed=3, products=60, locations=2, customers=30, weeks=52)


def test_columns_are_canonical_fields(ds):
    for entity, frame in ds.frames().items():
        fields = set(CANONICAL_ENTITIES[entity].model_fields) - {"source_system", "loaded_at", "etag"}
        assert set(frame.columns) <= fields, entity
        keys = [c.name for c in CANONICAL_ENTITIES[entity].__table__.primary_key.columns]
        assert not frame.duplicated(keys).any(), f"{entity} has duplicate keys"


def test_deterministic_for_a_seed_and_different_across_seeds(ds):
    again = generate(seed=3, products=60, locations=2, customers=30, weeks=52)
    for name, frame in ds.frames().items():
        assert frame.equals(again.frames()[name]), name
    other = generate(seed=4, products=60, locations=2, customers=30, weeks=52)
    assert not other.order_lines["quantity"].equals(ds.order_lines["quantity"])


def test_sizes_follow_parameters(ds):
    assert ds.counts()["product"] == 60 and ds.counts()["product_location"] == 120
    assert ds.counts()["customer"] == 30 and ds.counts()["location"] == 2


def test_demand_has_smooth_and_intermittent_series(ds):
    lines = ds.order_lines
    weeks = lines.assign(week=lines["order_date"].map(lambda d: d.toordinal() // 7))
    per = weeks.groupby(["product_id", "location_id"])["week"].nunique()
    assert per.max() >= 40  # smooth: ordered in most weeks
    assert per.min() <= 15  # intermittent: ordered in few weeks


def test_promotions_rejections_and_values(ds):
    lines = ds.order_lines
    assert 0 < lines["promotion"].mean() < 0.15
    assert 0.005 < lines["rejected"].mean() < 0.05
    assert (lines["quantity"] > 0).all() and (lines["net_value"] > 0).all()
    assert (lines["requested_date"] > lines["order_date"]).all()


def test_receipts_have_lead_time_noise(ds):
    r = ds.receipts
    late = np.array([(a - p).days for a, p in zip(r["receipt_date"], r["promised_date"], strict=True)])
    assert late.std() > 0.5 and (late > 0).any() and (late <= 0).any()


def test_freight_by_mode(ds):
    sh = ds.shipments
    assert set(sh["mode"]) <= set(FREIGHT) and {"PARCEL", "LTL"} <= set(sh["mode"])
    parcel = sh[sh["mode"] == "PARCEL"]
    assert (parcel["weight_kg"] < 30).all()
    assert (sh["delivery_date"] >= sh["ship_date"]).all()
    per_kg = sh.assign(r=sh["freight_cost"] / sh["weight_kg"]).groupby("mode")["r"].median()
    assert per_kg["PARCEL"] > per_kg["LTL"]


def test_fast_at_scale():
    started = time.perf_counter()
    big = generate(seed=1, products=1000, locations=3, customers=200, weeks=52)
    assert len(big.order_lines) > 100_000
    assert time.perf_counter() - started < 10
