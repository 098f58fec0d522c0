"""Inputs and outputs of the Spark backend: JDBC URLs and date-range reads, the Parquet layout, and a
Spark run saved in the store as a segment run that the rest of segbridge reads like any other."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from basics.errors import ConfigError

pytestmark = pytest.mark.spark
pytest.importorskip("pyspark", reason="pyspark not installed (pip install -e '.[spark]')")


def test_jdbc_url_from_the_store_url_keeps_the_password_out_of_the_url():
    from core.spark_engine.spark_store import jdbc_url

    url, props = jdbc_url("postgresql+psycopg://seg:s3cret@db.example:5433/segbridge")
    assert url == "jdbc:postgresql://db.example:5433/segbridge"
    assert props["user"] == "seg" and props["password"] == "s3cret" and "s3cret" not in url
    with pytest.raises(ConfigError, match="PostgreSQL"):
        jdbc_url("sqlite:///x.db")


def test_date_predicates_cover_the_range_and_nulls_once():
    from core.spark_engine.spark_store import date_predicates

    p = date_predicates(date(2025, 1, 1), date(2025, 1, 10), 3)
    assert p[0] == "order_date >= '2025-01-01' AND order_date < '2025-01-05'"
    assert p[-2] == "order_date >= '2025-01-09' AND order_date < '2025-01-13'" and p[-1] == "order_date IS NULL"


def test_parquet_layout_is_read_with_dates_as_timestamps(spark, tmp_path):
    from core.spark_engine.spark_store import read_parquet

    lines = pd.DataFrame({"product_id": ["A"], "order_date": [date(2025, 1, 2)], "quantity": [1.0]})
    spark.createDataFrame(lines).write.parquet(str(tmp_path / "order_lines"))
    inputs = read_parquet(spark, tmp_path)
    assert set(inputs) == {"order_lines"} and dict(inputs["order_lines"].dtypes)["order_date"] == "timestamp"
    with pytest.raises(ConfigError, match="order_lines"):
        read_parquet(spark, tmp_path / "nothing")


def test_a_spark_run_is_saved_as_a_segment_run(spark, tmp_path):
    from core import runs
    from core.model import OrderLine, ProductLocation
    from core.planning_store import load_frames, segment_from_store
    from core.spark_engine.spark_settings import EngineConfig
    from core.spark_engine.spark_store import segment_with_spark
    from core.store import create_all, open_store, upsert
    from tests.e2e.spark_fixtures import parity_frames

    db = open_store(f"sqlite:///{tmp_path / 's.db'}")
    create_all(db)
    f = parity_frames(n_products=6, locations=2)
    lines = f["order_lines"].drop(columns=["customer_id"]).assign(order_date=lambda d: d["order_date"].dt.date,
                                                                 line_no="1")
    with db.begin() as conn:
        upsert(conn, OrderLine, lines)
        upsert(conn, ProductLocation, f["product_locations"][["product_id", "location_id", "lead_time_days"]])
    assert len(load_frames(db)["order_lines"]) == len(lines)
    ref = segment_from_store(db, None)
    run_id = segment_with_spark(db, spark, EngineConfig(kind="spark", buckets=2), None)
    info = runs.get_run(db, run_id)
    assert info.parent_run_id == ref and info.counts["product_locations"] == runs.get_run(db, ref).counts[
        "product_locations"]
    assert info.counts["segments"] == runs.get_run(db, ref).counts["segments"]
    for key in ("data_quality", "unmatched", "customers", "products"):  # gathered from the partitions
        assert info.counts[key] == runs.get_run(db, ref).counts[key]
    assert info.counts["audit_events"] == 0  # the same answers as the pandas run before it: nothing changed


def test_parquet_written_for_a_lake_loads_into_the_store_as_the_same_run(spark, tmp_path):
    from core import runs
    from core.model import ParameterValue, SegmentAssignment
    from core.planning_store import save_run
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_store import collect_result, from_frames, load_parquet_run, write_parquet
    from core.statuses import Trigger
    from core.store import create_all, open_store, read_frame
    from tests.e2e.spark_fixtures import customer_frames

    db = open_store(f"sqlite:///{tmp_path / 's.db'}")
    create_all(db)
    run = run_spark(spark, from_frames(spark, customer_frames()), None, buckets=2)
    saved = save_run(db, collect_result(run), Trigger.MANUAL)
    write_parquet(run, tmp_path / "lake")
    assert (tmp_path / "lake" / "segments").is_dir() and (tmp_path / "lake" / "parameters").is_dir()
    loaded = load_parquet_run(db, spark, tmp_path / "lake")
    info = runs.get_run(db, loaded)
    # the previous run is the one saved directly: nothing differs, so plan/apply read the same values
    assert info.parent_run_id == saved and info.counts["audit_events"] == 0
    assert info.counts["customers"] > 0 and info.counts["segments"] == runs.get_run(db, saved).counts["segments"]
    assert info.ruleset_hash == runs.get_run(db, saved).ruleset_hash
    for table, key in ((SegmentAssignment, ["entity", "entity_key", "dimension"]),
                       (ParameterValue, ["entity", "entity_key", "name"])):
        rows = read_frame(db, table)
        a = rows[rows["run_id"] == saved].drop(columns=["run_id", "id"], errors="ignore").sort_values(key)
        b = rows[rows["run_id"] == loaded].drop(columns=["run_id", "id"], errors="ignore").sort_values(key)
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    with pytest.raises(ConfigError, match="segments"):
        load_parquet_run(db, spark, tmp_path / "nothing")


def test_collecting_a_run_releases_what_it_cached(spark):
    """A scheduler or test process runs the engine again and again in one session: a collected run's
    cached frames must not stay in the executors' memory (they made the next run fail with
    AGGREGATE_OUT_OF_MEMORY)."""
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_store import collect_result, from_frames
    from tests.e2e.spark_fixtures import customer_frames

    cache = spark._jsparkSession.sharedState().cacheManager()
    run = run_spark(spark, from_frames(spark, customer_frames()), None, buckets=2)
    assert not cache.isEmpty()  # the run caches its stages
    result = collect_result(run)
    assert len(result.segments) > 0 and cache.isEmpty()
