"""Keyset paging for Oracle's offset-paged reads (ADF SOAP `findCriteria.fetchStart`, ADF REST
`offset`): continue after the last key read instead of counting rows.

Why: paging by offset over a sort key people change (`LastUpdateDate`) shifts rows between pages
while the read runs. A record edited after page 1 moves to the end; every later record moves one
place up, and the record that slides over the page boundary is never read; its timestamp is old,
so the next incremental read does not find it either. Sorting by the primary key and asking for
"key after the last one read" keeps every record where it was: an edited record is either read
already (with its old values; the next incremental read, which starts at the high-water mark
minus the overlap, reads it again) or read later with its new values.

Composite keys: Oracle's simple filters have no row-value comparison (`(A, B) > (x, y)`), so the
filter is on the first key field (`A >= x`) and the records already read with `A = x` (`ties`,
ordered by the other key fields, which do not change) are skipped with the offset. A record
deleted among those ties moves the rest up by one; documented in docs/oracle.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connectors.connector_errors import FatalError


@dataclass(frozen=True)
class Keyset:
    """Where a keyset read stands: the first key field's last value read and how many records with
    that value were read (the offset of the next request when the key is composite)."""

    after: Any = None
    ties: int = 0

    @classmethod
    def load(cls, position: Any) -> Keyset:
        """The saved position; anything else (an older version's offset) starts the read again from
        its lower bound, which re-reads a few records and loses none."""
        if isinstance(position, dict) and "after" in position:
            return cls(position["after"], int(position.get("ties") or 0))
        return cls()

    def dump(self) -> dict[str, Any] | None:
        return None if self.after is None else {"after": self.after, "ties": self.ties}

    def condition(self, unique: bool) -> tuple[str, Any, int] | None:
        """(operator, value, offset) for the next request, None on the first page. A unique
        single-field key continues with `>` and offset 0; a composite one with `>=` and the ties."""
        if self.after is None:
            return None
        return (">", self.after, 0) if unique else (">=", self.after, self.ties)

    def advance(self, records: Sequence[dict[str, Any]], field: str, where: str = "") -> Keyset:
        """The position after `records` (sorted by the key, `field` first); `where` names the stream."""
        if not records:
            return self
        last = _scalar(records[-1].get(field))
        if last is None:
            raise FatalError(f"{where}: a record has no {field}, the key the read pages by",
                             hint="add the key field to the stream's fields (find_attributes, fields)")
        run = 0
        for record in reversed(records):
            if _scalar(record.get(field)) != last:
                break
            run += 1
        return Keyset(last, run + (self.ties if last == self.after else 0))


def _scalar(value: Any) -> Any:
    """A key value as the JSON-safe checkpoint holds it (a Decimal key as int or text, a date as ISO text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value.isoformat() if isinstance(value, date | datetime) else str(value)
