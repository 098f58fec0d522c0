"""connectors.files.csv_folder: files dropped in a folder, read in chunks as text, incremental by file."""

from __future__ import annotations

import os
from datetime import date

import pytest
from openpyxl import Workbook

from basics.csv_text import FILE, ROW
from basics.errors import ConfigError
from connectors.base import StreamSpec
from connectors.connector_errors import FatalError
from connectors.files.csv_folder import CsvFolderConnector

pytestmark = pytest.mark.unit


def _conn(path, **options) -> CsvFolderConnector:
    return CsvFolderConnector({"path": str(path), **options}, name="legacy")


def _read(conn, pattern, state=None, provenance=False):
    """Records (without their `__file`/`__row` unless `provenance`) and the batches."""
    batches = list(conn.read(StreamSpec(pattern), state))
    records = [r for b in batches for r in b.records]
    return (records if provenance else [_values(r) for r in records]), batches


def _values(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in (FILE, ROW)}


def test_check_and_discover_list_data_files_only(tmp_path):
    (tmp_path / "orders_1.csv").write_text("id\n1\n")
    (tmp_path / "stock.xlsx").write_bytes(b"")
    (tmp_path / "notes.md").write_text("x")
    (tmp_path / ".hidden.csv").write_text("id\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.csv").write_text("id\n")
    conn = _conn(tmp_path)
    result = conn.check()
    assert result.ok and result.details == {"files": 2}
    assert [s.name for s in conn.discover()] == ["orders_1.csv", "stock.xlsx"]
    assert [s.name for s in _conn(tmp_path, recursive=True).discover()] == [
        "orders_1.csv", "stock.xlsx", "deep.csv"]


def test_a_missing_folder_fails_check_and_read(tmp_path):
    conn = _conn(tmp_path / "nosuch")
    assert conn.check().ok is False
    with pytest.raises(FatalError, match="not found"):
        _read(conn, "*.csv")


def test_values_are_text_with_empty_cells_as_none_and_options_apply(tmp_path):
    (tmp_path / "lines.csv").write_bytes("Material;Menge;Werk\n00042;1,5;\nMüller;2;1010\n".encode("cp1252"))
    records, _ = _read(_conn(tmp_path, delimiter=";", encoding="cp1252"), "lines.csv")
    assert records == [{"Material": "00042", "Menge": "1,5", "Werk": None},
                       {"Material": "Müller", "Menge": "2", "Werk": "1010"}]


def test_chunks_and_checkpoints_then_only_new_or_replaced_files(tmp_path):
    (tmp_path / "orders_a.csv").write_text("id,qty\n1,5\n2,6\n3,7\n")
    (tmp_path / "orders_b.csv").write_text("id,qty\n4,8\n")
    (tmp_path / "items.csv").write_text("sku\nX\n")
    conn = _conn(tmp_path, chunk_rows=2)
    records, batches = _read(conn, "orders_*.csv")
    assert [r["id"] for r in records] == ["1", "2", "3", "4"]
    assert [len(b.records) for b in batches] == [2, 1, 1]
    assert batches[0].checkpoint["position"] == {"file": "orders_a.csv", "sig": batches[1].checkpoint["extra"]["files"][
        "orders_a.csv"], "rows": 2}
    state = batches[-1].checkpoint
    assert set(state["extra"]["files"]) == {"orders_a.csv", "orders_b.csv"}
    assert _read(conn, "orders_*.csv", state)[0] == []
    (tmp_path / "orders_c.csv").write_text("id,qty\n5,9\n")
    (tmp_path / "orders_b.csv").write_text("id,qty\n4,80\n")
    os.utime(tmp_path / "orders_b.csv", ns=(1, 1))
    again, _ = _read(conn, "orders_*.csv", state)
    assert again == [{"id": "4", "qty": "80"}, {"id": "5", "qty": "9"}]


def test_a_crash_mid_file_resumes_after_the_rows_done(tmp_path):
    (tmp_path / "big.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(5)))
    conn = _conn(tmp_path, chunk_rows=2)
    _, batches = _read(conn, "big.csv")
    assert [(b.checkpoint.get("position") or {}).get("rows") for b in batches] == [2, 4, None]
    mid = batches[0].checkpoint  # stored with the first chunk: a crash after it repeats from row 2
    rest, _ = _read(conn, "big.csv", mid)
    assert [r["id"] for r in rest] == ["2", "3", "4"]


def test_excel_sheets_as_text(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "Export"
    sheet.append(["Material", "Qty", "Date", None])
    sheet.append(["M1", 12.0, date(2024, 3, 1), "x"])
    sheet.append(["M2", 1.5, None, ""])
    book.save(tmp_path / "stock.xlsx")
    records, _ = _read(_conn(tmp_path, sheet="Export"), "*.xlsx")
    assert records == [{"Material": "M1", "Qty": "12", "Date": "2024-03-01", "column_3": "x"},
                       {"Material": "M2", "Qty": "1.5", "Date": None, "column_3": None}]


def test_an_undecodable_file_is_a_fatal_error_with_a_hint(tmp_path):
    (tmp_path / "bad.csv").write_bytes("id\n\xff\xfe\n".encode("latin-1"))
    with pytest.raises(FatalError) as err:
        _read(_conn(tmp_path), "bad.csv")
    assert "cannot read bad.csv" in err.value.message and "encoding" in err.value.hint


def test_an_empty_file_reads_no_records_and_is_marked_done(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    records, batches = _read(_conn(tmp_path), "empty.csv")
    assert records == [] and "empty.csv" in batches[-1].checkpoint["extra"]["files"]


def _collect(conn, pattern):
    batches = []
    with pytest.raises(FatalError) as err:
        for batch in conn.read(StreamSpec(pattern), None):
            batches.append(batch)
    return batches, err.value


@pytest.mark.skipif(not os.path.isfile("/etc/passwd"), reason="needs /etc/passwd")
def test_a_symlink_out_of_the_folder_is_refused_and_nothing_is_read(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a_orders.csv").write_text("id\n1\n")
    (folder / "order_lines.csv").symlink_to("/etc/passwd")
    conn = _conn(folder)
    batches, err = _collect(conn, "*.csv")
    assert batches == []  # refused before the first file, so nothing is ingested
    assert "refused" in err.message and "order_lines.csv" in err.message
    assert "symlink to /etc/passwd" in err.message and "outside the folder" in err.message
    check = conn.check()
    assert not check.ok and "order_lines.csv" in check.message


def test_a_readable_csv_outside_the_folder_is_refused_too(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (tmp_path / "secret.csv").write_text("id\n42\n")  # would parse fine if it were read
    (folder / "orders.csv").symlink_to(tmp_path / "secret.csv")
    batches, err = _collect(_conn(folder), "orders.csv")
    assert batches == [] and "refused" in err.message and "secret.csv" in err.message
    with pytest.raises(FatalError):
        _conn(folder).discover()


def test_a_symlink_to_a_file_inside_the_folder_is_read(tmp_path):
    (tmp_path / "orders_2026.csv").write_text("id\n7\n")
    (tmp_path / "orders_latest.csv").symlink_to(tmp_path / "orders_2026.csv")
    records, _ = _read(_conn(tmp_path), "orders_latest.csv")
    assert records == [{"id": "7"}]


def test_a_file_swapped_for_an_outside_symlink_after_listing_is_refused(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n")
    (folder / "b.csv").write_text("id\n2\n")
    (tmp_path / "outside.csv").write_text("id\n99\n")
    conn = _conn(folder)
    read = conn.read(StreamSpec("*.csv"), None)
    first = next(read)  # a.csv listed and read; now b.csv is replaced by a symlink out
    (folder / "b.csv").unlink()
    (folder / "b.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(FatalError) as err:
        list(read)
    assert [_values(r) for r in first.records] == [{"id": "1"}] and "b.csv" in err.value.message


def test_every_record_carries_its_file_and_row_blank_lines_counted_and_a_resume_keeps_them(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "o.csv").write_text("id,qty\n1,5\n\n2,6\n3,7\n")
    conn = _conn(tmp_path, chunk_rows=2, recursive=True)
    records, batches = _read(conn, "o.csv", provenance=True)
    assert [(r[FILE], r[ROW], r["id"]) for r in records] == [("sub/o.csv", 2, "1"), ("sub/o.csv", 4, "2"),
                                                             ("sub/o.csv", 5, "3")]
    rest, _ = _read(conn, "o.csv", batches[0].checkpoint, provenance=True)  # resumed after the first chunk
    assert [(r[ROW], r["id"]) for r in rest] == [(4, "2"), (5, "3")]


def test_excel_rows_carry_their_file_and_row(tmp_path):
    book = Workbook()
    book.active.append(["id"])
    book.active.append(["A"])
    book.save(tmp_path / "x.xlsx")
    records, _ = _read(_conn(tmp_path), "x.xlsx", provenance=True)
    assert records == [{"id": "A", FILE: "x.xlsx", ROW: 2}]


def test_a_bom_is_not_part_of_the_first_column_and_undeclared_cp1252_names_the_byte(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufeffid,name\n1,Zoë\n".encode())
    assert _read(_conn(tmp_path), "bom.csv")[0] == [{"id": "1", "name": "Zoë"}]
    (tmp_path / "win.csv").write_bytes("id,name\n1,Ann\n2,Müller\n".encode("cp1252"))
    with pytest.raises(FatalError) as err:
        _read(_conn(tmp_path), "win.csv")
    assert "win.csv: byte 17 (line 3) is not valid utf-8" in err.value.message
    assert "encoding: cp1252" in err.value.hint
    assert _read(_conn(tmp_path, encoding="cp1252"), "win.csv")[0][1] == {"id": "2", "name": "Müller"}


def test_a_checkpoint_of_the_earlier_shape_resumes_and_bad_states_or_options_are_refused(tmp_path):
    (tmp_path / "big.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(5)))
    conn = _conn(tmp_path, chunk_rows=2)
    first = _read(conn, "big.csv")[1][0].checkpoint
    legacy = {"files": {}, "current": first["position"]}  # what versions before the shared Checkpoint saved
    assert [r["id"] for r in _read(conn, "big.csv", legacy)[0]] == ["2", "3", "4"]
    with pytest.raises(FatalError, match="in the future"):
        _read(conn, "big.csv", {"since": "2999-01-01T00:00:00Z"})
    with pytest.raises(ConfigError, match="option delimter"):
        list(conn.read(StreamSpec("big.csv", options={"delimter": ";"}), None))
    assert [s.primary_key for s in conn.discover()] == [["__file", "__row"]]
