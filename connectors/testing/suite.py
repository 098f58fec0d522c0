"""The standard connector test suite: the same contract scenarios for every connector, shipped so
third-party connectors can run them too (the idea of singer-sdk's standard tap tests).

Subclass `ConnectorContract` in a pytest module and provide two fixtures, `connector` (a
connector pointed at a running server) and `server_app` (whatever your hooks need, e.g. the
sandbox app). Every scenario runs; one whose hook is not configured is SKIPPED with the hook's
name in the reason (`pytest -rs` lists them), never passed silently.

Scenarios and the hooks they need (ClassVars and methods of your subclass):

| scenario | hook |
|---|---|
| check() ok; discover() gives keys; a full read has no duplicate keys, matches the source count | `streams` |
| a full read survives every transient fault (429, 502, 503, 504, dropped connection) | `fault_app(app)` (default: `server_app` if it has `inject`), `faults` |
| an incremental read after changes returns the changed records | `incremental_stream`, `change_records(app, stream) -> keys` |
| full refresh twice gives identical records | `streams` |
| a record committed late at exactly the high-water mark is read by the next incremental read | `incremental_stream`, `commit_late(app, stream) -> key` |
| replay from every checkpoint of a full read: nothing lost, at most one batch repeated | `streams`, `replay_max_checkpoints` |
| a future state (since 2999) and an oversized state (> 64 KB) are refused with "pull --full" | `streams` (connectors get it from `Checkpoint.load`) |
| a concurrent edit during paging loses nothing; the next incremental read finds it | `edit_during_paging(app, stream) -> keys` |
| write() answers one outcome per item, in order, refusals with a reason | `write_batch(app) -> WriteBatch` |
| read_back() returns what write() wrote | `roundtrip(app) -> (WriteItem, person's value)` |
| a stale `__etag` is a conflict, a fresh one is applied | `supports_etags = True`, `roundtrip`, `edit_record` |
| each malformed answer fails the read with a ConnectorError naming stream, status, body | `malformed_answers` (names in `malformed_answers.MALFORMED`), `malformed_faults`, `malformed_path`, `malformed_stream` |

Writing connectors provide `roundtrip(app)`: one `WriteItem` (a single field) and the value "a
person" puts in that field. Then `read_back()` must return what `write()` wrote; and where the
connector does conditional writes (`supports_etags = True`), a write holding the `__etag` read
before a person's edit must come back `conflict` (HTTP 412) leaving the person's value, while the
same write with the fresh `__etag` is applied. The person's edit goes through `edit_record`, by
default `app.edit(target, key, field, value)` (every sandbox stand-in offers it).

Malformed answers (HTTP connectors): list the names, e.g. `malformed_answers = GENERIC + ["missing_d",
"results_not_list"]` for OData or `GENERIC + ["soap_fault", "wrong_namespace", "dtd"]` for SOAP; each
is injected (persistently, so retries meet it too) on `malformed_path` and one full read of
`malformed_stream` (default the first stream) must raise a `ConnectorError` whose message holds the
stream name, the HTTP status and the body's first 16 characters (or "empty").

Example:
    class TestMyConnector(ConnectorContract):
        streams = ["items"]
        incremental_stream = "items"
        malformed_answers = GENERIC

        @pytest.fixture
        def server_app(self): ...
        @pytest.fixture
        def connector(self, server_app): ...
        def change_records(self, app, stream): return app.change(stream, 0.05)
        def commit_late(self, app, stream): return app.commit_late(stream)
        def edit_during_paging(self, app, stream): return app.change(stream, 0.05)
        def write_batch(self, app): return WriteBatch([...])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import pytest

from connectors.base import Connector, OutcomeStatus, RecordBatch, StreamSpec, WriteBatch, WriteItem
from connectors.testing.malformed_answers import GENERIC, MALFORMED, MalformedAnswerScenarios  # noqa: F401
from connectors.testing.state_scenarios import StateScenarios


def dig_key(record: dict, field: str) -> Any:
    """A key field's value; `a.b` reads a nested object."""
    value: Any = record
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def key_of(record: dict, primary_key: list[str]) -> tuple:
    return tuple(str(dig_key(record, f)) for f in primary_key)


def read_all(connector: Connector, stream: StreamSpec, state: dict | None = None
             ) -> tuple[list[dict], dict | None, list[RecordBatch]]:
    """Every record of a read, the last checkpoint and the batches (for assertions)."""
    batches = list(connector.read(stream, state))
    records = [r for b in batches for r in b.records]
    checkpoint = next((b.checkpoint for b in reversed(batches) if b.checkpoint is not None), None)
    return records, checkpoint, batches


def same_value(written: Any, held: Any) -> bool:
    """Equal as systems store them: numbers numerically ('10.000' == 10), text without padding blanks."""
    try:
        return Decimal(str(written)) == Decimal(str(held))
    except (InvalidOperation, ValueError):
        return str(written if written is not None else "").strip() == str(held if held is not None else "").strip()


def duplicates(records: list[dict], primary_key: list[str]) -> list[tuple]:
    counts = Counter(key_of(r, primary_key) for r in records)
    return [k for k, n in counts.items() if n > 1]


class ConnectorContract(StateScenarios, MalformedAnswerScenarios):
    """Inherit in a test class; see the module docstring."""

    streams: ClassVar[list[str]] = []
    incremental_stream: ClassVar[str | None] = None
    # Faults injected into `fault_app(server_app)` for the every-fault run: what real systems send.
    # The connector fixture should use a short read timeout and no backoff so this stays fast.
    faults: ClassVar[list[dict[str, Any]]] = [
        {"status": 429, "retry_after": 0}, {"status": 503}, {"status": 502}, {"status": 504},
        {"status": 0, "drop": True},
    ]

    def fault_app(self, server_app: Any) -> Any:
        """The SandboxApp to inject faults into (override when `server_app` is not one; None skips)."""
        return server_app if hasattr(server_app, "inject") else None

    def change_records(self, app: Any, stream: str) -> list[Any]:
        """Change some records of `stream` in the source; return the changed keys (override)."""
        raise NotImplementedError

    def write_batch(self, app: Any) -> WriteBatch | None:
        """A batch mixing valid and invalid items (override; None skips the write test)."""
        return None

    supports_etags: ClassVar[bool] = False
    """True when `read_back` gives `__etag` and `write` sends it as a condition the system enforces."""

    def roundtrip(self, app: Any) -> tuple[WriteItem, Any] | None:
        """A one-field WriteItem for an existing record and another value a person would put there
        (override; None skips the read-back and ETag tests)."""
        return None

    def edit_record(self, app: Any, target: str, key: dict[str, Any], field: str, value: Any) -> None:
        """A person changes a record in the system behind the connector (override when not `app.edit`)."""
        app.edit(target, key, field, value)

    def _spec(self, connector: Connector, name: str) -> StreamSpec:
        specs = {s.name: s for s in connector.discover()}
        assert name in specs, f"discover() lacks stream {name!r}: {sorted(specs)}"
        return specs[name]

    def test_check_ok(self, connector: Connector) -> None:
        result = connector.check()
        assert result.ok, result.message

    def test_discover_has_keys(self, connector: Connector) -> None:
        specs = {s.name: s for s in connector.discover()}
        for name in self.streams:
            assert name in specs, f"discover() lacks stream {name!r}"
            assert specs[name].primary_key, f"stream {name!r} has no primary key"

    def test_full_read_has_no_duplicate_keys(self, connector: Connector) -> None:
        for name in self.streams:
            spec = self._spec(connector, name)
            records, checkpoint, batches = read_all(connector, spec)
            assert records, f"stream {name!r} read no records"
            assert duplicates(records, spec.primary_key) == []
            counts = {b.source_count for b in batches if b.source_count is not None}
            if counts:
                assert counts == {len(records)}, f"{name}: source says {counts}, read {len(records)}"
            for f in spec.primary_key:
                assert all(dig_key(r, f) is not None for r in records), f"{name}: records without {f}"

    def test_full_read_survives_every_fault(self, connector: Connector, server_app: Any) -> None:
        """With every fault injected (spread over the read, mid-stream too), a full read returns exactly
        the records of a clean read: nothing lost, nothing duplicated."""
        app = self.fault_app(server_app)
        if app is None:
            pytest.skip("fault_app(app) not configured (server_app has no inject)")
        for name in self.streams:
            spec = self._spec(connector, name)
            clean, _, _ = read_all(connector, spec)
            for i, fault in enumerate(self.faults):  # spread over the read: fail, pass, fail, ...
                app.inject(times=1, skip=i, **fault)
            for _ in range(len(self.faults)):  # a small stream may need several reads to meet them all
                faulty, _, _ = read_all(connector, spec)
                assert duplicates(faulty, spec.primary_key) == []
                assert sorted(key_of(r, spec.primary_key) for r in faulty) == sorted(
                    key_of(r, spec.primary_key) for r in clean)
                if all(f.times == 0 for f in app.faults):
                    break
            assert all(f.times == 0 for f in app.faults), "some faults were never met: check the fault paths"

    def test_incremental_read_after_changes(self, connector: Connector, server_app: Any) -> None:
        if not self.incremental_stream:
            pytest.skip("incremental_stream not configured")
        spec = self._spec(connector, self.incremental_stream)
        assert spec.cursor_field, f"{spec.name} has no cursor field"
        full, checkpoint, _ = read_all(connector, spec)
        changed = {str(k) if not isinstance(k, tuple) else tuple(map(str, k))
                   for k in self.change_records(server_app, spec.name)}
        again, _, _ = read_all(connector, spec, checkpoint)
        keys = {k[0] if len(k) == 1 else k for k in (key_of(r, spec.primary_key) for r in again)}
        assert changed <= keys, f"changed records missing from the incremental read: {changed - keys}"
        assert len(again) < len(full), "the incremental read re-read everything"

    def test_write_outcomes_one_per_item(self, connector: Connector, server_app: Any) -> None:
        batch = self.write_batch(server_app)
        if batch is None:
            pytest.skip("hook write_batch(app) not configured")
        outcomes = connector.write(batch)
        assert [o.ref for o in outcomes] == [i.ref for i in batch.items]
        assert all(isinstance(o.status, OutcomeStatus) for o in outcomes)
        assert all(o.message for o in outcomes if o.status in ("rejected", "conflict")), "a refusal must say why"

    def test_read_back_returns_what_write_wrote(self, connector: Connector, server_app: Any) -> None:
        case = self.roundtrip(server_app)
        if case is None:
            pytest.skip("hook roundtrip(app) not configured")
        item, _ = case
        [outcome] = connector.write(WriteBatch([item]))
        assert outcome.status == OutcomeStatus.APPLIED, outcome.message
        held = connector.read_back(item.target, [item.key])
        assert len(held) == 1, f"read_back of {item.key} gave {len(held)} records"
        for name, value in item.values.items():
            assert same_value(value, held[0].get(name)), f"{name}: wrote {value!r}, read back {held[0].get(name)!r}"

    def test_stale_etag_is_a_conflict_and_a_fresh_one_is_applied(self, connector: Connector, server_app: Any) -> None:
        if not self.supports_etags:
            pytest.skip("supports_etags not set")
        case = self.roundtrip(server_app)
        if case is None:
            pytest.skip("hook roundtrip(app) not configured")
        item, person_value = case
        [field] = item.values
        [before] = connector.read_back(item.target, [item.key])
        assert before.get("__etag"), "read_back gave no __etag"
        self.edit_record(server_app, item.target, item.key, field, person_value)
        [stale] = connector.write(WriteBatch([replace(item, etag=before["__etag"])]))
        assert (stale.status, stale.http_status) == (OutcomeStatus.CONFLICT, 412), stale.message
        assert stale.message, "a conflict must name the record"
        [after] = connector.read_back(item.target, [item.key])
        assert same_value(person_value, after.get(field)), "the person's edit was overwritten"
        assert after.get("__etag") and after["__etag"] != before["__etag"], "the edit did not change the ETag"
        [fresh] = connector.write(WriteBatch([replace(item, etag=after["__etag"])]))
        assert fresh.status == OutcomeStatus.APPLIED, fresh.message
        [final] = connector.read_back(item.target, [item.key])
        assert same_value(item.values[field], final.get(field))
