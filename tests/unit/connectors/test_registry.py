"""Connector registry: built-ins, entry points, and an unknown kind's error listing the known ones."""

from __future__ import annotations

import pytest

from basics.errors import ConfigError
from connectors import registry
from connectors.base import CheckResult, Connector

pytestmark = pytest.mark.unit


class FakeConnector(Connector):
    kind = "acme"

    def check(self):
        return CheckResult(True, "fine")

    def discover(self):
        return []

    def read(self, stream, state):
        return iter(())


class FakeEntryPoint:
    name = "acme"
    group = registry.ENTRY_POINT_GROUP

    def load(self):
        return FakeConnector


@pytest.fixture
def fake_entry_points(monkeypatch):
    calls = []

    def entry_points(group=None):
        calls.append(group)
        return [FakeEntryPoint()] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", entry_points)
    monkeypatch.delitem(registry._LOADED, "acme", raising=False)
    yield calls
    registry._LOADED.pop("acme", None)


def test_unknown_kind_lists_known_kinds_and_suggests():
    with pytest.raises(ConfigError) as exc:
        registry.get("wmss")
    assert "unknown connector kind 'wmss'; known kinds:" in exc.value.message
    for kind in ("csv_folder", "rest", "tms", "wms"):
        assert kind in exc.value.message
    assert exc.value.hint == "did you mean 'wms'?"


def test_builtin_kinds_resolve_lazily():
    from connectors.declarative.manifest_connector import RestConnector, WmsConnector
    from connectors.files.csv_folder import CsvFolderConnector

    assert registry.get("rest") is RestConnector
    assert registry.get("wms") is WmsConnector
    assert registry.get("csv_folder") is CsvFolderConnector


def test_entry_point_discovery(fake_entry_points):
    assert "acme" in registry.known_kinds()
    assert registry.get("acme") is FakeConnector
    conn = registry.create("acme", {}, name="plant_db")
    assert conn.name == "plant_db" and conn.check().ok
    assert registry.ENTRY_POINT_GROUP in fake_entry_points


def test_register_decorator_needs_a_kind():
    class NoKind(FakeConnector):
        kind = ""

    with pytest.raises(ValueError, match="has no `kind`"):
        registry.register(NoKind)
