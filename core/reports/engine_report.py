"""HTML report of an engine run: ABC-XYZ matrix, Pareto curve, parameter changes, simulated service
vs target. Charts are matplotlib PNGs embedded as base64 so the report is one self-contained file."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from core.reports.spreadsheet import write_private_text

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>segbridge engine report</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}img{max-width:100%}</style></head>
<body><h1>segbridge engine report</h1>
<p>Rule set {{ ruleset }} &middot; {{ n_pl }} product-locations &middot; {{ n_prod }} products &middot;
{{ n_cust }} customers &middot; period {{ period }} &times; {{ window }}</p>
{% for w in warnings %}<p><b>warning:</b> {{ w }}</p>{% endfor %}
{% for s in sections %}<h2>{{ s.title }}</h2>{% if s.img %}<img src="data:image/png;base64,{{ s.img }}">{% endif %}
{{ s.table | safe }}{% endfor %}
</body></html>"""


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fig(w=6, h=4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h))


def abc_xyz_chart(pl: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """Heat map of product-location counts by ABC x XYZ."""
    m = pd.crosstab(pl["abc"], pl["xyz"])
    fig, ax = _fig(5, 4)
    ax.imshow(m.to_numpy(), cmap="Blues")
    ax.set_xticks(range(m.shape[1]), m.columns)
    ax.set_yticks(range(m.shape[0]), m.index)
    for (i, j), v in np.ndenumerate(m.to_numpy()):
        ax.text(j, i, str(v), ha="center", va="center")
    ax.set_xlabel("XYZ")
    ax.set_ylabel("ABC")
    return _png(fig), m


def pareto_chart(products: pd.DataFrame, measure: str) -> str:
    """Cumulative share of the measure against the share of products (ranked)."""
    v = np.sort(np.nan_to_num(products[measure].to_numpy(float)))[::-1]
    v = v[v > 0]
    fig, ax = _fig()
    if len(v):
        ax.plot(np.arange(1, len(v) + 1) / len(v), np.cumsum(v) / v.sum())
        ax.axhline(0.8, ls="--", c="grey")
        ax.axhline(0.95, ls=":", c="grey")
    ax.set_xlabel("share of products")
    ax.set_ylabel(f"cumulative share of {measure}")
    return _png(fig)


def parameter_change_chart(pl: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """New safety stock / reorder point against what the source holds now (current_* columns)."""
    pairs = [("safety_stock", "current_safety_stock"), ("reorder_point", "current_reorder_point")]
    rows = []
    fig, ax = _fig()
    drawn = False
    for new, old in pairs:
        if old in pl and pl[old].notna().any():
            ax.scatter(pl[old], pl[new], s=8, label=new)
            drawn = True
            diff = pl[new] - pl[old]
            rows.append({"parameter": new, "compared": int(pl[old].notna().sum()),
                         "increased": int((diff > 0).sum()), "decreased": int((diff < 0).sum())})
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None, pd.DataFrame(rows)
    lim = float(np.nanmax(pl[[c for _, c in pairs if c in pl] + ["safety_stock", "reorder_point"]].to_numpy(float)))
    ax.plot([0, lim], [0, lim], c="grey", ls="--")
    ax.set_xlabel("current value in the source")
    ax.set_ylabel("computed value")
    ax.legend()
    return _png(fig), pd.DataFrame(rows)


def service_chart(service: pd.DataFrame) -> str:
    """Achieved (daily replay) service per segment and per demand pattern against its target."""
    fig, ax = _fig(7, 4)
    x = np.arange(len(service))
    ax.bar(x - 0.2, service["achieved"], 0.4, label="achieved (daily replay)")
    ax.bar(x + 0.2, service["target"], 0.4, label="target")
    ax.set_xticks(x, [f"{b}: {g}" for b, g in zip(service["by"], service["group"], strict=True)], rotation=45,
                  ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend()
    return _png(fig)


def _table(df: pd.DataFrame | None, index: bool = False) -> str:
    if df is None or df.empty:
        return "<p>(none)</p>"
    return df.to_html(index=index, float_format=lambda x: f"{x:,.3f}", border=0)


def write_report(result, path: str | Path, measure: str = "value", extra: dict | None = None) -> Path:
    """Render the report of an EngineResult to `path` (one HTML file)."""
    from jinja2 import Environment

    pl = result.product_locations
    sections = []
    img, matrix = abc_xyz_chart(pl)
    sections.append({"title": "ABC-XYZ matrix (product-locations)", "img": img, "table": _table(matrix, True)})
    sections.append({"title": f"Pareto curve ({measure}, products across locations)",
                     "img": pareto_chart(result.products, {"volume": "quantity"}.get(measure, measure)),
                     "table": ""})
    img, changes = parameter_change_chart(pl)
    sections.append({"title": "Parameter changes against the source", "img": img, "table": _table(changes)})
    if result.service is not None and len(result.service):
        cols = ["by", "group", "series", "target_type", "target", "achieved", "gap", "fill_rate",
                "cycle_service_level", "median_cycles", "avg_on_hand", "holding_cost", "note"]
        sections.append({"title": "Achieved service against target (daily replay of the order lines)",
                         "img": service_chart(result.service), "table": _table(result.service[cols])
                         + "<p>Replayed as an ERP runs the parameters: daily, backorders allowed (docs/engine.md, "
                           "'The truth criterion'). A note says why a gap beyond 2 points remains.</p>"})
    sections.append({"title": "Combinations that matched no policy rule (default applied)", "img": None,
                     "table": _table(result.unmatched)})
    for title, df in (extra or {}).items():
        sections.append({"title": html.escape(title), "img": None, "table": _table(df, True)})
    h = result.demand
    text = Environment(autoescape=True).from_string(TEMPLATE).render(
        ruleset=result.ruleset_hash[:12], n_pl=len(pl), n_prod=len(result.products),
        n_cust=0 if result.customers is None else len(result.customers), period=h.period,
        window=h.matrix.shape[1], warnings=result.warnings, sections=sections)
    return write_private_text(text, path)
