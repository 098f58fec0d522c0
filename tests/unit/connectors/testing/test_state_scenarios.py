"""connectors.testing.state_scenarios: each scenario passes the honest memory source (see test_suite.py,
where its contract class runs them all) and catches the defect it is about."""

from __future__ import annotations

import pytest

from connectors.base import RecordBatch
from tests.unit.connectors.testing import test_suite as honest
from tests.unit.connectors.testing.test_suite import MemorySource, OffsetPaging, Source, StrictAfterMark

pytestmark = pytest.mark.unit
BROKEN = (AssertionError, pytest.fail.Exception)


def test_a_strict_read_after_the_mark_loses_the_late_commit():
    source = Source()
    with pytest.raises(BROKEN, match="committed late"):
        honest.TestContractOnAMemorySource().test_late_commit_at_the_high_water_mark_is_read_next(
            StrictAfterMark(source), source)


def test_a_connector_trusting_a_future_state_fails():
    with pytest.raises(BROKEN, match="DID NOT RAISE"):
        honest.TestContractOnAMemorySource().test_future_and_oversized_states_are_refused(StrictAfterMark(Source()))


def test_offset_paging_loses_a_record_when_an_earlier_one_is_edited_mid_read():
    source = Source(7)
    with pytest.raises(BROKEN, match="lost"):
        honest.TestContractOnAMemorySource().test_edit_during_paging_loses_nothing(OffsetPaging(source), source)


def test_replay_catches_a_checkpoint_that_repeats_the_whole_read():
    class Restarts(MemorySource):
        def read(self, stream, state):
            for batch in super().read(stream, None):
                yield RecordBatch(batch.records, {"version": 1})

    with pytest.raises(BROKEN, match="re-reads"):
        honest.TestContractOnAMemorySource().test_replay_from_every_checkpoint(Restarts(Source(9)))


def test_replay_catches_a_checkpoint_that_skips_records():
    class Skips(MemorySource):
        def read(self, stream, state):
            batches = list(super().read(stream, state))
            for n, batch in enumerate(batches):
                ahead = batches[min(n + 1, len(batches) - 1)].checkpoint
                yield RecordBatch(batch.records, ahead)

    with pytest.raises(BROKEN, match="loses"):
        honest.TestContractOnAMemorySource().test_replay_from_every_checkpoint(Skips(Source(9)))


def test_a_refresh_that_changes_records_is_caught():
    class Drifting(MemorySource):
        calls = 0

        def read(self, stream, state):
            self.calls += 1
            for batch in super().read(stream, state):
                yield RecordBatch([{**r, "qty": self.calls} for r in batch.records], batch.checkpoint)

    with pytest.raises(BROKEN, match="two full reads differ"):
        honest.TestContractOnAMemorySource().test_full_refresh_twice_gives_identical_records(Drifting(Source()))
