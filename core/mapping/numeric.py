"""The one number parser: source text -> float, exactly as declared, never by guessing.

Used by the mapping engine (every numeric transform and every numeric canonical field), by the
canonical CSV reader of `segbridge analyze` and by reconciliation, so one text means one number
everywhere. Why a parser of our own: `float()` and `pd.to_numeric` accept `inf`, `nan` and
`1e309` (infinity), and the old "strip every comma" rule made the German `1,5` fifteen.

Rules (docs/mapping.md, "Numbers"):

- Nothing declared: the dot is the decimal point (JSON, OData, SQL, the canonical CSV files). A
  comma is read only where it can be nothing but a thousands separator: groups of exactly three
  digits together with a decimal dot (`1,234.5`) or more than one group (`1,234,567`). `1,234`
  alone is ambiguous (1234 in en-US, 1.234 in de-DE: SAP writes quantities with three decimals),
  and `1,5` or `1.234,5` carry a decimal comma: all are refused with a reason naming the
  declaration that would read them.
- Declared (`number_format: {decimal: ',', thousands: '.'}`): exactly that format; a thousands
  separator is accepted only where declared, in groups of three. A value that does not fit is
  refused.
- `inf`, `nan`, `Infinity`, numbers beyond the float range (`1e309`) and infinite numbers from
  JSON or SQL are refused: not a finite number. Blank text is null.
- SAP writes negatives with a trailing minus (`12.500-`); that is read in every format.

Refusals carry a reason code: `bad_type` (not a number at all), `bad_format` (a number in another
format than the declared or default one) or `bad_value` (not finite).

Example:
    >>> parse_number("1,234.5"), parse_number("12.500-")
    (1234.5, -12.5)
    >>> parse_number("1,5")
    Traceback (most recent call last):
    ...
    core.mapping.numeric.NumberProblem: '1,5' is ambiguous (decimal comma or thousands separator?); declare `number_format: {decimal: ','}` for this field
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

NOT_A_NUMBER, WRONG_FORMAT, NOT_FINITE = "bad_type", "bad_format", "bad_value"
_NON_FINITE_WORDS = {"inf", "infinity", "nan", "snan", "+inf", "-inf", "+infinity", "-infinity", "+nan", "-nan"}
_SPACES = "[ \u00a0\u202f]"  # a declared space also stands for the no-break spaces spreadsheets write
_EXP = r"(?:[eE][+-]?\d+)?"
# Formats tried, in order, to name the declaration that would read a refused value.
_CANDIDATES = ((",", None), (",", "."), (".", ","), (".", " "), (",", " "), (".", "'"))


class NumberProblem(ValueError):
    """Why a value is not a number in the declared (or default) format; `code` is the reason code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Separators:
    """A declared number format: decimal separator and (optional) thousands separator."""

    decimal: str = "."
    thousands: str | None = None


def separators_of(fmt: Any) -> Separators | None:
    """A `number_format` model (anything with `decimal` and `thousands`), or None for the default."""
    if fmt is None or isinstance(fmt, Separators):
        return fmt
    return Separators(fmt.decimal, fmt.thousands)


@lru_cache(maxsize=64)
def _pattern(decimal: str, thousands: str | None) -> re.Pattern:
    """The full-match pattern of one format (sign first; a trailing minus is taken off before)."""
    d = re.escape(decimal)
    plain = rf"(?:\d+(?:{d}\d*)?|{d}\d+){_EXP}"
    if thousands is None:
        return re.compile(rf"[+-]?{plain}")
    t = _SPACES if thousands == " " else re.escape(thousands)
    grouped = rf"\d{{1,3}}(?:{t}\d{{3}})+(?:{d}\d*)?"
    return re.compile(rf"[+-]?(?:{grouped}|{plain})")


_DEFAULT_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def _read(text: str, sep: Separators) -> float | None:
    """The number `text` spells in format `sep`, or None when it does not fit."""
    if not _pattern(sep.decimal, sep.thousands).fullmatch(text):
        return None
    if sep.thousands is not None:
        text = re.sub(_SPACES, "", text) if sep.thousands == " " else text.replace(sep.thousands, "")
    return float(text.replace(sep.decimal, ".") if sep.decimal != "." else text)


def _read_default(text: str) -> float | None:
    """Nothing declared: a dot decimal; commas only as unmistakable thousands groups."""
    if _pattern(".", None).fullmatch(text):
        return float(text)
    if _DEFAULT_GROUPED.fullmatch(text) and ("." in text or text.count(",") >= 2):
        return float(text.replace(",", ""))
    return None


def _declaration(sep: Separators) -> str:
    parts = [f"decimal: '{sep.decimal}'"] if sep.decimal != "." or sep.thousands is None else []
    if sep.thousands is not None:
        parts.append(f"thousands: '{sep.thousands}'")
    return "`number_format: {" + ", ".join(parts) + "}`"


def _describe(sep: Separators) -> str:
    thousands = f"thousands '{sep.thousands}'" if sep.thousands else "no thousands separator"
    return f"decimal '{sep.decimal}', {thousands}"


def _refusal(value: Any, text: str, sep: Separators | None, where: str, what: str) -> NumberProblem:
    """The reason a text that is no number in format `sep` (None: default) is refused."""
    fits = [c for c in (Separators(*c) for c in _CANDIDATES) if c != sep and _read(text, c) is not None]
    if sep is not None:
        if fits or _read_default(text) is not None:
            return NumberProblem(WRONG_FORMAT, f"{value!r} does not fit the declared number format "
                                               f"({_describe(sep)}); check `number_format`{where}")
        return NumberProblem(NOT_A_NUMBER, f"cannot read {value!r} as {what}")
    if not fits:
        return NumberProblem(NOT_A_NUMBER, f"cannot read {value!r} as {what}")
    if re.fullmatch(r"[+-]?\d{1,3},\d{3}", text):
        return NumberProblem(WRONG_FORMAT, f"{value!r} is ambiguous ({text.replace(',', '')} with a thousands comma, or "
                                           f"{text.replace(',', '.')} with a decimal comma?); declare "
                                           f"`number_format: {{thousands: ','}}` or "
                                           f"`number_format: {{decimal: ','}}` for this field{where}")
    if text.count(",") == 1 and "." not in text:
        why = "is ambiguous (decimal comma or thousands separator?)"
    else:
        why = "is written with a decimal comma" if fits[0].decimal == "," else f"is grouped with {fits[0].thousands!r}"
    return NumberProblem(WRONG_FORMAT, f"{value!r} {why}; declare {_declaration(fits[0])} for this field{where}")


def parse_number(value: Any, fmt: Any = None, where: str = "", what: str = "a number") -> float | None:
    """The finite float `value` spells in format `fmt` (None: the default rules), None when blank.

    Raises NumberProblem (a ValueError with a reason code) otherwise; `where` (e.g. " in
    mappings/sap.yaml") ends the hint to declare a format."""
    sep = separators_of(fmt)
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, int | float | Decimal | np.number) and not isinstance(value, str):
        return _finite(value, value)
    text = str(value).strip()
    if not text:
        return None
    negative = text.endswith("-") and len(text) > 1 and text[0] not in "+-"
    body = text[:-1].rstrip() if negative else text
    if body.lower() in _NON_FINITE_WORDS:
        raise NumberProblem(NOT_FINITE, f"{value!r} is not a finite number")
    number = _read_default(body) if sep is None else _read(body, sep)
    if number is None:
        raise _refusal(value, body, sep, where, what)
    return _finite(-number if negative else number, value)


def _finite(number: Any, value: Any) -> float:
    """`number` as a float; infinity and NaN (from JSON, SQL, or text beyond the float range) are refused."""
    try:
        out = float(number)
    except OverflowError:
        out = math.inf
    if math.isfinite(out):
        return out
    beyond = " (beyond the range of a float)" if isinstance(value, str) else ""
    raise NumberProblem(NOT_FINITE, f"{value!r} is not a finite number{beyond}")


@dataclass
class ParsedNumbers:
    """A column read as numbers: `values` (NaN where blank or refused) and, per row, the refusal's
    reason code and message (None where the value is fine; both None when nothing was refused)."""

    values: np.ndarray
    codes: np.ndarray | None = None
    messages: np.ndarray | None = None

    def refused(self, code: str | None = None) -> np.ndarray:
        """Rows refused (with reason code `code`, or any)."""
        if self.codes is None:
            return np.zeros(len(self.values), dtype=bool)
        return pd.notna(self.codes) if code is None else self.codes == code


def parse_numbers(s: pd.Series, fmt: Any = None, where: str = "", what: str = "a number") -> ParsedNumbers:
    """`parse_number` over a column, fast: a clean column (the usual OData / SQL batch) is converted
    in one numpy call and only its non-finite or odd values go through the scalar parser, once per
    distinct value. A declared decimal comma reads every distinct value with the parser."""
    sep = separators_of(fmt)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        values = s.to_numpy(dtype=float, na_value=np.nan)
        infinite = np.isinf(values)
        if not infinite.any():  # the usual numeric column: nothing to convert to objects
            return ParsedNumbers(values)
        return _slow(s.to_numpy(dtype=object), values, infinite, sep, where, what)
    arr = s.to_numpy(dtype=object)
    if sep is not None and sep.decimal != ".":
        return _slow(arr, np.full(len(arr), np.nan), ~pd.isna(arr), sep, where, what)
    values = _fast(arr, s)
    suspect = ~np.isfinite(values)  # NaN: a null, or text such as 'nan'; inf: 'inf' or '1e309'
    nulls = np.empty(0, dtype=np.intp)
    if suspect.any():
        rows = np.flatnonzero(suspect)
        nulls = rows[pd.isna(arr[rows])]  # looked at only where a NaN came out
        suspect[nulls] = False  # nulls stay null
    if _has_underscore(np.delete(arr, nulls) if len(nulls) else arr):  # float() reads '1_000'; the parser does not
        suspect |= np.fromiter((isinstance(v, str) and "_" in v for v in arr), dtype=bool, count=len(arr))
    return _slow(arr, values, suspect, sep, where, what)


def _fast(arr: np.ndarray, s: pd.Series) -> np.ndarray:
    """Plain floats of a column (NaN where numpy and pandas cannot read a value)."""
    try:
        return np.asarray(arr, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _has_underscore(arr: np.ndarray) -> bool:
    """Whether any value's text holds '_' (one C-speed join; str() of a number never writes one)."""
    try:
        return "_" in "".join(arr)
    except TypeError:  # nulls or numbers among the text
        return "_" in "".join(map(str, arr))


def _slow(arr: np.ndarray, values: np.ndarray, suspect: np.ndarray, sep: Separators | None,
          where: str, what: str) -> ParsedNumbers:
    """Read the `suspect` rows with the scalar parser, once per distinct value."""
    if not suspect.any():
        return ParsedNumbers(values)
    rows = np.flatnonzero(suspect)
    ucodes, uniques = pd.factorize(pd.Series(arr[rows], dtype=object), use_na_sentinel=True)
    size = len(uniques) + 1  # the last entry stands for a null (code -1)
    out_u, code_u, msg_u = np.full(size, np.nan), np.full(size, None, dtype=object), np.full(size, None, dtype=object)
    for i, value in enumerate(uniques.tolist()):
        try:
            number = parse_number(value, sep, where, what)
            out_u[i] = np.nan if number is None else number
        except NumberProblem as problem:
            code_u[i], msg_u[i] = problem.code, problem.message
    values = values.copy()
    codes, messages = np.full(len(arr), None, dtype=object), np.full(len(arr), None, dtype=object)
    values[rows], codes[rows], messages[rows] = out_u[ucodes], code_u[ucodes], msg_u[ucodes]
    if not any(code_u):
        return ParsedNumbers(values)
    return ParsedNumbers(values, codes, messages)
