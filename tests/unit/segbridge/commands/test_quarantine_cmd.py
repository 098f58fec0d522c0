"""`segbridge quarantine list|show|export`: quarantined records with reasons, filters and counts."""

from __future__ import annotations

import json
import os
import stat

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from core.migrate import upgrade
from core.model import Quarantine
from core.store import open_store, upsert
from segbridge import cli
from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _q(id_, run, entity, key, code, record, reason):
    return {"id": id_, "run_id": run, "system": "erp", "entity": entity, "source_key": key,
            "reason_code": code, "reason": reason, "record": json.dumps(record)}


@pytest.fixture
def site(tmp_path):
    (tmp_path / "segbridge.yaml").write_text("database:\n  url: sqlite:///store.db\n", encoding="utf-8")
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    upsert(db, Quarantine, [
        _q(1, 1, "order_lines", "O1|1", "bad_type", {"order_date": "03/12/2026", "__file": "ol.csv", "__row": 2},
           "order_date: '03/12/2026' is not an ISO date (YYYY-MM-DD); declare a format in the mapping"),
        _q(2, 1, "order_lines", "O2|1", "bad_type", {"order_date": "04/12/2026"}, "order_date: not a date"),
        _q(3, 2, "products", "=cmd|' /C calc'!A0", "missing_required", {"id": "=cmd|' /C calc'!A0"},
           "name is required")])
    db.dispose()
    return tmp_path


def _run(site, *args, width=80):
    result = CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "quarantine", *args],
                                env={"COLUMNS": str(width)})
    return result, " ".join(result.output.split())


def test_list_prints_counts_per_reason_then_records_within_80_columns(site):
    result, text = _run(site, "list")
    assert result.exit_code == 0, result.output
    assert "erp │ order_lines │ bad_type │ 2" in text and "erp │ products │ missing_required │ 1" in text
    assert "ol.csv row 2" in text and "Newest 3 of 3" in text
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_list_filters_by_system_entity_reason_and_run_and_limits(site):
    assert "Newest 1 of 1" in _run(site, "list", "--run", "2")[1]
    assert "Newest 2 of 2" in _run(site, "list", "--entity", "order_lines", "--reason", "bad_type")[1]
    assert "Newest 1 of 2" in _run(site, "list", "--reason", "bad_type", "--limit", "1")[1]
    assert "no quarantined records match" in _run(site, "list", "--system", "sap")[1]
    result, text = _run(site, "list", "--by-reason")
    assert "bad_type" in text and "Newest" not in text


def test_show_prints_the_whole_reason_and_the_raw_record(site):
    result, text = _run(site, "show", "1")
    assert result.exit_code == 0, result.output
    assert "where: ol.csv row 2" in text and "declare a format in the mapping" in text
    assert '"order_date": "03/12/2026"' in text
    result, text = _run(site, "show", "42")
    assert result.exit_code != 0


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_export_is_private_and_neutralises_a_formula_cell(site, suffix):
    path = site / f"q.{suffix}"
    result, text = _run(site, "export", "--out", str(path), "--entity", "products")
    assert result.exit_code == 0, result.output
    assert f"wrote 1 quarantined record(s) as {suffix}" in text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    if suffix == "csv":
        key = path.read_text(encoding="utf-8").splitlines()[1].split(",")[4]
    else:
        key = load_workbook(path)["quarantine"]["E2"].value
    assert key.startswith("'=cmd")


def test_export_refuses_an_unknown_format_with_a_hint(site, capsys, monkeypatch):
    monkeypatch.chdir(site)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["quarantine", "export", "--out", "q.txt"])
    assert exit_info.value.code == 2
    assert "name the file .csv or .xlsx" in " ".join(capsys.readouterr().err.split())
