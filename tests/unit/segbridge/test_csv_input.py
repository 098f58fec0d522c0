"""Reading canonical CSV files: line numbers, numbers, booleans and dates, never a guess, errors that
name file, column and line."""

from __future__ import annotations

import pandas as pd
import pytest

from basics.errors import ConfigError, DataError
from segbridge.csv_input import read_canonical_csv

pytestmark = pytest.mark.unit
HEAD = "order_id,line_no,product_id,order_date,quantity"


def _folder(tmp_path, lines: list[str], head: str = HEAD, **files: str):
    (tmp_path / "order_lines.csv").write_text("\n".join([head, *lines]) + "\n", encoding="utf-8")
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    return tmp_path


def test_rows_keep_their_line_in_the_file_blank_lines_included(tmp_path):
    frames, _ = read_canonical_csv(_folder(tmp_path, ["O1,1, P1 ,2024-03-04,5", "", "O2,1,P2,2024-03-05,6"]))
    ol = frames["order_lines"]
    assert ol["_row"].tolist() == [2, 4]
    assert ol["product_id"].tolist() == ["P1", "P2"]  # keys stripped
    assert ol.attrs["file"] == "order_lines.csv"


def test_text_in_a_number_column_is_missing_and_noted_quantity_left_to_the_engine(tmp_path):
    head = HEAD + ",net_value"
    frames, notes = read_canonical_csv(_folder(tmp_path, ["O1,1,P1,2024-03-04,abc,n/a", "O2,1,P1,2024-03-04,2,7"],
                                               head))
    ol = frames["order_lines"]
    assert ol["quantity"].isna().tolist() == [True, False] and ol["net_value"].isna().tolist() == [True, False]
    assert notes.counts["bad_number"] == 1
    assert notes.examples["bad_number"] == ["order_lines.csv line 2 net_value='n/a'"]


def test_numbers_are_read_by_the_mapping_parser_ambiguous_and_infinite_ones_noted(tmp_path):
    head = HEAD + ",net_value"
    lines = ['O1,1,P1,2024-03-04,2,"1,234.5"', 'O2,1,P1,2024-03-04,2,"1,5"', "O3,1,P1,2024-03-04,inf,1e309",
             "O4,1,P1,2024-03-04,3,  "]
    frames, notes = read_canonical_csv(_folder(tmp_path, lines, head))
    ol = frames["order_lines"]
    assert ol["net_value"].tolist()[0] == 1234.5 and ol["net_value"].isna().tolist() == [False, True, True, True]
    assert ol["quantity"].isna().tolist() == [False, False, True, False]  # inf: missing, left to the engine
    assert notes.counts["bad_number"] == 2  # '1,5' and 1e309; a blank cell is missing, not bad
    assert notes.examples["bad_number"] == ["order_lines.csv line 3 net_value='1,5'",
                                            "order_lines.csv line 4 net_value='1e309'"]


def test_booleans_accept_the_usual_spellings_and_refuse_the_rest(tmp_path):
    head = HEAD + ",rejected"
    rows = [f"O{i},1,P1,2024-03-04,1,{v}" for i, v in enumerate(["true", "X", "no", "0", ""])]
    frames, _ = read_canonical_csv(_folder(tmp_path, rows, head))
    assert frames["order_lines"]["rejected"].tolist()[:4] == [True, True, False, False]
    assert pd.isna(frames["order_lines"]["rejected"].iloc[4])
    _folder(tmp_path, [*rows, "O9,1,P1,2024-03-04,1,maybe"], head)
    with pytest.raises(DataError, match=r"order_lines.csv: column 'rejected', line 7: 'maybe' is not true or false"):
        read_canonical_csv(tmp_path)


@pytest.mark.parametrize("dates, expected, case", [
    (["04/03/2024", "25/03/2024"], ["2024-03-04", "2024-03-25"], "dates_day_first"),
    (["03/04/2024", "03/25/2024"], ["2024-03-04", "2024-03-25"], "dates_month_first"),
    (["2024-03-04", "25.03.2024"], ["2024-03-04", "2024-03-25"], "dates_day_first"),
])
def test_slash_dates_are_read_when_a_number_above_12_shows_the_order(tmp_path, dates, expected, case):
    frames, notes = read_canonical_csv(_folder(tmp_path, [f"O{i},1,P1,{d},1" for i, d in enumerate(dates)]))
    assert frames["order_lines"]["order_date"].dt.strftime("%Y-%m-%d").tolist() == expected
    assert notes.counts[case] == sum("-" not in d for d in dates)
    assert "shows the order" in notes.examples[case][0]


def test_ambiguous_dates_are_an_error_naming_file_column_and_line(tmp_path):
    _folder(tmp_path, ["O1,1,P1,03/04/2024,1", "O2,1,P1,05/06/2024,1"])
    with pytest.raises(DataError) as exc:
        read_canonical_csv(tmp_path)
    assert ("order_lines.csv: column 'order_date', line 2: '03/04/2024' could be day/month or month/day"
            in str(exc.value))
    assert "--date-format" in exc.value.hint


def test_dates_that_disagree_are_an_error(tmp_path):
    _folder(tmp_path, ["O1,1,P1,25/03/2024,1", "O2,1,P1,03/25/2024,1"])
    with pytest.raises(DataError, match="dates disagree: column 'order_date', line 2: '25/03/2024' has the day"):
        read_canonical_csv(tmp_path)


@pytest.mark.parametrize("value, message", [("31/02/2024", "not a valid date"), ("March 3", "is not a date"),
                                            ("2024-13-01", "not a valid date")])
def test_a_value_that_is_no_date_names_its_line(tmp_path, value, message):
    _folder(tmp_path, ["O1,1,P1,2024-03-04,1", f"O2,1,P1,{value},1"])
    with pytest.raises(DataError, match=f"order_lines.csv: column 'order_date', line 3: .*{message}"):
        read_canonical_csv(tmp_path)


def test_date_format_option_reads_every_date_column_and_names_a_mismatch(tmp_path):
    frames, notes = read_canonical_csv(_folder(tmp_path, ["O1,1,P1,03/04/2024,1"]), "%m/%d/%Y")
    assert frames["order_lines"]["order_date"].iloc[0] == pd.Timestamp("2024-03-04")
    assert notes.counts["dates_month_first"] == 0
    frames, _ = read_canonical_csv(_folder(tmp_path, ["O1,1,P1,03/04/2024,1", "O2,1,P1,2024-03-05,1"]), "%m/%d/%Y")
    assert frames["order_lines"]["order_date"].tolist() == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-05")]
    _folder(tmp_path, ["O1,1,P1,03/04/2024,1", "O2,1,P1,25/03/2024,1"])
    with pytest.raises(DataError, match="column 'order_date', line 3: '25/03/2024' does not match --date-format"):
        read_canonical_csv(tmp_path, "%m/%d/%Y")


def test_each_file_tells_its_own_date_order(tmp_path):
    receipts = "po_id,line_no,product_id,order_date,receipt_date\nA,1,P1,03/04/2024,03/20/2024\n"
    frames, notes = read_canonical_csv(_folder(tmp_path, ["O1,1,P1,25/03/2024,1"], receipts=receipts))
    assert frames["receipts"]["order_date"].iloc[0] == pd.Timestamp("2024-03-04")  # month first there
    assert frames["order_lines"]["order_date"].iloc[0] == pd.Timestamp("2024-03-25")
    assert notes.counts["dates_day_first"] == 1 and notes.counts["dates_month_first"] == 2


def test_unreadable_files_and_missing_order_lines_are_clean_errors(tmp_path):
    with pytest.raises(ConfigError, match="no order_lines.csv"):
        read_canonical_csv(tmp_path)
    (tmp_path / "order_lines.csv").write_bytes(b"\xff\xfe\x00garbage\x00\xff")
    with pytest.raises(DataError, match="order_lines.csv: not a readable CSV file"):
        read_canonical_csv(tmp_path)
    (tmp_path / "order_lines.csv").write_text("")
    with pytest.raises(DataError, match="not a readable CSV file"):
        read_canonical_csv(tmp_path)


def test_a_semicolon_separated_file_is_named_as_such(tmp_path):
    (tmp_path / "order_lines.csv").write_text(HEAD.replace(",", ";") + "\nO1;1;P1;2024-03-04;1\n")
    with pytest.raises(DataError, match="looks separated by ';'"):
        read_canonical_csv(tmp_path)
