"""The KPI dashboard: one offline HTML file with inline SVG charts (trend, heat map, adherence bars),
escaped store text, private mode."""

from __future__ import annotations

import re
import stat

import numpy as np
import pandas as pd
import pytest

from core.kpis.kpi_rows import KPI_COLUMNS
from core.reports.kpi_dashboard import bar_chart, heat_map, line_chart, render_dashboard, write_dashboard

pytestmark = pytest.mark.unit


def _row(segment, kpi, period, value, scope="", den=1.0):
    return {"segment": segment, "kpi": kpi, "period": period, "scope": scope, "value": value, "numerator": value,
            "denominator": den, "note": None}


@pytest.fixture
def rows():
    return pd.DataFrame([
        _row("A-X", "fill_rate_units", "2026-01-05", 0.9), _row("A-X", "fill_rate_units", "2026-01-12", 0.95),
        _row("all", "fill_rate_units", "2026-01-05", 0.8), _row("all", "fill_rate_units", "2026-01-12", 0.85),
        _row("all", "fill_rate_units", "all", 0.83),
        _row("<b>evil</b>", "migration_count", "all", 3.0, "segment-><b>evil</b>"),
        _row("B-Y", "migration_count", "all", 2.0, "segment->A-X"),
        _row("all", "churn_rate", "all", 0.4, "segment"),
        _row("all", "policy_adherence", "all", 0.75, "sap"), _row("A-X", "policy_adherence", "all", 0.5, "sap"),
        _row("A-X", "service_promised", "all", 0.97), _row("A-X", "service_realised", "all", 0.93),
        _row("all", "quarantine_rate", "all", 0.01, "sap/product")], columns=KPI_COLUMNS)


def test_every_chart_is_inline_svg_and_nothing_is_fetched(rows):
    page = render_dashboard(rows, 4)
    assert "Segment run 4" in page
    assert page.count("<svg") == 4  # trend of fill_rate_units, service bars, migration heat map, adherence bars
    assert not re.search(r"(src|href)=\"https?:", page) and "<script" not in page


def test_store_text_is_escaped(rows):
    page = render_dashboard(rows, 4)
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page


def test_heat_map_shades_the_largest_count_darkest():
    svg = heat_map(pd.DataFrame([[8, 0], [2, 4]], index=["A", "B"], columns=["A", "B"]))
    fills = re.findall(r'fill="rgb\((\d+),', svg)
    assert [int(f) for f in fills] == [55, 245, 197, 150]


def test_line_chart_draws_a_line_per_series_and_skips_gaps():
    svg = line_chart({"all": pd.Series([0.5, np.nan, 1.0], index=["w1", "w2", "w3"]),
                      "A": pd.Series([1.0], index=["w2"])})
    lines = re.findall(r'points="([^"]*)"', svg)
    assert len(lines) == 2 and len(lines[0].split()) == 2 and len(lines[1].split()) == 1


def test_bars_are_capped_to_the_unit_interval():
    svg = bar_chart(pd.DataFrame({"adherence": [1.5, 0.5]}, index=["sap", "wms"]))
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill="#', svg)]
    assert heights[0] == pytest.approx(2 * heights[1])


def test_a_run_without_kpis_says_how_to_compute_them():
    page = render_dashboard(pd.DataFrame(columns=KPI_COLUMNS), None)
    assert "segbridge kpis --compute" in page and "<svg" not in page


def test_written_privately_from_the_store(store, tmp_path):
    from core.model import KpiValue
    from core.store import upsert

    upsert(store, KpiValue, [{"run_id": 3, "segment": "all", "kpi": "otif", "period": "all", "scope": "",
                              "value": 0.9}])
    path = write_dashboard(store, tmp_path / "kpi.html")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Segment run 3" in path.read_text(encoding="utf-8")
