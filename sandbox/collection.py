"""An in-memory record collection for REST sandboxes: change timestamps, incremental filters, paging.

Records stay in insertion order; an index sorted by (change timestamp, key) is rebuilt lazily after
changes, so "changed since T, page N" costs a bisect and a slice even with a million records.
Timestamps are canonical UTC text (`2025-07-01T10:39:05Z`), so text order is time order.

Example:
    >>> c = Collection([{"id": "A", "mod_ts": "2025-01-01T00:00:00Z"}], key="id", ts="mod_ts")
    >>> [r["id"] for r in c.since("2024-12-31T00:00:00Z")]
    ['A']
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def ts_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TS_FORMAT)


def parse_ts(text: str) -> datetime:
    """Accepts ISO 8601 with Z or an offset, with or without fractions."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Collection:
    """Records keyed by `key` (a field name or a function), with a change timestamp read by `ts`."""

    def __init__(self, records: Iterable[dict], key: str | Callable[[dict], Any], ts: str | Callable[[dict], str]):
        self._key = key if callable(key) else (lambda r, k=key: r[k])
        self._ts = ts if callable(ts) else (lambda r, f=ts: r[f])
        self.records: dict[Any, dict] = {self._key(r): r for r in records}
        self.lock = threading.RLock()
        self._sorted: list[Any] | None = None
        self._stamps: list[str] = []

    def __len__(self) -> int:
        return len(self.records)

    def _index(self) -> tuple[list[Any], list[str]]:
        with self.lock:
            if self._sorted is None:
                pairs = sorted((self._ts(r), k) for k, r in self.records.items())
                self._stamps = [p[0] for p in pairs]
                self._sorted = [p[1] for p in pairs]
            return self._sorted, self._stamps

    def since(self, stamp: str | None = None, strict: bool = False) -> list[dict]:
        """Records changed at or after `stamp` (after, if strict), oldest change first."""
        keys, stamps = self._index()
        start = 0
        if stamp:
            canonical = ts_text(parse_ts(stamp))
            start = (bisect.bisect_right if strict else bisect.bisect_left)(stamps, canonical)
        return _View(self.records, keys, start)

    def sample_keys(self, fraction: float, seed: int = 1) -> list[Any]:
        """At least one, else `fraction` of the keys, drawn reproducibly (for simulated edits)."""
        import numpy as np

        keys = list(self.records)
        picks = np.random.default_rng(seed).choice(len(keys), max(1, int(len(keys) * fraction)), replace=False)
        return [keys[i] for i in picks]

    def get(self, key: Any) -> dict | None:
        return self.records.get(key)

    def touch(self, key: Any, values: dict[str, Any], stamp_field: Callable[[dict, str], None], stamp: str) -> None:
        """Change a record and its timestamp (writes, simulated edits)."""
        with self.lock:
            record = self.records[key]
            record.update(values)
            stamp_field(record, stamp)
            self._sorted = None

    def add(self, record: dict) -> None:
        with self.lock:
            self.records[self._key(record)] = record
            self._sorted = None

    def newest(self) -> str | None:
        _, stamps = self._index()
        return stamps[-1] if stamps else None

    def key_of(self, record: dict) -> Any:
        return next(k for k, r in self.records.items() if r is record)

    def commit_late(self, stamp_field: Callable[[dict, str], None]) -> Any:
        """The oldest record gets exactly the newest change timestamp there is, as a transaction that
        committed after a read which already saw that timestamp would leave it; returns its key."""
        key = self.key_of(self.since(None)[0:1][0])
        self.touch(key, {}, stamp_field, self.newest())
        return key

    def edit_oldest(self, stamp_field: Callable[[dict, str], None], n: int, next_stamp: Callable[[str], str]
                    ) -> list[Any]:
        """A person edits the `n` oldest records (on a reader's first page): they move to the end of
        the change order, which shifts every later record one place forward for an offset reader."""
        keys = [self.key_of(r) for r in self.since(None)[0:n]]
        for key in keys:
            self.touch(key, {}, stamp_field, next_stamp(self.newest()))
        return keys


class _View:
    """A lazy list of records over the sorted index (slicing materialises only the page)."""

    def __init__(self, records: dict, keys: list, start: int):
        self.records, self.keys, self.start = records, keys, start

    def __len__(self) -> int:
        return max(0, len(self.keys) - self.start)

    def __getitem__(self, item: slice) -> list[dict]:
        lo, hi, _ = item.indices(len(self))
        return [self.records[k] for k in self.keys[self.start + lo:self.start + hi]]

    def __iter__(self):
        return (self.records[k] for k in self.keys[self.start:])


def next_stamp(current: str | None, seconds: int = 1) -> str:
    """A timestamp strictly after `current` (sandboxes use a logical clock, so tests are exact)."""
    base = parse_ts(current) if current else datetime.now(UTC)
    return ts_text(base + timedelta(seconds=seconds))


def project(record: dict, fields: str | None) -> dict:
    """Only the requested fields (`fields=a,b`), as the real APIs do."""
    if not fields:
        return record
    wanted = [f for f in fields.split(",") if f]
    return {f: record[f] for f in wanted if f in record}
