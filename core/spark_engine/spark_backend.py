"""The engine on Apache Spark: global steps in Spark SQL, per-series maths per group in pandas.

Pipeline (docs/spark.md):
0. Spark SQL: order_id + line_no keys whose lines name two or more products (a group by key counting
   distinct product ids, joined back): their lines are taken out before anything is bucketed by product
   and counted by the cleaning pass (`split_cross_conflicts`), as the pandas engine sets them aside;
1. the window's last day: the maximum over batches of the cleaned demand lines' last day;
2. per product bucket (all lines, master rows and receipts of a product together, cogrouped, so a series
   is never split across Arrow batches): bucketing with zero periods, series statistics, lead times,
   daily statistics (core.spark_engine.spark_stages.series_stage);
3. Spark SQL on a narrow frame (keys, bucket, measures): ABC cumulative shares (value descending, ties
   by product id, within location or network), velocity shares, the network ABC of products
   (`running_sum`: a global sort, one running total per partition as a JVM window, partition offsets;
   no single-task window);
4. per product bucket, cogrouped with its shares: classes, hysteresis, overrides, the policy match;
5. Spark SQL: the pooled size CV^2 per pattern and the calibration chunks (2,000 rows of similar
   expected demand days, ranked over all series as on one machine; skipped when no row is calibrated);
6. per chunk: the parameters (core.planning.parameters.compute_parameters);
7. when the run replays: the replay blocks (20,000 live series in key order); per block, cogrouped with
   its lines, the daily replay (core.planning.service_check.check_service); then the long segments and
   parameters per partition.
Buckets are hashes of product ids, so a skewed key is one product's lines, never a whole location. The
period matrix (a series' 104 numbers) travels only for rows whose ss_method is empirical.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from basics.errors import DataError
from core.planning import engine as eng
from core.planning.calibration import pooled_from_sums
from core.planning.governance import active_overrides, ruleset_hash
from core.planning.parameters import _CHUNK
from core.planning.service_check import _BLOCK
from core.spark_engine import spark_stages as st
from core.spark_engine.spark_frames import conform, schema_of

KEYS = ["product_id", "location_id"]
LINE_KEY = ["order_id", "line_no"]
CROSS = "cross_conflicts"  # inputs key: the valid lines of keys that name two products, set aside before bucketing


@dataclass
class SparkRun:
    """What the Spark pipeline leaves (Spark frames, not collected) and the run's constants."""

    segments: DataFrame
    parameters: DataFrame
    product_locations: DataFrame
    products: DataFrame
    ruleset_hash: str
    last_day: object
    period: str = "W"
    window: int = 52
    cleaning: DataFrame | None = None  # data-quality rows and customer lines (core.spark_engine.spark_summary)
    policy: object = None


def _bucket(df: DataFrame, col: str, n: int) -> DataFrame:
    return df.withColumn("_b", F.pmod(F.xxhash64(F.col(col).cast("string")), F.lit(n)))


def _side(spark: SparkSession, inputs: dict, n: int) -> tuple[DataFrame | None, dict[str, list[str]]]:
    """Products, product-locations and receipts as one tagged frame bucketed by product."""
    parts, cols = [], {}
    for name in st.SIDE:
        df = inputs.get(name)
        if df is None:
            continue
        cols[name] = df.columns
        parts.append(_bucket(df, "id" if name == "products" else "product_id", n).withColumn("_table", F.lit(name)))
    if not parts:
        return None, cols
    side = parts[0]
    for p in parts[1:]:
        side = side.unionByName(p, allowMissingColumns=True)
    return side, cols


def _missing(df: DataFrame, col: str, text: bool = False):
    """Null, NaN (floating columns) or, for `text`, blank: what core.planning.cleaning takes as absent."""
    t = df.schema[col].dataType
    out = F.col(col).isNull()
    if isinstance(t, (T.DoubleType, T.FloatType)):
        out = out | F.isnan(col)
    if text and isinstance(t, T.StringType):
        out = out | F.col(col).rlike(r"^\s*$")
    return out


def _comparable(lines: DataFrame):
    """Lines core.planning.cleaning compares for conflicts: a finite quantity, a product id, an order date
    (the cases it sets aside first, under their own names) and a whole order_id + line_no."""
    q = F.col("quantity").try_cast("double")
    finite = q.isNotNull() & ~F.isnan(q) & (F.abs(q) < float("inf"))
    return (finite & ~_missing(lines, "product_id", text=True) & ~_missing(lines, "order_date")
            & ~_missing(lines, "order_id") & ~_missing(lines, "line_no"))


def split_cross_conflicts(inputs: dict) -> dict:
    """`inputs` with the order lines of every order_id + line_no naming two or more products taken out
    (under CROSS, for the cleaning pass to count and cite), before the lines are bucketed by product.
    Why: the pandas engine sets aside all lines of a key whose lines differ; a bucket holds whole
    products, so it sees such a key only when its products share the bucket. Conflicts within one
    product stay in its bucket (found there, exact duplicates dropped first, as on one machine); lines
    without a quantity, product or date stay too (the bucket counts them under their own case)."""
    lines = inputs["order_lines"]
    need = {"product_id", "quantity", "order_date", *LINE_KEY}
    if not need <= set(lines.columns):
        return inputs
    cols = lines.columns
    flagged = lines.withColumn("_cmp", _comparable(lines))
    keys = (flagged.filter("_cmp").groupBy(*LINE_KEY).agg(F.countDistinct("product_id").alias("_np"))
            .filter(F.col("_np") > 1).select(*LINE_KEY, F.lit(True).alias("_cross")).persist())
    if keys.isEmpty():  # the usual case: the lines go on as given, no join
        keys.unpersist()
        return inputs
    cross = flagged.join(keys, LINE_KEY, "left").withColumn("_cross", F.coalesce(F.col("_cross") & F.col("_cmp"),
                                                                                F.lit(False)))
    return {**inputs, "order_lines": cross.filter(~F.col("_cross")).select(*cols),
            CROSS: cross.filter(F.col("_cross")).select(*cols)}


def last_day(lines: DataFrame, pol) -> object:
    """The window's last day (raises DataError when no line is demand)."""
    days = lines.mapInPandas(lambda it: (st.last_demand_day(b, pol) for b in it), "last_day timestamp")
    last = days.agg(F.max("last_day")).collect()[0][0]
    if last is None:
        raise DataError("no order lines left to bucket (all rejected, or none given)",
                        hint="check the order_lines input and the rejected/promotion flags")
    return pd.Timestamp(last).date()


def _sample_bucket(df: DataFrame) -> int:
    first = df.select("_b").first()
    return int(first[0]) if first else 0


def _cogrouped(left: DataFrame, right: DataFrame | None, key: str, fn, right_cols: list[str] | None = None,
               types: dict | None = None):
    """fn(left_pdf, right_pdf) applied per key value with both sides whole; schema from a sample group
    (`types` where the sample cannot tell, e.g. a column that is empty in it). The sample computes the
    inputs once more: callers persist inputs that are costly to compute, not cheap scans such as the
    order lines, which would fill the executors' memory for nothing)."""
    b = _sample_bucket(left) if key == "_b" else left.select(key).first()[0]
    lp = left.filter(F.col(key) == b).toPandas()
    rp = right.filter(F.col(key) == b).toPandas() if right is not None else pd.DataFrame(columns=right_cols or [])
    schema = schema_of(fn(lp, rp).assign(**{key: b}), types)
    if right is None:
        return left.groupBy(key).applyInPandas(
            lambda pdf: conform(fn(pdf, pd.DataFrame(columns=right_cols or [])).assign(**{key: pdf[key].iloc[0]}),
                                schema), schema)
    return left.groupBy(key).cogroup(right.groupBy(key)).applyInPandas(
        lambda a, c: conform(fn(a, c).assign(**{key: (a if len(a) else c)[key].iloc[0]}), schema), schema)


def running_sum(df: DataFrame, value: str, order: list, group: str | None, out: str) -> DataFrame:
    """`out` = running total of `value` (positive finite values, else 0) within `group` in `order`, and
    `out`_total the group's total. A global sort (its input cached first, so the sort's sampling pass does
    not compute it twice), then per sorted partition a running total (a window over that partition only)
    started at the sums of that group in the partitions before it (collected: one number per partition
    and group). All in the JVM: no Python pass."""
    vv = F.when(F.col(value).isNotNull() & ~F.isnan(value) & (F.col(value) > 0)
                & (F.col(value) < float("inf")), F.col(value)).otherwise(0.0)
    g = F.coalesce(F.col(group).cast("string"), F.lit("\0")) if group else F.lit("")
    d = df.withColumn("_vv", vv).withColumn("_g", g).persist()
    d = d.orderBy("_g", *order).withColumn("_pid", F.spark_partition_id()).persist()
    sums = d.groupBy("_pid", "_g").agg(F.sum("_vv").alias("s")).collect()
    totals: dict[str, float] = {}
    rows = []
    for r in sorted(sums, key=lambda r: r["_pid"]):
        rows.append((r["_pid"], r["_g"], totals.get(r["_g"], 0.0)))
        totals[r["_g"]] = totals.get(r["_g"], 0.0) + r["s"]
    spark = df.sparkSession
    offsets = spark.createDataFrame([(p, k, o, totals[k]) for p, k, o in rows],
                                    "_pid int, _g string, _off double, _tot double")
    w = Window.partitionBy("_pid", "_g").orderBy(*order).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    return (d.join(F.broadcast(offsets), ["_pid", "_g"])
            .withColumn(out, F.col("_off") + F.sum("_vv").over(w)).withColumn(f"{out}_total", F.col("_tot"))
            .drop("_vv", "_g", "_pid", "_off", "_tot"))


def _share(df: DataFrame, value: str, order: list, group: str | None, out: str) -> DataFrame:
    """The cumulative share of core.planning.segmentation.abc.cumulative_share, over all rows."""
    vv = F.desc(F.when(F.col(value).isNotNull() & ~F.isnan(value) & (F.col(value) > 0), F.col(value)).otherwise(0.0))
    r = running_sum(df, value, [vv, *order], group, "_cs")
    pos = F.col(value).isNotNull() & ~F.isnan(value) & (F.col(value) > 0) & (F.col(value) < float("inf"))
    return r.withColumn(out, F.when(pos, F.col("_cs") / F.col("_cs_total"))).drop("_cs", "_cs_total")


def _abc(rows: DataFrame, pol, group: str | None, order: list) -> DataFrame:
    """ABC measure and basis (the engine's rule, given each group's flag), then its cumulative share."""
    measure = eng.MEASURE[pol.classification.abc_measure]
    g = F.col(group) if group else F.lit(1)
    flags = rows.withColumn("_g1", g).groupBy("_g1").agg(F.max(F.col("valued").cast("int")).alias("_gv"))
    joined = rows.withColumn("_g1", g).join(F.broadcast(flags), "_g1").withColumn("group_valued", F.col("_gv") > 0)
    joined = joined.drop("_g1", "_gv")
    schema = T.StructType(list(joined.schema.fields)).add("abc_value", "double").add("abc_basis", "string")
    valued = joined.mapInPandas(lambda it: (conform(st.abc_values(b, measure), schema) for b in it), schema)
    return _share(valued, "abc_value", order, group, "abc_share")


def _series(spark, inputs: dict, pol, day, n: int) -> DataFrame:
    """Stage 2: one row per product-location and per product, bucketed by product."""
    lines = _bucket(inputs["order_lines"], "product_id", n)
    side, cols = _side(spark, inputs, n)
    line_cols = inputs["order_lines"].columns

    def fn(lp: pd.DataFrame, sp: pd.DataFrame) -> pd.DataFrame:
        lp = lp[line_cols] if len(lp) else pd.DataFrame(columns=line_cols)
        side_frames = st.split_side(sp, cols) if len(sp) else {k: None for k in st.SIDE}
        return st.series_stage(lp, side_frames, pol, day)

    return _cogrouped(lines, side, "_b", fn, right_cols=["_table"])


def _shares(rows: DataFrame, pol) -> DataFrame:
    """Stage 3 on a narrow frame (keys, bucket and the measures only, so the global sorts move a few
    columns, not the series' statistics): ABC shares of product-locations and products, velocity shares."""
    cls = pol.classification
    measure = eng.MEASURE[cls.abc_measure]
    cols = list(dict.fromkeys([*KEYS, "_kind", "_b", "valued", "quantity", "picks", measure]))
    narrow = rows.select(*cols)
    pl, prod = narrow.filter(F.col("_kind") == "pl"), narrow.filter(F.col("_kind") == "product")
    group = "location_id" if cls.abc_scope == "location" else None
    pl = _abc(pl, pol, group, [F.col("product_id"), F.col("location_id")]).persist()
    pl = _share(pl, "picks", [F.desc(F.when(F.col("picks") > 0, F.col("picks")).otherwise(0.0)), "product_id",
                              "location_id"], group, "velocity_share")
    prod = _abc(prod, pol, None, [F.col("product_id")]).withColumn("velocity_share", F.lit(None).cast("double"))
    keep = [*KEYS, "_kind", "_b", *st.SHARES]
    return pl.select(*keep).unionByName(prod.select(*keep))


def _classes(rows: DataFrame, pol, opts, overrides: pd.DataFrame) -> DataFrame:
    """Stages 3-4: global shares in SQL, then, per bucket with its shares, classes, governance and the
    policy match."""
    return _cogrouped(rows, _shares(rows, pol).persist(), "_b",
                      lambda a, c: st.classes_stage(st.with_shares(a, c), pol, opts, overrides),
                      types={"matrix": T.ArrayType(T.DoubleType())})


def _numbered(pl: DataFrame, flag, order: list, extra: list[str], size: int, out: str) -> DataFrame:
    """`out` = the group of `size` rows a flagged row falls in, ranked in `order` over all series (on a
    narrow frame, joined back by key); unflagged rows get their own bucket's group, -1 - bucket."""
    flag = F.coalesce(flag, F.lit(False))
    narrow = pl.filter(flag).select(*KEYS, *extra).withColumn("_one", F.lit(1.0))
    ranked = running_sum(narrow, "_one", order, None, "_rank")
    nums = ranked.select(F.col("product_id").alias("_kp"), F.col("location_id").alias("_kl"),
                         F.floor((F.col("_rank") - 1) / size).cast("long").alias(out))
    hit = pl.filter(flag).join(nums, F.col("product_id").eqNullSafe(F.col("_kp"))
                               & F.col("location_id").eqNullSafe(F.col("_kl"))).drop("_kp", "_kl")
    return hit.unionByName(pl.filter(~flag).withColumn(out, (-1 - F.col("_b")).cast("long")))


def _chunks(pl: DataFrame) -> DataFrame:
    """Stage 5: the pooled size CV^2 per pattern and the calibration chunk of every calibrated row."""
    sums = (pl.filter("calibrated").groupBy("pattern")
            .agg(F.sum(F.col("cv2_wt") * F.col("cv2_size")).alias("s1"), F.sum("cv2_wt").alias("s2")).collect())
    pooled = dict(zip([r["pattern"] for r in sums],
                      pooled_from_sums([r["s1"] for r in sums], [r["s2"] for r in sums]).tolist(), strict=True))
    pmap = F.create_map(*[x for k, v in pooled.items() for x in (F.lit(k), F.lit(float(v)))]) if pooled else None
    pl = pl.withColumn("pooled_cv2", pmap[F.col("pattern")] if pmap is not None else F.lit(1.0))
    if not sums:  # no calibrated row (no pattern has one): no ranking, each bucket is its own chunk
        return pl.withColumn("_chunk", (-1 - F.col("_b")).cast("long"))
    return _numbered(pl, F.col("calibrated"), ["cal_key", "product_id", "location_id"], ["cal_key"], _CHUNK,
                     "_chunk")


def _blocks(pl: DataFrame) -> DataFrame:
    """Stage 7a: the replay block of every live row (20,000 in key order, as core.planning.service_check)."""
    live = (F.col("abc") != "none") & (F.col("replenishment") == "make_to_stock")
    pl = _numbered(pl, live, ["product_id", "location_id"], [], _BLOCK, "_block")
    return pl.withColumn("block_start", F.when(F.col("_block") >= 0, F.col("_block") * _BLOCK).otherwise(-1))


def _replay(pl: DataFrame, lines: DataFrame, pol, opts, first, n_days) -> DataFrame:
    """Stage 7b: per block, with the block's lines (joined by series key), the daily replay."""
    keys = pl.filter(F.col("_block") >= 0).select(F.col("product_id").alias("_kp"),
                                                   F.col("location_id").alias("_kl"), F.col("_block").alias("_bk"))
    pl = pl.drop("matrix")
    line_cols = lines.columns
    loc = F.coalesce(F.col("location_id").cast("string"), F.lit("-"))
    lines = lines.join(keys, (F.col("product_id") == F.col("_kp")) & (loc == F.col("_kl")))
    lines = lines.select(*line_cols, F.col("_bk").alias("_block"))
    return _cogrouped(pl, lines, "_block",
                      lambda a, c: st.replay_stage(a, c[line_cols] if len(c) else pd.DataFrame(columns=line_cols),
                                                   pol, opts, first, n_days))


def _stage(spark: SparkSession, name: str, df: DataFrame | None = None, force: bool = False) -> DataFrame | None:
    """Label the Spark jobs that follow with the stage's name (the UI and bench/bench_spark.py --profile
    sum job times per label); `force` materialises `df` now, so its jobs carry this label."""
    spark.sparkContext.setJobDescription(f"segbridge {name}")
    if force and df is not None:
        df.count()
    return df


def run_spark(spark: SparkSession, inputs: dict, policy=None, options=None, buckets: int | None = None,
              profile: bool = False) -> SparkRun:
    """The whole engine on Spark frames (order_lines required; products, product_locations, receipts
    optional), same policy and options as core.planning.engine.run_engine. `profile` computes each
    stage before the next starts (slower; for per-stage timings)."""
    pol, opts = eng._as_policy(policy), options or eng.EngineOptions()
    if inputs.get("order_lines") is None:
        raise DataError("no order_lines frame given", hint="order lines are the demand history; see docs/spark.md")
    n = buckets or int(spark.conf.get("spark.sql.shuffle.partitions", "200"))
    _stage(spark, "conflicts")
    inputs = split_cross_conflicts(inputs)
    _stage(spark, "last day")
    day = opts.end_date or last_day(inputs["order_lines"], pol)
    overrides = active_overrides(opts.overrides, opts.today)
    _stage(spark, "series")
    rows = _stage(spark, "series", _series(spark, inputs, pol, day, n).persist(), profile)
    _stage(spark, "classes")
    classed = _stage(spark, "classes", _classes(rows, pol, opts, overrides).persist(), profile)
    _stage(spark, "chunks")
    pl = _stage(spark, "chunks", _chunks(classed.filter(F.col("_kind") == "pl")), profile)
    days = st.window_days(pol, day)[1]
    _stage(spark, "parameters")
    pl = _cogrouped(pl, None, "_chunk", lambda a, _: st.parameters_stage(a, pol, days)).persist()
    pl = _stage(spark, "parameters", pl, profile)
    first, n_days, _ = st.window_days(pol, day)
    _stage(spark, "blocks+replay")
    if opts.simulate:  # else no blocks: nothing to replay, the lines are not shuffled again
        pl = _replay(_blocks(pl), inputs["order_lines"], pol, opts, first, n_days).persist()
    pl = _stage(spark, "blocks+replay", pl.drop("matrix"), profile)
    _stage(spark, "long")
    prod = classed.filter(F.col("_kind") == "product")
    segments, parameters = _long(pl, prod, overrides)
    from core.spark_engine.spark_customers import with_customers  # it builds on this module

    segments, parameters, cleaning = with_customers(spark, inputs, pol, overrides, n, segments, parameters)
    return SparkRun(segments, parameters, pl, prod, ruleset_hash(pol), day, pol.classification.period,
                    pol.classification.window, cleaning, pol)


def _long(pl: DataFrame, prod: DataFrame, overrides: pd.DataFrame) -> tuple[DataFrame, DataFrame]:
    """Segments and parameters (long), per partition, in the store's columns."""
    seg_schema = "entity string, entity_key string, dimension string, value string, metric double, source string"
    par_schema = "entity string, entity_key string, name string, value_num double, value_text string"
    empty_prod = pd.DataFrame(columns=["entity_key", "abc", "abc_metric", "xyz", "cv", "pattern", "adi",
                                       "lifecycle", "last_idx", "segment"])
    empty_pl = empty_prod.assign(velocity_class=[], velocity_metric=[])

    def segs(it):
        for b in it:
            yield st.long_stage(b, empty_prod, overrides)[0].astype({"value": str})

    def pars(it):
        for b in it:
            yield st.long_stage(b, empty_prod, overrides)[1]

    def prod_segs(it):
        for b in it:
            yield eng._segments_long(empty_pl, b, None, None).astype({"value": str})

    seg = pl.mapInPandas(segs, seg_schema).unionByName(prod.mapInPandas(prod_segs, seg_schema))
    return seg, pl.mapInPandas(pars, par_schema)
