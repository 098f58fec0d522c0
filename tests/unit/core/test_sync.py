"""Core reports progress through `basics.progress` callbacks: a pull emits one label per stream,
and passing nothing is silent. (Apply and reconcile events: tests/unit/core/writeback/test_apply.py, tests/unit/core/reconcile/test_compare.py.)"""

from __future__ import annotations

import threading

import pytest

from basics.progress import ProgressEvent
from core import runs
from core.settings import SegbridgeConfig
from core.statuses import RunStatus
from core.store import create_all, open_store
from core.sync import pull
from sandbox.csv_drop import write_canonical_csv
from sandbox.generator import generate

pytestmark = pytest.mark.unit


@pytest.fixture
def csv_world(tmp_path):
    """A canonical CSV drop folder, a config pulling it as system `erp`, and an empty store."""
    dataset = generate(seed=5, products=6, locations=2, customers=4, weeks=6)
    drop = tmp_path / "drop"
    write_canonical_csv(dataset, drop)
    db = open_store(f"sqlite:///{tmp_path}/s.db")
    create_all(db)
    config = SegbridgeConfig.model_validate({"systems": {"erp": {
        "kind": "csv_folder", "mapping": "canonical_csv.yaml", "options": {"path": str(drop), "chunk_rows": 50}}}})
    yield config, db
    db.dispose()


def test_pull_emits_events_per_stream_labelled_system_dot_entity(csv_world):
    config, db = csv_world
    events: list[ProgressEvent] = []
    [result] = pull(config, db, progress=events.append)
    assert result.status == RunStatus.OK, result.message
    labels = {e.label for e in events}
    assert labels == {f"erp.{s.entity}" for s in result.streams}
    for stream in result.streams:
        mine = [e for e in events if e.label == f"erp.{stream.entity}"]
        assert mine[-1].finished and mine[-1].done == mine[-1].total == stream.read
        assert not any(e.finished for e in mine[:-1])
        assert [e.done for e in mine] == sorted(e.done for e in mine)  # counts only go up
    orders = [e for e in events if e.label == "erp.order_lines"]
    assert len(orders) > 2  # one event per batch of 50, then the finish


def test_pull_without_a_callback_is_silent_and_without_a_stop_event_runs_to_the_end(csv_world):
    config, db = csv_world
    [result] = pull(config, db)
    assert result.status == RunStatus.OK and result.read > 0
    assert runs.get_run(db, result.run_id).status == RunStatus.OK


def test_a_set_stop_event_stops_the_pull_before_it_reads(csv_world):
    config, db = csv_world
    stop = threading.Event()
    stop.set()
    assert pull(config, db, stop_event=stop) == []

