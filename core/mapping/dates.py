"""Date and time transforms: ISO, SAP DATS (YYYYMMDD), OData V2 `/Date(ms)/` and `/Date(ms+hhmm)/`,
Edm.DateTimeOffset, and the write-back formats. Registered into `core.mapping.transforms.REGISTRY`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

import pandas as pd

from core.mapping.context import _convert
from core.mapping.transforms import transform

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ODATA_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")


def _parse_odata(v: Any) -> datetime:
    """`/Date(ms)/` (UTC) or `/Date(ms+0060)/` (offset in minutes) -> aware datetime."""
    return _parse_odata_text(v) if type(v) is str else _parse_odata_text(str(v))


@lru_cache(maxsize=8192)  # the same days and timestamps recur batch after batch; datetimes are immutable
def _parse_odata_text(v: str) -> datetime:
    m = _ODATA_DATE.match(v)
    if not m:
        m = _ODATA_DATE.match(v.strip())
        if not m:
            raise ValueError(v)
    ms, sign, minutes = m.groups()
    dt = _EPOCH + timedelta(milliseconds=int(ms))
    return dt.astimezone(_offset(sign, minutes)) if sign else dt


@lru_cache(maxsize=256)
def _offset(sign: str, minutes: str) -> timezone:
    return timezone(timedelta(minutes=int(minutes) * (1 if sign == "+" else -1)))


def _parse_iso_datetime(v: Any, tz: str) -> datetime:
    if isinstance(v, datetime):
        dt = v
    elif isinstance(v, pd.Timestamp):
        dt = v.to_pydatetime()
    else:
        text = str(v).strip()
        if text.startswith("/Date("):
            return _parse_odata(text)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        from zoneinfo import ZoneInfo

        dt = dt.replace(tzinfo=UTC if tz == "UTC" else ZoneInfo(tz))
    return dt


def _parse_date(v: Any, fmt: str | None) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    text = str(v).strip()
    if not text or text == "00000000":
        return None
    if text.startswith("/Date("):
        return _parse_odata(text).date()
    if fmt:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            if _ISO_DAY.fullmatch(text):  # ISO stays readable beside a declared format: it is never ambiguous
                return date.fromisoformat(text)
            raise
    if len(text) == 8 and text.isdigit():
        return datetime.strptime(text, "%Y%m%d").date()
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date() if "T" in text else date.fromisoformat(text[:10])


@transform("date", "date", "`'2024-03-01'`, `'20240301'`, `/Date(1709251200000)/` -> `date(2024, 3, 1)`")
def t_date(s, ctx, format: str | None = None):  # noqa: A002 - the YAML option is called format
    """Calendar date from ISO, SAP YYYYMMDD, OData `/Date(ms)/`, or an explicit strptime `format`
    (e.g. `%m/%d/%Y` for US dates; ISO YYYY-MM-DD stays readable beside it, as in `analyze --date-format`:
    an export in the declared format and files written as ISO are often mixed). Nothing else is guessed."""
    return _convert(s, ctx, lambda v: _parse_date(v, format), "bad_type", "a date")


@transform("sap_date", "date", "`'20240301'` -> `date(2024, 3, 1)`; `'00000000'` -> null")
def t_sap_date(s, ctx):
    """SAP DATS (YYYYMMDD); the initial value 00000000 is null."""
    def conv(v):
        text = str(v).strip()
        if text in ("", "00000000"):
            return None
        if len(text) != 8 or not text.isdigit():
            raise ValueError(v)
        return datetime.strptime(text, "%Y%m%d").date()
    return _convert(s, ctx, conv, "bad_type", "an SAP date (YYYYMMDD)")


@transform("odata_date", "date", "`/Date(1709251200000)/` -> `date(2024, 3, 1)` (Edm.DateTime)")
def t_odata_date(s, ctx):
    """OData V2 Edm.DateTime `/Date(ms)/` or `/Date(ms+0000)/` to a date (UTC calendar day)."""
    return _convert(s, ctx, lambda v: _parse_odata(v).astimezone(UTC).date(), "bad_type", "/Date(ms)/")


@transform("datetime", "datetime",
           "`'2024-03-01T10:00:00Z'`, `/Date(1709287200000+0060)/` -> aware datetime; naive -> `tz`")
def t_datetime(s, ctx, tz: str = "UTC"):
    """Timezone-aware datetime (Edm.DateTimeOffset, ISO 8601, /Date(ms±hhmm)/); naive values get `tz`."""
    return _convert(s, ctx, lambda v: _parse_iso_datetime(v, tz), "bad_type", "a datetime")


@transform("to_sap_date", "str", "`date(2024, 3, 1)` -> `'20240301'`")
def t_to_sap_date(s, ctx):
    """Date to SAP YYYYMMDD (write-back, RFC)."""
    return _convert(s, ctx, lambda v: _parse_date(v, None).strftime("%Y%m%d"), "bad_type", "a date")


@transform("to_odata_date", "str", "`date(2024, 3, 1)` -> `'/Date(1709251200000)/'`")
def t_to_odata_date(s, ctx):
    """Date to OData V2 `/Date(ms)/` (write-back)."""
    def conv(v):
        d = _parse_date(v, None)
        ms = int((datetime(d.year, d.month, d.day, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
        return f"/Date({ms})/"
    return _convert(s, ctx, conv, "bad_type", "a date")
