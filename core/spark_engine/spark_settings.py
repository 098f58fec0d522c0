"""The `engine:` section of segbridge.yaml: which backend runs segmentation and planning.

    engine:
      kind: spark            # pandas (default) | spark
      master: local[2]       # local[*], spark://host:7077, yarn, k8s://...; omit under spark-submit
      conf:
        spark.sql.shuffle.partitions: "64"
      input: store           # store (JDBC, partitioned reads) | parquet
      parquet_dir: lake/canonical

Kept in the Spark backend's own package (registered with core.settings.register_section) so the
pandas path never imports pyspark; `session()` imports it only when a Spark run is asked for.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum

from pydantic import Field

from basics.errors import ConfigError
from basics.yaml_loader import StrictModel, register_kind
from core.settings import register_section


class EngineKind(StrEnum):
    PANDAS = "pandas"
    SPARK = "spark"


class EngineInput(StrEnum):
    STORE = "store"
    PARQUET = "parquet"


class EngineConfig(StrictModel):
    kind: EngineKind = Field(EngineKind.PANDAS, description="pandas (one machine) or spark")
    master: str | None = Field(None, description="Spark master URL (local[*], spark://host:7077, yarn, ...); "
                               "omit when spark-submit or Databricks sets it")
    conf: dict[str, str | int | float | bool] = Field(default_factory=dict,
                                                      description="Spark settings, e.g. spark.sql.shuffle.partitions")
    input: EngineInput = Field(EngineInput.STORE, description="store: the canonical tables over JDBC; "
                               "parquet: files in the canonical layout (docs/spark.md)")
    parquet_dir: str | None = Field(None, description="Folder of <table>/ Parquet datasets when input is parquet")
    jdbc_partitions: int = Field(8, ge=1, le=10_000, description="Parallel JDBC reads of order_lines")
    buckets: int | None = Field(None, ge=1, description="Product buckets (default: spark.sql.shuffle.partitions)")


register_section("engine", EngineConfig)
register_kind("engine", EngineConfig)

# maxRecordsPerBatch: the per-partition stages (the window's last day, ABC measures, running totals, the
# long output) pay a pandas call per Arrow batch; 10,000 rows (Spark's default) made that overhead the
# larger part of those passes. Grouped stages get whole groups either way.
DEFAULT_CONF = {"spark.sql.execution.arrow.pyspark.enabled": "true", "spark.ui.showConsoleProgress": "false",
                "spark.sql.adaptive.enabled": "true", "spark.sql.execution.arrow.maxRecordsPerBatch": "200000"}


def engine_config(cfg) -> EngineConfig:
    """The validated `engine:` section of a SegbridgeConfig (pandas when absent)."""
    return cfg.section("engine") if cfg is not None and getattr(cfg, "engine", None) else EngineConfig()


def session(config: EngineConfig):
    """A SparkSession for the run (the active one when spark-submit or Databricks made it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise ConfigError("engine.kind is spark but pyspark is not installed",
                          hint="pip install 'segbridge[spark]' (and a Java 17 runtime)") from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName("segbridge")
    if config.master:
        builder = builder.master(config.master)
    for key, value in {**DEFAULT_CONF, **{k: str(v) for k, v in config.conf.items()}}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
