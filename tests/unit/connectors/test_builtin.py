"""connectors.builtin: every built-in kind points at a class that exists and carries that kind."""

from __future__ import annotations

import importlib

import pytest

from connectors import registry
from connectors.base import Connector
from connectors.builtin import BUILTIN_KINDS

pytestmark = pytest.mark.unit


def test_the_builtin_kinds():
    assert set(BUILTIN_KINDS) == {"rest", "wms", "tms", "csv_folder", "sap_odata", "sap_rfc", "oracle_soap",
                                  "oracle_fusion_rest", "sql", "salesforce", "dynamics365"}


def test_importing_it_fills_the_registry_table():
    for kind, target in BUILTIN_KINDS.items():
        assert registry.BUILTIN[kind] == target
        assert kind in registry.known_kinds()


@pytest.mark.parametrize("kind", sorted(BUILTIN_KINDS))
def test_each_target_is_a_connector_class_of_that_kind(kind):
    module, _, attr = BUILTIN_KINDS[kind].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, Connector)
    assert cls.kind == kind
    assert registry.get(kind) is cls
