"""connectors.sap.odata_read: stream options, key filters, parents derived from navigation paths,
legacy checkpoints (the strategies themselves run against the stand-in in the contract tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.sap.metadata import parse_metadata
from connectors.sap.odata_read import SapStreamOptions, _key_filter, derived_parent, legacy_checkpoint

pytestmark = pytest.mark.unit
META = Path(__file__).resolve().parents[4] / "sandbox" / "metadata" / "API_SALES_ORDER_SRV.xml"


def test_stream_options_refuse_unknown_keys():
    with pytest.raises(ValidationError, match="selct"):
        SapStreamOptions.model_validate({"selct": ["A"]})
    opts = SapStreamOptions.model_validate({"parent": {"entity_set": "A_Product", "keys": {"Product": "Product"}}})
    assert opts.parent.delta_field == "LastChangeDateTime" and opts.delta_links


def test_key_filter_quotes_and_groups():
    assert _key_filter([{"SalesOrder": "1"}, {"SalesOrder": "O'N"}]) == "(SalesOrder eq '1' or SalesOrder eq 'O''N')"
    assert _key_filter([{"Product": "A", "Plant": "1"}]) == "((Product eq 'A' and Plant eq '1'))"


def test_a_navigation_delta_field_gives_the_parent_and_its_keys():
    meta = parse_metadata(META.read_bytes(), "API_SALES_ORDER_SRV")
    parent = derived_parent(meta, meta.entity_set("A_SalesOrderItem"), "to_SalesOrder/LastChangeDateTime")
    assert (parent.entity_set, parent.keys, parent.delta_field) == ("A_SalesOrder", {"SalesOrder": "SalesOrder"},
                                                                    "LastChangeDateTime")
    assert derived_parent(meta, meta.entity_set("A_SalesOrderItem"), "Material") is None


def test_legacy_cursor_state_becomes_since():
    since = legacy_checkpoint({"field": "LastChangeDateTime", "cursor": "2024-03-01T10:05:00Z"})["since"]
    assert since.isoformat() == "2024-03-01T10:05:00+00:00"
    assert legacy_checkpoint({"version": 1, "since": "x"}) == {"version": 1, "since": "x"}
    assert legacy_checkpoint(None) is None


def test_a_pages_change_timestamps_are_taken_once_each():
    from connectors.sap.odata_read import distinct_values

    lines = [{"to_SalesOrder": {"LastChangeDateTime": stamp}} for stamp in ("/Date(2)/", "/Date(1)/", "/Date(2)/")]
    assert distinct_values(lines, "to_SalesOrder/LastChangeDateTime") == {"/Date(1)/", "/Date(2)/"}
    odd = [{"to_SalesOrder": {"LastChangeDateTime": {"nested": 1}}}]  # a path to an object: kept, not an error
    assert distinct_values(odd, "to_SalesOrder/LastChangeDateTime") == [{"nested": 1}]
