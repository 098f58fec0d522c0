"""pandas <-> Spark plumbing for the stages: output schemas inferred from a sample run, and each
partition's output conformed to them (Arrow refuses an object column holding numbers and None)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import types as T


def _field(name: str, col: pd.Series) -> T.StructField:
    kind = col.dtype.kind
    if kind == "b":
        return T.StructField(name, T.BooleanType())
    if kind in "iu":
        return T.StructField(name, T.LongType())
    if kind == "f":
        return T.StructField(name, T.DoubleType())
    if kind == "M":
        return T.StructField(name, T.TimestampType())
    vals = col.dropna()
    if len(vals) and isinstance(vals.iloc[0], (list, np.ndarray)):
        return T.StructField(name, T.ArrayType(T.DoubleType()))
    if len(vals) and all(isinstance(v, (bool, np.bool_)) for v in vals):
        return T.StructField(name, T.BooleanType())
    if len(vals) and all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
        return T.StructField(name, T.DoubleType())
    return T.StructField(name, T.StringType())


def schema_of(pdf: pd.DataFrame, overrides: dict[str, T.DataType] | None = None) -> T.StructType:
    """The Spark schema of a stage's pandas output (`overrides` where the sample cannot tell)."""
    fields = [_field(str(c), pdf[c]) for c in pdf.columns]
    over = overrides or {}
    return T.StructType([T.StructField(f.name, over.get(f.name, f.dataType)) for f in fields])


def conform(pdf: pd.DataFrame, schema: T.StructType) -> pd.DataFrame:
    """`pdf` with exactly the schema's columns, each in a dtype Arrow converts to the field's type."""
    out = {}
    for f in schema.fields:
        col = pdf[f.name] if f.name in pdf else pd.Series([None] * len(pdf), index=pdf.index, dtype=object)
        t = f.dataType
        if isinstance(t, T.DoubleType):
            col = pd.to_numeric(col, errors="coerce").astype("float64")
        elif isinstance(t, T.LongType):
            col = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif isinstance(t, T.BooleanType):
            col = col.astype(object).where(col.notna(), None)
        elif isinstance(t, T.StringType):
            col = col.astype(object).where(col.notna(), None).map(lambda v: v if v is None else str(v))
        elif isinstance(t, T.ArrayType):
            col = col.map(lambda v: np.asarray(v, dtype="float64") if isinstance(v, (list, np.ndarray)) else None)
        out[f.name] = col.reset_index(drop=True)
    return pd.DataFrame(out, columns=[f.name for f in schema.fields])

