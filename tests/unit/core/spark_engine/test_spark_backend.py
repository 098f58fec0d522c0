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
