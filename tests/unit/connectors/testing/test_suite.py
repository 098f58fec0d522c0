"""connectors.testing.suite: the shipped contract scenarios pass on a correct connector and catch a
broken one; the helpers read keys, whole reads and duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.base import (
    CheckResult,
    Connector,
    ItemOutcome,
    RecordBatch,
    StreamSpec,
    WriteBatch,
    WriteItem,
)
from connectors.incremental import Checkpoint, PageGuard, parse_instant
from connectors.testing.suite import ConnectorContract, dig_key, duplicates, key_of, read_all

pytestmark = pytest.mark.unit


BASE = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def stamp(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


class Source:
    """An in-memory source: records with a change timestamp as cursor."""

    def __init__(self, n: int = 5):
        self.records = [{"id": i, "meta": {"site": "DC1"}, "changed": stamp(10 * i), "qty": i} for i in range(n)]

    def newest(self) -> int:
        return max(int((datetime.fromisoformat(r["changed"].replace("Z", "+00:00")) - BASE).total_seconds() // 60)
                   for r in self.records)

    def change(self, ids: list[int]) -> list[int]:
        top = self.newest()
        for r in self.records:
            if r["id"] in ids:
                top += 10
                r["changed"] = stamp(top)
        return ids

    def commit_late(self) -> tuple:
        """Record 0 committed late with the highest timestamp there is."""
        self.records[0]["changed"] = stamp(self.newest())
        return ("0", "DC1")


class MemorySource(Connector):
    """Honours the contract: Checkpoint.load, `>=` since - overlap, keyset paging on (changed, id)."""

    kind = "memory_source"

    def __init__(self, source: Source, page: int = 2, dup: bool = False, healthy: bool = True):
        super().__init__({}, name="mem")
        self.source, self.page, self.dup, self.healthy = source, page, dup, healthy

    def check(self):
        return CheckResult(self.healthy, "ok" if self.healthy else "401 unauthorised")

    def discover(self):
        return [StreamSpec("items", ["id", "meta.site"], cursor_field="changed", writable=True)]

    def rows(self, lower) -> list[dict]:
        rows = [dict(r) for r in self.source.records if lower is None or parse_instant(r["changed"]) >= lower]
        return sorted(rows, key=lambda r: (r["changed"], r["id"]))

    def read(self, stream, state):
        cp = Checkpoint.load(state, where=f"{self.name}.{stream.name}")
        lower, guard, after = cp.lower_bound(timedelta(seconds=300)), PageGuard("mem.items"), cp.position
        while True:
            guard.see(after)
            rows = [r for r in self.rows(lower) if after is None or [r["changed"], r["id"]] > after][:self.page]
            if self.dup and rows:
                rows.append(dict(rows[0]))
            if not rows:
                yield RecordBatch([], cp.done().dump())
                return
            cp, after = cp.observe(r["changed"] for r in rows), [rows[-1]["changed"], rows[-1]["id"]]
            yield RecordBatch(rows, cp.at(after).dump())

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        return [ItemOutcome(i.ref, "applied") if i.values.get("qty", 0) >= 0
                else ItemOutcome(i.ref, "rejected", "quantity must not be negative") for i in batch.items]


class StrictAfterMark(MemorySource):
    """Broken: reads strictly after the high-water mark, no overlap, and trusts any saved state."""

    def read(self, stream, state):
        since = (state or {}).get("since")
        rows = [dict(r) for r in self.source.records if since is None or r["changed"] > since]
        top = max([r["changed"] for r in rows] + ([since] if since else []))
        yield RecordBatch(rows, {"since": top})


class OffsetPaging(MemorySource):
    """Broken: pages by offset over the change timestamp a person can move during the read."""

    def read(self, stream, state):
        offset = 0
        while True:
            rows = self.rows(None)[offset:offset + self.page]
            if not rows:
                return
            offset += len(rows)
            yield RecordBatch(rows, {"version": 1, "position": offset})


class TestContractOnAMemorySource(ConnectorContract):
    """The inherited scenarios, run on a connector that honours the contract."""

    streams = ["items"]
    incremental_stream = "items"

    @pytest.fixture
    def server_app(self):
        return Source()

    @pytest.fixture
    def connector(self, server_app):
        return MemorySource(server_app)

    def change_records(self, app: Any, stream: str) -> list[Any]:
        return [(str(i), "DC1") for i in app.change([1, 3])]

    def commit_late(self, app: Any, stream: str) -> Any:
        return app.commit_late()

    def edit_during_paging(self, app: Any, stream: str) -> list[Any]:
        return [(str(i), "DC1") for i in app.change([0])]

    def write_batch(self, app: Any) -> WriteBatch | None:
        return WriteBatch([WriteItem("a", "items", {"id": 1}, {"qty": 4}),
                           WriteItem("b", "items", {"id": 2}, {"qty": -1})])


def test_helpers():
    record = {"id": 7, "meta": {"site": "DC1"}, "flat": "x"}
    assert dig_key(record, "meta.site") == "DC1" and dig_key(record, "meta.nope.deeper") is None
    assert key_of(record, ["id", "meta.site"]) == ("7", "DC1")
    assert duplicates([record, dict(record), {"id": 8, "meta": {"site": "DC1"}}], ["id", "meta.site"]) == [
        ("7", "DC1")]
    records, checkpoint, batches = read_all(MemorySource(Source(5), page=2), StreamSpec("items"))
    assert [r["id"] for r in records] == [0, 1, 2, 3, 4]
    assert checkpoint == {"version": 1, "since": stamp(40)} and len(batches) == 4


def test_the_scenarios_catch_a_broken_connector():
    contract = ConnectorContract()
    contract.streams = ["items"]
    with pytest.raises(AssertionError, match="401"):
        contract.test_check_ok(MemorySource(Source(), healthy=False))
    with pytest.raises(AssertionError):
        contract.test_full_read_has_no_duplicate_keys(MemorySource(Source(), dup=True))
    contract.streams = ["orders"]
    with pytest.raises(AssertionError, match="lacks stream 'orders'"):
        contract.test_discover_has_keys(MemorySource(Source()))


def test_a_rejection_without_a_reason_fails_the_write_scenario():
    class Mute(MemorySource):
        def write(self, batch):
            return [ItemOutcome(i.ref, "rejected") for i in batch.items]

    class Contract(ConnectorContract):
        def write_batch(self, app):
            return WriteBatch([WriteItem("a", "items", {"id": 1}, {"qty": 1})])

    with pytest.raises(AssertionError, match="must say why"):
        Contract().test_write_outcomes_one_per_item(Mute(Source()), None)


@pytest.mark.parametrize("scenario, args, reason", [
    ("test_full_read_survives_every_fault", ("conn", object()), "fault_app"),
    ("test_incremental_read_after_changes", ("conn", None), "incremental_stream"),
    ("test_write_outcomes_one_per_item", ("conn", None), "write_batch"),
    ("test_read_back_returns_what_write_wrote", ("conn", None), "roundtrip"),
    ("test_stale_etag_is_a_conflict_and_a_fresh_one_is_applied", ("conn", None), "supports_etags"),
    ("test_full_refresh_twice_gives_identical_records", ("conn",), "streams"),
    ("test_late_commit_at_the_high_water_mark_is_read_next", ("conn", None), "incremental_stream"),
    ("test_replay_from_every_checkpoint", ("conn",), "streams"),
    ("test_future_and_oversized_states_are_refused", ("conn",), "streams"),
    ("test_edit_during_paging_loses_nothing", ("conn", None), "streams"),
    ("test_malformed_answers_fail_the_read_clearly", ("conn", object()), "malformed_answers"),
])
def test_unconfigured_scenarios_skip_visibly_naming_the_hook(scenario, args, reason):
    conn = MemorySource(Source())
    with pytest.raises(pytest.skip.Exception, match=reason):
        getattr(ConnectorContract(), scenario)(*[conn if a == "conn" else a for a in args])


def test_configured_streams_without_the_hooks_skip_naming_them():
    contract = ConnectorContract()
    contract.streams, contract.incremental_stream = ["items"], "items"
    conn = MemorySource(Source(7))
    with pytest.raises(pytest.skip.Exception, match="commit_late"):
        contract.test_late_commit_at_the_high_water_mark_is_read_next(conn, None)
    with pytest.raises(pytest.skip.Exception, match="edit_during_paging"):
        contract.test_edit_during_paging_loses_nothing(conn, None)
    with pytest.raises(NotImplementedError):
        contract.change_records(None, "items")
