"""The run's summaries on Spark, gathered from the partitions: data-quality counts, the unmatched
policy combinations and the replay's service summary - what `segbridge segment`/`analyze` show after
a run, the same as the one-machine engine shows.

Why a pass of its own: the backend's stages clean each product bucket and keep only the cleaned
series; this pass cleans the same buckets (order lines with their products, product-locations and
receipts, so duplicates of a product meet) through core.planning.cleaning and emits, per bucket, one
row per data-quality case (its count and first examples) and the cleaned, priced order lines that
carry a customer (the input of core.spark_engine.spark_customers) - one tagged frame, so the lines are
cleaned once for both. The lines of keys naming two products, taken out before bucketing
(core.spark_engine.spark_backend.split_cross_conflicts), are cleaned here grouped by key instead. Counts are summed over buckets; examples are merged in file-line (else
order/line) order and the first five kept, as core.planning.cleaning keeps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from basics.errors import DataError
from core.planning import engine as eng
from core.planning.cleaning import EXAMPLES, ROW, DataQuality, clean_frames, clean_order_lines, note_abc_basis
from core.planning.policy import match_products
from core.planning.simulation import service_summary
from core.spark_engine import spark_backend as sb
from core.spark_engine import spark_stages as st
from core.spark_engine.spark_frames import conform

TAG = "_tag"
QUALITY, LINE = "quality", "line"
# the order-line columns customer metrics read (core.planning.segmentation.customers.customer_metrics)
CUSTOMER_COLS = ("customer_id", "order_id", "order_date", "requested_date", "net_value", "cost")
SERVICE_SCHEMA = ("by string, group string, series long, target double, achieved double, fill_rate double, "
                  "cycle_service_level double, avg_on_hand double, holding_cost double, median_cycles double, "
                  "target_type string, gap double, note string")
# service_summary's per-series input, from the replay's columns on each product-location row
SERVICE_INPUT = {"target": "service_level", "target_type": "service_type", "fill_rate": "achieved_fill_rate",
                 "cycle_service_level": "achieved_cycle_service", "achieved": "achieved_service",
                 "cycles": "replenishment_cycles", "avg_on_hand": "avg_on_hand", "holding_cost": "holding_cost",
                 "method": "ss_method_used"}


@dataclass
class RunSummary:
    """What the pandas engine's EngineResult holds beside segments and parameters."""

    data_quality: DataQuality
    unmatched: pd.DataFrame
    service: pd.DataFrame | None


def pass_schema(lines: T.StructType) -> T.StructType:
    """The tagged frame: customer line columns (typed as the input's, so ids sort as on one machine)
    and the data-quality columns."""
    types = {f.name: f.dataType for f in lines.fields}
    fields = [T.StructField(TAG, T.StringType())]
    for c in CUSTOMER_COLS:
        t = types.get(c, T.StringType())
        if c in ("net_value", "cost"):
            t = T.DoubleType()
        elif c in ("order_date", "requested_date"):
            t = T.TimestampType()
        elif isinstance(t, T.NullType):
            t = T.StringType()
        fields.append(T.StructField(c, t))
    return T.StructType([*fields, T.StructField("_case", T.StringType()), T.StructField("_count", T.DoubleType()),
                         T.StructField("_example", T.StringType())])


def _in_order(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A bucket in file order (else order/line order), so its first examples are its first lines."""
    if frame is None or not len(frame):
        return frame
    by = [ROW] if ROW in frame else [c for c in ("order_id", "line_no") if c in frame]
    return frame.sort_values(by, kind="stable").reset_index(drop=True) if by else frame


def _named(frame: pd.DataFrame, files: dict | None, name: str) -> pd.DataFrame:
    """The frame with the file name its examples cite (the CSV reader's attrs, lost on the way to Spark)."""
    if (files or {}).get(name):
        frame.attrs["file"] = files[name]
    return frame


def bucket_rows(lines: pd.DataFrame, side: dict, pol, files: dict | None = None) -> pd.DataFrame:
    """One product bucket: its data-quality rows and its cleaned, priced customer lines."""
    returns = pol.classification.returns
    dq = DataQuality(returns=returns)
    lines = _named(_in_order(lines), files, "order_lines")
    try:
        clean, _ = clean_order_lines(lines, returns, dq)
    except DataError:  # every line of this bucket set aside: counted in dq, none left
        clean = lines.iloc[:0].drop(columns=[ROW], errors="ignore")
    masters = {k: _named(_in_order(v), files, k) for k, v in side.items() if v is not None}
    masters, mdq = clean_frames(masters, returns)
    for case, n in mdq.counts.items():
        dq.add(case, n, mdq.examples.get(case, []))
    rows = [{TAG: QUALITY, "_case": c, "_count": float(n)} for c, n in dq.counts.items()]
    rows += [{TAG: QUALITY, "_case": c, "_count": 0.0, "_example": e} for c, ex in dq.examples.items() for e in ex]
    quality = pd.DataFrame(rows)
    if "customer_id" not in clean or not len(clean):
        return quality
    cust = eng.customer_lines(eng._priced_lines(clean, masters.get("products")))
    cust = cust[cust["customer_id"].notna()]
    return pd.concat([quality, cust[[c for c in CUSTOMER_COLS if c in cust]].assign(**{TAG: LINE})],
                     ignore_index=True)


def cleaning_pass(spark, inputs: dict, pol, n: int) -> DataFrame:
    """The tagged frame (data-quality rows and customer lines) of every product bucket."""
    src = inputs["order_lines"]
    lines = sb._bucket(src, "product_id", n)
    side, cols = sb._side(spark, inputs, n)
    schema, line_cols, files = pass_schema(src.schema), src.columns, inputs.get("files")

    def fn(lp: pd.DataFrame, sp: pd.DataFrame) -> pd.DataFrame:
        lp = lp[line_cols] if len(lp) else pd.DataFrame(columns=line_cols)
        frames = st.split_side(sp, cols) if len(sp) else {k: None for k in st.SIDE}
        return conform(bucket_rows(lp, frames, pol, files), schema)

    if side is None:
        out = lines.groupBy("_b").applyInPandas(lambda a: fn(a, pd.DataFrame(columns=["_table"])), schema)
    else:
        out = lines.groupBy("_b").cogroup(side.groupBy("_b")).applyInPandas(fn, schema)
    cross = inputs.get(sb.CROSS)
    if cross is None:
        return out
    # lines of keys naming two products (core.spark_engine.spark_backend.split_cross_conflicts): each key
    # whole in one group, cleaned alone, so exact duplicates among them are counted as duplicates, the
    # rest as conflicting lines - once, since the product buckets above never saw them
    by_key = cross.withColumn("_b", F.pmod(F.xxhash64(*[F.col(c).cast("string") for c in sb.LINE_KEY]), F.lit(n)))
    return out.unionByName(by_key.groupBy("_b").applyInPandas(lambda a: fn(a, pd.DataFrame(columns=["_table"])),
                                                               schema))


def _natural(text: str) -> tuple:
    """'order_lines.csv line 12' before 'line 100': numbers compared as numbers."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", text))


def gather_quality(tagged: DataFrame, returns: str) -> DataQuality:
    """The buckets' data-quality rows as one DataQuality (counts summed, first examples kept)."""
    rows = tagged.filter(F.col(TAG) == QUALITY).select("_case", "_count", "_example").collect()
    dq = DataQuality(returns=returns)
    examples: dict[str, list[str]] = {}
    for r in rows:
        if r["_example"] is None:
            dq.counts[r["_case"]] = dq.counts.get(r["_case"], 0) + r["_count"]
        else:
            examples.setdefault(r["_case"], []).append(r["_example"])
    for case, ex in examples.items():
        dq.add(case, 0, sorted(ex, key=_natural)[:EXAMPLES])
    dq.counts = {c: n if c == "returned_quantity" else int(round(n)) for c, n in dq.counts.items()}  # as pandas
    return dq


def gather_unmatched(pl: DataFrame, pol) -> pd.DataFrame:
    """Combinations no policy rule matched, with counts, summed over partitions."""
    dims = [d for d in ("abc", "xyz", "pattern", "lifecycle") if d in pl.columns]
    schema = ", ".join(f"{d} string" for d in dims) + ", count long"

    def part(it):
        for b in it:
            u = match_products(b, pol).unmatched
            yield u.astype({d: str for d in dims}).astype({"count": "int64"})

    counts = pl.mapInPandas(part, schema).groupBy(*dims).agg(F.sum("count").alias("count")).toPandas()
    return counts.sort_values(["count", *dims], ascending=[False, *[True] * len(dims)], ignore_index=True)


def _summary_of(by: str):
    """service_summary of one group's series (a one-argument function, as applyInPandas calls it)."""
    def fn(part: pd.DataFrame) -> pd.DataFrame:
        return service_summary(part.assign(target_type=part["target_type"].astype(str)), by)
    return fn


def gather_service(pl: DataFrame) -> pd.DataFrame | None:
    """The replay's summary per segment and per pattern: each group's series in one task, through
    core.planning.simulation.service_summary (None when no series was replayed, as on one machine)."""
    if "achieved_service" not in pl.columns:
        return None
    live = pl.filter((F.col("abc") != "none") & (F.col("replenishment") == "make_to_stock"))
    live = live.select(*[F.col(c).alias(k) for k, c in SERVICE_INPUT.items()], "segment", "pattern")
    parts = []
    for by in ("segment", "pattern"):
        parts.append(live.groupBy(by).applyInPandas(_summary_of(by), SERVICE_SCHEMA).toPandas()
                     .sort_values("group", ignore_index=True))
    out = pd.concat(parts, ignore_index=True)
    return out if len(out) else None


def summarize(tagged: DataFrame, pl: pd.DataFrame, pl_spark: DataFrame, pol) -> RunSummary:
    """Data quality (the cleaning's cases and the ABC basis notes), unmatched and service."""
    dq = gather_quality(tagged, pol.classification.returns)
    note_abc_basis(dq, pl.sort_values(["product_id", "location_id"], ignore_index=True))
    return RunSummary(dq, gather_unmatched(pl_spark, pol), gather_service(pl_spark))


def run_warnings(summary: RunSummary, pl: pd.DataFrame) -> list[str]:
    """The one-machine engine's warnings, in its order (unmatched, default lead times, data quality)."""
    lt = pl[["lead_time_source"]] if "lead_time_source" in pl else pd.DataFrame({"lead_time_source": []})
    return eng._warnings(summary.unmatched, lt) + summary.data_quality.warnings()


__all__ = ["RunSummary", "cleaning_pass", "summarize", "run_warnings"]
