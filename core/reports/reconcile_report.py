"""Reconciliation reports for stewards: an Excel workbook, an HTML page with charts, and a CSV.

* Excel (`exceptions.xlsx`): a Summary sheet (counts by status, kind, system and owner) and one
  sheet per exception kind, each with frozen header rows and an autofilter so a steward can
  filter by system, owner or status straight away.
* HTML (`exceptions.html`): self-contained (charts are matplotlib PNGs embedded as base64):
  open exceptions by system and kind, and open exceptions by kind over the reconcile runs.
* CSV (`exceptions.csv`): every exception, one row each, for any other tool.

Source values (keys, systems, owners, expected and actual values) reach the sheets and the CSV
through `core.reports.spreadsheet`: a text cell a spreadsheet would read as a formula gets a
leading apostrophe, numbers stay numbers, and all three files are private to the user (0600).

Example:
    >>> paths = write_reports(db, "segbridge-demo/reports")          # doctest: +SKIP
    >>> paths["excel"].name
    'exceptions.xlsx'
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from core.model import ReconException, Run
from core.reports.engine_report import _fig, _png
from core.reports.spreadsheet import (
    fit_widths,
    neutralise,
    private_output,
    style_header,
    write_csv,
    write_private_text,
)
from core.statuses import REMAINING, RunKind

KINDS = ["value_mismatch", "cross_system", "completeness", "orphan", "conflict"]
COLUMNS = ["id", "status", "severity", "kind", "system", "entity", "entity_key", "field", "expected", "actual",
           "owner", "reason", "first_seen", "last_seen", "count", "run_id"]
OPEN = tuple(sorted(REMAINING))  # the exceptions that still need a steward
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>segbridge reconciliation report</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;font-size:90%}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{max-width:100%}.n{font-size:160%}</style>
</head><body><h1>segbridge reconciliation report</h1>
<p>Generated {{ generated }} &middot; <span class="n">{{ remaining }}</span> exception(s) open or acknowledged
&middot; {{ total }} on record</p>
{% for s in sections %}<h2>{{ s.title }}</h2>{% if s.img %}<img alt="{{ s.title }}"
src="data:image/png;base64,{{ s.img }}">{% endif %}{{ s.table | safe }}{% endfor %}
</body></html>"""


def exceptions_frame(db: Engine) -> pd.DataFrame:
    """Every exception as a frame with the report's columns, most severe and recent first."""
    t = ReconException.__table__
    with db.connect() as conn:
        result = conn.execute(select(*[t.c[c] for c in COLUMNS]))
        frame = pd.DataFrame(result.fetchall(), columns=COLUMNS)
    if frame.empty:
        return frame
    frame["_rank"] = frame["severity"].map(SEVERITY_RANK).fillna(9)
    frame = frame.sort_values(["_rank", "last_seen", "id"], ascending=[True, False, True]).drop(columns="_rank")
    for col in ("first_seen", "last_seen"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.tz_localize(None)
    return frame.reset_index(drop=True)


def history_frame(db: Engine) -> pd.DataFrame:
    """Open exceptions by kind after each finished reconcile run (from the runs' counts)."""
    t = Run.__table__
    stmt = (select(t.c.id, t.c.started_at, t.c.counts).where(t.c.kind == RunKind.RECONCILE, t.c.finished_at.is_not(None))
            .order_by(t.c.id))
    rows = []
    with db.connect() as conn:
        for run_id, started, counts in conn.execute(stmt):
            data = json.loads(counts or "{}")
            rows.append({"run_id": run_id, "started_at": started,
                         **{k: int(data.get(f"open_{k}", 0)) for k in KINDS}})
    return pd.DataFrame(rows, columns=["run_id", "started_at", *KINDS])


def summary_tables(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The Summary sheet's tables: by status, open by kind x severity, open by system x kind, by owner."""
    if frame.empty:
        empty = pd.DataFrame({"exceptions": [0]}, index=pd.Index(["(none)"], name="-"))
        return {"By status": empty}
    live = frame[frame["status"].isin(OPEN)]
    out = {"By status": frame.groupby("status").size().rename("exceptions").to_frame()}
    if not live.empty:
        out["Open by kind and severity"] = pd.crosstab(live["kind"], live["severity"], margins=True, margins_name="total")
        out["Open by system and kind"] = pd.crosstab(live["system"].fillna("-"), live["kind"], margins=True,
                                                     margins_name="total")
        out["Open by owner"] = live.groupby(live["owner"].fillna("(no steward)")).size().rename("exceptions").to_frame()
    return out


def _write_summary(wb, frame: pd.DataFrame, generated: str) -> None:
    ws = wb.active
    ws.title = "Summary"
    ws.append(["segbridge reconciliation", f"generated {generated}"])
    ws.append(["open or acknowledged", int(frame["status"].isin(OPEN).sum()) if len(frame) else 0])
    style_header(ws, 1, 2)
    ws.freeze_panes = "A3"
    for title, table in summary_tables(frame).items():
        ws.append([])
        ws.append([title])
        header = [table.index.name or "", *[neutralise(str(c)) for c in table.columns]]
        ws.append(header)
        style_header(ws, ws.max_row, len(header))
        for idx, row in table.iterrows():
            ws.append([neutralise(str(idx)), *[int(v) for v in row.tolist()]])
    ws.column_dimensions["A"].width = 34


def _write_kind_sheet(wb, kind: str, frame: pd.DataFrame) -> None:
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(kind)
    part = frame[frame["kind"] == kind] if len(frame) else pd.DataFrame(columns=COLUMNS)
    ws.append(COLUMNS)
    style_header(ws, 1, len(COLUMNS))
    for row in part.itertuples(index=False):
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{max(1, ws.max_row)}"
    fit_widths(ws, part if len(part) else pd.DataFrame(columns=COLUMNS))


def _cell(value):
    """An Excel cell value: blank, a datetime, a number as a number, text neutralised."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return neutralise(value)


def write_excel(frame: pd.DataFrame, path: Path, generated: str) -> Path:
    """The workbook: Summary plus one filterable sheet per kind (every kind, empty ones too); text cells
    neutralised (no live formulas), numbers left numbers, the file private (0600)."""
    from openpyxl import Workbook

    wb = Workbook()
    _write_summary(wb, frame, generated)
    for kind in KINDS + sorted(set(frame["kind"]) - set(KINDS) if len(frame) else []):
        _write_kind_sheet(wb, kind, frame)
    with private_output(path) as tmp:
        wb.save(tmp)
    return path


def by_system_chart(frame: pd.DataFrame) -> str | None:
    """Stacked bars: open exceptions per system, one colour per kind."""
    live = frame[frame["status"].isin(OPEN)] if len(frame) else frame
    if live.empty:
        return None
    table = pd.crosstab(live["system"].fillna("-"), live["kind"])
    fig, ax = _fig(7, 3.5)
    table.plot.bar(stacked=True, ax=ax, rot=0)
    ax.set_xlabel("system")
    ax.set_ylabel("open exceptions")
    ax.yaxis.set_major_locator(_integer_ticks())
    ax.legend(title="kind", fontsize=8)
    return _png(fig)


def over_time_chart(history: pd.DataFrame) -> str | None:
    """Lines: open exceptions per kind after each reconcile run."""
    if history.empty:
        return None
    fig, ax = _fig(7, 3.5)
    x = [f"{r}\n{pd.Timestamp(t):%m-%d %H:%M}" for r, t in zip(history["run_id"], history["started_at"], strict=True)]
    for kind in KINDS:
        if history[kind].any():
            ax.plot(x, history[kind], marker="o", label=kind)
    ax.plot(x, history[KINDS].sum(axis=1), color="black", linestyle="--", label="total")
    ax.set_xlabel("reconcile run")
    ax.set_ylabel("open exceptions")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(_integer_ticks())
    ax.legend(fontsize=8)
    return _png(fig)


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _table(df: pd.DataFrame, index: bool = True) -> str:
    return "<p>(none)</p>" if df.empty else df.to_html(index=index, border=0, na_rep="")


def write_html(frame: pd.DataFrame, history: pd.DataFrame, path: Path, generated: str) -> Path:
    """The self-contained HTML report."""
    from jinja2 import Environment

    live = frame[frame["status"].isin(OPEN)] if len(frame) else frame
    sections = [{"title": "Open exceptions by system and kind", "img": by_system_chart(frame), "table": ""},
                {"title": "Open exceptions over time (by kind, per reconcile run)", "img": over_time_chart(history),
                 "table": _table(history.set_index("run_id").drop(columns="started_at")) if len(history) else ""}]
    for title, table in summary_tables(frame).items():
        sections.append({"title": title, "img": None, "table": _table(table)})
    top = live.head(200)[["id", "severity", "kind", "system", "entity", "entity_key", "field", "expected",
                          "actual", "owner", "count"]] if len(live) else live
    sections.append({"title": f"Open exceptions (first {min(200, len(live))} of {len(live)}, most severe first)",
                     "img": None, "table": _table(top, index=False)})
    text = Environment(autoescape=True).from_string(TEMPLATE).render(
        generated=generated, remaining=len(live), total=len(frame), sections=sections)
    return write_private_text(text, path)


def write_reports(db: Engine, out_dir: str | Path) -> dict[str, Path]:
    """Write exceptions.xlsx, exceptions.html and exceptions.csv into `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    frame = exceptions_frame(db)
    csv_path = write_csv(frame if len(frame) else pd.DataFrame(columns=COLUMNS), out / "exceptions.csv")
    return {"excel": write_excel(frame, out / "exceptions.xlsx", generated),
            "html": write_html(frame, history_frame(db), out / "exceptions.html", generated),
            "csv": csv_path}
