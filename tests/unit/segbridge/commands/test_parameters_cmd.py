"""`segbridge parameters export`: the review file of a segment run, the summary line, clear errors."""

from __future__ import annotations

import csv
import os
import stat

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from segbridge import cli
from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _invoke(site, *args):
    return CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "parameters", "export", *args])


def test_xlsx_of_the_latest_run_with_old_and_new_values(site):
    result = _invoke(site, "--out", str(site / "review" / "params.xlsx"))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "wrote 1 row(s) of segment run 2 (previous run 1) as xlsx to" in text
    assert str((site / "review" / "params.xlsx").resolve()) in text
    assert stat.S_IMODE(os.stat(site / "review" / "params.xlsx").st_mode) == 0o600
    ws = load_workbook(site / "review" / "params.xlsx")["parameters"]
    row = {h.value: c.value for h, c in zip(ws[1], ws[2], strict=True)}
    assert (row["product_id"], row["location_id"], row["segment"], row["rule"]) == ("P1", "DC1", "A-X", "'=fast")
    assert [row[f"safety_stock_{s}"] for s in ("current", "previous_run", "new", "change")] == [10, 12, 15, 5]
    assert ws.freeze_panes == "C2"


def test_an_older_run_as_csv_by_format_option(site):
    out = site / "params.txt"
    result = _invoke(site, "--run", "1", "--out", str(out), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "segment run 1 (no previous run) as csv" in " ".join(result.output.split())
    with out.open(encoding="utf-8", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert (row["safety_stock_new"], row["safety_stock_previous_run"], row["run_id"]) == ("12.0", "", "1")


@pytest.mark.parametrize("args, message, hint", [
    (["--run", "7"], "run 7 does not exist", "latest successful segment runs: 2, 1"),
    (["--run", "3"], "run 3 is a pull run, not a segment run", "latest successful segment runs: 2, 1"),
    (["--format", "pdf"], "unknown export format 'pdf'", "--format csv"),
])
def test_usage_errors_exit_2_and_say_what_to_do(site, capsys, monkeypatch, args, message, hint):
    monkeypatch.chdir(site)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["parameters", "export", "--out", "p.xlsx", *args])
    assert exit_info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and hint in err
    assert not (site / "p.xlsx").exists()
