"""connectors.base: the connector interface's defaults (options, read-only writes, read-back,
context manager) and its data classes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from basics.yaml_loader import StrictModel
from connectors import base
from connectors.base import (
    CheckResult,
    Connector,
    ItemOutcome,
    RecordBatch,
    StreamSpec,
    WriteBatch,
    WriteItem,
)

pytestmark = pytest.mark.unit


class Opts(StrictModel):
    path: str
    limit: int = 10


class ReadOnly(Connector):
    kind = "read_only_test"
    Options = Opts

    def __init__(self, options, name=None):
        super().__init__(options, name)
        self.closed = 0

    def check(self):
        return CheckResult(True, "ok")

    def discover(self):
        return [StreamSpec("rows", ["id"])]

    def read(self, stream, state):
        yield RecordBatch([{"id": 1}], checkpoint={"offset": 1})

    def close(self):
        self.closed += 1


def test_options_are_validated_from_a_dict_or_taken_as_given():
    conn = ReadOnly({"path": "data/"})
    assert conn.options == Opts(path="data/", limit=10) and conn.name == "read_only_test"
    given = Opts(path="x", limit=3)
    assert ReadOnly(given, name="files").options is given
    assert ReadOnly(given, name="files").name == "files"
    with pytest.raises(ValidationError):
        ReadOnly({"path": "x", "limt": 3})


def test_a_read_only_connector_rejects_every_item_and_cannot_read_back():
    conn = ReadOnly({"path": "x"})
    items = [WriteItem("1", "rows", {"id": 1}, {"v": "a"}), WriteItem("2", "rows", {"id": 2}, {"v": "b"})]
    outcomes = conn.write(WriteBatch(items))
    assert outcomes == [ItemOutcome("1", "rejected", "read_only_test connector is read-only"),
                        ItemOutcome("2", "rejected", "read_only_test connector is read-only")]
    with pytest.raises(NotImplementedError, match="cannot read back rows"):
        conn.read_back("rows", [{"id": 1}])


def test_context_manager_closes():
    with ReadOnly({"path": "x"}) as conn:
        assert [b.records for b in conn.read(conn.discover()[0], None)] == [[{"id": 1}]]
    assert conn.closed == 1


def test_an_incomplete_connector_cannot_be_instantiated():
    class NoRead(Connector):
        kind = "no_read"

        def check(self):
            return CheckResult(True, "")

        def discover(self):
            return []

    with pytest.raises(TypeError):
        NoRead({})


def test_data_class_defaults():
    spec = StreamSpec("A_Product")
    assert (spec.primary_key, spec.cursor_field, spec.writable, spec.writable_fields, spec.options) == (
        [], None, False, [], {})
    assert StreamSpec("a").primary_key is not StreamSpec("b").primary_key
    assert (RecordBatch([]).checkpoint, RecordBatch([]).source_count) == (None, None)
    assert CheckResult(False, "401").details == {}
    assert WriteItem("1", "t", {}, {}).etag is None
    outcome = ItemOutcome("1", "applied")
    assert (outcome.message, outcome.etag, outcome.http_status) == (None, None, None)


def test_the_errors_are_re_exported_for_core():
    from connectors import connector_errors

    for name in ("AuthError", "ConnectorError", "FatalError", "LimitExhausted", "RateLimited", "RetriableError"):
        assert getattr(base, name) is getattr(connector_errors, name)


@pytest.mark.parametrize("kind", ["salesforce", "dynamics365"])
def test_a_connector_level_batch_size_is_refused_saying_where_it_went(kind):
    from pydantic import ValidationError

    from connectors import registry

    with pytest.raises(ValidationError, match=r"batch_size is not a .* option: the write batch is "
                                              r"systems.<name>.write.batch_size \(default and maximum"):
        registry.get(kind).Options.model_validate({"batch_size": 50})
