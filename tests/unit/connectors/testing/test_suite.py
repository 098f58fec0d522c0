"""connectors.testing.suite: the shipped contract scenarios pass on a correct connector and catch a
broken one; the helpers read keys, whole reads and duplicates."""

from __future__ import annotations

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
from connectors.testing.suite import ConnectorContract, dig_key, duplicates, key_of, read_all

pytestmark = pytest.mark.unit


class Source:
    """An in-memory source: records with a change counter as cursor."""

    def __init__(self, n: int = 5):
        self.records = [{"id": i, "meta": {"site": "DC1"}, "seq": 0, "qty": i} for i in range(n)]
        self.seq = 0

    def change(self, ids: list[int]) -> list[int]:
        self.seq += 1
        for r in self.records:
            if r["id"] in ids:
                r["seq"] = self.seq
        return ids


class MemorySource(Connector):
    kind = "memory_source"

    def __init__(self, source: Source, page: int = 2, dup: bool = False, healthy: bool = True):
        super().__init__({}, name="mem")
        self.source, self.page, self.dup, self.healthy = source, page, dup, healthy

    def check(self):
        return CheckResult(self.healthy, "ok" if self.healthy else "401 unauthorised")

    def discover(self):
        return [StreamSpec("items", ["id", "meta.site"], cursor_field="seq", writable=True)]

    def read(self, stream, state):
        since = (state or {}).get("seq")
        rows = [dict(r) for r in self.source.records if since is None or r["seq"] > since]
        if self.dup and rows:
            rows.append(dict(rows[0]))
        for start in range(0, len(rows), self.page):
            yield RecordBatch(rows[start:start + self.page], {"seq": self.source.seq}, source_count=len(rows))

    def write(self, batch: WriteBatch) -> list[ItemOutcome]:
        return [ItemOutcome(i.ref, "applied") if i.values.get("qty", 0) >= 0
                else ItemOutcome(i.ref, "rejected", "quantity must not be negative") for i in batch.items]


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
    assert checkpoint == {"seq": 0} and len(batches) == 3


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


def test_optional_scenarios_are_skipped_by_default_hooks():
    contract = ConnectorContract()
    conn = MemorySource(Source())
    assert contract.fault_app(object()) is None
    contract.test_full_read_survives_every_fault(conn, object())  # no inject(): nothing to do
    contract.test_incremental_read_after_changes(conn, None)  # no incremental stream
    contract.test_write_outcomes_one_per_item(conn, None)  # write_batch gives None
    with pytest.raises(NotImplementedError):
        contract.change_records(None, "items")
