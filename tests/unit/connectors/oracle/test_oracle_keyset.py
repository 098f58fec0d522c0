"""connectors.oracle.oracle_keyset: the position after a page, the next request's condition, saved shapes."""

from __future__ import annotations

import pytest

from connectors.connector_errors import FatalError
from connectors.oracle.oracle_keyset import Keyset

pytestmark = pytest.mark.unit


def rows(*pairs):
    return [{"A": a, "B": b} for a, b in pairs]


def test_the_first_page_has_no_condition():
    assert Keyset().condition(unique=True) is None and Keyset().dump() is None


def test_a_unique_key_continues_after_the_last_value():
    pos = Keyset().advance([{"A": 1}, {"A": 2}], "A")
    assert pos == Keyset(2, 1) and pos.condition(unique=True) == (">", 2, 0)


def test_a_composite_key_skips_the_ties_already_read():
    pos = Keyset().advance(rows(("x", 1), ("y", 1), ("y", 2)), "A")
    assert pos == Keyset("y", 2) and pos.condition(unique=False) == (">=", "y", 2)
    # the next page starts with more "y" rows: the ties add up
    assert pos.advance(rows(("y", 3), ("y", 4)), "A") == Keyset("y", 4)
    assert pos.advance(rows(("y", 3), ("z", 1)), "A") == Keyset("z", 1)


def test_an_empty_page_keeps_the_position():
    assert Keyset("y", 2).advance([], "A") == Keyset("y", 2)


def test_saved_positions_load_and_older_offsets_start_again():
    assert Keyset.load({"after": "y", "ties": 2}) == Keyset("y", 2)
    assert Keyset.load(Keyset("y", 2).dump()) == Keyset("y", 2)
    assert Keyset.load(40) == Keyset() and Keyset.load(None) == Keyset()


def test_a_record_without_the_key_is_an_error_naming_the_stream():
    with pytest.raises(FatalError, match="erp.items: a record has no A"):
        Keyset().advance([{"B": 1}], "A", "erp.items")


def test_key_values_are_kept_json_safe():
    from datetime import date
    from decimal import Decimal

    assert Keyset().advance([{"A": Decimal("7")}, {"A": Decimal("7")}], "A") == Keyset(7, 2)
    assert Keyset().advance([{"A": date(2024, 5, 1)}], "A") == Keyset("2024-05-01", 1)
