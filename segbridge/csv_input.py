"""Reading the canonical CSV files of `segbridge analyze`: text in, typed frames out, nothing guessed.

Why not a plain `pd.read_csv`: a spreadsheet export brings text in number columns, US dates and
yes/no flags, and pandas either raises deep inside the engine or guesses (03/04/2024 silently
became 4 March or 3 April). And a pull of the same files (`csv_folder` + mappings/canonical_csv.yaml)
must accept and refuse exactly the same cells. So the file is read by the one CSV reader the
`csv_folder` connector uses (`basics.csv_text`: UTF-8 with or without BOM, another
encoding only when declared with `--encoding`, the row number of every line) and each cell is
converted by the canonical model's column type with the mapping engine's own parsers:

- numbers: `core.mapping.numeric` (a dot decimal, a comma only as an unmistakable thousands
  separator, `inf`/`nan` refused); a refused cell becomes missing and is counted (`bad_number`,
  with file, line and column); a bad `quantity` is left missing for the engine to set the line
  aside (`bad_quantity`, core.planning.cleaning);
- dates: the mapping's `date` transform (`core.mapping.dates.t_date`): ISO (YYYY-MM-DD) by default,
  exactly `--date-format` (a strptime format such as `%m/%d/%Y`, the mapping's
  `{date: {format: ...}}`) when given. Nothing is inferred from the values. A refused cell becomes
  missing and is counted (`bad_date`); a missing order date makes the engine set the line aside;
- booleans: true/false, 1/0, yes/no, y/n, t/f, x (SAP's flag); anything else is an error.

Every refused cell is also listed in `ReadNotes.refused` with file, row, column and the reason code
the mapping would quarantine the record with (`bad_type`, `bad_format`, `bad_value`).
Every frame keeps its line in the file (header = line 1) in a `_row` column and the file name in
`attrs["file"]`, so the engine's cleaning can name the line it set aside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from basics.csv_text import ROW as READ_ROW
from basics.csv_text import read_csv_text
from basics.errors import ConfigError, DataError
from core.mapping.context import StepContext
from core.mapping.dates import t_date
from core.mapping.numeric import parse_numbers
from core.planning.cleaning import ROW, DataQuality

CSV_FILES = {"order_lines": "order_lines.csv", "products": "products.csv",
             "product_locations": "product_locations.csv", "customers": "customers.csv",
             "shipments": "shipments.csv", "receipts": "receipts.csv"}
KEY_COLS = ["id", "product_id", "location_id", "customer_id", "order_id", "line_no", "po_id", "shipment_id"]
TRUE, FALSE = {"true", "t", "yes", "y", "1", "1.0", "x"}, {"false", "f", "no", "n", "0", "0.0"}
MAX_LISTED = 100_000  # refused cells listed per file and column (all are counted)
# What reading noted, beside the engine's cases (core.planning.cleaning.CASES); texts of the notes.
READ_CASES = {
    "bad_number": "cell(s) with text that is not a number read as missing",
    "bad_date": "date cell(s) not in the declared format read as missing (ISO YYYY-MM-DD unless --date-format "
                "is given, e.g. --date-format '%m/%d/%Y' for US dates)",
}

@dataclass(frozen=True)
class Refusal:
    """A cell reading refused: file, row (header = 1), column, the mapping's reason code and why."""

    file: str
    row: int
    column: str
    code: str
    message: str


@dataclass
class ReadNotes(DataQuality):
    """What reading noted (counts per case of READ_CASES, examples) and every refused cell."""

    refused: list[Refusal] = field(default_factory=list)


def read_canonical_csv(folder: Path, date_format: str | None = None,
                       encoding: str | None = None) -> tuple[dict[str, pd.DataFrame], ReadNotes]:
    """The canonical CSV files of a folder (order_lines.csv required) and what reading them noted."""
    if not (folder / CSV_FILES["order_lines"]).exists():
        raise ConfigError(f"{folder}: no order_lines.csv",
                          hint="analyze needs DIR/order_lines.csv (and optionally products.csv, "
                               "product_locations.csv, customers.csv, shipments.csv, receipts.csv)")
    notes = ReadNotes(counts=dict.fromkeys(READ_CASES, 0), texts=READ_CASES)
    frames = {}
    for name, file in CSV_FILES.items():
        if (folder / file).exists():
            frame = read_file(folder / file, name, date_format, notes, encoding)
            if frame is not None:
                frames[name] = frame
    if "order_lines" not in frames:
        raise DataError(f"{folder / CSV_FILES['order_lines']}: the file is empty (not even a header line)",
                        hint="order_lines.csv needs a header line: order_id,line_no,product_id,order_date,quantity")
    return frames, notes


def read_file(path: Path, name: str, date_format: str | None, notes: ReadNotes,
              encoding: str | None = None) -> pd.DataFrame | None:
    """One canonical file, typed by the model's columns of entity `name`; None when the file is empty."""
    df = _read_text(path, encoding)
    if df is None:
        return None
    kinds = column_kinds(name)
    for col in [c for c in df.columns if c in KEY_COLS]:
        df[col] = _stripped(df[col])
    for col in [c for c in df.columns if kinds.get(c) is float]:
        df[col] = _numbers(df, col, path.name, notes, count=not (name == "order_lines" and col == "quantity"))
    for col in [c for c in df.columns if kinds.get(c) is bool]:
        df[col] = _booleans(df, col, path.name)
    dates = [c for c in df.columns if kinds.get(c) is date]
    if dates:
        _dates(df, dates, path.name, date_format, notes)
    df.attrs["file"] = path.name
    return df


def _read_text(path: Path, encoding: str | None) -> pd.DataFrame | None:
    """Every cell as text (blank -> missing), a `_row` column with the row in the file (header = 1),
    read by the one CSV reader the `csv_folder` connector uses too (`basics.csv_text`:
    UTF-8 with or without BOM unless `encoding` is declared); None for an empty file."""
    frames = list(read_csv_text(path, encoding=encoding))
    if not frames:
        return None
    df = frames[0]
    if ROW in df.columns:
        raise DataError(f"{path}: column {ROW!r} is reserved", hint="rename or drop that column")
    return df.rename(columns={READ_ROW: ROW})


def column_kinds(name: str) -> dict[str, type]:
    """Column -> python type (float, bool, date, str) from the canonical model of entity `name`."""
    from core import model

    table = {"order_lines": model.OrderLine, "products": model.Product, "product_locations": model.ProductLocation,
             "customers": model.Customer, "shipments": model.Shipment, "receipts": model.Receipt}[name]
    out = {}
    for c in table.__table__.columns:
        try:
            out[c.name] = c.type.python_type
        except NotImplementedError:
            out[c.name] = str
    return out


def _stripped(s: pd.Series) -> pd.Series:
    """Keys without surrounding blanks (' P1' and 'P1' are one product), blank -> missing. Stripped
    per distinct value: ids repeat, and stripping every cell of a few million lines costs seconds."""
    codes, uniques = pd.factorize(s)
    clean = pd.Series(uniques, dtype=object).str.strip().replace("", np.nan).to_numpy(dtype=object)
    out = np.where(codes >= 0, clean[np.maximum(codes, 0)] if len(clean) else None, None)
    return pd.Series(out, index=s.index, dtype=s.dtype).where(codes >= 0)


def _numbers(df: pd.DataFrame, col: str, file: str, notes: ReadNotes, count: bool = True) -> pd.Series:
    """Numbers, read by the mapping's one number parser (dot decimal; a comma only as an unmistakable
    thousands separator: `1,234.5`); text that is not one, is ambiguous (`1,5`) or is not finite
    (`inf`) becomes missing, is listed with its reason and, when `count`, is counted."""
    parsed = parse_numbers(df[col])
    bad = parsed.refused()
    if bad.any():
        _refuse(df, bad, col, file, parsed.codes[bad], parsed.messages[bad], notes, "bad_number" if count else None)
    return pd.Series(parsed.values, index=df.index, dtype="float64")


def _booleans(df: pd.DataFrame, col: str, file: str) -> pd.Series:
    """true/false and its usual spellings; anything else stops with the line (a guess would decide
    whether lines count as rejected)."""
    words = {v: str(v).strip().lower() for v in df[col].dropna().unique()}  # a handful of distinct values
    value = {v: True if w in TRUE else False if w in FALSE else None for v, w in words.items()}
    out = df[col].map(value).astype(object)
    bad = df[col].notna() & out.isna() & df[col].map(words).ne("")
    if bad.any():
        i = bad.to_numpy().argmax()
        raise DataError(f"{file}: column {col!r}, line {df[ROW].iloc[i]}: {df[col].iloc[i]!r} is not true or false",
                        hint="write true/false (or 1/0, yes/no, x for true)")
    return out


def _dates(df: pd.DataFrame, cols: list[str], file: str, fmt: str | None, notes: ReadNotes) -> None:
    """Parse the date columns of one file in place, by the mapping's own `date` transform."""
    for col in cols:
        df[col] = _date_column(df, col, file, fmt, notes)


def _date_column(df: pd.DataFrame, col: str, file: str, fmt: str | None, notes: ReadNotes) -> pd.Series:
    """One date column through `core.mapping.dates.t_date` (what `{date: {format: fmt}}` does in a
    pull): ISO without `fmt`, exactly `fmt` with it. A cell that is neither is missing, counted
    (`bad_date`) and listed with its file, row and the mapping's reason code."""
    ctx = StepContext(pd.DataFrame(index=df.index), col)
    parsed = t_date(df[col], ctx, format=fmt)
    bad = np.zeros(len(df), dtype=bool) if ctx.errors is None else ctx.errors.notna().to_numpy()
    if bad.any():
        what = f"a date in --date-format {fmt!r} or ISO (YYYY-MM-DD)" if fmt else "an ISO date (YYYY-MM-DD)"
        messages = [f"cannot read {v!r} as {what}" for v in df[col].to_numpy()[bad]]
        _refuse(df, bad, col, file, ctx.errors.to_numpy()[bad], messages, notes, "bad_date")
    return pd.to_datetime(parsed.where(~bad, None), errors="coerce")


def _refuse(df: pd.DataFrame, bad: np.ndarray, col: str, file: str, codes, messages, notes: ReadNotes,
            case: str | None) -> None:
    """List the refused cells (file, row, column, reason; the first MAX_LISTED per column, as the
    mapper keeps messages) and, when `case`, count them all."""
    rows = df[ROW].to_numpy()[bad]
    notes.refused += [Refusal(file, int(r), col, str(c), str(m))
                      for r, c, m in zip(rows[:MAX_LISTED], codes[:MAX_LISTED], messages[:MAX_LISTED], strict=True)]
    if case:
        values = df[col].to_numpy()[bad]
        notes.add(case, int(bad.sum()), [f"{file} line {r} {col}={v!r}" for r, v in zip(rows[:5], values[:5], strict=False)])
