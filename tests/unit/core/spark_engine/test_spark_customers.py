"""Customer segmentation per bucket is the pandas engine's on part of the customers: split the customers
in two buckets, hand each the global window and ranking, and the buckets give what the whole gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning import engine as eng
from core.planning.cleaning import clean_frames
from core.planning.policy import load_policy
from core.planning.segmentation import customer_metrics
from core.planning.segmentation.abc import cumulative_share
from tests.e2e.spark_fixtures import customer_frames, customer_overrides

pytestmark = pytest.mark.spark
sc = pytest.importorskip("core.spark_engine.spark_customers", reason="pyspark not installed (pip install -e '.[spark]')")

POL = load_policy()


def _lines():
    frames = customer_frames()
    clean, _ = clean_frames(frames)
    ol = eng.customer_lines(eng._priced_lines(clean["order_lines"], clean["products"]))
    return ol[ol["customer_id"].notna()], frames["shipments"]


def _halves(frame: pd.DataFrame):
    first = frame["customer_id"].astype(str) < "C06"
    return frame[first], frame[~first]


def test_bucket_metrics_of_two_buckets_are_the_metrics_of_all_customers():
    ol, ships = _lines()
    rates = POL.customers.cost_rates.model_dump()
    whole = customer_metrics(ol, ships, rates)
    days = float((ol["order_date"].max() - ol["order_date"].min()).days + 1)
    parts = [sc.bucket_metrics(lines, s, POL, days, list(ol.columns))
             for lines, s in zip(_halves(ol), _halves(ships), strict=True)]
    got = pd.concat(parts).set_index("customer_id").sort_index()
    pd.testing.assert_frame_equal(got[whole.columns], whole, check_dtype=False)
    assert got.loc["NOCOST", "cogs"] != got.loc["NOCOST", "cogs"]  # NaN: no cost known, as on one machine


def test_bucket_customers_with_the_global_share_give_the_whole_runs_rows():
    ol, ships = _lines()
    m = customer_metrics(ol, ships, POL.customers.cost_rates.model_dump())
    ov = eng.active_overrides(customer_overrides(), None)
    ref = eng.classify_customer_rows(m, POL, ov)  # the one-machine engine's customer frame
    rows = m.reset_index().assign(abc_share=cumulative_share(m["revenue"].to_numpy(), ids=m.index.to_numpy()))
    segs, pars = zip(*[sc.bucket_customers(part, POL, ov) for part in _halves(rows)], strict=True)
    seg = pd.concat(segs).set_index(["dimension", "entity_key"]).sort_index()
    keys = ref.index.astype(str)
    assert seg.loc["abc", "value"].loc[keys].tolist() == ref["customer_abc"].tolist()
    assert seg.loc["segment", "value"].loc[keys].tolist() == ref["customer_segment"].tolist()
    assert np.allclose(seg.loc["abc", "metric"].loc[keys], ref["abc_metric"], rtol=1e-12, equal_nan=True)
    assert np.allclose(seg.loc["segment", "metric"].loc[keys], ref["profit"], rtol=1e-12)
    par = pd.concat(pars)
    assert par.loc[(par["entity_key"] == "C04") & (par["name"] == "delivery_priority"), "value_text"].tolist() == ["LOW"]
    assert seg.loc[("abc", "C03"), "value"] == "A"  # the override


def test_no_customer_ids_means_no_customer_rows(spark):
    from core.spark_engine.spark_store import from_frames
    from core.spark_engine.spark_summary import cleaning_pass

    frames = customer_frames()
    frames["order_lines"]["customer_id"] = None
    inputs = from_frames(spark, frames)
    assert sc.customer_frames(cleaning_pass(spark, inputs, POL, 2), inputs, POL, eng.active_overrides(None, None),
                              2) is None
