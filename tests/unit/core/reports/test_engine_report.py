"""The engine report: what a planner reviews before parameters reach the ERP."""

from __future__ import annotations

import pytest

from core.planning.engine import EngineOptions, run_engine
from core.planning.policy import load_policy
from core.reports.engine_report import parameter_change_chart, write_report
from sandbox.demand_patterns import world

pytestmark = pytest.mark.unit


def _result(current: bool):
    frames, _, _ = world(6, 364, 1, seed=2)
    if current:
        pls = frames["product_locations"]
        frames["product_locations"] = pls.assign(current_safety_stock=5.0, current_reorder_point=[0.0] * len(pls))
    return run_engine(frames, load_policy(), EngineOptions())


def test_parameter_changes_against_the_source_are_filled_from_current_values():
    res = _result(current=True)
    img, rows = parameter_change_chart(res.product_locations)
    assert img is not None
    ss = rows.set_index("parameter").loc["safety_stock"]
    stocked = int((res.product_locations["abc"] != "none").sum())
    assert ss["compared"] == len(res.product_locations) and ss["increased"] + ss["decreased"] >= stocked // 2
    rop = rows.set_index("parameter").loc["reorder_point"]
    assert rop["increased"] == int((res.product_locations["reorder_point"] > 0).sum())


def test_report_shows_changes_and_achieved_service_per_pattern(tmp_path):
    html = write_report(_result(current=True), tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Parameter changes against the source" in html and "safety_stock" in html
    assert "Achieved service against target" in html and "pattern" in html and "lumpy" in html


def test_without_current_values_the_section_says_none(tmp_path):
    html = write_report(_result(current=False), tmp_path / "report.html").read_text(encoding="utf-8")
    section = html.split("Parameter changes against the source")[1].split("<h2")[0]
    assert "(none)" in section
