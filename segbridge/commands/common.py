"""Helpers the command modules share: load the config, open the store, print tables, watch long work."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # kept out of start-up: `segbridge --help` must not load SQLAlchemy or the models
    from sqlalchemy.engine import Engine

    from basics.progress import ProgressCallback
    from core.settings import SegbridgeConfig

out = Console()
_COMMAND = "segbridge"


def config_of(ctx: typer.Context) -> SegbridgeConfig:
    """The validated segbridge.yaml named by --config."""
    from core.settings import load_config

    global _COMMAND
    _COMMAND = ctx.command_path or _COMMAND  # names the command in what store_of records
    root = ctx.find_root()
    path: Path = (root.obj or {}).get("config_path", Path("segbridge.yaml"))
    return load_config(path)


def store_of(config: SegbridgeConfig, upgrade: bool = True) -> Engine:
    """The store's engine, with the schema brought up to date."""
    from core.migrate import ensure_schema
    from core.store import check_connection, open_store

    url = config.database.resolved_url()
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///"):]
        url = "sqlite:///" + str(config.resolve_path(rel)) if rel and rel != ":memory:" else url
    db = open_store(url)
    check_connection(db)
    if upgrade:
        ensure_schema(db)
        _mark_interrupted(db)
    return db


def _mark_interrupted(db: Engine) -> None:
    """Runs left `running` by a process that died become `interrupted` (the one place this is done:
    every command opens the store here), naming the command that found them."""
    from core.runs import mark_interrupted

    marked = mark_interrupted(db, by=f"`{_COMMAND}`")
    if marked:
        Console(stderr=True).print(f"marked run(s) {', '.join(map(str, marked))} interrupted: their process died",
                                   highlight=False, markup=False)


def table(title: str, columns: list[str], rows: list[list], console: Console | None = None) -> None:
    """Print a rich table (the CLI's one way to show tabular results)."""
    t = Table(title=title, title_justify="left")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    (console or out).print(t)


@contextmanager
def long_running(show_progress: bool) -> Iterator[tuple[ProgressCallback | None, threading.Event]]:
    """Progress bars (a callback, or None when off) and a stop event SIGTERM/SIGINT set, for core's long steps."""
    from segbridge.progress_view import bars
    from segbridge.stop_signals import stop_on_signals

    with stop_on_signals() as stop, bars(show_progress) as progress:
        yield progress, stop


def export_run_file(ctx: typer.Context, what: str, run: int | None, out_file: Path, fmt: str | None) -> None:
    """`segments export` and `parameters export`: write the file, then say what was written where."""
    from core.reports.run_export import export_run

    result = export_run(store_of(config_of(ctx)), what, out_file, run_id=run, fmt=fmt)
    previous = f"previous run {result.previous_id}" if result.previous_id else "no previous run"
    out.print(f"wrote {result.rows} row(s) of segment run {result.run_id} ({previous}) "
              f"as {result.fmt} to {result.path.resolve()}", highlight=False, markup=False, soft_wrap=True)
