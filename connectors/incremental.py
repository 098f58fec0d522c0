"""The one incremental helper every connector reads with: a typed checkpoint, cursors as UTC
instants, a read window that starts `overlap` before the high-water mark, and a loop guard.

Why an overlap: a row committed late with a change timestamp at (or just before) the high-water
mark of the previous read is invisible to a strict `>` filter, and lost for good. Reading from
`since - overlap` re-reads a few rows every pull; the store upserts them, so re-reads are harmless
(`core.sync` maps and stores each batch and its checkpoint in one transaction).

Why a loop guard: a system that hands back the same next link (or the same page) forever would
otherwise be paged until the run is killed; the second sighting is an error naming the link.

A connector's read looks like this:

    cp = Checkpoint.load(state, where=f"{self.name}.{stream.name}")
    lower = cp.lower_bound(self.options.overlap)          # None on a first (full) read
    guard = PageGuard(f"{self.name}.{stream.name}")
    position = cp.position or first_request(lower)
    while position:
        guard.see(position)
        page = fetch(position)
        cp = cp.observe(r[cursor_field] for r in page.records)
        position = page.next
        yield RecordBatch(page.records, (cp.at(position) if position else cp.done()).dump())

Literal formats per system live in `cursor_literal`, so the instant saved is one thing (UTC) and only
its spelling differs between SOQL, OData and Fusion REST.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import repeat
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from basics.yaml_loader import StrictModel
from connectors.connector_errors import FatalError

DEFAULT_OVERLAP_SECONDS = 300.0
MAX_STATE_BYTES = 64 * 1024
FUTURE_TOLERANCE = timedelta(minutes=10)
_SAP_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")
# Keys earlier versions saved for the position inside a read; read once, written as `position`.
_LEGACY_POSITION = ("next", "offset", "fetch_start", "after", "resume")


class IncrementalOptions(StrictModel):
    """Connector options every incremental connector has (its Options subclass this)."""

    overlap_seconds: float = Field(DEFAULT_OVERLAP_SECONDS, ge=0, description=(
        "Re-read window before the high-water mark, for rows committed late with an earlier timestamp"))

    @property
    def overlap(self) -> timedelta:
        return timedelta(seconds=self.overlap_seconds)


def parse_instant(value: Any) -> datetime | None:
    """A cursor value as an aware UTC datetime (None for blank). Accepts ISO 8601 with `Z`, an offset
    (`+00:00` or Salesforce's `+0000`) or none (taken as UTC), SAP's `/Date(ms+hhmm)/`, datetimes."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    text = str(value).strip()
    sap = _SAP_DATE.match(text)
    if sap:
        return datetime.fromtimestamp(int(sap.group(1)) / 1000, tz=UTC)
    text = _OFFSET_NO_COLON.sub(r"\1:\2", text.replace("Z", "+00:00")) if "T" in text else text
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date-time (expected ISO 8601 or /Date(ms)/)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class LiteralStyle(StrEnum):
    """How a system spells an instant in a filter."""

    ISO_Z = "iso_z"                    # 2024-05-01T10:00:00Z (SOQL, Dataverse, Fusion REST)
    ISO_MS_Z = "iso_ms_z"              # 2024-05-01T10:00:00.000Z
    SAP_DATETIME = "sap_datetime"      # datetime'2024-05-01T10:00:00' (OData V2 Edm.DateTime, UTC)
    SAP_OFFSET = "sap_offset"          # datetimeoffset'2024-05-01T10:00:00Z' (Edm.DateTimeOffset)
    SQL = "sql"                        # 2024-05-01 10:00:00 (a bound parameter's text)


def cursor_literal(instant: datetime, style: LiteralStyle | str) -> str:
    """The instant (UTC) written as the system reads it; the one place these spellings live."""
    utc = parse_instant(instant)
    assert utc is not None
    seconds = utc.strftime("%Y-%m-%dT%H:%M:%S")
    match LiteralStyle(style):
        case LiteralStyle.ISO_Z:
            return seconds + "Z"
        case LiteralStyle.ISO_MS_Z:
            return f"{seconds}.{utc.microsecond // 1000:03d}Z"
        case LiteralStyle.SAP_DATETIME:
            return f"datetime'{seconds}'"
        case LiteralStyle.SAP_OFFSET:
            return f"datetimeoffset'{seconds}Z'"
        case LiteralStyle.SQL:
            return utc.strftime("%Y-%m-%d %H:%M:%S")


class Checkpoint(StrictModel):
    """Where a stream's reading stands; what `RecordBatch.checkpoint` carries (as `dump()`).

    `since` is the high-water mark of the last complete read: the next read starts at
    `since - overlap`. `high` is the highest cursor seen by the read under way and `position` where
    that read resumes (a next link, an offset, a last key); both are cleared when it completes.
    `extra` holds what only one system has (a delta link, a snapshot bound)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    since: datetime | None = None
    high: datetime | None = None
    position: Any = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def load(cls, state: dict[str, Any] | None, *, where: str, now: datetime | None = None) -> Checkpoint:
        """The saved state as a Checkpoint. An oversized state, one that is not a checkpoint, or a
        high-water mark in the future (a hand-edited state, a clock far off) is refused with what to
        do, instead of reading nothing forever."""
        if not state:
            return cls()
        size = len(json.dumps(state, default=str))
        if size > MAX_STATE_BYTES:
            raise FatalError(f"{where}: the saved checkpoint is {size:,} bytes (at most {MAX_STATE_BYTES:,})",
                             hint="run `segbridge pull --full` for this system to start again from a full read")
        values = dict(state)
        for key in _LEGACY_POSITION:
            if key in values:
                legacy = values.pop(key)
                values.setdefault("position", legacy)
        extra = {k: values.pop(k) for k in list(values) if k not in cls.model_fields}
        values["extra"] = {**extra, **values.get("extra", {})}
        try:
            cp = cls.model_validate({k: _instant_or_raw(k, v) for k, v in values.items()})
        except (ValidationError, ValueError) as exc:
            raise FatalError(f"{where}: the saved checkpoint is not one segbridge wrote: {_first_error(exc)}",
                             hint="run `segbridge pull --full` for this system to start again") from None
        cp._refuse_future(where, now or datetime.now(UTC))
        return cp

    def _refuse_future(self, where: str, now: datetime) -> None:
        for name in ("since", "high"):
            value = getattr(self, name)
            if value is not None and value > now + FUTURE_TOLERANCE:
                raise FatalError(f"{where}: the saved high-water mark {value.isoformat()} is in the future "
                                 f"(now {now.isoformat(timespec='seconds')}); an incremental read would miss "
                                 "every change until then",
                                 hint="check the system's and this machine's clocks, then run "
                                      "`segbridge pull --full` for this system")

    def lower_bound(self, overlap: timedelta) -> datetime | None:
        """Where an incremental read starts: the high-water mark minus the overlap (None: read all)."""
        return None if self.since is None else self.since - overlap

    def observe(self, values: Iterable[Any]) -> Checkpoint:
        """This checkpoint with `high` raised to the largest cursor value among `values`.

        A page of ISO 8601 texts (what REST APIs send) is compared as text and only its newest value
        parsed; anything else is parsed value by value (and an unreadable one raises)."""
        high = self.high or self.since
        values = values if isinstance(values, list) else list(values)
        newest = _newest_texts(values)
        for value in values if newest is None else newest:
            instant = parse_instant(value)
            if instant is not None and (high is None or instant > high):
                high = instant
        return self.model_copy(update={"high": high})

    def at(self, position: Any) -> Checkpoint:
        """Mid-read: resume at `position`, keeping the read's lower bound."""
        return self.model_copy(update={"position": position})

    def done(self, **extra: Any) -> Checkpoint:
        """The read completed: the next one starts from what this one saw."""
        return Checkpoint(since=self.high or self.since, extra={**self.extra, **extra})

    def dump(self) -> dict[str, Any]:
        """JSON-safe, instants as ISO 8601 UTC with `Z`."""
        out: dict[str, Any] = {"version": 1}
        for name in ("since", "high"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if self.position is not None:
            out["position"] = self.position
        if self.extra:
            out["extra"] = self.extra
        return out


# An ISO 8601 date-time text with its offset (`Z`, `+00:00`, Salesforce's `+0000`): fixed-width fields.
_ISO_TEXT = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                       r"(?:\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})")
_COLUMN_FROM = 64  # fewer values: parsing each is as quick
_OFFSET = operator.methodcaller("group", 1)


def _newest_texts(values: list[Any]) -> list[str] | None:
    """When every value is an ISO 8601 date-time text with its offset: the greatest text of each
    layout (length and offset), which is that layout's newest instant (fixed-width fields, one
    offset); a REST page has one layout, so one value is parsed instead of every value. None
    otherwise (then each value is parsed, which also reports an unreadable one)."""
    if len(values) < _COLUMN_FROM or set(map(type, values)) != {str}:
        return None
    one = _one_layout(values)
    if one is not None:
        return one
    matches = list(map(_ISO_TEXT.fullmatch, values))
    if any(m is None for m in matches):
        return None
    layouts = list(zip(map(len, values), map(_OFFSET, matches), strict=True))
    newest: dict[tuple, str] = {}
    for layout, value in zip(layouts, values, strict=True):
        if value > newest.get(layout, ""):
            newest[layout] = value
    return list(newest.values())


def _one_layout(values: list[str]) -> list[str] | None:
    """The page's newest text when all its texts share one length and one offset spelling (what a REST
    page holds), checked with string methods instead of a regex per value (a pull of 50,000 accounts
    spent a tenth of its time matching): the oldest and newest texts must be ISO 8601, and every text
    of that width and offset sorts between them as its instant does. None: not one layout."""
    first = values[0]
    match = _ISO_TEXT.fullmatch(first)
    if match is None or len(set(map(len, values))) != 1:
        return None
    if not all(map(str.endswith, values, repeat(match.group(1)))):
        return None
    oldest, newest = min(values), max(values)
    if _ISO_TEXT.fullmatch(oldest) is None or _ISO_TEXT.fullmatch(newest) is None:
        return None
    return [newest]


def _instant_or_raw(key: str, value: Any) -> Any:
    return parse_instant(value) if key in ("since", "high") else value


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)


class PageGuard:
    """Stops a read that loops: the same position (next link, offset, token) twice, or the same
    page of records twice in a row, is an error naming it, not thousands of requests."""

    def __init__(self, where: str, max_pages: int = 1_000_000):
        self.where = where
        self.max_pages = max_pages
        self._positions: set[str] = set()
        self._last_page: str | None = None
        self.pages = 0

    def see(self, position: Any) -> None:
        """Call before fetching `position`; raises if it was fetched before in this read."""
        key = json.dumps(position, sort_keys=True, default=str)
        if key in self._positions:
            raise FatalError(f"{self.where}: the system returned the same page position twice ({_short(key)}); "
                             "stopped instead of paging forever",
                             hint="the system's paging is broken or the data changed under it; try again, "
                                  "and report it to the system's administrators if it repeats")
        self._positions.add(key)
        self.pages += 1
        if self.pages > self.max_pages:
            raise FatalError(f"{self.where}: more than {self.max_pages:,} pages; stopped")

    def page(self, records: list[dict[str, Any]]) -> None:
        """Call with each non-empty page; the same records twice in a row is a loop."""
        if not records:
            return
        digest = hashlib.sha256(json.dumps(records, sort_keys=True, default=str).encode()).hexdigest()
        if digest == self._last_page:
            raise FatalError(f"{self.where}: the system returned the same page of {len(records)} records twice "
                             "in a row; stopped instead of paging forever")
        self._last_page = digest


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
