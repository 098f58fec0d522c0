"""core.writeback.values: outbox text, numbers in text, the one comparison, and change direction."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from core.writeback.values import as_number, direction, same, to_text
from core.writeback.writeback_settings import Tolerance

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("value", "text"), [
    (None, None), (float("nan"), None), (pd.NA, None), ("", None),
    (True, "true"), (False, "false"), (120.5, "120.5"), (0.1 + 0.2, "0.3"), (7, "7"), ("A", "A"), ("01", "01"),
])
def test_to_text(value, text):
    assert to_text(value) == text


@pytest.mark.parametrize(("value", "number"), [
    ("120.500", 120.5), (" 3 ", 3.0), (4, 4.0), ("A", None), (None, None), (True, None), ("nan", None),
    ("inf", None), ("-Infinity", None), ("1e309", None),
])
def test_as_number(value, number):
    got = as_number(value)
    assert got == number and not (isinstance(got, float) and math.isnan(got))


def test_same_is_numeric_when_both_sides_are_numbers_else_textual():
    assert same("120.5", "120.500") and same(10, "10.000")
    assert not same("120.5", "120.6")
    assert same(" A ", "A") and not same("A", "a")
    assert same("01", "1")  # both numeric: compared as numbers
    assert same(None, float("nan")) and not same(None, "0") and not same("0", "")


def test_same_honours_each_kind_of_tolerance():
    assert same("10", "10.5", Tolerance(absolute=0.5)) and not same("10", "10.51", Tolerance(absolute=0.5))
    assert same("100", "101", Tolerance(relative=0.01)) and not same("100", "101.5", Tolerance(relative=0.01))
    assert same("1.04", "1.0", Tolerance(decimals=1)) and not same("1.06", "1.0", Tolerance(decimals=1))
    assert not same("A", "B", Tolerance(absolute=100))


def test_direction():
    assert direction("10", "12.5") == 1
    assert direction("10", "9") == -1
    assert direction("10", "10.000") == 0
    assert direction("A", "B") == 0 and direction(None, "3") == 0
