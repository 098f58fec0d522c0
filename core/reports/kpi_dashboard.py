"""HTML dashboard of a segment run's KPIs: a trend chart per KPI, the segment migration heat map,
adherence by system, promised vs achieved vs realised service, and the data-quality tables.

Charts are inline SVG drawn here (no JavaScript, no CDN, nothing fetched): the file opens offline
and is one self-contained page, written privately like every report (core.reports.spreadsheet).
Every text from the store (segment names, systems) is escaped by the template or `html.escape`.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from core.reports.spreadsheet import write_private_text

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>segbridge KPI dashboard</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#dde5f0}
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-weight:bold}
.note{color:#666}</style></head>
<body><h1>segbridge KPI dashboard</h1>
<p>Segment run {{ run_id }} &middot; {{ n_rows }} KPI rows &middot; definitions in docs/kpis.md</p>
{% if not n_rows %}<p class="note">No KPIs stored for this run: compute them with
<code>segbridge kpis --compute</code>.</p>{% endif %}
{% for s in sections %}<h2>{{ s.title }}</h2>{% if s.note %}<p class="note">{{ s.note }}</p>{% endif %}
<div class="charts">{% for c in s.charts %}<figure><figcaption>{{ c.title }}</figcaption>{{ c.svg | safe }}</figure>
{% endfor %}</div>{{ s.table | safe }}{% endfor %}
</body></html>"""

TREND_KPIS = ["fill_rate_units", "fill_rate_lines", "otif", "inventory_turns", "days_of_supply", "excess_value",
              "stockout_rate", "revenue", "profit", "cost_to_serve", "quarantine_rate", "writeback_success_rate"]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
MAX_SERIES = 8
W, H, PAD = 420, 220, 40


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _scale(v: np.ndarray, lo: float, hi: float, a: float, b: float) -> np.ndarray:
    span = hi - lo if hi > lo else 1.0
    return a + (v - lo) / span * (b - a)


def line_chart(series: dict[str, pd.Series]) -> str:
    """An SVG line per named series (index: period labels sorted as text, values numbers)."""
    periods = sorted({p for s in series.values() for p in s.index})
    if not periods:
        return ""
    values = np.concatenate([s.to_numpy(float) for s in series.values()])
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    lo = min(lo, 0.0) if lo >= 0 else lo
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H + 20 * len(series)}" role="img">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#999"/>',
             f'<text x="2" y="{PAD - 25}" font-size="10">{hi:,.3g}</text>',
             f'<text x="2" y="{H - PAD}" font-size="10">{lo:,.3g}</text>',
             f'<text x="{PAD}" y="{H - PAD + 14}" font-size="10">{_esc(periods[0])}</text>',
             f'<text x="{W - 80}" y="{H - PAD + 14}" font-size="10">{_esc(periods[-1])}</text>']
    pos = {p: i for i, p in enumerate(periods)}
    for k, (name, s) in enumerate(series.items()):
        x = _scale(np.array([pos[p] for p in s.index], float), 0, max(len(periods) - 1, 1), PAD, W - 10)
        y = _scale(s.to_numpy(float), lo, hi, H - PAD, PAD - 20)
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True) if not np.isnan(b))
        color = PALETTE[k % len(PALETTE)]
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<rect x="{PAD}" y="{H + 20 * k - 8}" width="10" height="10" fill="{color}"/>'
                     f'<text x="{PAD + 14}" y="{H + 20 * k + 1}" font-size="11">{_esc(name)}</text>')
    return "".join(parts) + "</svg>"


def heat_map(matrix: pd.DataFrame) -> str:
    """An SVG heat map of counts (rows: from, columns: to), darker for more."""
    if matrix.empty:
        return ""
    cell, left, top = 44, 70, 40
    m = matrix.to_numpy(float)
    peak = m.max() or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + cell * m.shape[1] + 10}" '
             f'height="{top + cell * m.shape[0] + 10}" role="img">',
             f'<text x="{left}" y="12" font-size="10">to (this run) &#8594;</text>']
    for j, c in enumerate(matrix.columns):
        parts.append(f'<text x="{left + j * cell + 4}" y="{top - 6}" font-size="10">{_esc(c)}</text>')
    for i, r in enumerate(matrix.index):
        parts.append(f'<text x="2" y="{top + i * cell + cell / 2 + 4}" font-size="10">{_esc(r)}</text>')
        for j in range(m.shape[1]):
            shade = int(245 - 190 * m[i, j] / peak)
            fill = f"rgb({shade},{shade},255)"
            parts.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{fill}"><title>{_esc(r)} &#8594; {_esc(matrix.columns[j])}: {m[i, j]:g}</title>'
                         f'</rect><text x="{left + j * cell + 6}" y="{top + i * cell + cell / 2 + 4}" '
                         f'font-size="11">{m[i, j]:g}</text>')
    return "".join(parts) + "</svg>"


def bar_chart(values: pd.DataFrame) -> str:
    """Grouped SVG bars: one group per row, one bar per column, values in 0..1 (shares)."""
    if values.empty:
        return ""
    groups, cols = list(values.index), list(values.columns)
    gw = max(30, (W - PAD) // max(len(groups), 1))
    bw = max(4, (gw - 8) // max(len(cols), 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{PAD + gw * len(groups) + 10}" '
             f'height="{H + 20 * len(cols)}" role="img">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{PAD + gw * len(groups)}" y2="{H - PAD}" stroke="#999"/>',
             f'<text x="2" y="{PAD - 16}" font-size="10">1.0</text><text x="2" y="{H - PAD}" font-size="10">0</text>']
    for g, name in enumerate(groups):
        for k, col in enumerate(cols):
            v = values.iloc[g, k]
            if v != v:
                continue
            h = max(0.0, min(float(v), 1.0)) * (H - 2 * PAD + 20)
            x = PAD + g * gw + k * bw
            parts.append(f'<rect x="{x}" y="{H - PAD - h:.1f}" width="{bw - 1}" height="{h:.1f}" '
                         f'fill="{PALETTE[k % len(PALETTE)]}"><title>{_esc(name)} {_esc(col)}: {v:.3f}</title></rect>')
        parts.append(f'<text x="{PAD + g * gw}" y="{H - PAD + 14}" font-size="10">{_esc(name)}</text>')
    for k, col in enumerate(cols):
        parts.append(f'<rect x="{PAD}" y="{H + 20 * k - 8}" width="10" height="10" fill="{PALETTE[k % len(PALETTE)]}"/>'
                     f'<text x="{PAD + 14}" y="{H + 20 * k + 1}" font-size="11">{_esc(col)}</text>')
    return "".join(parts) + "</svg>"


def _table(df: pd.DataFrame | None) -> str:
    if df is None or df.empty:
        return "<p>(none)</p>"
    return df.to_html(float_format=lambda x: f"{x:,.3f}", border=0, na_rep="-")


def trend_section(rows: pd.DataFrame) -> dict:
    """A chart per KPI with periods: the `all` segment and the largest segments, one line each."""
    charts = []
    timed = rows[(rows["period"] != "all") & (rows["scope"].fillna("") == "")]
    for kpi in [k for k in TREND_KPIS if k in set(timed["kpi"])]:
        g = timed[timed["kpi"] == kpi]
        size = g.groupby("segment")["denominator"].sum().sort_values(ascending=False)
        names = ["all", *[s for s in size.index if s != "all"]][:MAX_SERIES]
        series = {s: g[g["segment"] == s].set_index("period")["value"].sort_index() for s in names
                  if (g["segment"] == s).any()}
        charts.append({"title": kpi, "svg": line_chart(series)})
    scoped = rows[(rows["period"] != "all") & rows["kpi"].isin(["quarantine_rate", "writeback_success_rate"])]
    for kpi, g in scoped.groupby("kpi"):
        names = list(dict.fromkeys(g["scope"]))[:MAX_SERIES]
        charts.append({"title": f"{kpi} by scope", "svg": line_chart(
            {s: g[g["scope"] == s].set_index("period")["value"].sort_index() for s in names})})
    return {"title": "Trend per KPI", "charts": charts, "table": "",
            "note": None if charts else "no KPI with periods stored"}


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Window (period `all`) values of the unscoped KPIs: KPIs as rows, segments as columns."""
    whole = rows[(rows["period"] == "all") & (rows["scope"].fillna("") == "")]
    return whole.pivot_table(index="kpi", columns="segment", values="value", aggfunc="first")


def service_section(rows: pd.DataFrame) -> dict:
    kpis = ["service_promised", "service_achieved_replay", "service_realised"]
    s = rows[rows["kpi"].isin(kpis) & (rows["period"] == "all")]
    m = s.pivot_table(index="segment", columns="kpi", values="value", aggfunc="first").reindex(
        columns=[k for k in kpis if k in set(s["kpi"])])
    return {"title": "Promised vs achieved (planning replay) vs realised service", "note": None, "table": _table(m),
            "charts": [{"title": "per product segment", "svg": bar_chart(m)}] if len(m) else []}


def migration_section(rows: pd.DataFrame) -> dict:
    mig = rows[rows["kpi"] == "migration_count"].copy()
    charts = []
    if len(mig):
        mig[["dimension", "to"]] = mig["scope"].str.split("->", n=1, expand=True)
        for dim in [d for d in ("segment", "abc", "xyz", "customer.segment") if d in set(mig["dimension"])]:
            g = mig[mig["dimension"] == dim]
            m = g.pivot_table(index="segment", columns="to", values="value", aggfunc="sum", fill_value=0)
            charts.append({"title": f"{dim}: previous run (rows) to this run (columns)", "svg": heat_map(m)})
    churn = rows[rows["kpi"] == "churn_rate"].set_index("scope")[["value", "numerator", "denominator"]]
    return {"title": "Segment stability: migration matrix and churn", "charts": charts, "table": _table(churn),
            "note": None if len(mig) else "no previous segment run to compare with"}


def adherence_section(rows: pd.DataFrame) -> dict:
    a = rows[rows["kpi"] == "policy_adherence"]
    m = a.pivot_table(index="segment", columns="scope", values="value", aggfunc="first")
    bars = m.loc[["all"]].T if "all" in m.index else pd.DataFrame()
    bars.columns = ["adherence"] if len(bars) else bars.columns
    return {"title": "Policy adherence by system (share of product-locations holding the intended values)",
            "charts": [{"title": "all segments, by system", "svg": bar_chart(bars)}] if len(bars) else [],
            "table": _table(m), "note": None if len(a) else "not computed: no reconciliation or no intended values"}


def quality_section(rows: pd.DataFrame) -> dict:
    q = rows[rows["kpi"].isin(["quarantine_rate", "writeback_success_rate", "exceptions_open", "exceptions_opened",
                               "exceptions_resolved", "exceptions_waived", "exception_median_age_days"])
             & (rows["period"] == "all")]
    m = q.pivot_table(index="scope", columns="kpi", values="value", aggfunc="first")
    return {"title": "Data quality and stewardship", "charts": [], "table": _table(m), "note": None}


def render_dashboard(rows: pd.DataFrame, run_id) -> str:
    """The dashboard's HTML for a run's KPI rows (columns as core.kpis.kpi_rows.KPI_COLUMNS)."""
    from jinja2 import Environment

    sections = [{"title": "Summary (whole window)", "charts": [], "note": None, "table": _table(summary_table(rows))},
                trend_section(rows), service_section(rows), migration_section(rows), adherence_section(rows),
                quality_section(rows)] if len(rows) else []
    return Environment(autoescape=True).from_string(TEMPLATE).render(run_id=run_id, n_rows=len(rows),
                                                                     sections=sections)


def write_dashboard(db, path: str | Path, run_id: int | None = None) -> Path:
    """Render the stored KPIs of a segment run (default: the latest with KPIs) to `path`."""
    from core.kpis.kpi_store import read_kpis

    rows = read_kpis(db, run_id)
    rid = int(rows["run_id"].iloc[0]) if len(rows) else run_id
    return write_private_text(render_dashboard(rows, rid), path)
