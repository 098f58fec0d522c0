"""The one CSV file reader: bytes in, text cells out, each row with its file and row number.

Why one reader: `segbridge analyze` (segbridge/csv_input.py) and the `csv_folder` connector
(every pull of dropped files) used to open CSV files each its own way, so a BOM, an encoding or a
semicolon-separated file gave different results or errors without a row. Both now read through
here; what the values mean (dates, numbers) is decided in one place too, the mapping's transforms
(`core.mapping.dates`, `core.mapping.numeric`), which both apply.

Rules:

- encoding: UTF-8 by default, with or without a byte-order mark (the BOM never reaches the first
  column's name: `\\ufefforder_id` is read as `order_id`); any other encoding only when declared
  (`encoding: cp1252`). A byte that is not valid in the encoding stops the read with the file,
  the byte offset and the line, and the hint to declare the encoding;
- every cell is text, an empty cell is missing (NaN in the frame, None in records); nothing is
  typed here;
- every row carries `__row`: its row number in the file, the header being row 1 (the line an
  editor shows, as long as no quoted cell spans lines). Blank lines are skipped but counted;
- an empty file has no rows; a header-only file has its columns and no rows;
- a header of one column holding `;` (a semicolon-separated file read with `,`) is an error.

Example:
    >>> for frame in read_csv_text(Path("order_lines.csv"), chunk_rows=50_000):  # doctest: +SKIP
    ...     frame["__row"].iloc[0]   # 2: the first row under the header
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from basics.errors import DataError

FILE, ROW = "__file", "__row"  # the keys every record read from a file carries (see docs/connectors.md)
ENCODING_HINT = "declare the file's encoding (csv_folder: options.encoding: cp1252; analyze: --encoding cp1252)"


class CsvReadError(DataError):
    """A CSV file that cannot be read as declared; the message names the file (and byte or row)."""


def python_encoding(declared: str | None) -> str:
    """The codec to read with: UTF-8 (any spelling) reads with or without a BOM; others as declared."""
    name = (declared or "utf-8").strip()
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise CsvReadError(f"unknown encoding {name!r}", hint="e.g. utf-8, cp1252, latin-1, utf-16") from None
    return "utf-8-sig" if codec in ("utf-8", "utf-8-sig") else codec


def read_csv_text(path: Path, *, delimiter: str = ",", encoding: str | None = None,
                  chunk_rows: int | None = None, skip: int = 0) -> Iterator[pd.DataFrame]:
    """Frames of text cells with a `__row` column (one frame when `chunk_rows` is None); `skip` rows
    under the header are passed over (a resumed read). Each frame's `attrs["rows_read"]` counts the
    rows it consumed, blank lines included, for a checkpoint."""
    codec = python_encoding(encoding)
    try:
        reader = pd.read_csv(path, sep=delimiter, encoding=codec, dtype=str, keep_default_na=False,
                             na_values=[""], skip_blank_lines=False, chunksize=chunk_rows,
                             skiprows=range(1, skip + 1) if skip else None)
        if chunk_rows is None:
            yield _framed(reader, path, delimiter, skip)
            return
        done = skip
        with reader:
            for frame in reader:
                rows_read = len(frame)
                yield _framed(frame, path, delimiter, done)
                done += rows_read
    except pd.errors.EmptyDataError:
        return
    except UnicodeDecodeError:
        raise _decode_error(path, codec) from None
    except pd.errors.ParserError as exc:
        raise CsvReadError(f"{path.name}: not a readable CSV file ({' '.join(str(exc).split())})",
                           hint=f"check the delimiter ({delimiter!r} was used) and the quoting") from None


def _framed(frame: pd.DataFrame, path: Path, delimiter: str, done: int) -> pd.DataFrame:
    """The frame with `__row` (header = row 1), its all-blank rows dropped, its header checked."""
    frame.columns = [str(c).lstrip("\ufeff") for c in frame.columns]
    for reserved in (FILE, ROW):
        if reserved in frame.columns:
            raise CsvReadError(f"{path.name}: column {reserved!r} is reserved", hint="rename or drop that column")
    if delimiter == "," and len(frame.columns) == 1 and ";" in frame.columns[0]:
        raise CsvReadError(f"{path.name}: the header has one column: the file looks separated by ';', not ','",
                           hint="save it as comma-separated CSV, or declare options.delimiter: ';' (csv_folder)")
    rows_read = len(frame)
    frame.insert(0, ROW, np.arange(rows_read, dtype=np.int64) + done + 2)
    out = frame[frame.drop(columns=ROW).notna().any(axis=1)]
    out.attrs["rows_read"] = rows_read
    return out


def _decode_error(path: Path, codec: str) -> CsvReadError:
    """The first byte that is not valid in `codec`, by byte offset and line."""
    offset, line = first_bad_byte(path, codec)
    return CsvReadError(f"{path.name}: byte {offset} (line {line}) is not valid {codec.replace('-sig', '')}",
                        hint=ENCODING_HINT)


def first_bad_byte(path: Path, codec: str, block: int = 1 << 20) -> tuple[int, int]:
    """(byte offset from 0, line from 1) of the first byte `codec` cannot decode; (-1, -1) if none."""
    decoder = codecs.getincrementaldecoder(codec)()
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # the decoder may hold back a few bytes of an unfinished character: count from this block
                bad = offset + max(exc.start - len(exc.object) + len(chunk), 0)
                with open(path, "rb") as again:
                    head = again.read(bad)
                return bad, head.count(b"\n") + 1
            offset += len(chunk)
    return -1, -1
