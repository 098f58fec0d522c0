"""Bulk rows as one JSON text for SQLite: orjson's speed, refusing what it would write otherwise.

On SQLite a pull stores each batch as one JSON text of its rows (`core.store`); the json module took
five times longer than orjson to write it (50,000 customer rows: 0.040 s against 0.008 s). orjson
writes some values its own way (NaN and infinities as null, datetimes in its own spelling), so those
are refused here, and the caller binds those rows one by one. Reading stays with the json module: on an API page
of mostly texts orjson parsed only a quarter faster, and it reads integers beyond 64 bits as floats.

Example:
    >>> dumps_rows([("A1", 2.5, None)])
    '[["A1",2.5,null]]'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

# Refused instead of converted, so the caller can fall back to binding values one by one: a datetime
# or a dataclass would be written in orjson's own spelling, not the one the database driver uses.
_STRICT = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_rows(rows: Sequence[Sequence[Any]]) -> str | None:
    """Rows of plain values (text, numbers, booleans, None) as one JSON array of arrays: a str, since
    a database takes bytes as a BLOB (SQLite 3.45 and later read a BLOB given to json_each as JSONB).

    None when a row holds something JSON cannot carry as the driver would store it: a NaN or an
    infinity (orjson writes them as null), a text with NUL (SQLite's JSON functions cut it), a
    datetime, bytes, a Decimal or an integer beyond 64 bits."""
    try:
        text = orjson.dumps(rows, option=_STRICT)
    except TypeError:  # orjson.JSONEncodeError: a value without a JSON form
        return None
    if b"\\u0000" in text or (b"null" in text and _has_non_finite(rows)):
        return None
    return text.decode()


def _has_non_finite(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether a float in `rows` is NaN or infinite (orjson writes those as null); looked for only when
    the text holds a null."""
    return any(type(v) is float and (v != v or v in (float("inf"), float("-inf"))) for row in rows for v in row)
