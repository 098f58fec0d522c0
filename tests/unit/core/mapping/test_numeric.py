"""The one number parser: numbers read as declared (or by the default rules), never reinterpreted."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from core.mapping.numeric import NumberProblem, Separators, parse_number, parse_numbers

pytestmark = pytest.mark.unit

GERMAN = Separators(decimal=",", thousands=".")


@pytest.mark.parametrize(("text", "expected"), [
    ("1234.5", 1234.5), ("1,234.5", 1234.5), ("1,234,567", 1234567.0), ("1,234,567.25", 1234567.25),
    ("12.500-", -12.5), ("1,234.5-", -1234.5), ("  42 ", 42.0), ("+5", 5.0), (".5", 0.5), ("1e3", 1000.0),
    ("1.234", 1.234),  # a lone dot is the decimal point (JSON, OData Edm.Decimal '12.000')
    (7, 7.0), (2.5, 2.5), (Decimal("3.25"), 3.25),
])
def test_default_reads_dot_decimals_and_unmistakable_comma_grouping(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("blank", [None, "", "   ", float("nan"), pd.NA])
def test_blank_is_null_not_a_problem(blank):
    assert parse_number(blank) is None


@pytest.mark.parametrize(("text", "declare"), [
    ("1,5", "`number_format: {decimal: ','}`"),
    ("12,34", "`number_format: {decimal: ','}`"),
    ("0,250", None),  # one group of three: ambiguous both ways (see below)
    ("1.234,5", "`number_format: {decimal: ',', thousands: '.'}`"),
    ("1.234.567", "`number_format: {decimal: ',', thousands: '.'}`"),
    ("1 234.5", "`number_format: {thousands: ' '}`"),
])
def test_default_refuses_a_comma_that_need_not_be_a_thousands_separator(text, declare):
    with pytest.raises(NumberProblem) as exc:
        parse_number(text, where=" in mappings/erp.yaml")
    assert exc.value.code == "bad_format"
    assert exc.value.message.startswith(repr(text))
    assert exc.value.message.endswith("for this field in mappings/erp.yaml")
    if declare:
        assert f"declare {declare}" in exc.value.message


def test_one_comma_group_of_three_is_ambiguous_by_default_and_names_both_readings():
    with pytest.raises(NumberProblem) as exc:
        parse_number("1,234")
    assert exc.value.code == "bad_format"
    assert exc.value.message == ("'1,234' is ambiguous (1234 with a thousands comma, or 1.234 with a decimal comma?); "
                                 "declare `number_format: {thousands: ','}` or `number_format: {decimal: ','}` "
                                 "for this field")
    assert exc.value.message == str(exc.value)


def test_the_ambiguous_comma_message_is_the_one_users_see():
    with pytest.raises(NumberProblem, match=r"^'1,5' is ambiguous \(decimal comma or thousands separator\?\); "
                                            r"declare `number_format: \{decimal: ','\}` for this field$"):
        parse_number("1,5")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN", "Infinity", "-Infinity", "INF", "inf-", "1e309",
                                   "-1e309", float("inf"), float("-inf"), Decimal("Infinity"), Decimal("NaN"),
                                   10 ** 400])
def test_non_finite_values_are_refused_in_every_format(value):
    for fmt in (None, GERMAN, Separators(".", ",")):
        with pytest.raises(NumberProblem) as exc:
            parse_number(value, fmt)
        assert exc.value.code == "bad_value" and "is not a finite number" in exc.value.message


def test_overflow_says_why():
    with pytest.raises(NumberProblem, match=r"'1e309' is not a finite number \(beyond the range of a float\)"):
        parse_number("1e309")


@pytest.mark.parametrize(("text", "expected"), [
    ("1,5", 1.5), ("1.234,5", 1234.5), ("1.234.567,89", 1234567.89), ("1234", 1234.0), ("12.500,000-", -12500.0),
    ("-0,5", -0.5), (",5", 0.5),
])
def test_declared_german_numbers_read_exactly(text, expected):
    assert parse_number(text, GERMAN) == expected


@pytest.mark.parametrize("text", ["1.5", "1,234.5", "1.2345"])
def test_a_number_that_does_not_fit_the_declared_format_is_refused(text):
    with pytest.raises(NumberProblem) as exc:
        parse_number(text, GERMAN, " in mappings/erp.yaml")
    assert exc.value.code == "bad_format"
    assert exc.value.message == (f"{text!r} does not fit the declared number format (decimal ',', thousands '.'); "
                                 f"check `number_format` in mappings/erp.yaml")


@pytest.mark.parametrize("text", ["1.23,4", "12.34.567,1", "abc"])
def test_text_that_is_no_number_in_any_format_is_a_bad_type_under_a_declaration(text):
    with pytest.raises(NumberProblem) as exc:
        parse_number(text, GERMAN)
    assert exc.value.code == "bad_type" and exc.value.message == f"cannot read {text!r} as a number"


def test_a_declared_decimal_comma_without_thousands_refuses_grouping():
    assert parse_number("1234,5", Separators(",")) == 1234.5
    with pytest.raises(NumberProblem, match="no thousands separator"):
        parse_number("1.234,5", Separators(","))


def test_declared_thousands_resolve_the_ambiguous_group_and_spaces_include_no_break_spaces():
    assert parse_number("1,234", Separators(".", ",")) == 1234.0
    assert parse_number("1\u00a0234,5", Separators(",", " ")) == 1234.5
    assert parse_number("1\u202f234 567", Separators(",", " ")) == 1234567.0
    assert parse_number("1'234.5", Separators(".", "'")) == 1234.5
    with pytest.raises(NumberProblem, match="does not fit"):
        parse_number("12,34", Separators(".", ","))  # a group of two is no thousands grouping


def test_text_that_is_no_number_is_a_bad_type_naming_what_was_expected():
    for text in ("abc", "1_000", "-", "0x10"):
        with pytest.raises(NumberProblem) as exc:
            parse_number(text, what="a quantity")
        assert exc.value.code == "bad_type" and exc.value.message == f"cannot read {text!r} as a quantity"


def test_column_fast_path_and_refusals_with_each_rows_own_reason():
    s = pd.Series(["1", "2.5", None, "1,5", "inf", "1,234.5", "1_000", "1,5"], dtype=object)
    parsed = parse_numbers(s)
    np.testing.assert_array_equal(parsed.values, [1.0, 2.5, np.nan, np.nan, np.nan, 1234.5, np.nan, np.nan])
    assert parsed.codes.tolist() == [None, None, None, "bad_format", "bad_value", None, "bad_type", "bad_format"]
    assert parsed.refused().tolist() == [False, False, False, True, True, False, True, True]
    assert parsed.refused("bad_value").tolist() == [False, False, False, False, True, False, False, False]
    assert parsed.messages[4] == "'inf' is not a finite number"
    assert parsed.messages[7].startswith("'1,5' is ambiguous")


def test_clean_column_is_read_in_one_go_with_nothing_refused():
    s = pd.Series([f"{i}.000" for i in range(1000)] + [None], dtype=object)
    parsed = parse_numbers(s)
    assert not parsed.refused().any()
    assert parsed.values[:3].tolist() == [0.0, 1.0, 2.0] and np.isnan(parsed.values[-1])


def test_numeric_columns_refuse_infinity_and_keep_nan_as_null():
    parsed = parse_numbers(pd.Series([1.0, np.inf, np.nan, -np.inf]))
    assert parsed.codes.tolist() == [None, "bad_value", None, "bad_value"]
    assert parsed.messages[1] == "inf is not a finite number"
    assert not parse_numbers(pd.Series([1, 2, 3])).refused().any()


def test_declared_comma_column_reads_each_value_by_the_declaration():
    parsed = parse_numbers(pd.Series(["1.234,5", "2", "1.5", "2"], dtype=object), GERMAN)
    np.testing.assert_array_equal(parsed.values, [1234.5, 2.0, np.nan, 2.0])
    assert parsed.codes.tolist() == [None, None, "bad_format", None]
