"""Inputs and outputs of the Spark backend: the store over JDBC, Parquet in the canonical layout, and
the run saved back to the store so plan, apply and reconcile read it unchanged.

Canonical Parquet layout (docs/spark.md): `<dir>/order_lines/`, `<dir>/products/`,
`<dir>/product_locations/`, `<dir>/receipts/` (each a Parquet dataset, any number of files, the
store's column names); results go to `<dir>/segments/` and `<dir>/parameters/`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.errors import AnalysisException
from pyspark.sql import functions as F
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from basics.errors import ConfigError
from core.model import OrderLine, Override
from core.planning.demand import DemandHistory
from core.planning.engine import PAR_COLS, SEG_COLS, EngineOptions, EngineResult
from core.planning.governance import ruleset_hash
from core.planning_store import TABLES, load_frames, previous_runs, resolve_policy, save_run
from core.spark_engine.spark_backend import SparkRun, run_spark
from core.spark_engine.spark_settings import EngineConfig, EngineInput
from core.spark_engine.spark_summary import run_warnings, summarize
from core.statuses import Trigger
from core.store import read_frame

INPUTS = ("order_lines", "products", "product_locations", "receipts", "shipments")


def jdbc_url(url: str) -> tuple[str, dict[str, str]]:
    """A JDBC URL and its properties from the store's SQLAlchemy URL (PostgreSQL)."""
    u = make_url(url)
    if not u.drivername.startswith("postgresql"):
        raise ConfigError(f"engine.input store reads over JDBC from PostgreSQL; the store is {u.drivername}",
                          hint="use engine.input: parquet, or a PostgreSQL store (docs/spark.md)")
    props = {"driver": "org.postgresql.Driver", "user": u.username or "", "fetchsize": "10000"}
    if u.password:
        props["password"] = str(u.password)
    return f"jdbc:postgresql://{u.host or 'localhost'}:{u.port or 5432}/{u.database}", props


def date_predicates(low, high, n: int) -> list[str]:
    """`n` WHERE clauses splitting order_date [low, high] (the column is indexed) plus its NULLs."""
    span = max((high - low).days + 1, 1)
    step = max(-(-span // n), 1)
    out, d = [], low
    while d <= high:
        nxt = d + timedelta(days=step)
        out.append(f"order_date >= '{d.isoformat()}' AND order_date < '{nxt.isoformat()}'")
        d = nxt
    return [*out, "order_date IS NULL"]


def read_store_jdbc(spark, db, config: EngineConfig) -> dict:
    """The canonical tables over JDBC; order_lines in parallel by date range."""
    url, props = jdbc_url(db.url.render_as_string(hide_password=False))
    with db.connect() as conn:
        low, high = conn.execute(select(func.min(OrderLine.order_date), func.max(OrderLine.order_date))).one()
    out = {}
    for name in INPUTS:
        table = TABLES[name].__tablename__
        if name == "order_lines" and low is not None:
            out[name] = spark.read.jdbc(url, table, predicates=date_predicates(low, high, config.jdbc_partitions),
                                        properties=props)
        else:
            out[name] = spark.read.jdbc(url, table, properties=props)
    return _typed(out)


def read_parquet(spark, folder: str | Path) -> dict:
    """The canonical Parquet datasets of a folder (order_lines required)."""
    root = Path(folder)
    if not (root / "order_lines").exists():
        raise ConfigError(f"{root}: no order_lines/ dataset", hint="the canonical layout is in docs/spark.md")
    return _typed({name: spark.read.parquet(str(root / name)) for name in INPUTS if (root / name).exists()})


def from_frames(spark, frames: dict[str, pd.DataFrame]) -> dict:
    """Spark frames from pandas ones (a small store, the CSV files of `analyze`, tests). `files`: the
    CSV file name of each frame (the reader's attrs), which data-quality examples cite."""
    used = {name: f for name, f in frames.items() if name in INPUTS and f is not None and not f.empty}
    out = _typed({name: spark.createDataFrame(f) for name, f in used.items()})
    files = {name: f.attrs["file"] for name, f in used.items() if f.attrs.get("file")}
    return {**out, "files": files} if files else out


def _typed(inputs: dict) -> dict:
    """Dates as timestamps (the pandas path reads them as datetime64)."""
    out = {}
    for name, df in inputs.items():
        for c in ("order_date", "requested_date", "receipt_date", "promised_date"):
            if c in df.columns:
                df = df.withColumn(c, F.col(c).cast("timestamp"))
        out[name] = df
    return out


def collect_result(run: SparkRun) -> EngineResult:
    """The run as the one-machine EngineResult (segments, parameters, the product-location columns the
    run's counts, audit events and report read, and the summaries gathered from the partitions:
    data quality, unmatched combinations, the replay's service summary, warnings) - for saving in the
    store or writing CSV files. Once collected, the frames the run cached are released: a scheduler or
    test process that runs the engine again would otherwise fill the executors' memory with old runs
    (Spark refuses the next aggregation with AGGREGATE_OUT_OF_MEMORY)."""
    try:
        return _collect(run)
    finally:
        run.segments.sparkSession.catalog.clearCache()


def _collect(run: SparkRun) -> EngineResult:
    pl = run.product_locations
    pl = pl.select(*[c for c in pl.columns if c != "matrix" and not c.startswith("_")]).toPandas()
    products = run.products.select(*[c for c in run.products.columns if c != "matrix"]).toPandas()
    demand = DemandHistory(pd.DataFrame({"product_id": [], "location_id": []}), np.zeros((0, run.window)),
                           pd.DatetimeIndex([]), run.period)
    segments = run.segments.toPandas()[SEG_COLS]
    if run.cleaning is None or run.policy is None:  # a run built without the cleaning pass
        return EngineResult(segments, run.parameters.toPandas(), pl, products, _customers(segments),
                            pd.DataFrame({"count": pd.Series([], dtype="int64")}), None, demand, run.ruleset_hash)
    summary = summarize(run.cleaning, pl, run.product_locations, run.policy)
    return EngineResult(segments, run.parameters.toPandas(), pl, products, _customers(segments), summary.unmatched,
                        summary.service, demand, run.ruleset_hash, run_warnings(summary, pl),
                        summary.data_quality.as_dict())


def _customers(segments: pd.DataFrame) -> pd.DataFrame | None:
    """One row per customer (index: its key) with its class and segment, None when the run has none."""
    c = segments[segments["entity"] == "customer"]
    if c.empty:
        return None
    wide = c.pivot(index="entity_key", columns="dimension", values="value")
    return wide.rename(columns={"abc": "customer_abc", "segment": "customer_segment"})


def _under(folder: str | Path, name: str) -> str:
    """`folder`/`name` for a local folder or a lake URI (s3://, abfss://, dbfs:/ - which Path would mangle)."""
    return f"{str(folder).rstrip('/')}/{name}"


def write_parquet(run: SparkRun, folder: str | Path) -> None:
    """Segments and parameters as Parquet datasets for a lake (`load_parquet_run` saves them in the store
    for plan/apply)."""
    run.segments.write.mode("overwrite").parquet(_under(folder, "segments"))
    run.parameters.write.mode("overwrite").parquet(_under(folder, "parameters"))


def load_parquet_run(db, spark, folder: str | Path, config_or_policy=None, trigger: str = Trigger.MANUAL) -> int:
    """The `segments/` and `parameters/` datasets `write_parquet` left in a lake, saved in the store as a
    segment run (audit events against the previous run), so plan, apply and reconcile read it unchanged.
    `config_or_policy`: the policy the run used (its rule-set hash is recorded). The run's counts come
    from the files: the safety-stock value and the data-quality counts are not in them."""
    try:
        seg = spark.read.parquet(_under(folder, "segments")).toPandas()[SEG_COLS]
        par = spark.read.parquet(_under(folder, "parameters")).toPandas()[PAR_COLS]
    except AnalysisException as exc:
        raise ConfigError(f"{folder}: no segments/ or parameters/ dataset ({str(exc).splitlines()[0]})",
                          hint="core.spark_engine.spark_store.write_parquet writes both") from None
    pls = seg[seg["entity"] == "product_location"]
    pl = pls[pls["dimension"] == "segment"][["entity_key", "value"]].rename(columns={"value": "segment"})
    rules = par[(par["entity"] == "product_location") & (par["name"] == "rule")].set_index("entity_key")
    pl = pl.assign(rule=pl["entity_key"].map(rules["value_text"]), ss_value=np.nan).reset_index(drop=True)
    products = seg[(seg["entity"] == "product") & (seg["dimension"] == "segment")]
    demand = DemandHistory(pd.DataFrame({"product_id": [], "location_id": []}), np.zeros((0, 0)),
                           pd.DatetimeIndex([]), "W")
    result = EngineResult(seg, par, pl, products, _customers(seg), pd.DataFrame({"count": pd.Series([], dtype="int64")}),
                          None, demand, ruleset_hash(resolve_policy(config_or_policy)))
    prev = previous_runs(db, 1)
    return save_run(db, result, trigger, prev[0] if prev else None)


def segment_with_spark(db, spark, config: EngineConfig, config_or_policy=None, trigger: str = Trigger.MANUAL,
                       base_dir: Path | None = None, today=None) -> int:
    """`segbridge segment --engine spark`: inputs per `engine.input`, the run saved in the store as a
    segment run with its audit events (plan, apply and reconcile read it as any other run)."""
    policy = resolve_policy(config_or_policy)
    if config.input == EngineInput.PARQUET:
        if not config.parquet_dir:
            raise ConfigError("engine.input is parquet but engine.parquet_dir is not set",
                              hint="name the folder of the canonical Parquet datasets (docs/spark.md)")
        folder = Path(config.parquet_dir)
        inputs = read_parquet(spark, folder if folder.is_absolute() or base_dir is None else base_dir / folder)
    elif db.url.get_backend_name() == "postgresql":
        inputs = read_store_jdbc(spark, db, config)
    else:  # SQLite: a local store, read on the driver
        inputs = from_frames(spark, load_frames(db))
    prev = previous_runs(db, max(policy.governance.persist_runs, 1))
    opts = EngineOptions(today=today, history=[s for _, s, _ in prev], overrides=read_frame(db, Override))
    run = run_spark(spark, inputs, policy, opts, buckets=config.buckets)
    return save_run(db, collect_result(run), trigger, prev[0] if prev else None)
