"""Reading canonical CSV files: line numbers, numbers, booleans and dates, never a guess, errors that
name file, column and line."""

from __future__ import annotations

import json

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


@pytest.mark.parametrize("dates", [["04/03/2024", "25/03/2024"], ["03/04/2024", "03/25/2024"],
                                   ["2024-03-04", "25.03.2024"]])
def test_dates_other_than_iso_are_refused_without_a_declared_format_never_guessed(tmp_path, dates):
    frames, notes = read_canonical_csv(_folder(tmp_path, [f"O{i},1,P1,{d},1" for i, d in enumerate(dates)]))
    iso = ["-" in d for d in dates]
    assert frames["order_lines"]["order_date"].notna().tolist() == iso
    assert notes.counts["bad_date"] == iso.count(False)
    assert [(r.file, r.row, r.column, r.code) for r in notes.refused] == [
        ("order_lines.csv", i + 2, "order_date", "bad_type") for i, ok in enumerate(iso) if not ok]
    assert "--date-format '%m/%d/%Y'" in notes.warnings()[0]


@pytest.mark.parametrize("value", ["31/02/2024", "March 3", "2024-13-01"])
def test_a_value_that_is_no_date_is_missing_and_named_with_its_line(tmp_path, value):
    frames, notes = read_canonical_csv(_folder(tmp_path, ["O1,1,P1,2024-03-04,1", f"O2,1,P1,{value},1"]))
    assert frames["order_lines"]["order_date"].isna().tolist() == [False, True]
    assert notes.examples["bad_date"] == [f"order_lines.csv line 3 order_date={value!r}"]
    assert notes.refused[0].message == f"cannot read {value!r} as an ISO date (YYYY-MM-DD)"


def test_date_format_reads_that_format_and_iso_in_every_date_column(tmp_path):
    receipts = "po_id,line_no,product_id,order_date,receipt_date\nA,1,P1,03/04/2024,03/20/2024\n"
    lines = ["O1,1,P1,03/25/2024,1", "O2,1,P1,2024-03-05,1", "O3,1,P1,25/03/2024,1"]
    frames, notes = read_canonical_csv(_folder(tmp_path, lines, receipts=receipts), "%m/%d/%Y")
    assert frames["receipts"]["receipt_date"].iloc[0] == pd.Timestamp("2024-03-20")
    # as the mapping's {date: {format: ...}}: that format, ISO beside it, nothing else
    assert frames["order_lines"]["order_date"].tolist()[:2] == [pd.Timestamp("2024-03-25"), pd.Timestamp("2024-03-05")]
    assert pd.isna(frames["order_lines"]["order_date"].iloc[2])
    assert [(r.row, r.code) for r in notes.refused] == [(4, "bad_type")]
    assert "as a date in --date-format '%m/%d/%Y'" in notes.refused[0].message


def test_unreadable_files_and_missing_order_lines_are_clean_errors(tmp_path):
    with pytest.raises(ConfigError, match="no order_lines.csv"):
        read_canonical_csv(tmp_path)
    (tmp_path / "order_lines.csv").write_bytes(b"\xff\xfe\x00garbage\x00\xff")
    with pytest.raises(DataError, match=r"order_lines.csv: byte 0 \(line 1\) is not valid utf-8"):
        read_canonical_csv(tmp_path)
    (tmp_path / "order_lines.csv").write_text("")
    with pytest.raises(DataError, match="order_lines.csv: the file is empty"):
        read_canonical_csv(tmp_path)


def test_a_semicolon_separated_file_is_named_as_such(tmp_path):
    (tmp_path / "order_lines.csv").write_text(HEAD.replace(",", ";") + "\nO1;1;P1;2024-03-04;1\n")
    with pytest.raises(DataError, match="looks separated by ';'"):
        read_canonical_csv(tmp_path)


def test_a_bom_does_not_break_the_header_and_cp1252_reads_only_when_declared(tmp_path):
    (tmp_path / "order_lines.csv").write_bytes(("\ufeff" + HEAD + "\nO1,1,P1,2024-03-04,1\n").encode())
    frames, _ = read_canonical_csv(tmp_path)
    assert list(frames["order_lines"].columns[1:3]) == ["order_id", "line_no"]
    (tmp_path / "order_lines.csv").write_bytes((HEAD + ",uom\nO1,1,P1,2024-03-04,1,St\u00fcck\n").encode("cp1252"))
    with pytest.raises(DataError, match=r"order_lines.csv: byte 75 \(line 2\) is not valid utf-8") as err:
        read_canonical_csv(tmp_path)
    assert "--encoding cp1252" in err.value.hint
    frames, _ = read_canonical_csv(tmp_path, encoding="cp1252")
    assert frames["order_lines"]["uom"].tolist() == ["St\u00fcck"]


def test_a_header_only_file_has_its_columns_and_no_rows_an_empty_optional_file_is_skipped(tmp_path):
    frames, notes = read_canonical_csv(_folder(tmp_path, [], products=""))
    assert frames["order_lines"].empty and "quantity" in frames["order_lines"].columns
    assert "products" not in frames and notes.refused == []


# ---- the same files through analyze and through a pull (csv_folder + canonical_csv.yaml) -------------

US_MAPPING = """version: 1
system: csv
entities:
  order_lines:
    source: {kind: csv_file, name: order_lines.csv}
    target: order_line
    key: [order_id, line_no]
    fields:
      order_id: {from: order_id, transforms: [required, str, strip]}
      line_no: {from: line_no, transforms: [required, str, strip]}
      product_id: {from: product_id, transforms: [required, str, strip]}
      order_date: {from: order_date, transforms: [required, {date: {format: '%m/%d/%Y'}}]}
      quantity: {from: quantity, transforms: [required, float]}
      net_value: {from: net_value, transforms: [float]}
"""
MIXED = [HEAD + ",net_value", "O1,1,P1,2024-03-04,2,10.5", "O2,1,P1,03/25/2024,2,10",
         'O3,1,P1,2024-03-05,"1,5",1', 'O4,1,P1,2024-03-06,3,"1,5"', "O5,1,P1,25/03/2024,1,1"]


def _pull(tmp_path, folder, date_format=None, encoding=None):
    """(accepted order ids, {(file, row, reason code)} quarantined, failure message) of a pull of `folder`."""
    from sqlalchemy import select

    from core.model import OrderLine, Quarantine
    from core.settings import SegbridgeConfig
    from core.store import create_all, open_store
    from core.sync import pull

    mapping = "canonical_csv.yaml"
    if date_format:
        (tmp_path / "us.yaml").write_text(US_MAPPING, encoding="utf-8")
        mapping = str(tmp_path / "us.yaml")
    db = open_store(f"sqlite:///{tmp_path}/pull-{date_format is None}-{encoding}.db")
    create_all(db)
    options = {"path": str(folder), **({"encoding": encoding} if encoding else {})}
    config = SegbridgeConfig.model_validate({"systems": {"erp": {"kind": "csv_folder", "mapping": mapping,
                                                                 "options": options}},
                                            "quality": {"max_quarantine_share": 1.0}})
    [result] = pull(config, db, entities=["order_lines"])
    with db.connect() as conn:
        ids = sorted(r[0] for r in conn.execute(select(OrderLine.__table__.c.order_id)))
        q = conn.execute(select(Quarantine.__table__.c.record, Quarantine.__table__.c.reason_code)).fetchall()
    db.dispose()
    refused = {(json.loads(rec)["__file"], json.loads(rec)["__row"], code) for rec, code in q}
    return ids, refused, None if result.status == "ok" else result.message


def _analyze(folder, date_format=None, encoding=None):
    """(accepted order ids, {(file, row, reason code)} refused) of analyze's reading of `folder`."""
    frames, notes = read_canonical_csv(folder, date_format, encoding)
    refused = {(r.file, r.row, r.code) for r in notes.refused}
    rows = {r for _, r, _ in refused}
    ol = frames["order_lines"]
    return sorted(ol.loc[~ol["_row"].isin(rows), "order_id"]), refused


def _drop(tmp_path, name: str, data: bytes):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "order_lines.csv").write_bytes(data)
    return folder


@pytest.mark.parametrize("date_format, accepted, refused", [
    (None, ["O1"], {("order_lines.csv", 3, "bad_type"), ("order_lines.csv", 4, "bad_format"),
                    ("order_lines.csv", 5, "bad_format"), ("order_lines.csv", 6, "bad_type")}),
    ("%m/%d/%Y", ["O1", "O2"], {("order_lines.csv", 4, "bad_format"), ("order_lines.csv", 5, "bad_format"),
                               ("order_lines.csv", 6, "bad_type")}),
])
def test_analyze_and_pull_accept_and_refuse_the_same_rows_for_the_same_reasons(tmp_path, date_format,
                                                                                 accepted, refused):
    """ISO dates read by both; US dates refused by both unless declared (--date-format / the mapping's
    {date: {format}}); a day-first date refused by both even then; `1,5` refused by both."""
    folder = _drop(tmp_path, "drop", ("\n".join(MIXED) + "\n").encode())
    assert _analyze(folder, date_format) == (accepted, refused)
    assert _pull(tmp_path, folder, date_format) == (accepted, refused, None)


def test_a_bom_header_reads_the_same_through_analyze_and_pull(tmp_path):
    folder = _drop(tmp_path, "bom", ("\ufeff" + "\n".join(MIXED[:2]) + "\n").encode())
    assert _analyze(folder) == (["O1"], set())
    assert _pull(tmp_path, folder) == (["O1"], set(), None)


def test_cp1252_fails_both_with_file_and_byte_until_declared(tmp_path):
    data = (HEAD + ",uom\nO1,1,P1,2024-03-04,1,St\u00fcck\n").encode("cp1252")
    folder = _drop(tmp_path, "win", data)
    with pytest.raises(DataError) as err:
        _analyze(folder)
    ids, refused, failure = _pull(tmp_path, folder)
    where = "order_lines.csv: byte 75 (line 2) is not valid utf-8"
    assert where in err.value.message and where in failure and (ids, refused) == ([], set())
    assert _analyze(folder, encoding="cp1252") == (["O1"], set())
    assert _pull(tmp_path, folder, encoding="cp1252") == (["O1"], set(), None)


def test_a_header_only_file_gives_no_rows_and_no_refusals_in_both(tmp_path):
    folder = _drop(tmp_path, "head", (HEAD + "\n").encode())
    assert _analyze(folder) == ([], set())
    assert _pull(tmp_path, folder) == ([], set(), None)


def test_an_empty_file_is_nothing_to_pull_and_a_clear_error_for_analyze(tmp_path):
    folder = _drop(tmp_path, "empty", b"")
    assert _pull(tmp_path, folder) == ([], set(), None)
    with pytest.raises(DataError, match="order_lines.csv: the file is empty"):
        _analyze(folder)
