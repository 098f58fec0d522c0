"""The global steps in Spark SQL give the numbers of the pandas functions (ties, NaN, groups)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.planning.segmentation.abc import cumulative_share

pytestmark = pytest.mark.spark


def test_running_sum_over_partitions_is_the_cumulative_sum(spark):
    from pyspark.sql import functions as F

    from core.spark_engine.spark_backend import running_sum

    pdf = pd.DataFrame({"k": np.arange(40), "v": np.arange(40, dtype=float) % 7, "g": np.arange(40) % 3})
    df = spark.createDataFrame(pdf).repartition(3)
    out = running_sum(df, "v", [F.col("k")], "g", "cs").toPandas().sort_values("k")
    for g, part in out.groupby("g"):
        src = pdf[pdf["g"] == g].sort_values("k")
        assert np.allclose(part["cs"], np.cumsum(src["v"])) and np.allclose(part["cs_total"], src["v"].sum())


def test_shares_match_cumulative_share_with_ties_by_id_and_no_value(spark):
    from pyspark.sql import functions as F

    from core.spark_engine.spark_backend import _share

    pdf = pd.DataFrame({"id": ["b", "a", "c", "d", "e", "f"], "v": [50.0, 50.0, 0.0, np.nan, 30.0, 20.0],
                        "loc": ["L1", "L1", "L1", "L2", "L2", "L2"]})
    expect = cumulative_share(pdf["v"].to_numpy(), ids=pdf["id"].to_numpy(), groups=pdf["loc"].to_numpy())
    out = _share(spark.createDataFrame(pdf), "v", [F.col("id")], "loc", "share").toPandas().set_index("id")
    got = out.loc[pdf["id"], "share"].to_numpy(float)
    np.testing.assert_allclose(got, expect, rtol=1e-12, equal_nan=True)
    assert out.loc["a", "share"] == 0.5 and out.loc["b", "share"] == 1.0  # the tie: product id a first


def test_no_demand_line_is_refused_with_what_to_check(spark):
    from basics.errors import DataError
    from core.planning.policy import load_policy
    from core.spark_engine.spark_backend import last_day

    lines = spark.createDataFrame(pd.DataFrame({"product_id": ["A"], "order_date": pd.to_datetime(["2025-01-01"]),
                                                "quantity": [1.0], "rejected": [True]}))
    with pytest.raises(DataError, match="no order lines left"):
        last_day(lines, load_policy())


def _cross_conflict_frames():
    """Order K1 line 1 names two products in different buckets (P001 with an exact duplicate, P004) and
    a line without a quantity (P002: set aside as bad_quantity, not a conflict); order K2 line 1 names
    P003 twice with different quantities (a conflict inside one bucket)."""
    from tests.e2e.spark_fixtures import parity_frames

    frames = parity_frames(seed=5, n_products=6, locations=2)
    lines = frames["order_lines"]
    day = pd.Timestamp("2025-05-05")
    extra = pd.DataFrame({"product_id": ["P001", "P001", "P004", "P002", "P003", "P003"],
                          "location_id": ["L0", "L0", "L0", "L1", "L1", "L1"], "order_date": day,
                          "quantity": [40.0, 40.0, 70.0, np.nan, 2.0, 90.0], "net_value": [400.0, 400.0, 700.0,
                                                                                          10.0, 20.0, 900.0],
                          "rejected": False, "order_id": ["K1", "K1", "K1", "K1", "K2", "K2"], "line_no": 1})
    lines = pd.concat([lines, extra], ignore_index=True)
    lines["_row"] = np.arange(2, len(lines) + 2)
    lines.attrs["file"] = "order_lines.csv"
    frames["order_lines"] = lines
    return frames


def test_lines_sharing_a_key_across_product_buckets_are_set_aside_as_on_one_machine(spark):
    """The pandas engine sets aside every line of an order_id + line_no that differs; on Spark the
    products of such a key may fall in different buckets, so the key is found before bucketing."""
    from pyspark.sql import functions as F

    from core.planning.engine import EngineOptions, run_engine
    from core.spark_engine.spark_backend import _bucket, run_spark
    from core.spark_engine.spark_store import collect_result, from_frames

    frames = _cross_conflict_frames()
    probe = spark.createDataFrame(pd.DataFrame({"product_id": ["P001", "P004"]}))
    assert _bucket(probe, "product_id", 2).select(F.collect_set("_b")).first()[0].__len__() == 2
    opts = EngineOptions(simulate=False)
    ref = run_engine(frames, None, opts)
    res = collect_result(run_spark(spark, from_frames(spark, frames), None, opts, buckets=2))
    want = {c: d["count"] for c, d in ref.data_quality.items()}
    assert want["conflicting_lines"] == 4 and want["duplicate_lines"] == 1 and want["bad_quantity"] == 1
    assert res.data_quality == ref.data_quality and res.warnings == ref.warnings  # the same lines, by file line
    keys = ["P001|L0", "P004|L0", "P003|L1", "P002|L1"]
    pl = lambda r: r.product_locations.set_index("entity_key").loc[keys]  # noqa: E731
    np.testing.assert_allclose(pl(res)["mean"].to_numpy(float), pl(ref)["mean"].to_numpy(float), rtol=1e-9)
    for frame in ("segments", "parameters"):
        a, b = getattr(ref, frame), getattr(res, frame)
        cols = [c for c in a.columns if c not in ("metric", "value_num")]
        a, b = (f[f["entity_key"].isin(keys)].sort_values(cols[:3], ignore_index=True) for f in (a, b))
        pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
        num = "metric" if frame == "segments" else "value_num"
        np.testing.assert_allclose(b[num].to_numpy(float), a[num].to_numpy(float), rtol=1e-9, equal_nan=True)


def test_only_comparable_lines_of_a_key_naming_two_products_are_taken_out(spark):
    """A line the cleaning sets aside first (no quantity, a blank product id) is not compared, and keys
    with a blank part are not keys: those lines stay for their buckets to count under their own case."""
    from core.spark_engine.spark_backend import CROSS, split_cross_conflicts

    lines = pd.DataFrame({"product_id": ["A", "B", "C", " ", "A", "B", "A", "B"],
                          "order_date": pd.to_datetime(["2025-01-01"] * 8),
                          "quantity": [1.0, 2.0, np.nan, 3.0, 1.0, 2.0, 1.0, 2.0],
                          "order_id": ["K1", "K1", "K1", "K1", "K2", "K3", None, None],
                          "line_no": [1, 1, 1, 1, 1, 1, 2, 2]}).assign(_i=range(8))
    out = split_cross_conflicts({"order_lines": spark.createDataFrame(lines)})
    assert sorted(out[CROSS].toPandas()["_i"]) == [0, 1]
    assert sorted(out["order_lines"].toPandas()["_i"]) == [2, 3, 4, 5, 6, 7]
    assert out["order_lines"].columns == list(lines.columns)
    plain = {"order_lines": spark.createDataFrame(lines.drop(columns=["order_id"]))}
    assert split_cross_conflicts(plain) is plain
    unique = {"order_lines": spark.createDataFrame(lines.iloc[4:6])}
    assert split_cross_conflicts(unique) is unique
