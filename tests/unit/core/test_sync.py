"""Core reports progress through `basics.progress` callbacks: a pull emits one label per stream,
and passing nothing is silent. (Apply and reconcile events: tests/unit/core/writeback/test_apply.py, tests/unit/core/reconcile/test_compare.py.)"""

from __future__ import annotations

import threading

import pytest

from basics.progress import ProgressEvent
from basics.yaml_loader import StrictModel
from connectors import registry
from connectors.base import CheckResult, Connector, RecordBatch, StreamSpec
from connectors.connector_errors import AuthError, FatalError
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
    [lines] = [s for s in result.streams if s.entity == "order_lines"]
    # an event per load, then the finish: pages of 50 that were read while the loader worked load
    # together (`joined`), so how many loads there are depends on timing, but never more than pages
    assert lines.batches > 1 and 2 <= len(orders) <= lines.batches + 1


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



# --------------------------------------------------------------------------- failure isolation


class _BrokenOptions(StrictModel):
    fail_with: str = "fatal"


class BrokenConnector(Connector):
    """A system that answers every read with one failure: a connector error as HTTP connectors raise
    it for a malformed answer, an authentication refusal, or a connector bug (a plain exception)."""

    kind = "test_broken_system"
    Options = _BrokenOptions
    reads: list[str] = []

    def check(self) -> CheckResult:
        return CheckResult(True, "ok")

    def discover(self) -> list[StreamSpec]:
        return []

    def read(self, stream, state):
        BrokenConnector.reads.append(stream.name)
        failure = self.options.fail_with
        if failure == "auth":
            raise AuthError("GET https://erp.example.com/api/Products: HTTP 401: bad credentials")
        if failure == "bug":
            raise KeyError("results")
        raise FatalError("GET https://erp.example.com/api/Products?page=1: HTTP 200 (text/html) with a body "
                         "that is not valid JSON: '<html>Login</html>'")
        yield  # pragma: no cover - a generator


registry.register(BrokenConnector)


def _two_systems(csv_world, fail_with: str) -> SegbridgeConfig:
    config, _ = csv_world
    good = config.systems["erp"].model_dump()
    return SegbridgeConfig.model_validate({"systems": {
        "broken": {"kind": "test_broken_system", "mapping": "canonical_csv.yaml", "options": {"fail_with": fail_with}},
        "erp": good}})


@pytest.mark.parametrize("fail_with, says", [
    ("fatal", "GET https://erp.example.com/api/Products?page=1: HTTP 200 (text/html) with a body that is not "
              "valid JSON: '<html>Login</html>'"),
    ("bug", "KeyError: 'results'"),
])
def test_one_systems_failure_fails_its_run_and_the_other_system_is_still_pulled(csv_world, fail_with, says):
    _, db = csv_world
    BrokenConnector.reads = []
    broken, erp = pull(_two_systems(csv_world, fail_with), db)
    assert (broken.system, broken.status) == ("broken", RunStatus.FAILED)
    assert says in broken.message and broken.message.startswith("order_lines: ")
    assert all(s.error and says in s.error for s in broken.streams)
    assert len(BrokenConnector.reads) == len(broken.streams) > 1  # each entity tried: one bad set fails alone
    assert (erp.system, erp.status) == ("erp", RunStatus.OK) and erp.read > 0
    info = runs.get_run(db, broken.run_id)
    assert info.status == RunStatus.FAILED and says in info.message
    assert [r for r in runs.list_runs(db) if r.status == RunStatus.RUNNING] == []


def test_an_authentication_refusal_stops_that_systems_pull_at_its_first_entity(csv_world):
    _, db = csv_world
    BrokenConnector.reads = []
    broken, erp = pull(_two_systems(csv_world, "auth"), db)
    assert BrokenConnector.reads == ["order_lines.csv"]  # not once per entity: no login storm
    assert broken.status == RunStatus.FAILED and len(broken.streams) == 1
    assert "HTTP 401: bad credentials" in broken.message and "other entities were not read" in broken.message
    assert erp.status == RunStatus.OK


def test_an_unexpected_exception_outside_the_streams_still_finishes_the_run(csv_world, monkeypatch):
    import core.sync as sync

    config, db = csv_world

    def quality_breaks(*args, **kwargs):
        raise RuntimeError("quality table missing")

    monkeypatch.setattr(sync, "finish_run_quality", quality_breaks)
    [result] = pull(config, db)
    assert (result.status, result.message) == (RunStatus.FAILED, "RuntimeError: quality table missing")
    assert runs.get_run(db, result.run_id).status == RunStatus.FAILED


def test_a_system_whose_mapping_is_missing_fails_alone(csv_world):
    config, db = csv_world
    systems = {"nomap": {"kind": "csv_folder", "mapping": "no_such.yaml", "options": {"path": "x"}},
               "erp": config.systems["erp"].model_dump()}
    nomap, erp = pull(SegbridgeConfig.model_validate({"systems": systems}), db)
    assert nomap.status == RunStatus.FAILED and "systems.nomap.mapping: file 'no_such.yaml' not found" in nomap.message
    assert runs.get_run(db, nomap.run_id).status == RunStatus.FAILED
    assert erp.status == RunStatus.OK


class CountingConnector(BrokenConnector):
    """Reads two empty pages per stream with three HTTP requests (a token, then a page each)."""

    kind = "test_counting_system"

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.sent = 0

    def read(self, stream, state):
        self.sent += 2  # the token and the first page
        yield RecordBatch([], {"page": 1})
        self.sent += 1
        yield RecordBatch([], None)

    def requests_sent(self) -> int:
        return self.sent


registry.register(CountingConnector)


def test_each_stream_counts_the_requests_the_connector_really_sent(csv_world):
    config, db = csv_world
    systems = {"counted": {"kind": "test_counting_system", "mapping": "canonical_csv.yaml"},
               "erp": config.systems["erp"].model_dump()}
    counted, erp = pull(SegbridgeConfig.model_validate({"systems": systems}), db)
    assert counted.status == RunStatus.OK and [s.requests for s in counted.streams] == [3] * len(counted.streams)
    assert {s.requests for s in erp.streams} == {None}  # csv_folder sends no requests: not counted


# --------------------------------------------------------------------------- deletions (tombstones)


class DeletingConnector(BrokenConnector):
    """A system whose second read reports one product deleted (its key plus `__deleted: True`)."""

    kind = "test_deleting_system"
    reads = 0

    def read(self, stream, state):
        if not stream.name.startswith("products"):
            return
        DeletingConnector.reads += 1
        if DeletingConnector.reads == 1:
            yield RecordBatch([{"id": "P1", "name": "Bolt"}, {"id": "P2", "name": "Nut"}], {"position": "1"})
        else:
            yield RecordBatch([{"id": "P1", "__deleted": True}], {"position": "2"})


registry.register(DeletingConnector)


def test_a_deleted_record_removes_its_row_and_counts_it_with_the_checkpoint(csv_world):
    from core.model import Product
    from core.store import read_frame
    from core.sync import load_state

    _, db = csv_world
    config = SegbridgeConfig.model_validate({"systems": {"d": {"kind": "test_deleting_system",
                                                               "mapping": "canonical_csv.yaml"}}})
    DeletingConnector.reads = 0
    [first] = pull(config, db, entities=["products"])
    assert first.status == RunStatus.OK and sorted(read_frame(db, Product)["id"]) == ["P1", "P2"]
    [second] = pull(config, db, entities=["products"])
    [stream] = second.streams
    assert (stream.read, stream.loaded, stream.quarantined, stream.deleted) == (0, 0, 0, 1)
    assert read_frame(db, Product)[["id", "name"]].values.tolist() == [["P2", "Nut"]]  # not a blanked P1
    assert runs.get_run(db, second.run_id).counts["products"]["deleted"] == 1
    assert "deleted" not in runs.get_run(db, first.run_id).counts["products"]  # only when there were some
    assert load_state(db, "d", "products.csv", "products") == {"position": "2"}


def test_the_base_units_of_a_stream_are_read_again_only_when_products_or_their_links_change(csv_world, monkeypatch):
    import core.sync as sync
    from core.model import Product
    from core.store import upsert

    _, db = csv_world
    reads = []
    real = sync.base_units
    monkeypatch.setattr(sync, "base_units", lambda conn, system: reads.append(system) or real(conn, system))
    upsert(db, Product, [{"id": "P1", "base_uom": "EA"}])
    units = sync.UnitsCache()
    with db.connect() as conn:
        assert units.get(conn, "sap").base_units == {"P1": "EA"}
        assert units.get(conn, "sap").base_units == {"P1": "EA"} and len(reads) == 1  # unchanged: not re-read
    upsert(db, Product, [{"id": "P1", "base_uom": "PC"}])  # a product loaded again
    with db.connect() as conn:
        assert units.get(conn, "sap").base_units == {"P1": "PC"} and len(reads) == 2


# --------------------------------------------------------------------------- pages loaded together


def test_pages_that_arrived_together_join_into_one_load_with_the_last_checkpoint():
    import pandas as pd

    from core.sync import joined

    pages = [RecordBatch([{"id": "A"}], {"p": 1}, 10), RecordBatch([{"id": "B"}], None, None),
             RecordBatch([{"id": "C"}, {"id": "D"}], {"p": 3}, 12), RecordBatch([{"id": "E"}], None)]
    [one] = joined(pages)
    assert [r["id"] for r in one.records] == ["A", "B", "C", "D", "E"]
    assert (one.checkpoint, one.source_count) == ({"p": 3}, 12)  # the last ones the pages gave
    assert [len(b.records) for b in joined(pages, limit=3)] == [2, 3]  # never more than the limit
    frame = RecordBatch(pd.DataFrame({"id": ["F"]}), {"p": 5})
    assert [type(b.records) for b in joined([pages[0], frame, pages[1]])] == [list, pd.DataFrame, list]


def test_a_page_with_a_deletion_is_never_joined_to_the_pages_before_it():
    """Joined, the later deletion of A would be applied before the earlier page's A is stored (and A
    would stay); loaded in order, A goes, and a later page's records may still join the deletion."""
    from core.sync import joined

    pages = [RecordBatch([{"id": "A"}], {"p": 1}), RecordBatch([{"id": "A", "__deleted": True}], {"p": 2}),
             RecordBatch([{"id": "B"}], {"p": 3})]
    loads = joined(pages)
    assert [[r["id"] for r in b.records] for b in loads] == [["A"], ["A", "B"]]
    assert loads[1].records[0]["__deleted"] is True and loads[1].checkpoint == {"p": 3}
