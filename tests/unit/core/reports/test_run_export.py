"""The planners' review exports: which run, old vs new per parameter, classes wide, safe private files."""

from __future__ import annotations

import csv
import math
import os
import stat
from datetime import date, timedelta

import pandas as pd
import pytest
from openpyxl import load_workbook

from basics.errors import EXIT_USAGE, BlockedError, ConfigError
from core.model import OrderLine, ParameterValue, Product, ProductLocation, SegmentAssignment
from core.reports.run_export import (
    RunPair,
    choose_runs,
    export_format,
    export_run,
    parameters_frame,
    segments_frame,
)
from core.runs import finish_run, start_run
from core.store import create_all, read_frame, upsert

pytestmark = pytest.mark.unit


def _run(db, kind: str, status: str, params: list[tuple] = (), segments: list[tuple] = ()) -> int:
    """A finished run with parameter rows (key, name, num, text) and segment rows (entity, key, dim, value, source)."""
    run_id = start_run(db, kind)
    if params:
        upsert(db, ParameterValue, [{"run_id": run_id, "entity": "product_location", "entity_key": k, "name": n,
                                     "value_num": v, "value_text": t} for k, n, v, t in params])
    if segments:
        upsert(db, SegmentAssignment, [{"run_id": run_id, "entity": e, "entity_key": k, "dimension": d, "value": v,
                                        "metric": None, "source": s} for e, k, d, v, s in segments])
    finish_run(db, run_id, status)
    return run_id


OLD_PARAMS = [("P1|DC1", "safety_stock", 12.0, None), ("P1|DC1", "reorder_point", 31.0, None),
              ("P1|DC1", "mrp_type", None, "PD"), ("P1|DC1", "service_level", 0.9, None)]
OLD_SEGMENTS = [("product_location", "P1|DC1", "segment", "B-Y", "rule"), ("product", "P1", "segment", "B-Y", "rule"),
                ("customer", "C1", "segment", "standard", "rule")]
NEW_PARAMS = [("P1|DC1", "safety_stock", 15.0, None), ("P1|DC1", "reorder_point", 40.0, None),
              ("P1|DC1", "mrp_type", None, "VB"), ("P1|DC1", "lot_sizing", None, "EX"),
              ("P1|DC1", "service_level", 0.95, None), ("P1|DC1", "order_quantity", 100.0, None),
              ("P1|DC1", "moq", 5.0, None), ("P1|DC1", "expedite_allowed", 1.0, "true"),
              ("P1|DC1", "rule", None, "fast-movers"), ("P1|DC1", "ss_method", None, "normal"),
              ("P1|DC1", "service_type", None, "cycle"), ("P1|DC1", "achieved_service", 0.96, None),
              ("P1|DC1", "achieved_fill_rate", 0.99, None), ("P1|DC1", "achieved_cycle_service", 0.94, None),
              ("P1|DC1", "review_days", 7.0, None),
              ("P2|DC1", "safety_stock", 3.0, None), ("P2|DC1", "mrp_type", None, "ND")]
NEW_SEGMENTS = [("product_location", "P1|DC1", "abc", "A", "override"), ("product_location", "P1|DC1", "xyz", "X", "rule"),
                ("product_location", "P1|DC1", "pattern", "smooth", "rule"),
                ("product_location", "P1|DC1", "lifecycle", "active", "rule"),
                ("product_location", "P1|DC1", "segment", "A-X", "hysteresis"),
                ("product_location", "P2|DC1", "abc", "C", "rule"), ("product_location", "P2|DC1", "segment", "C-Z", "rule"),
                ("product", "P1", "segment", "A-X", "rule"), ("customer", "C1", "segment", "standard", "rule"),
                ("customer", "C2", "segment", "growth", "rule")]


@pytest.fixture
def db(sqlite_db):
    """Runs 1 (segment ok, before the engine stored rule/method/achieved), 2 (pull), 3 (segment failed),
    4 (segment ok, the newest), 5 (segment failed); the source's current values for P1 at DC1."""
    create_all(sqlite_db)
    upsert(sqlite_db, ProductLocation, [
        {"product_id": "P1", "location_id": "DC1", "current_safety_stock": 10.0, "current_reorder_point": 30.0,
         "current_mrp_type": "PD", "current_lot_sizing": "EX", "current_service_level": 95.0, "moq": 5.0,
         "order_multiple": 1.0, "current_abc": "B", "current_segment": "B-Y"},
        {"product_id": "P2", "location_id": "DC1"}])
    assert _run(sqlite_db, "segment", "ok", OLD_PARAMS, OLD_SEGMENTS) == 1
    _run(sqlite_db, "pull", "ok")
    _run(sqlite_db, "segment", "failed")
    assert _run(sqlite_db, "segment", "ok", NEW_PARAMS, NEW_SEGMENTS) == 4
    _run(sqlite_db, "segment", "failed")
    return sqlite_db


def test_the_latest_successful_segment_run_and_the_successful_one_before_it(db):
    assert choose_runs(db) == RunPair(4, 1)
    assert choose_runs(db, 4) == RunPair(4, 1)
    assert choose_runs(db, 1) == RunPair(1, None)


@pytest.mark.parametrize("run_id, message", [(99, "run 99 does not exist"),
                                             (2, "run 2 is a pull run, not a segment run"),
                                             (3, "segment run 3 is failed, not ok")])
def test_a_run_that_cannot_be_exported_is_named_with_the_latest_runs(db, run_id, message):
    with pytest.raises(ConfigError) as err:
        choose_runs(db, run_id)
    assert message in err.value.message
    assert "latest successful segment runs: 4, 1" in err.value.hint
    assert err.value.exit_code == EXIT_USAGE


def test_no_successful_segment_run_says_to_segment_first(sqlite_db):
    create_all(sqlite_db)
    _run(sqlite_db, "segment", "failed")
    with pytest.raises(BlockedError, match="no successful segment run") as err:
        choose_runs(sqlite_db)
    assert "segbridge segment" in err.value.hint


def test_parameters_put_current_previous_and_new_side_by_side(db):
    frame = parameters_frame(db, RunPair(4, 1))
    assert list(frame.columns[:21]) == [
        "product_id", "location_id", "segment", "abc", "xyz", "pattern", "lifecycle", "rule", "ss_method",
        "service_type", "service_level_current", "service_level_previous_run", "service_level_new",
        "service_level_change", "achieved_service", "achieved_fill_rate", "achieved_cycle_service",
        "safety_stock_current", "safety_stock_previous_run", "safety_stock_new", "safety_stock_change"]
    assert list(frame.columns[-6:]) == ["review_days_current", "review_days_previous_run", "review_days_new",
                                        "review_days_change", "run_id", "previous_run_id"]
    p1 = frame.set_index("product_id").loc["P1"]
    assert p1[["location_id", "segment", "abc", "xyz", "pattern", "lifecycle"]].tolist() == [
        "DC1", "A-X", "A", "X", "smooth", "active"]
    assert p1[["rule", "ss_method", "service_type"]].tolist() == ["fast-movers", "normal", "cycle"]
    assert p1[["achieved_service", "achieved_fill_rate", "achieved_cycle_service"]].tolist() == [0.96, 0.99, 0.94]
    assert p1[["safety_stock_current", "safety_stock_previous_run", "safety_stock_new",
               "safety_stock_change"]].tolist() == [10.0, 12.0, 15.0, 5.0]
    assert p1[["reorder_point_current", "reorder_point_previous_run", "reorder_point_new",
               "reorder_point_change"]].tolist() == [30.0, 31.0, 40.0, 10.0]
    # SAP keeps 95.0 for 95 %: compared as a fraction
    assert p1[["service_level_current", "service_level_previous_run", "service_level_new",
               "service_level_change"]].tolist() == [0.95, 0.9, 0.95, 0.0]
    assert p1[["mrp_type_current", "mrp_type_previous_run", "mrp_type_new", "mrp_type_changed"]].tolist() == [
        "PD", "PD", "VB", True]
    assert p1["lot_sizing_changed"] is False and p1["expedite_allowed_new"] == "true"
    assert p1[["moq_current", "moq_new", "moq_change"]].tolist() == [5.0, 5.0, 0.0]
    assert pd.isna(p1["order_quantity_current"]) and pd.isna(p1["order_quantity_change"])
    assert p1[["run_id", "previous_run_id"]].tolist() == [4, 1]


def test_an_older_run_or_a_new_product_location_leaves_blanks(db):
    p2 = parameters_frame(db, RunPair(4, 1)).set_index("product_id").loc["P2"]
    for col in ["rule", "ss_method", "service_type", "achieved_service", "achieved_fill_rate",
                "achieved_cycle_service", "xyz", "safety_stock_current", "safety_stock_previous_run",
                "safety_stock_change", "mrp_type_current", "mrp_type_changed"]:
        assert pd.isna(p2[col]), col
    assert p2[["segment", "safety_stock_new", "mrp_type_new"]].tolist() == ["C-Z", 3.0, "ND"]
    first = parameters_frame(db, RunPair(1, None))
    assert first["product_id"].tolist() == ["P1"]
    assert first["rule"].isna().all() and first["safety_stock_previous_run"].isna().all()
    assert first.loc[0, "safety_stock_change"] == 2.0 and pd.isna(first.loc[0, "previous_run_id"])


def test_segments_wide_with_the_previous_segment_and_changed(db):
    frame = segments_frame(db, RunPair(4, 1))
    assert list(frame.columns) == ["entity", "entity_key", "product_id", "location_id", "customer_id", "abc", "xyz",
                                   "pattern", "lifecycle", "segment", "source", "segment_previous_run", "changed",
                                   "run_id", "previous_run_id"]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert [(r["entity"], r["entity_key"]) for r in rows] == [
        ("product_location", "P1|DC1"), ("product_location", "P2|DC1"), ("product", "P1"), ("customer", "C1"),
        ("customer", "C2")]
    p1 = rows[0]
    assert (p1["product_id"], p1["location_id"], p1["customer_id"]) == ("P1", "DC1", None)
    assert (p1["abc"], p1["segment"], p1["segment_previous_run"], p1["changed"]) == ("A", "A-X", "B-Y", True)
    assert p1["source"] == "abc: override, segment: hysteresis"
    assert (rows[1]["segment_previous_run"], rows[1]["changed"], rows[1]["source"]) == (None, True, "rule")
    assert (rows[2]["product_id"], rows[2]["location_id"], rows[2]["changed"]) == ("P1", None, True)
    assert (rows[3]["customer_id"], rows[3]["changed"], rows[3]["xyz"]) == ("C1", False, None)
    assert rows[4]["changed"] is True
    assert segments_frame(db, RunPair(1, None))["changed"].isna().all()  # nothing to compare with


def test_the_format_comes_from_the_option_or_the_suffix():
    assert export_format("a/review.XLSX") == "xlsx" and export_format("review.csv") == "csv"
    assert export_format("review", "CSV") == "csv" and export_format("review.csv", "xlsx") == "xlsx"
    with pytest.raises(ConfigError, match="cannot tell the format of 'review.xls'"):
        export_format("review.xls")
    with pytest.raises(ConfigError, match="unknown export format 'pdf'"):
        export_format("review.csv", "pdf")


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_csv_export_is_private_and_replaces_an_older_file(db, tmp_path):
    path = tmp_path / "out" / "params.csv"
    path.parent.mkdir()
    path.write_text("old", encoding="utf-8")
    os.chmod(path, 0o644)
    result = export_run(db, "parameters", path)
    assert (result.rows, result.run_id, result.previous_id, result.fmt) == (2, 4, 1, "csv")
    assert _mode(path) == 0o600
    assert os.listdir(path.parent) == ["params.csv"]  # no temporary file left
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["product_id"] for r in rows] == ["P1", "P2"]
    assert (rows[0]["safety_stock_current"], rows[0]["safety_stock_new"], rows[0]["safety_stock_change"]) == (
        "10.0", "15.0", "5.0")
    assert rows[1]["rule"] == "" and rows[1]["safety_stock_change"] == ""


def test_xlsx_export_has_header_frozen_panes_widths_and_an_about_sheet(db, tmp_path):
    path = tmp_path / "segments.xlsx"
    result = export_run(db, "segments", path, run_id=4)
    assert result.rows == 5 and _mode(path) == 0o600
    wb = load_workbook(path)
    assert wb.sheetnames == ["segments", "about"]
    ws = wb["segments"]
    assert ws.freeze_panes == "C2" and ws.auto_filter.ref == "A1:O6"
    assert ws["A1"].value == "entity" and ws["A1"].font.b
    assert [c.value for c in ws[2]][:13] == ["product_location", "P1|DC1", "P1", "DC1", None, "A", "X", "smooth",
                                            "active", "A-X", "abc: override, segment: hysteresis", "B-Y", True]
    assert ws.column_dimensions["K"].width == 36
    about = dict(wb["about"].iter_rows(min_row=2, values_only=True))
    assert about["run"] == 4 and about["previous successful segment run"] == 1 and about["rows"] == 5


def test_text_that_would_be_a_formula_is_neutralised_in_csv_and_xlsx(sqlite_db, tmp_path):
    create_all(sqlite_db)
    evil = '=HYPERLINK("http://x.example","click")'
    params = [(f"{evil}|DC1", "safety_stock", 2.0, None), (f"{evil}|DC1", "rule", None, "+SUM(A1)"),
              (f"{evil}|DC1", "mrp_type", None, "@x"), (f"{evil}|DC1", "ss_method", None, "\tcmd"),
              (f"{evil}|DC1", "service_type", None, "\rcmd")]
    upsert(sqlite_db, ProductLocation, [{"product_id": evil, "location_id": "DC1", "current_safety_stock": 5.0,
                                         "current_segment": "-1"}])
    _run(sqlite_db, "segment", "ok", params, [("product_location", f"{evil}|DC1", "segment", "-A", "rule")])
    export_run(sqlite_db, "parameters", tmp_path / "p.csv")
    export_run(sqlite_db, "parameters", tmp_path / "p.xlsx")
    with (tmp_path / "p.csv").open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    ws = load_workbook(tmp_path / "p.xlsx")["parameters"]
    header = [c.value for c in ws[1]]
    cells = {h: c for h, c in zip(header, ws[2], strict=True)}
    expected = {"product_id": "'" + evil, "segment": "'-A", "rule": "'+SUM(A1)", "mrp_type_new": "'@x",
                "ss_method": "'\tcmd", "service_type": "'\rcmd", "segment_current": "'-1"}
    for col, value in expected.items():
        assert row[col] == value, col
        assert cells[col].value == value and cells[col].data_type == "s", col
    assert row["safety_stock_change"] == "-3.0"  # numbers stay numbers
    assert cells["safety_stock_change"].value == -3.0 and cells["safety_stock_change"].data_type == "n"


def test_a_run_saved_by_the_engine_exports_what_it_stored(sqlite_db, tmp_path):
    from core.model import Run
    from core.planning_store import segment_from_store

    create_all(sqlite_db)
    start = date(2024, 1, 1)
    lines = [{"order_id": f"{p}-{d}", "line_no": "1", "customer_id": "C1", "product_id": p, "location_id": "DC",
              "order_date": start + timedelta(days=d), "quantity": q}
             for p, every, q in (("P1", 1, 20.0), ("P2", 9, 4.0)) for d in range(0, 300, every)]
    upsert(sqlite_db, OrderLine, lines)
    upsert(sqlite_db, Product, [{"id": p, "unit_price": 10.0, "unit_cost": 6.0} for p in ("P1", "P2")])
    upsert(sqlite_db, ProductLocation, [{"product_id": p, "location_id": "DC", "lead_time_days": 14.0,
                                         "current_safety_stock": 7.0} for p in ("P1", "P2")])
    first = segment_from_store(sqlite_db, today=date(2024, 11, 1))
    second = segment_from_store(sqlite_db, today=date(2024, 11, 1))
    result = export_run(sqlite_db, "parameters", tmp_path / "p.csv")
    assert (result.run_id, result.previous_id, result.rows) == (second, first, 2)
    frame = pd.read_csv(tmp_path / "p.csv")
    stored = read_frame(sqlite_db, ParameterValue).query("run_id == @second and name == 'safety_stock'")
    expected = stored.set_index("entity_key")["value_num"]
    for _, row in frame.iterrows():
        key = f"{row['product_id']}|{row['location_id']}"
        assert row["safety_stock_new"] == expected[key] == row["safety_stock_previous_run"]
        assert math.isclose(row["safety_stock_change"], expected[key] - 7.0)
    assert len(read_frame(sqlite_db, Run)) == 2
