"""The shared output of list commands (a table that fits, JSON, CSV) and clean help."""

from __future__ import annotations

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from basics.errors import ConfigError
from segbridge.cli import build_app
from segbridge.commands import common
from segbridge.commands.common import Col, confirm_or_refuse, fitting, rows_table, show_rows

pytestmark = pytest.mark.unit

COLUMNS = [Col("id", wrap=False), Col("status", wrap=False, constant=True), Col("description", min_width=12),
           Col("owner", drop=2), Col("note", drop=1, min_width=10)]
ROWS = [{"id": i, "status": "open", "description": "a long description of what differs " * 2,
         "owner": "supply-planning-stewards", "note": "-5 means fewer"} for i in range(1, 4)]


def _render(table, width: int) -> list[str]:
    console = Console(width=width, record=True, file=None, force_terminal=False)
    with console.capture() as cap:
        console.print(table)
    return cap.get().splitlines()


@pytest.mark.parametrize("command", [["--help"], ["plan", "--help"], ["exceptions", "ack", "--help"]])
def test_help_prints_no_type_after_plain_flags(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(build_app(), command)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    flag_lines = [line for line in result.output.splitlines() if "--help" in line or "--live" in line]
    assert flag_lines and all("<int>" not in line for line in flag_lines)
    if command == ["--help"]:
        assert "<path>" in result.output  # options that take a value keep their type


def test_a_repeatable_option_shows_the_type_of_one_value(monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    result = CliRunner().invoke(build_app(), ["exceptions", "list", "--help"])
    assert result.exit_code == 0, result.output
    assert "<list[" not in result.output
    assert any("--system" in line and "<str>" in line for line in result.output.splitlines())


def test_narrow_tables_drop_and_move_columns_but_never_squeeze_one_below_its_header():
    cells = {c.key: [common._cell(c, r.get(c.key)) for r in ROWS] for c in COLUMNS}
    kept, moved = fitting(COLUMNS, cells, 40)
    assert [c.key for c in kept] == ["id", "description"] and [c.key for c in moved] == ["status"]
    lines = _render(rows_table("t", ROWS, COLUMNS, 40), 40)
    assert lines[1].split() == ["id", "description"] and max(map(len, lines)) <= 40
    assert "t, status open" in lines[0]
    wide = _render(rows_table("t", ROWS, COLUMNS, 200), 200)
    assert wide[1].split() == ["id", "status", "description", "owner", "note"]


def test_columns_that_cannot_go_fold_their_text_but_keep_their_header_width():
    many = [Col(f"column{i}") for i in range(6)]
    rows = [{f"column{i}": "x" * 30 for i in range(6)}]
    lines = _render(rows_table("t", rows, many, 80), 80)
    assert lines[1].split() == [f"column{i}" for i in range(6)]
    assert max(map(len, lines)) <= 80
    first = lines[3].split()  # the first line of the row: each column at its folded width
    assert len(first) == 6 and all(len(p) >= len("column0") for p in first)  # no 3-letter slivers


def test_json_keeps_every_key_and_csv_neutralises_formulas(capsys):
    show_rows(ROWS[:1], COLUMNS[:2], title="t", as_json=True)
    assert json.loads(capsys.readouterr().out) == ROWS[:1]
    show_rows(ROWS[:1], COLUMNS[:2], title="t", as_csv=True)
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "id,status,description,owner,note"
    assert text.splitlines()[1].endswith(",'-5 means fewer")


def test_empty_lists_print_the_empty_message_an_empty_array_or_the_header(capsys):
    show_rows([], COLUMNS, title="t", empty="0 things")
    assert capsys.readouterr().out.strip() == "0 things"
    show_rows([], COLUMNS, title="t", as_json=True)
    assert json.loads(capsys.readouterr().out) == []
    show_rows([], COLUMNS, title="t", as_csv=True)
    assert capsys.readouterr().out.strip() == "id,status,description,owner,note"


def test_out_needs_a_format(tmp_path):
    with pytest.raises(ConfigError, match="--out needs --json or --csv"):
        show_rows(ROWS, COLUMNS, title="t", out_file=tmp_path / "x")


def test_confirmation_is_refused_when_nobody_can_be_asked(monkeypatch):
    monkeypatch.setattr(common, "interactive", lambda: False)
    with pytest.raises(ConfigError, match="needs confirmation and stdin is not a terminal") as info:
        confirm_or_refuse("marking 3 exception(s) waived", yes=False)
    assert "--yes" in info.value.hint
    confirm_or_refuse("marking 3 exception(s) waived", yes=True)  # --yes: no question, no refusal
