"""`segbridge segments export`: every classified entity with the previous run's segment and `changed`."""

from __future__ import annotations

import csv

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from segbridge import cli
from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _invoke(site, *args):
    return CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "segments", "export", *args])


def test_csv_of_the_latest_run_flags_changed_segments(site):
    result = _invoke(site, "--out", str(site / "segments.csv"))
    assert result.exit_code == 0, result.output
    assert "wrote 2 row(s) of segment run 2 (previous run 1) as csv" in " ".join(result.output.split())
    with (site / "segments.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["entity"], r["entity_key"], r["segment"], r["segment_previous_run"], r["changed"]) for r in rows] == [
        ("product_location", "P1|DC1", "A-X", "B-Y", "True"), ("product", "P1", "A-X", "B-Y", "True")]


def test_xlsx_of_a_named_run(site):
    result = _invoke(site, "--run", "1", "--out", str(site / "segments.xlsx"))
    assert result.exit_code == 0, result.output
    wb = load_workbook(site / "segments.xlsx")
    ws = wb["segments"]
    assert [c.value for c in ws[1]][:3] == ["entity", "entity_key", "product_id"]
    assert [c.value for c in ws[2]][:3] == ["product_location", "P1|DC1", "P1"]
    assert ws.freeze_panes == "C2" and ws["A1"].font.b
    assert dict(wb["about"].iter_rows(min_row=2, values_only=True))["previous successful segment run"] == "none"


def test_a_file_without_a_known_suffix_is_refused(site, capsys, monkeypatch):
    monkeypatch.chdir(site)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["segments", "export", "--out", "segments.xls"])
    assert exit_info.value.code == 2
    assert "cannot tell the format of 'segments.xls'" in " ".join(capsys.readouterr().err.split())


def test_an_empty_store_says_to_segment_first(tmp_path, capsys, monkeypatch):
    (tmp_path / "segbridge.yaml").write_text("database:\n  url: sqlite:///store.db\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["segments", "export", "--out", "s.csv"])
    assert exit_info.value.code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "no successful segment run to export" in err and "segbridge segment" in err
