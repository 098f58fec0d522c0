"""Customer segmentation on Spark: the same customer segments and parameters as the one-machine engine.

Steps (docs/spark.md):
1. the cleaned, priced order lines with a customer (core.spark_engine.spark_summary's cleaning pass,
   rejected lines out - core.planning.engine.customer_lines);
2. Spark SQL: the window the order frequency is counted over (first to last customer order day, over
   all lines, as on one machine);
3. per customer bucket, with the bucket's shipments: the metrics (revenue, margin, cost-to-serve,
   profit: core.planning.segmentation.customers.customer_metrics);
4. Spark SQL: the customer ranking - the ABC measure's cumulative share, measure descending and ties
   by customer id, over all customers (`running_sum`/`_share` of spark_backend);
5. per customer bucket: classes from that share, rule segments, overrides and the customer policy
   match (core.planning.engine.classify_customer_rows), then the long segments and parameters.
K-means segments need every customer at once: with `customers.kmeans.enabled` step 5 runs in one task.
No formula is written twice: every number comes from the functions the pandas engine calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from core.planning import engine as eng
from core.planning.segmentation.customers import customer_metrics
from core.spark_engine import spark_backend as sb
from core.spark_engine.spark_frames import conform
from core.spark_engine.spark_summary import CUSTOMER_COLS, LINE, TAG, cleaning_pass

_S, _D = T.StringType(), T.DoubleType()
SEG = T.StructType([T.StructField(c, t) for c, t in (("entity", _S), ("entity_key", _S), ("dimension", _S),
                                                        ("value", _S), ("metric", _D), ("source", _S))])
PAR = T.StructType([T.StructField(c, t) for c, t in (("entity", _S), ("entity_key", _S), ("name", _S),
                                                        ("value_num", _D), ("value_text", _S))])
LONG = T.StructType([T.StructField("_kind", _S), *SEG.fields, *PAR.fields[2:]])  # entity, entity_key once
# customer_metrics' columns (index customer_id), in its order
METRICS = [("revenue", "double"), ("cogs", "double"), ("gross_margin", "double"), ("orders", "long"),
           ("lines", "long"), ("lines_per_order", "double"), ("order_frequency", "double"),
           ("lead_time_tolerance_days", "double"), ("shipments", "long"), ("freight", "double"),
           ("cost_to_serve", "double"), ("profit", "double")]


@dataclass
class CustomerFrames:
    """The customers' long segments and parameters (store columns), to union with the products'."""

    segments: DataFrame
    parameters: DataFrame


def _metrics_schema(id_type: T.DataType) -> T.StructType:
    fields = [T.StructField("customer_id", id_type), T.StructField("_cb", T.LongType())]
    kinds = {"double": T.DoubleType(), "long": T.LongType()}
    return T.StructType(fields + [T.StructField(c, kinds[k]) for c, k in METRICS])


def bucket_metrics(lines: pd.DataFrame, shipments: pd.DataFrame | None, pol, window_days: float,
                   line_cols: list[str]) -> pd.DataFrame:
    """Step 3 for one customer bucket: the metrics of its customers (the bucket holds them whole)."""
    if not len(lines):
        return pd.DataFrame(columns=["customer_id", *[c for c, _ in METRICS]])
    ol = lines[line_cols].assign(order_date=pd.to_datetime(lines["order_date"]))
    ships = shipments if shipments is not None and len(shipments) else None
    m = customer_metrics(ol, ships, pol.customers.cost_rates.model_dump(), window_days=window_days)
    return m.reset_index()


def bucket_customers(rows: pd.DataFrame, pol, overrides: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Step 5 for one bucket: (segments, parameters) of its customers, ranked by the global share."""
    m = rows.sort_values("customer_id").set_index("customer_id")
    share = m["abc_share"].to_numpy("float64")
    m = m[[c for c, _ in METRICS]]
    keys = set(m.index.astype(str))
    ov = overrides[(overrides["entity"] == "customer") & overrides["entity_key"].astype(str).isin(keys)]
    c = eng.classify_customer_rows(m, pol, ov, share)
    empty_pl = pd.DataFrame(columns=list(dict.fromkeys(["entity_key", "abc", "abc_metric", "xyz", "cv", "pattern", "adi", "lifecycle",
                                     "last_idx", "segment", "velocity_class", "velocity_metric",
                                     *eng.PL_PARAMS_NUM, *eng.PL_PARAMS_TEXT, *eng.PL_REVIEW_TEXT.values()])))
    seg = eng._segments_long(empty_pl, empty_pl, c, None).astype({"value": str})
    par = eng.apply_parameter_overrides(eng._parameters_long(empty_pl, c), ov)
    return seg, par


def _window_days(lines: DataFrame) -> tuple[int, float]:
    """(customer lines, days from the first to the last order day): customer_metrics' span."""
    r = lines.agg(F.count(F.lit(1)).alias("n"), F.min("order_date").alias("lo"),
                  F.max("order_date").alias("hi")).first()
    if not r["n"]:
        return 0, 1.0
    return int(r["n"]), float(max((pd.Timestamp(r["hi"]) - pd.Timestamp(r["lo"])).days + 1, 1))


def _metrics(lines: DataFrame, shipments: DataFrame | None, pol, n: int, days: float) -> DataFrame:
    """Step 3: per customer bucket (lines and shipments of a customer together) the metrics."""
    schema = _metrics_schema(lines.schema["customer_id"].dataType)
    line_cols = [c for c in lines.columns if c != "_b"]
    left = sb._bucket(lines, "customer_id", n)

    def fn(lp: pd.DataFrame, sp: pd.DataFrame | None) -> pd.DataFrame:
        b = (lp if len(lp) else sp)["_b"].iloc[0]
        return conform(bucket_metrics(lp, sp, pol, days, line_cols).assign(_cb=b), schema)

    if shipments is None or "customer_id" not in shipments.columns:
        return left.groupBy("_b").applyInPandas(lambda a: fn(a, None), schema)
    right = sb._bucket(shipments, "customer_id", n)
    return left.groupBy("_b").cogroup(right.groupBy("_b")).applyInPandas(fn, schema)


def customer_frames(tagged: DataFrame, inputs: dict, pol, overrides: pd.DataFrame, n: int) -> CustomerFrames | None:
    """Steps 1-5 (None when no order line names a customer, as on one machine)."""
    src = inputs["order_lines"]
    if "customer_id" not in src.columns or isinstance(src.schema["customer_id"].dataType, T.NullType):
        return None
    cols = [c for c in CUSTOMER_COLS if c in src.columns or c in ("net_value", "cost")]
    lines = tagged.filter(F.col(TAG) == LINE).select(*cols).persist()
    count, days = _window_days(lines)
    if not count:
        lines.unpersist()
        return None
    metrics = _metrics(lines, inputs.get("shipments"), pol, n, days)
    measure = pol.customers.abc_measure
    ranked = sb._share(metrics, measure, [F.col("customer_id")], None, "abc_share")
    if pol.customers.kmeans.enabled:  # k-means sees every customer at once
        ranked = ranked.withColumn("_cb", F.lit(0).cast("long"))
    out = ranked.groupBy("_cb").applyInPandas(lambda pdf: conform(_long(pdf, pol, overrides), LONG), LONG).persist()
    seg = out.filter(F.col("_kind") == "segment").select(*[f.name for f in SEG.fields])
    par = out.filter(F.col("_kind") == "parameter").select(*[f.name for f in PAR.fields])
    return CustomerFrames(seg, par)


def with_customers(spark, inputs: dict, pol, overrides: pd.DataFrame, n: int, segments: DataFrame,
                   parameters: DataFrame) -> tuple[DataFrame, DataFrame, DataFrame]:
    """The run's segments and parameters with the customers', and the cleaning pass's tagged frame
    (the run's data-quality counts are gathered from it: core.spark_engine.spark_summary)."""
    cleaning = cleaning_pass(spark, inputs, pol, n).persist()
    cust = customer_frames(cleaning, inputs, pol, overrides, n)
    if cust is None:
        return segments, parameters, cleaning
    return segments.unionByName(cust.segments), parameters.unionByName(cust.parameters), cleaning


def _long(rows: pd.DataFrame, pol, overrides: pd.DataFrame) -> pd.DataFrame:
    """Segments and parameters of one bucket as one frame, tagged by `_kind`."""
    seg, par = bucket_customers(rows, pol, overrides)
    return pd.concat([seg.assign(_kind="segment"), par.assign(_kind="parameter")], ignore_index=True)


__all__ = ["CustomerFrames", "customer_frames", "with_customers", "bucket_metrics", "bucket_customers"]
