"""basics.csv_text: the one CSV reader of analyze and csv_folder: text cells, row numbers,
UTF-8 with or without BOM, declared encodings, errors that name the file and the byte or row."""

from __future__ import annotations

import pytest

from basics.csv_text import ROW, CsvReadError, first_bad_byte, python_encoding, read_csv_text

pytestmark = pytest.mark.unit


def _file(tmp_path, data: bytes, name: str = "f.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_rows_are_numbered_as_in_the_file_blank_lines_counted_across_chunks_and_a_resume(tmp_path):
    path = _file(tmp_path, b"id,qty\n1,5\n\n2,\n3,7\n")
    frames = list(read_csv_text(path, chunk_rows=2))
    assert [f[ROW].tolist() for f in frames] == [[2], [4, 5]]  # the blank line 3 is skipped, still counted
    assert [f.attrs["rows_read"] for f in frames] == [2, 2]
    assert frames[1]["qty"].isna().tolist() == [True, False]  # an empty cell is missing, not ""
    [rest] = read_csv_text(path, skip=2)
    assert rest[ROW].tolist() == [4, 5] and rest["id"].tolist() == ["2", "3"]


def test_utf8_with_or_without_bom_and_declared_encodings(tmp_path):
    [frame] = read_csv_text(_file(tmp_path, "\ufeffid,name\n1,Zoë\n".encode()))
    assert list(frame.columns) == [ROW, "id", "name"] and frame["name"].tolist() == ["Zoë"]
    [frame] = read_csv_text(_file(tmp_path, "id,name\n1,Zoë\n".encode("cp1252")), encoding="cp1252")
    assert frame["name"].tolist() == ["Zoë"]
    assert python_encoding(None) == python_encoding("UTF8") == "utf-8-sig"
    with pytest.raises(CsvReadError, match="unknown encoding 'klingon'"):
        python_encoding("klingon")


def test_an_undecodable_byte_is_named_by_offset_and_line(tmp_path):
    path = _file(tmp_path, "id,name\n1,Ann\n2,Müller\n".encode("cp1252"))
    with pytest.raises(CsvReadError) as err:
        list(read_csv_text(path))
    assert err.value.message == "f.csv: byte 17 (line 3) is not valid utf-8" and "cp1252" in err.value.hint
    assert first_bad_byte(path, "utf-8-sig", block=4) == (17, 3)  # across block boundaries too
    # a character cut by a block boundary is not an error; the bad byte after it is found where it is
    cut = _file(tmp_path, "é".encode() + b"\xff\n", "cut.csv")
    assert first_bad_byte(cut, "utf-8", block=1) == (2, 1)
    assert first_bad_byte(_file(tmp_path, b"ok\n", "ok.csv"), "utf-8") == (-1, -1)


def test_empty_and_header_only_files(tmp_path):
    assert list(read_csv_text(_file(tmp_path, b"", "empty.csv"))) == []
    assert list(read_csv_text(_file(tmp_path, b"", "empty.csv"), chunk_rows=10)) == []
    [frame] = read_csv_text(_file(tmp_path, b"id,qty\n", "head.csv"))
    assert frame.empty and list(frame.columns) == [ROW, "id", "qty"]


def test_a_reserved_column_a_semicolon_file_and_a_broken_row_are_errors_naming_the_file(tmp_path):
    with pytest.raises(CsvReadError, match="r.csv: column '__row' is reserved"):
        list(read_csv_text(_file(tmp_path, b"id,__row\n1,2\n", "r.csv")))
    with pytest.raises(CsvReadError, match="s.csv: the header has one column: the file looks separated by ';'"):
        list(read_csv_text(_file(tmp_path, b"id;qty\n1;2\n", "s.csv")))
    [frame] = read_csv_text(_file(tmp_path, b"id;qty\n1;2\n", "s.csv"), delimiter=";")
    assert frame["qty"].tolist() == ["2"]
    with pytest.raises(CsvReadError, match="b.csv: not a readable CSV file"):
        list(read_csv_text(_file(tmp_path, b"id,qty\n1,2\n3,4,5,6\n", "b.csv")))
