"""The steward reports open: Excel sheets with frozen headers and filters, HTML with embedded charts, CSV."""

from __future__ import annotations

import csv
import re
from html.parser import HTMLParser

import pytest
from openpyxl import load_workbook

from core.reconcile.discrepancies import Observation, transition, upsert_observations
from core.reports.reconcile_report import KINDS, write_reports
from core.runs import finish_run, start_run

pytestmark = pytest.mark.unit


class _Images(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.srcs.append(dict(attrs)["src"])


def _seed(db):
    obs = [Observation("value_mismatch", "sap", "A_ProductSupplyPlanning", f"k{i}", "SafetyStockQuantity",
                       "10.000", str(i), "high", "sap-mdm") for i in range(3)]
    obs += [Observation("cross_system", "wms", "customer", "C1", "customer_segment", "A", "B", "medium", None),
            Observation("completeness", "crm", "account", "account", "read", "10", "9", "high", "crm-ops")]
    for n in (1, 2):
        run_id = start_run(db, "reconcile")
        ids = upsert_observations(db, obs[: 3 + n], run_id).new
        finish_run(db, run_id, "exceptions", counts={"exceptions": 3 + n, "open_value_mismatch": 3,
                                                         "open_cross_system": 1, "open_completeness": n - 1})
    transition(db, ids[0], "waived", reason="accepted", actor="t")


def test_reports_open_with_sheets_filters_charts(sqlite_db, tmp_path):
    from core.store import create_all

    create_all(sqlite_db)
    _seed(sqlite_db)
    paths = write_reports(sqlite_db, tmp_path / "out")
    wb = load_workbook(paths["excel"])
    assert wb.sheetnames == ["Summary", *KINDS]
    assert wb["Summary"].freeze_panes == "A3"
    for kind in KINDS:
        ws = wb[kind]
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref.startswith("A1:P")
        assert [c.value for c in ws[1]][:4] == ["id", "status", "severity", "kind"]
    assert wb["value_mismatch"].max_row == 4 and wb["value_mismatch"].auto_filter.ref == "A1:P4"
    assert wb["cross_system"].max_row == 2 and wb["orphan"].max_row == 1
    values = [[c.value for c in row if c.value is not None] for row in wb["Summary"].iter_rows()]
    assert ["open or acknowledged", 4] in values
    assert ["open", 4] in values and ["waived", 1] in values
    html = paths["html"].read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(html)
    assert len(parser.srcs) == 2
    assert all(s.startswith("data:image/png;base64,iVBOR") for s in parser.srcs)
    assert re.search(r'<span class="n">4</span> exception\(s\) open', html)
    with paths["csv"].open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and {r["kind"] for r in rows} == {"value_mismatch", "cross_system"} | {"completeness"}


def test_reports_of_an_empty_store(sqlite_db, tmp_path):
    from core.store import create_all

    create_all(sqlite_db)
    paths = write_reports(sqlite_db, tmp_path)
    wb = load_workbook(paths["excel"])
    assert wb.sheetnames == ["Summary", *KINDS]
    assert wb["orphan"].auto_filter.ref == "A1:P1"
    assert "data:image/png" not in paths["html"].read_text(encoding="utf-8")
    assert paths["csv"].read_text(encoding="utf-8").startswith("id,status,severity,kind")


HOSTILE_KEY = '=HYPERLINK("http://x",A1)'


def test_hostile_source_values_stay_inert_numbers_stay_numbers_files_private(sqlite_db, tmp_path):
    from core.store import create_all

    create_all(sqlite_db)
    run_id = start_run(sqlite_db, "reconcile")
    upsert_observations(sqlite_db, [Observation("value_mismatch", "+1", "A_Product", HOSTILE_KEY, "SafetyStock",
                                                "-2+3", "@SUM(A1)", "high", "\tsteward")], run_id)
    finish_run(sqlite_db, run_id, "exceptions", counts={"exceptions": 1})
    paths = write_reports(sqlite_db, tmp_path / "out")
    for path in paths.values():
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]

    ws = load_workbook(paths["excel"])["value_mismatch"]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, ws[2], strict=True))
    assert row["entity_key"].value == "'" + HOSTILE_KEY and row["entity_key"].data_type == "s"
    assert (row["system"].value, row["expected"].value, row["actual"].value, row["owner"].value) == (
        "'+1", "'-2+3", "'@SUM(A1)", "'\tsteward")
    for col in ("id", "count", "run_id"):
        assert row[col].data_type == "n" and isinstance(row[col].value, int), col
    summary = [[c.value for c in r] for r in load_workbook(paths["excel"])["Summary"].iter_rows()]
    assert any(r[0] == "'+1" for r in summary)  # the system as a row label of "Open by system and kind"
    assert not any(isinstance(v, str) and v.startswith(("=", "+", "-", "@")) for r in summary for v in r)

    with paths["csv"].open(encoding="utf-8", newline="") as fh:
        (exc,) = list(csv.DictReader(fh))
    assert (exc["entity_key"], exc["system"], exc["expected"], exc["actual"]) == (
        "'" + HOSTILE_KEY, "'+1", "'-2+3", "'@SUM(A1)")
    assert exc["count"] == "1"
