"""Writing tables people open in Excel: safe cell text, header style, column widths, private files.

Shared by the reports in `core/reports/` so each sheet looks the same and each export gets the same
protection:

* **No live formulas.** Keys, codes and names come from source systems, so a product id such as
  `=HYPERLINK(...)` must not become a formula when a planner opens the file. Every text cell that
  starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe (the
  OWASP "CSV injection" advice), in CSV and Excel alike, so re-saving the workbook as CSV keeps it
  inert. Numbers are left alone: a negative change stays a number.
* **Private files.** Exports hold planning data; they are written to a temporary file created
  with mode 0600 in the target folder and then renamed over the target, so the file is never
  readable by others, not even while it is being written, and a failed write leaves no half file.

Example:
    >>> neutralise("=1+2"), neutralise("-5"), neutralise(-5), neutralise("A-X")
    ("'=1+2", "'-5", -5, 'A-X')
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from basics.errors import DataError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
HEADER_COLOR = "DDE5F0"
EXCEL_MAX_ROWS = 1_048_576
FORMATS = ("csv", "xlsx")


def neutralise(value):
    """The value, with a leading apostrophe if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells are neutralised (numeric and boolean columns are untouched)."""
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            safe[col] = safe[col].map(neutralise)
    return safe


def style_header(ws, row: int, ncols: int) -> None:
    """Bold, shaded header cells in a normal (not write-only) worksheet."""
    from openpyxl.styles import Font, PatternFill

    for col in range(1, ncols + 1):
        cell = ws.cell(row=row, column=col)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_COLOR)


def fit_widths(ws, frame: pd.DataFrame) -> None:
    """Column widths from the header and the first 200 values (8 to 60 characters)."""
    from openpyxl.utils import get_column_letter

    for i, col in enumerate(frame.columns, start=1):
        longest = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200)])
        ws.column_dimensions[get_column_letter(i)].width = min(60, max(8, longest + 2))


@contextmanager
def private_output(path: str | Path) -> Iterator[Path]:
    """A temporary path (mode 0600, same folder) to write to; renamed over `path` when the block ends
    without error, removed otherwise."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_private_text(text: str, path: str | Path) -> Path:
    """A text file (HTML, JSON) written private, like the tables: mode 0600, temp file + rename.
    Nothing is neutralised: these are not opened as spreadsheets."""
    with private_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """The frame as CSV (UTF-8, header row, blanks for missing values), neutralised and private.

    Lines end in CRLF (RFC 4180): the writer then quotes any field holding a CR or LF, so a stray
    carriage return in a source value cannot split a row."""
    with private_output(path) as tmp:
        neutralise_frame(frame).to_csv(tmp, index=False, encoding="utf-8", lineterminator="\r\n")
    return Path(path)


def write_xlsx(frame: pd.DataFrame, path: str | Path, sheet: str, freeze: str = "A2",
               about: list[tuple[str, object]] | None = None) -> Path:
    """The frame as one filterable sheet (bold header, frozen panes, fitted widths), plus an optional
    "about" sheet of (field, value) rows; neutralised and private. Write-only mode keeps memory flat
    for a hundred thousand rows."""
    from openpyxl import Workbook

    if len(frame) >= EXCEL_MAX_ROWS:
        raise DataError(f"{len(frame)} rows do not fit in one Excel sheet ({EXCEL_MAX_ROWS - 1} at most)",
                        hint="export as CSV instead (--format csv)")
    wb = Workbook(write_only=True)
    _data_sheet(wb, neutralise_frame(frame), sheet, freeze)
    if about:
        _about_sheet(wb, about)
    with private_output(path) as tmp:
        wb.save(tmp)
    return Path(path)


def _header_cells(ws, names: list[str]) -> list:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    cells = []
    for name in names:
        cell = WriteOnlyCell(ws, value=str(name))
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_COLOR)
        cells.append(cell)
    return cells


def _data_sheet(wb, frame: pd.DataFrame, title: str, freeze: str) -> None:
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    ws.freeze_panes = freeze
    fit_widths(ws, frame)
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(frame.columns)))}{len(frame) + 1}"
    ws.append(_header_cells(ws, list(frame.columns)))
    values = frame.astype(object).where(frame.notna(), None)
    for row in values.itertuples(index=False, name=None):
        ws.append([v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])


def _about_sheet(wb, about: list[tuple[str, object]]) -> None:
    ws = wb.create_sheet("about")
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 90
    ws.append(_header_cells(ws, ["field", "value"]))
    for field, value in about:
        ws.append([neutralise(field), neutralise(value)])


def write_table(frame: pd.DataFrame, path: str | Path, fmt: str, sheet: str, freeze: str = "A2",
                about: list[tuple[str, object]] | None = None) -> Path:
    """CSV or Excel by `fmt` (one of FORMATS)."""
    if fmt == "csv":
        return write_csv(frame, path)
    if fmt == "xlsx":
        return write_xlsx(frame, path, sheet, freeze, about)
    raise ValueError(f"unknown table format {fmt!r}")
