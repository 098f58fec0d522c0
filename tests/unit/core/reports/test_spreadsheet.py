"""Shared spreadsheet writing: formula text neutralised, private files written whole or not at all."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
from openpyxl import load_workbook

from basics.errors import DataError
from core.reports import spreadsheet
from core.reports.spreadsheet import neutralise, neutralise_frame, private_output, write_table

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"])
def test_text_a_spreadsheet_would_evaluate_gets_an_apostrophe(text):
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["A-X", "", "abc", "'=already", -1, -1.5, 0, None, True])
def test_other_values_are_left_alone(value):
    assert neutralise(value) == value


def test_a_frame_keeps_its_numbers_and_neutralises_its_text():
    frame = pd.DataFrame({"key": ["=x", "ok"], "change": [-3.0, 2.0], "flag": [True, False]})
    safe = neutralise_frame(frame)
    assert safe["key"].tolist() == ["'=x", "ok"]
    assert safe["change"].tolist() == [-3.0, 2.0] and safe["change"].dtype == float
    assert frame["key"].tolist() == ["=x", "ok"]  # the caller's frame is not changed


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_one(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), private_output(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tables_are_private_to_the_user(tmp_path, fmt):
    target = tmp_path / "deep" / f"t.{fmt}"
    write_table(pd.DataFrame({"a": ["=1", "b"], "n": [1, -2]}), target, fmt, sheet="t")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    if fmt == "xlsx":
        ws = load_workbook(target)["t"]
        assert [[c.value for c in row] for row in ws.iter_rows()] == [["a", "n"], ["'=1", 1], ["b", -2]]
        assert ws.freeze_panes == "A2" and ws["A1"].font.b
    else:
        assert target.read_text(encoding="utf-8").splitlines() == ["a,n", "'=1,1", "b,-2"]


def test_too_many_rows_for_excel_say_to_use_csv(tmp_path, monkeypatch):
    monkeypatch.setattr(spreadsheet, "EXCEL_MAX_ROWS", 3)
    with pytest.raises(DataError, match="do not fit in one Excel sheet") as err:
        write_table(pd.DataFrame({"a": range(3)}), tmp_path / "t.xlsx", "xlsx", sheet="t")
    assert "csv" in err.value.hint and not (tmp_path / "t.xlsx").exists()
    with pytest.raises(ValueError, match="unknown table format"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.pdf", "pdf", sheet="t")


def test_private_text_is_written_whole_and_0600_without_neutralising(tmp_path):
    target = tmp_path / "sub" / "report.html"
    assert spreadsheet.write_private_text("<p>=1+2</p>", target) == target
    assert target.read_text(encoding="utf-8") == "<p>=1+2</p>"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
