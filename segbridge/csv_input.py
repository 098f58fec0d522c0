"""Reading the canonical CSV files of `segbridge analyze`: text in, typed frames out, nothing guessed.

Why not a plain `pd.read_csv`: a spreadsheet export brings text in number columns, US dates and
yes/no flags, and pandas either raises deep inside the engine or guesses (03/04/2024 silently
became 4 March or 3 April). Here every cell is read as text and converted by the canonical
model's column type (`core.model`):

- numbers: read as the mapping engine reads them (`core.mapping.numeric`: a dot decimal, a comma
  only as an unmistakable thousands separator, `inf`/`nan` refused); text that is not a number
  becomes missing and is counted (`bad_number`, with file, line and column); a bad `quantity` is left missing for the engine to set the line aside
  (`bad_quantity`, core.planning.cleaning);
- dates: ISO (YYYY-MM-DD) always; day/month/year or month/day/year (`/`, `.` or `-`) only when the
  file shows which: a first number above 12 means day first, a second above 12 month first, per
  file. A file where neither shows, or both do, is an error naming file, column and line; the
  user then passes `--date-format` (a strptime format such as `%m/%d/%Y`);
- booleans: true/false, 1/0, yes/no, y/n, t/f, x (SAP's flag); anything else is an error.

Every frame keeps its line in the file (header = line 1) in a `_row` column and the file name in
`attrs["file"]`, so the engine's cleaning can name the line it set aside.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from basics.errors import ConfigError, DataError
from core.mapping.numeric import parse_numbers
from core.planning.cleaning import ROW, DataQuality

CSV_FILES = {"order_lines": "order_lines.csv", "products": "products.csv",
             "product_locations": "product_locations.csv", "customers": "customers.csv",
             "shipments": "shipments.csv", "receipts": "receipts.csv"}
KEY_COLS = ["id", "product_id", "location_id", "customer_id", "order_id", "line_no", "po_id", "shipment_id"]
TRUE, FALSE = {"true", "t", "yes", "y", "1", "1.0", "x"}, {"false", "f", "no", "n", "0", "0.0"}
_ISO = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$"
_DMY = r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$"
# What reading noted, beside the engine's cases (core.planning.cleaning.CASES); texts of the notes.
READ_CASES = {
    "bad_number": "cell(s) with text that is not a number read as missing",
    "dates_day_first": "slash date(s) read as day/month/year",
    "dates_month_first": "slash date(s) read as month/day/year",
}
DATE_HINT = ("pass --date-format '%m/%d/%Y' (month first, US) or --date-format '%d/%m/%Y' (day first; "
             "%y for a two-digit year), or write ISO dates (YYYY-MM-DD)")


def read_canonical_csv(folder: Path, date_format: str | None = None) -> tuple[dict[str, pd.DataFrame], DataQuality]:
    """The canonical CSV files of a folder (order_lines.csv required) and what reading them noted."""
    if not (folder / CSV_FILES["order_lines"]).exists():
        raise ConfigError(f"{folder}: no order_lines.csv",
                          hint="analyze needs DIR/order_lines.csv (and optionally products.csv, "
                               "product_locations.csv, customers.csv, shipments.csv, receipts.csv)")
    notes = DataQuality(counts=dict.fromkeys(READ_CASES, 0), texts=READ_CASES)
    frames = {}
    for name, file in CSV_FILES.items():
        if (folder / file).exists():
            frames[name] = read_file(folder / file, name, date_format, notes)
    return frames, notes


def read_file(path: Path, name: str, date_format: str | None, notes: DataQuality) -> pd.DataFrame:
    """One canonical file, typed by the model's columns of entity `name`."""
    df = _read_text(path)
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


def _read_text(path: Path) -> pd.DataFrame:
    """Every cell as text (blank -> missing), a `_row` column with the line in the file; blank lines
    are skipped but still counted, so the line numbers stay those of an editor."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({' '.join(str(exc).split())})",
                        hint="comma-separated, UTF-8, one header line (see docs/engine.md)") from None
    if ROW in df.columns:
        raise DataError(f"{path}: column {ROW!r} is reserved", hint="rename or drop that column")
    if len(df.columns) == 1 and ";" in df.columns[0]:
        raise DataError(f"{path}: the header has one column: the file looks separated by ';', not ','",
                        hint="save it as comma-separated CSV (see docs/engine.md)")
    df.insert(0, ROW, np.arange(len(df)) + 2)
    return df[df.drop(columns=ROW).notna().any(axis=1)]


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


def _numbers(df: pd.DataFrame, col: str, file: str, notes: DataQuality, count: bool = True) -> pd.Series:
    """Numbers, read by the mapping's one number parser (dot decimal; a comma only as an unmistakable
    thousands separator: `1,234.5`); text that is not one, is ambiguous (`1,5`) or is not finite
    (`inf`) becomes missing and, when `count`, is noted."""
    parsed = parse_numbers(df[col])
    num = pd.Series(parsed.values, index=df.index, dtype="float64")
    bad = pd.Series(parsed.refused(), index=df.index)
    if count and bad.any():
        rows = df.loc[bad, [ROW, col]].head(5).to_numpy().tolist()
        notes.add("bad_number", int(bad.sum()), [f"{file} line {r} {col}={v!r}" for r, v in rows])
    return num


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


def _dates(df: pd.DataFrame, cols: list[str], file: str, fmt: str | None, notes: DataQuality) -> None:
    """Parse the date columns of one file in place (see the module docstring for the rules)."""
    if fmt:
        for col in cols:
            df[col] = _with_format(df, col, file, fmt)
        return
    values = pd.concat([_distinct(df, col) for col in cols], ignore_index=True)
    bad = values[values["kind"] == "bad"]
    if len(bad):
        raise DataError(f"{file}: column {bad['col'].iloc[0]!r}, line {bad['row'].iloc[0]}: "
                        f"{bad['text'].iloc[0]!r} is not a date", hint=DATE_HINT)
    order = _slash_order(values, file, notes)
    for col in cols:
        part = values[values["col"] == col]
        parsed = {raw: None if k == "blank" else _make_date(k, a, b, y, order, file, col, r) for raw, k, a, b, y, r in
                  part[["raw", "kind", "a", "b", "y", "row"]].itertuples(index=False)}
        df[col] = pd.to_datetime(df[col].map(parsed))


def _distinct(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """One row per distinct text of a date column (a few hundred days, not millions of cells, are
    stripped and matched): its first line, its count and its numbers (a, b, year)."""
    counts = df[col].value_counts(sort=False)
    first = df[col].dropna().drop_duplicates()
    u = pd.DataFrame({"col": col, "raw": first.to_numpy(), "row": df.loc[first.index, ROW].to_numpy()})
    u["text"] = u["raw"].str.strip()
    u["n"] = u["raw"].map(counts).to_numpy()
    iso, dmy = u["text"].str.extract(_ISO), u["text"].str.extract(_DMY)
    u["kind"] = np.where(iso[0].notna(), "iso", np.where(dmy[0].notna(), "slash",
                                                         np.where(u["text"] == "", "blank", "bad")))
    u["y"] = iso[0].fillna(dmy[2])
    u["a"] = iso[1].fillna(dmy[0])  # ISO: month; slash: first number
    u["b"] = iso[2].fillna(dmy[1])  # ISO: day; slash: second number
    return u


def _slash_order(values: pd.DataFrame, file: str, notes: DataQuality) -> str | None:
    """'dmy' or 'mdy' for the file's slash dates (None when it has none); an error when the file
    cannot tell, or tells both."""
    sl = values[values["kind"] == "slash"]
    if sl.empty:
        return None
    a, b = sl["a"].astype(int), sl["b"].astype(int)
    day_first, month_first = sl[a > 12], sl[b > 12]
    where = lambda r: f"column {r['col']!r}, line {r['row']}: {r['text']!r}"  # noqa: E731
    if len(day_first) and len(month_first):
        raise DataError(f"{file}: dates disagree: {where(day_first.iloc[0])} has the day first, "
                        f"{where(month_first.iloc[0])} the month first", hint=DATE_HINT)
    if day_first.empty and month_first.empty:
        raise DataError(f"{file}: {where(sl.iloc[0])} could be day/month or month/day, and no date in the file "
                        f"has a number above 12 to tell", hint=DATE_HINT)
    order, proof = ("dmy", day_first.iloc[0]) if len(day_first) else ("mdy", month_first.iloc[0])
    case = "dates_day_first" if order == "dmy" else "dates_month_first"
    notes.add(case, int(sl["n"].sum()), [f"{file}: {where(proof)} shows the order"])
    return order


def _make_date(kind, a, b, y, order, file, col, row) -> date:
    month, day = (int(a), int(b)) if kind == "iso" or order == "mdy" else (int(b), int(a))
    try:
        return date(int(y), month, day)
    except ValueError:
        raise DataError(f"{file}: column {col!r}, line {row}: not a valid date (year {y}, month {month}, "
                        f"day {day})", hint=DATE_HINT) from None


def _with_format(df: pd.DataFrame, col: str, file: str, fmt: str) -> pd.Series:
    """Dates in the given format; ISO dates stay readable (they are never ambiguous, and a folder
    often mixes an export with US dates and files written as ISO)."""
    text = df[col].str.strip().replace("", np.nan)
    iso = text.str.match(_ISO).fillna(False).astype(bool)
    try:
        out = pd.to_datetime(text.where(~iso), format=fmt, errors="coerce")
    except ValueError as exc:
        raise ConfigError(f"--date-format {fmt!r}: {exc}", hint="a strptime format such as %m/%d/%Y") from None
    if iso.any():
        out = out.where(~iso, pd.to_datetime(text.where(iso).str.slice(0, 10), format="%Y-%m-%d", errors="coerce"))
    bad = text.notna() & out.isna()
    if bad.any():
        i = bad.to_numpy().argmax()
        raise DataError(f"{file}: column {col!r}, line {df[ROW].iloc[i]}: {text.iloc[i]!r} does not match "
                        f"--date-format {fmt!r}", hint="one format for every date column of every file")
    return out
