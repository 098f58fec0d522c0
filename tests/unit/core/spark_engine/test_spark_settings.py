"""The `engine:` section: pandas by default, Spark with a master and settings, refusals with the line."""

from __future__ import annotations

import pytest

from basics.errors import ConfigError
from core.settings import load_config
from core.spark_engine.spark_settings import EngineConfig, EngineInput, EngineKind, engine_config


def _cfg(tmp_path, engine: str):
    path = tmp_path / "segbridge.yaml"
    path.write_text("database:\n  url: sqlite:///x.db\n" + engine)
    return load_config(path)


def test_without_an_engine_section_the_pandas_engine_runs(tmp_path):
    assert engine_config(_cfg(tmp_path, "")).kind == EngineKind.PANDAS


def test_a_spark_section_reads_master_conf_and_input(tmp_path):
    cfg = engine_config(_cfg(tmp_path, "engine:\n  kind: spark\n  master: local[2]\n  conf:\n"
                                       "    spark.sql.shuffle.partitions: 64\n  input: parquet\n"
                                       "  parquet_dir: lake\n"))
    assert (cfg.kind, cfg.master, cfg.input, cfg.parquet_dir) == (EngineKind.SPARK, "local[2]", EngineInput.PARQUET,
                                                                  "lake")
    assert cfg.conf == {"spark.sql.shuffle.partitions": 64}


def test_an_unknown_kind_is_refused_with_its_line(tmp_path):
    cfg = _cfg(tmp_path, "engine:\n  kind: dask\n")
    with pytest.raises(ConfigError) as err:
        engine_config(cfg)
    assert "engine.kind" in str(err.value) and ":4" in str(err.value)


def test_a_misspelt_key_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="mastr"):
        engine_config(_cfg(tmp_path, "engine:\n  kind: spark\n  mastr: local[2]\n"))


def test_defaults():
    cfg = EngineConfig()
    assert cfg.kind == EngineKind.PANDAS and cfg.input == EngineInput.STORE and cfg.jdbc_partitions == 8
