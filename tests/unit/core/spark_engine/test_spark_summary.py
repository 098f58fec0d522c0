"""The run's summaries gathered from partitions are the one-machine engine's: two product buckets'
data-quality rows add up to the whole frame's counts, with the same first examples; the unmatched
combinations and the service summary gathered over partitions are the pandas functions' on all rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning.cleaning import clean_frames
from core.planning.policy import load_policy, match_products
from core.planning.simulation import service_summary
from tests.e2e.spark_fixtures import messy_frames

pytestmark = pytest.mark.spark
ss = pytest.importorskip("core.spark_engine.spark_summary", reason="pyspark not installed (pip install -e '.[spark]')")

POL = load_policy()


def _buckets(frames):
    """Two product buckets of the frames (every frame of a product in one of them)."""
    def side(first):
        out = {}
        for name, key in (("products", "id"), ("product_locations", "product_id"), ("receipts", "product_id")):
            f = frames.get(name)
            out[name] = None if f is None else f[(f[key].astype(str) < "P004") == first]
        return out
    lines = frames["order_lines"]
    first = lines["product_id"].astype(str) < "P004"  # blank product ids (None -> "None") go to the second
    return [(lines[first], side(True)), (lines[~first], side(False))]


def test_bucket_rows_add_up_to_the_whole_frames_data_quality(spark):
    frames = messy_frames()
    _, whole = clean_frames(frames, "exclude")
    files = {"order_lines": "order_lines.csv"}
    rows = pd.concat([ss.bucket_rows(lines, side, POL, files) for lines, side in _buckets(frames)])
    tagged = spark.createDataFrame(rows[[ss.TAG, "_case", "_count", "_example"]].astype(object)
                                   .where(rows[[ss.TAG, "_case", "_count", "_example"]].notna(), None),
                                   "_tag string, _case string, _count double, _example string")
    got = ss.gather_quality(tagged, "exclude")
    assert got.counts == whole.counts and got.counts["duplicate_lines"] == 3
    assert got.examples == {c: e for c, e in whole.examples.items() if e} and got.warnings() == whole.warnings()


def test_examples_sort_by_line_number():
    labels = ["f.csv line 100", "f.csv line 12", "f.csv line 9"]
    assert sorted(labels, key=ss._natural) == ["f.csv line 9", "f.csv line 12", "f.csv line 100"]


def test_unmatched_and_service_gathered_over_partitions(spark):
    rng = np.random.default_rng(1)
    n = 60
    pl = pd.DataFrame({"abc": rng.choice(["A", "B", "C", "none"], n), "xyz": rng.choice(["X", "Y", "Z"], n),
                       "pattern": rng.choice(["smooth", "lumpy"], n), "lifecycle": "mature",
                       "segment": rng.choice(["A-X", "B-Y"], n), "replenishment": "make_to_stock",
                       "service_level": rng.uniform(0.9, 0.99, n), "service_type": "cycle",
                       "achieved_fill_rate": rng.uniform(0.8, 1, n), "achieved_cycle_service": rng.uniform(0.8, 1, n),
                       "achieved_service": rng.uniform(0.8, 1, n), "replenishment_cycles": rng.integers(1, 30, n) * 1.0,
                       "avg_on_hand": rng.uniform(0, 50, n), "holding_cost": rng.uniform(0, 5, n),
                       "ss_method_used": rng.choice(["calibrated", "normal"], n)})
    pol = POL.model_copy(update={"rules": POL.rules[:1]})
    sdf = spark.createDataFrame(pl).repartition(3)
    want = match_products(pl, pol).unmatched
    got = ss.gather_unmatched(sdf, pol)
    key = list(want.columns)
    pd.testing.assert_frame_equal(got.sort_values(key, ignore_index=True),
                                  want.astype({"count": "int64"}).sort_values(key, ignore_index=True))
    live = pl[pl["abc"] != "none"]
    frame = pd.DataFrame({k: live[c].to_numpy() for k, c in ss.SERVICE_INPUT.items()})
    frame["segment"], frame["pattern"] = live["segment"].to_numpy(), live["pattern"].to_numpy()
    want = pd.concat([service_summary(frame, "segment"), service_summary(frame, "pattern")], ignore_index=True)
    pd.testing.assert_frame_equal(ss.gather_service(sdf), want, check_dtype=False, rtol=1e-12)
