"""Stage outputs get a Spark schema from a sample and every partition is conformed to it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark
T = pytest.importorskip("pyspark.sql.types", reason="pyspark not installed (pip install -e '.[spark]')")


def test_schema_of_maps_pandas_dtypes():
    from core.spark_engine.spark_frames import schema_of

    pdf = pd.DataFrame({"a": [1.5], "b": [2], "c": [True], "d": ["x"], "e": [None], "m": [np.zeros(3)],
                        "f": [pd.Timestamp("2025-01-01")], "g": pd.Series([True], dtype=object)})
    types = {f.name: type(f.dataType) for f in schema_of(pdf).fields}
    assert types == {"a": T.DoubleType, "b": T.LongType, "c": T.BooleanType, "d": T.StringType, "e": T.StringType,
                     "m": T.ArrayType, "f": T.TimestampType, "g": T.BooleanType}


def test_conform_fills_missing_columns_and_casts():
    from core.spark_engine.spark_frames import conform

    schema = T.StructType([T.StructField("x", T.DoubleType()), T.StructField("s", T.StringType()),
                           T.StructField("m", T.ArrayType(T.DoubleType())), T.StructField("gone", T.StringType())])
    out = conform(pd.DataFrame({"x": ["1.5", None], "s": pd.Series([3, None], dtype=object),
                               "m": [np.ones(2), np.nan]}), schema)
    assert list(out.columns) == ["x", "s", "m", "gone"]
    assert out["x"].tolist()[0] == 1.5 and np.isnan(out["x"].tolist()[1])
    assert out["s"].tolist() == ["3", None] and out["m"].tolist()[1] is None and out["gone"].isna().all()

