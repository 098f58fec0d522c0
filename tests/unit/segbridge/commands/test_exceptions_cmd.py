"""`segbridge exceptions`: a list that reads at 80 columns, JSON and CSV for scripts, bulk status changes
by filter with a count and a confirmation."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from basics.errors import SegbridgeError
from core.reconcile import get_exception, history
from core.store import open_store
from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _invoke(site, *args, input: str | None = None):
    """Run the command; a SegbridgeError's exit code is set as `segbridge.cli.main` would exit."""
    result = CliRunner().invoke(build_app(), ["-c", str(site / "segbridge.yaml"), "exceptions", *args], input=input)
    if isinstance(result.exception, SegbridgeError):
        result.exit_code = result.exception.exit_code
    return result


def _statuses(site) -> dict[int, str]:
    db = open_store(f"sqlite:///{site / 'store.db'}")
    try:
        return {i: get_exception(db, i).status for i in range(1, 13)}
    finally:
        db.dispose()


def test_list_at_80_columns_keeps_every_column_as_wide_as_its_header(exception_site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = _invoke(exception_site, "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= 80
    header = next(line for line in lines if line.startswith("id "))
    names = header.split()
    assert {"id", "status", "kind", "system", "key", "expected", "actual"} <= set(names)
    assert "field safety_stock" in " ".join(result.output.split())  # one value in every row: in the title
    rows = lines[next(i for i, line in enumerate(lines) if line.startswith("──")) + 1:]
    assert len([r for r in rows if r.strip()]) == 12 and all(r[:1].isdigit() for r in rows if r.strip())  # one line per exception: nothing folded into 3-letter pieces
    assert "P0011|DC-NORTH-01" in result.output and "writeback_conflict" in result.output


def test_list_moves_a_column_with_one_value_into_the_title_when_narrow(exception_site, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = _invoke(exception_site, "list", "--system", "sap")
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split("\n\n")[0].split()[:12])
    assert title.startswith("4 exception(s)") and "kind value_mismatch" in " ".join(result.output.split())
    header = next(line for line in result.output.splitlines() if line.startswith("id "))
    assert "kind" not in header.split() and "expected" in header.split()


def test_list_json_is_an_array_of_objects_with_every_field(exception_site):
    result = _invoke(exception_site, "list", "--system", "sap", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == [10, 7, 4, 1]
    assert list(rows[0]) == ["id", "status", "severity", "kind", "system", "entity", "entity_key", "field",
                             "expected", "actual", "owner", "count", "first_seen", "last_seen", "run_id", "reason",
                             "fingerprint"]
    assert rows[-1]["expected"] == "=1+2" and rows[-1]["first_seen"].startswith("20")


def test_list_csv_neutralises_formulas_on_stdout_and_in_a_file(exception_site):
    result = _invoke(exception_site, "list", "--system", "sap", "--csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["id"] for r in rows] == ["10", "7", "4", "1"]
    assert rows[-1]["expected"] == "'=1+2"
    target = exception_site / "out" / "exceptions.csv"
    result = _invoke(exception_site, "list", "--csv", "--out", str(target))
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8", newline="") as fh:
        assert "'=1+2" in [r["expected"] for r in csv.DictReader(fh)]
    assert target.stat().st_mode & 0o077 == 0


def test_json_and_csv_together_are_refused(exception_site):
    result = _invoke(exception_site, "list", "--json", "--csv")
    assert result.exit_code == 2 and "--json and --csv cannot be used together" in str(result.exception)


def test_bulk_ack_by_filter_shows_the_count_and_refuses_without_yes_when_stdin_is_not_a_terminal(exception_site):
    result = _invoke(exception_site, "ack", "--system", "wms")
    assert result.exit_code == 2
    assert "3 exception(s) to mark acknowledged: 5, 8, 11" in result.output  # 2 is resolved: not a candidate
    assert "needs confirmation and stdin is not a terminal" in str(result.exception)
    assert set(_statuses(exception_site).values()) == {"open", "resolved"}


def test_bulk_ack_with_yes_marks_exactly_the_matching_ones_as_the_os_user(exception_site, monkeypatch):
    monkeypatch.setattr("basics.users.current_user", lambda: "stew")
    result = _invoke(exception_site, "ack", "--system", "wms", "--yes")
    assert result.exit_code == 0, result.output
    assert "3 exception(s) are now acknowledged" in result.output
    statuses = _statuses(exception_site)
    assert [i for i, s in statuses.items() if s == "acknowledged"] == [5, 8, 11]
    db = open_store(f"sqlite:///{exception_site / 'store.db'}")
    assert [(h.actor, h.action) for h in history(db, 5)] == [("stew", "exception_acknowledged")]
    db.dispose()


def test_a_person_at_a_terminal_confirms(exception_site, monkeypatch):
    monkeypatch.setattr("segbridge.commands.common.interactive", lambda: True)
    declined = _invoke(exception_site, "waive", "--kind", "writeback_conflict", "--severity", "high",
                       "--reason", "accepted", input="n\n")
    assert declined.exit_code == 1 and "nothing changed" in declined.output
    agreed = _invoke(exception_site, "waive", "--kind", "writeback_conflict", "--severity", "high",
                     "--reason", "accepted", input="y\n")
    assert agreed.exit_code == 0, agreed.output
    assert "2 exception(s) to mark waived: 3, 9" in agreed.output
    assert [i for i, s in _statuses(exception_site).items() if s == "waived"] == [3, 9]


def test_bulk_resolve_needs_a_reason_and_ids_take_several(exception_site):
    missing = _invoke(exception_site, "resolve", "4", "7", "--yes")
    assert missing.exit_code == 2 and "a reason is required" in str(missing.exception)
    done = _invoke(exception_site, "resolve", "4", "7", "--reason", "fixed in SAP", "--yes")
    assert done.exit_code == 0 and "2 exception(s) are now resolved: fixed in SAP" in done.output
    assert {i: s for i, s in _statuses(exception_site).items() if s == "resolved"} == {
        2: "resolved", 4: "resolved", 7: "resolved"}


def test_one_named_id_needs_no_confirmation(exception_site):
    result = _invoke(exception_site, "ack", "6")
    assert result.exit_code == 0 and "exception 6 is now acknowledged" in result.output


def test_a_bulk_change_is_all_or_none(exception_site):
    unknown = _invoke(exception_site, "ack", "4", "99", "--yes")
    assert unknown.exit_code == 2 and "no exception with id 99" in str(unknown.exception)
    stuck = _invoke(exception_site, "ack", "2", "4", "--yes")
    assert stuck.exit_code == 2 and "exception 2 is resolved; it cannot become acknowledged" in str(stuck.exception)
    assert _statuses(exception_site)[4] == "open"


def test_no_ids_and_no_filters_is_refused(exception_site):
    result = _invoke(exception_site, "ack", "--yes")
    assert result.exit_code == 2 and "name the exceptions to mark acknowledged" in str(result.exception)
