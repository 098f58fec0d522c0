"""Helpers the command modules share: load the config, open the store, print tables, watch long work.

Lists (`exceptions list`, `runs list`, `plans list`) go through `show_rows`: the one way to print rows
as a table that fits the terminal, or as JSON (`--json`) or CSV (`--csv`) for scripts.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from basics.errors import ConfigError

if TYPE_CHECKING:  # kept out of start-up: `segbridge --help` must not load SQLAlchemy or the models
    from sqlalchemy.engine import Engine

    from basics.progress import ProgressCallback
    from core.settings import SegbridgeConfig

out = Console()
_COMMAND = "segbridge"


def plain_flags_in_help() -> None:
    """Typer's rich help prints a type after every option, a flag's too (`--live <bool>`, `-v <int>`),
    though a flag takes no value; plain click help leaves it out. Give flags and counters no type in
    the rich help as well, and a repeatable option the type of its one value (`<str>`, not `<list[str]>`). Older typer (no `display_type_rich`) needs nothing."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_plain_flags", False):
        return

    def display_type_rich(self, ctx):
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        shown = original(self, ctx)
        if isinstance(shown, str) and shown.startswith("<list[") and shown.endswith("]>"):
            return f"<{shown[6:-2]}>"  # a repeatable option takes one value each time: `--system <str>`
        return shown

    display_type_rich._plain_flags = True
    TyperOption.display_type_rich = display_type_rich


plain_flags_in_help()


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


JSON_OPTION = typer.Option(False, "--json", help="Print a JSON array of objects (for scripts)")
CSV_OPTION = typer.Option(False, "--csv", help="Print CSV (cells that would open as formulas are neutralised)")
OUT_OPTION = typer.Option(None, "--out", help="With --json or --csv: write this file (private) instead of stdout")


@dataclass(frozen=True)
class Col:
    """A table column: the row key it shows, its header, and how it behaves when the terminal is narrow.

    `drop` > 0 marks a column that may be left out when the table would not fit, highest first;
    `constant=True` one that, holding the same value in every row, may move into the title instead
    (`status: open`); `wrap=False` keeps a value on one line (ids, dates), cutting long text with an
    ellipsis. No column is ever narrower than its header or `min_width`."""

    key: str
    header: str = ""
    drop: int = 0
    wrap: bool = True
    min_width: int = 0
    show: Callable[[Any], str] | None = None
    constant: bool = False

    @property
    def title(self) -> str:
        return self.header or self.key

    @property
    def least(self) -> int:
        return max(len(self.title), self.min_width)


_WIDEST = 40  # a column's wanted width is its longest cell up to this
_GAP = 2  # characters between columns
_CONSTANT_RANK = 4.5  # a column with one value in every row goes after drop ranks 5 and up


def _plain(value: Any) -> Any:
    """A JSON- and CSV-friendly value: dates as ISO text, enums as their value."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _cell(col: Col, value: Any) -> str:
    if col.show is not None:
        return col.show(value)
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(_plain(value))


def fitting(columns: Sequence[Col], cells: dict[str, list[str]], width: int) -> tuple[list[Col], list[Col]]:
    """(columns to show, constant columns moved to the title) so the table fits `width`.

    Each column wants its longest cell (at most 40) and at least its header. While the wanted total
    is too wide, the column of highest `drop` goes; a constant column (one value in every row)
    ranks at least 4.5 and moves to the title rather than going. What still does not fit, rich folds, never below `least`."""
    def wanted(c: Col) -> int:
        return max([c.least, *[min(len(v), _WIDEST) for v in cells[c.key]]])

    def rank(c: Col) -> float:  # which goes first: highest; 0 stays
        same = c.constant and len(set(cells[c.key])) == 1
        return max(c.drop, _CONSTANT_RANK) if same else c.drop

    kept, moved = list(columns), []
    while sum(wanted(c) + _GAP for c in kept) - _GAP > width:
        first = max(kept, key=rank)
        if rank(first) <= 0:
            break
        kept.remove(first)
        if first.constant and len(set(cells[first.key])) == 1:
            moved.append(first)
    return kept, moved


def rows_table(title: str, rows: Sequence[dict], columns: Sequence[Col], width: int) -> Table:
    """A borderless table of `rows` that reads at `width` columns (see `fitting`)."""
    from rich import box

    cells = {c.key: [_cell(c, r.get(c.key)) for r in rows] for c in columns}
    kept, moved = fitting(columns, cells, width)
    title += "".join(f", {c.title} {cells[c.key][0]}" for c in moved)
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              padding=(0, 1), collapse_padding=True)
    for col in kept:
        t.add_column(col.title, min_width=col.least, no_wrap=not col.wrap,
                     overflow="fold" if col.wrap else "ellipsis")
    for i in range(len(rows)):
        t.add_row(*[cells[c.key][i] for c in kept])
    return t


def show_rows(rows: Sequence[dict], columns: Sequence[Col], *, title: str, as_json: bool = False,
              as_csv: bool = False, out_file: Path | None = None, empty: str | None = None,
              console: Console | None = None) -> None:
    """Rows as a table for people, or every key of every row as JSON or CSV for scripts.

    JSON is an array of objects with the rows' keys (dates as ISO text); CSV has the same columns
    (nested values as JSON text), its text cells neutralised like every spreadsheet output.
    `out_file` writes the JSON or CSV to a private file instead of stdout."""
    if as_json and as_csv:
        raise ConfigError("--json and --csv cannot be used together", hint="pick one output format")
    if out_file is not None and not (as_json or as_csv):
        raise ConfigError("--out needs --json or --csv", hint="add --json or --csv to say what to write")
    if as_json:
        _write_text(json.dumps([{k: _plain(v) for k, v in r.items()} for r in rows], indent=2, default=str) + "\n",
                    out_file)
    elif as_csv:
        _write_csv(rows, [c.key for c in columns], out_file)
    elif not rows and empty:
        (console or out).print(empty, highlight=False, markup=False)
    else:
        console = console or out
        console.print(rows_table(title, rows, columns, console.width))


def _write_text(text: str, out_file: Path | None) -> None:
    if out_file is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from core.reports.spreadsheet import write_private_text

    write_private_text(text, out_file)
    Console(stderr=True).print(f"wrote {out_file}", highlight=False, markup=False)


def _write_csv(rows: Sequence[dict], fallback_keys: list[str], out_file: Path | None) -> None:
    import pandas as pd

    from core.reports.spreadsheet import neutralise_frame, write_csv

    keys = list(rows[0]) if rows else fallback_keys
    flat = [{k: json.dumps(v, default=str) if isinstance(v, dict | list) else _plain(v) for k, v in r.items()}
            for r in rows]
    frame = pd.DataFrame(flat, columns=keys)
    if out_file is not None:
        write_csv(frame, out_file)
        Console(stderr=True).print(f"wrote {out_file}", highlight=False, markup=False)
        return
    sys.stdout.write(neutralise_frame(frame).to_csv(index=False, lineterminator="\r\n"))
    sys.stdout.flush()


def interactive() -> bool:
    """Whether a person can be asked: stdin is a terminal."""
    return sys.stdin.isatty()


def confirm_or_refuse(action: str, yes: bool) -> None:
    """Go on when `--yes` was given or a person at a terminal says yes to `action`; refuse (exit 2)
    when nobody can be asked (stdin is not a terminal), so a script never acts on more than it meant to."""
    if yes:
        return
    if not interactive():
        raise ConfigError(f"not done: {action} needs confirmation and stdin is not a terminal to ask on",
                          hint="check the count above, then run again with --yes")
    if not typer.confirm(f"{action}?", default=False):
        out.print("nothing changed")
        raise typer.Exit(1)


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
