"""Shared fixtures: stores on SQLite and PostgreSQL, the shared reference material.

PostgreSQL tests skip with a visible reason when 127.0.0.1:5432 is unreachable, except on
CI (CI=true), where a skipped PostgreSQL test fails the run.
"""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from core.store import create_all, open_store

PG_URL = os.environ.get("SEGBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SHARED = Path(os.environ.get("SEGBRIDGE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
ON_CI = os.environ.get("CI", "").lower() == "true"
_pg_skips: list[str] = []


def pg_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    try:
        db = open_store(PG_URL, connect_args={"connect_timeout": 3})
        with db.connect() as conn:
            conn.execute(text("SELECT 1"))
        db.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


def pg_schema_url() -> tuple[str, str]:
    """A fresh schema in the test database, and an engine URL whose search_path is that schema."""
    reason = pg_reachable()
    if reason:
        if ON_CI:
            pytest.fail(f"CI requires PostgreSQL: {reason}")
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = open_store(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, PG_URL


def drop_pg_schema(schema: str) -> None:
    admin = open_store(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_db():
    """An engine on a fresh PostgreSQL schema (dropped afterwards)."""
    schema, url = pg_schema_url()
    db = open_store(url, connect_args={"options": f"-csearch_path={schema}"})
    yield db
    db.dispose()
    drop_pg_schema(schema)


@pytest.fixture
def sqlite_db(tmp_path):
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """A store with the schema created, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        create_all(db)
        yield db
        db.dispose()
    else:
        db = request.getfixturevalue("pg_db")
        create_all(db)
        yield db


@pytest.fixture
def shared() -> Path:
    """../shared (reference material); skips with a reason where it is absent (never on CI)."""
    if not SHARED.is_dir():
        if ON_CI:
            pytest.fail(f"CI requires the shared material at {SHARED}")
        pytest.skip(f"shared material not found at {SHARED}")
    return SHARED


@pytest.fixture
def run_cli(capsys, monkeypatch) -> Callable[..., tuple[int, str]]:
    """Run `segbridge ARGS` in-process: `run_cli(*args, stdin="")` -> (exit code, stdout + stderr).

    One helper for every CLI test, so they all read the exit code the same way (SystemExit's code,
    0 when main returns) and all see a stdin holding `stdin` (for --password-stdin) that is not a terminal.
    """
    from segbridge.cli import main

    def run(*args: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    return run


def spark_missing() -> str | None:
    """None when a local Spark can start (pyspark installed, a Java runtime on PATH), else the reason."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark():
    """One local Spark for the whole test session: 2 cores, 2 shuffle partitions, no UI."""
    reason = spark_missing()
    if reason:
        if ON_CI:
            pytest.fail(f"CI requires Spark: {reason}")
        pytest.skip(reason)
    from core.spark_engine.spark_settings import EngineConfig, session

    s = session(EngineConfig(kind="spark", master="local[2]", conf={
        "spark.sql.shuffle.partitions": 2, "spark.default.parallelism": 2, "spark.ui.enabled": False,
        "spark.sql.adaptive.enabled": False, "spark.driver.memory": "1g"}))
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def pytest_runtest_logreport(report):
    if report.skipped and "postgres" in report.keywords:
        _pg_skips.append(report.nodeid)
    if report.skipped and "spark" in report.keywords:
        _pg_skips.append(report.nodeid)  # the same rule: on CI a skipped Spark test fails the run


def pytest_sessionfinish(session, exitstatus):
    if ON_CI and _pg_skips:
        print(f"\nCI=true but {len(_pg_skips)} PostgreSQL/Spark test(s) skipped: {_pg_skips[:5]}")
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _pg_skips and not ON_CI:
        terminalreporter.write_line(f"note: {len(_pg_skips)} PostgreSQL test(s) skipped (PostgreSQL unreachable)")
