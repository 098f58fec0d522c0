"""Contract scenarios about reading state: what an incremental connector must survive.

Mixed into `ConnectorContract` (see suite.py for the fixtures). Each scenario skips visibly, naming
its hook, when the contract class does not configure it:

- `test_full_refresh_twice_gives_identical_records` (needs `streams`): two full reads with no state
  give the same records, so a re-pull never invents changes.
- `test_late_commit_at_the_high_water_mark_is_read_next` (`incremental_stream` + `commit_late(app,
  stream) -> key`): after a full read, a record committed late with a cursor value exactly equal to
  the high-water mark must come in the next incremental read (a strict `>` loses it for good).
- `test_replay_from_every_checkpoint` (`streams`): resuming from each checkpoint of a full read
  loses nothing; a mid-read checkpoint repeats at most one batch (the page in flight).
- `test_future_and_oversized_states_are_refused` (`streams`): a state whose high-water mark lies in
  2999, or one of more than 64 KB, makes `read` raise a `FatalError` saying to run
  `segbridge pull --full` (connectors get this from `connectors.incremental.Checkpoint.load`).
- `test_edit_during_paging_loses_nothing` (`edit_during_paging(app, stream) -> keys`): a person edits
  a record the read has already passed (so it sorts after the unread ones) while the read is on its
  first page; the read still returns every record, and the next incremental read the edited ones.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from connectors.base import Connector, FatalError, StreamSpec
from connectors.incremental import MAX_STATE_BYTES


def _canonical(records: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in records)


def _keys(records: list[dict], primary_key: list[str]) -> list[tuple]:
    from connectors.testing.suite import key_of  # noqa: PLC0415 - suite imports this module

    return [key_of(r, primary_key) for r in records]


def _as_key(value: Any) -> tuple:
    return tuple(map(str, value)) if isinstance(value, tuple | list) else (str(value),)


class StateScenarios:
    """Scenarios on checkpoints and change cursors; see the module docstring."""

    replay_max_checkpoints: ClassVar[int] = 12
    """Checkpoints tried by the replay scenario (spread over the read), to bound its cost."""

    replay_restarts: ClassVar[bool] = False
    """True where a saved page position does not outlive the read (Salesforce query locators, a
    server-side paging cursor): resuming from it restarts the read from the checkpoint's lower
    bound, so it may re-read more than one batch. It must still lose nothing."""

    def commit_late(self, app: Any, stream: str) -> Any:
        """Give one record that is not the newest a cursor value equal to the stream's current highest
        (a transaction that committed late); return its key. Override; None skips."""
        return None

    def edit_during_paging(self, app: Any, stream: str) -> list[Any] | None:
        """Edit, in the source, a record of the first page so it sorts after the unread ones; return
        the edited keys. Called after the first batch of a full read. Override; None skips."""
        return None

    def _read_batches(self, connector: Connector, spec: StreamSpec, state: dict | None = None) -> list:
        return list(connector.read(spec, state))

    def test_full_refresh_twice_gives_identical_records(self, connector: Connector) -> None:
        if not self.streams:  # type: ignore[attr-defined]
            pytest.skip("streams not configured")
        for name in self.streams:  # type: ignore[attr-defined]
            spec = self._spec(connector, name)  # type: ignore[attr-defined]
            first = [r for b in self._read_batches(connector, spec) for r in b.records]
            second = [r for b in self._read_batches(connector, spec) for r in b.records]
            assert _canonical(first) == _canonical(second), f"{name}: two full reads differ"

    def test_late_commit_at_the_high_water_mark_is_read_next(self, connector: Connector, server_app: Any) -> None:
        if not self.incremental_stream:  # type: ignore[attr-defined]
            pytest.skip("incremental_stream not configured")
        spec = self._spec(connector, self.incremental_stream)  # type: ignore[attr-defined]
        batches = self._read_batches(connector, spec)
        checkpoint = next((b.checkpoint for b in reversed(batches) if b.checkpoint is not None), None)
        key = self.commit_late(server_app, spec.name)
        if key is None:
            pytest.skip("hook commit_late(app, stream) not configured")
        again = [r for b in self._read_batches(connector, spec, checkpoint) for r in b.records]
        assert _as_key(key) in set(_keys(again, spec.primary_key)), (
            f"{spec.name}: a record committed late at the high-water mark ({key}) was not read again")

    def test_replay_from_every_checkpoint(self, connector: Connector) -> None:
        if not self.streams:  # type: ignore[attr-defined]
            pytest.skip("streams not configured")
        for name in self.streams:  # type: ignore[attr-defined]
            spec = self._spec(connector, name)  # type: ignore[attr-defined]
            batches = self._read_batches(connector, spec)
            every = set(_keys([r for b in batches for r in b.records], spec.primary_key))
            page = max((len(b.records) for b in batches), default=0)
            picks = sorted({round(i * (len(batches) - 1) / max(self.replay_max_checkpoints - 1, 1))
                            for i in range(self.replay_max_checkpoints)}) if batches else []
            for i in picks:
                if batches[i].checkpoint is None:
                    continue
                before = _keys([r for b in batches[:i + 1] for r in b.records], spec.primary_key)
                after = _keys([r for b in self._read_batches(connector, spec, batches[i].checkpoint)
                               for r in b.records], spec.primary_key)
                lost = every - set(before) - set(after)
                assert not lost, f"{name}: resuming from checkpoint {i} loses {sorted(lost)[:5]}"
                assert len(after) == len(set(after)), f"{name}: the read from checkpoint {i} repeats records"
                if i < len(batches) - 1 and not self.replay_restarts:
                    again = set(before) & set(after)
                    assert len(again) <= page, (f"{name}: resuming from checkpoint {i} re-reads {len(again)} "
                                                f"records, more than one batch ({page})")

    def test_future_and_oversized_states_are_refused(self, connector: Connector) -> None:
        if not self.streams:  # type: ignore[attr-defined]
            pytest.skip("streams not configured")
        name = self.incremental_stream or self.streams[0]  # type: ignore[attr-defined]
        spec = self._spec(connector, name)  # type: ignore[attr-defined]
        states = {"future": {"version": 1, "since": "2999-01-01T00:00:00Z"},
                  "oversized": {"version": 1, "extra": {"pad": "x" * (MAX_STATE_BYTES + 1)}}}
        for what, state in states.items():
            with pytest.raises(FatalError) as caught:
                self._read_batches(connector, spec, state)
            assert "pull --full" in str(caught.value), f"{what} state: the error does not say what to do"

    def test_edit_during_paging_loses_nothing(self, connector: Connector, server_app: Any) -> None:
        name = self.incremental_stream or (self.streams or [None])[0]  # type: ignore[attr-defined]
        if name is None:
            pytest.skip("streams not configured")
        spec = self._spec(connector, name)  # type: ignore[attr-defined]
        every = set(_keys([r for b in self._read_batches(connector, spec) for r in b.records], spec.primary_key))
        reading = connector.read(spec, None)
        first = next(reading)
        edited = self.edit_during_paging(server_app, spec.name)
        if edited is None:
            pytest.skip("hook edit_during_paging(app, stream) not configured")
        rest = list(reading)
        assert rest, f"{name}: the read had one page; use a smaller page size so it pages"
        got = set(_keys(first.records + [r for b in rest for r in b.records], spec.primary_key))
        assert not every - got, f"{name}: an edit during paging lost {sorted(every - got)[:5]}"
        checkpoint = next((b.checkpoint for b in reversed([first, *rest]) if b.checkpoint is not None), None)
        if spec.cursor_field and checkpoint is not None:
            again = set(_keys([r for b in self._read_batches(connector, spec, checkpoint) for r in b.records],
                              spec.primary_key))
            missing = {_as_key(k) for k in edited} - again
            assert not missing, f"{name}: the next incremental read misses the edited {sorted(missing)}"
