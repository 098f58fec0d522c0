"""connectors.sap.sap_keys: numeric keys padded to the length SAP holds them (ALPHA)."""

from __future__ import annotations

import pytest

from connectors.sap.metadata import EntitySet, Property
from connectors.sap.sap_keys import alpha_pad, held_key

pytestmark = pytest.mark.unit


def _es() -> EntitySet:
    props = {"Customer": Property("Customer", "Edm.String", max_length=10),
             "Product": Property("Product", "Edm.String", max_length=40),
             "Plant": Property("Plant", "Edm.String", max_length=4),
             "Count": Property("Count", "Edm.Int32")}
    return EntitySet("A_X", "T", ["Customer", "Product", "Plant", "Count"], props)


def test_numeric_values_pad_to_max_length_others_stay():
    key = {"Customer": "10100001", "Product": "100234", "Plant": "1010", "Count": 5}
    assert held_key(_es(), key, {}) == {"Customer": "0010100001", "Product": "000000000000100234",
                                        "Plant": "1010", "Count": 5}
    assert held_key(_es(), {"Customer": "C00001", "Product": "TG11"}, {}) == {"Customer": "C00001",
                                                                              "Product": "TG11"}


def test_lengths_override_and_zero_turns_padding_off():
    assert held_key(_es(), {"Product": "100234", "Customer": "1"}, {"Product": 40, "Customer": 0}) == {
        "Product": "100234".zfill(40), "Customer": "1"}
    assert alpha_pad("0010100001", 10) == "0010100001" and alpha_pad(7, 3) == "007" and alpha_pad("", 4) == ""
