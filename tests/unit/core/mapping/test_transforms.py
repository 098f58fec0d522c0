"""Each transform on realistic SAP / OData / CRM values, including the failures it quarantines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from basics.errors import ConfigError
from core.mapping.transforms import Conversions, StepContext, apply_step, check_params, get_transform

pytestmark = pytest.mark.unit


def run(values, step, frame=None, conversions=None):
    """Apply one step; return (values, reason code per row)."""
    s = pd.Series(values, dtype=object)
    ctx = StepContext(frame if frame is not None else pd.DataFrame(index=s.index), "f",
                      conversions or Conversions())
    out = apply_step(s, step, ctx)
    errors = [None if pd.isna(e) else e for e in ctx.errors] if ctx.errors is not None else [None] * len(s)
    return [None if (v is None or (isinstance(v, float) and pd.isna(v))) else v for v in out.tolist()], errors


def test_alpha_pads_numeric_and_leaves_text():
    assert run(["100234", "ABC-1", " 42 "], {"alpha": 10})[0] == ["0000100234", "ABC-1", "0000000042"]


def test_alpha_too_long_is_bad_value():
    assert run(["12345678901"], {"alpha": {"length": 10}})[1] == ["bad_value"]


def test_alpha_strip_external_form():
    assert run(["0000100234", "000000", "TG11", None], "alpha_strip")[0] == ["100234", "0", "TG11", None]


def test_decimal_scale_and_sap_trailing_minus():
    values, errors = run(["12.3456", "5.000-", "1,200.5", "abc", None], {"decimal": 3})
    assert values == [12.346, -5.0, 1200.5, None, None]
    assert errors == [None, None, None, "bad_type", None]


def test_int_rejects_fractions():
    values, errors = run(["0042", "4.5", 7], "int")
    assert values[0] == 42 and values[2] == 7
    assert errors == [None, "bad_type", None]


def test_date_forms():
    values, errors = run(["2024-03-01", "20240301", "/Date(1709251200000)/", "01.03.2024"], "date")
    assert values[:3] == [date(2024, 3, 1)] * 3
    assert errors == [None, None, None, "bad_type"]
    assert run(["01.03.2024"], {"date": {"format": "%d.%m.%Y"}})[0] == [date(2024, 3, 1)]


def test_a_declared_date_format_reads_exactly_it_and_iso_nothing_else():
    values, errors = run(["03/25/2024", "2024-03-05", "25/03/2024", "20240301", "03-25-2024"],
                         {"date": {"format": "%m/%d/%Y"}})
    assert values[:2] == [date(2024, 3, 25), date(2024, 3, 5)]
    assert errors == [None, None, "bad_type", "bad_type", "bad_type"]


def test_sap_date_initial_value_is_null():
    values, errors = run(["20240229", "00000000", "2024-02-29"], "sap_date")
    assert values == [date(2024, 2, 29), None, None]
    assert errors == [None, None, "bad_type"]


def test_odata_date_with_and_without_offset():
    values, _ = run(["/Date(1709251200000)/", "/Date(1709251200000+0000)/"], "odata_date")
    assert values == [date(2024, 3, 1), date(2024, 3, 1)]


def test_datetime_offset_forms_are_timezone_aware():
    values, errors = run(["2024-03-01T10:00:00Z", "/Date(1709287200000+0060)/", "2024-03-01T10:00:00",
                          "yesterday"], "datetime")
    assert values[0] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert values[1] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert values[1].utcoffset() == timedelta(hours=1)
    assert values[2].tzinfo is not None
    assert errors[3] == "bad_type"
    berlin = run(["2024-03-01T10:00:00"], {"datetime": {"tz": "Europe/Berlin"}})[0][0]
    assert berlin.astimezone(UTC) == datetime(2024, 3, 1, 9, tzinfo=UTC)


def test_sap_bool_and_bool():
    assert run(["X", "", " ", None], "sap_bool")[0] == [True, False, False, False]
    assert run(["Y"], "sap_bool")[1] == ["bad_type"]
    values, errors = run(["true", "0", "X", "maybe"], "bool")
    assert values[:3] == [True, False, True] and errors[3] == "bad_type"


def test_is_set_marks_rejection_reasons():
    assert run(["02", "", None, "  "], "is_set")[0] == [True, False, False, False]


def test_uom_through_product_table_and_generic_table():
    frame = pd.DataFrame({"unit": ["CS", "EA", "PAL", "G"], "mat": ["TG11", "TG11", "TG11", "X"]})
    conv = Conversions.from_product_units([
        {"Product": "TG11", "AlternativeUnit": "CS", "QuantityNumerator": "12", "QuantityDenominator": "1"},
        {"Product": "TG11", "AlternativeUnit": "EA", "QuantityNumerator": "1", "QuantityDenominator": "1"}])
    conv.generic[("G", "KG")] = 0.001
    values, errors = run(["2", "5", "1", "500"], {"uom": {"unit_field": "unit", "product_field": "mat"}}, frame, conv)
    assert values[:2] == [24.0, 5.0]
    assert errors == [None, None, "no_conversion", "no_conversion"]
    values, errors = run(["500"], {"uom": {"unit_field": "unit", "to": "KG"}}, frame.iloc[[3]].reset_index(), conv)
    assert values == [0.5] and errors == [None]


def test_map_with_error_default_keep_and_reverse():
    table = {"01": "STANDARD", "03": "EXPRESS"}
    assert run(["01", "03", "99"], {"map": {"values": table}}) == (["STANDARD", "EXPRESS", None],
                                                                    [None, None, "unmapped_code"])
    assert run(["99"], {"map": {"values": table, "on_unmapped": "default", "default": "OTHER"}})[0] == ["OTHER"]
    assert run(["99"], {"map": {"values": table, "on_unmapped": "keep"}})[0] == ["99"]
    assert run(["EXPRESS"], {"map": {"values": table, "reverse": True}})[0] == ["03"]


@pytest.mark.filterwarnings("error::FutureWarning")
def test_map_to_numbers_with_nulls_keeps_nulls_and_quarantines_the_unmapped():
    """The non-text path (pandas' own map): a null stays null and is no defect; an unknown code is.
    Also pins that this path no longer trips pandas' fillna-downcast FutureWarning."""
    values = {"1": 10, "2": 2.5, "3": True}
    assert run(["1", None, " 3 ", "9"], {"map": {"values": values}}) == ([10, None, True, None],
                                                                         [None, None, None, "unmapped_code"])
    assert run([None, None], {"map": {"values": values}}) == ([None, None], [None, None])


@pytest.mark.filterwarnings("error::FutureWarning")  # regex's ok-mask once tripped the fillna downcast warning
def test_const_default_required_regex():
    assert run([None, "x"], {"const": "sap"})[0] == ["sap", "sap"]
    assert run([None, "", "EA"], {"default": "PC"})[0] == ["PC", "PC", "EA"]
    assert run(["a", None, " "], "required")[1] == [None, "missing_required", "missing_required"]
    assert run(["1010", "10"], {"regex": "^[0-9]{4}$"})[1] == [None, "bad_format"]


def test_split_segment_to_abc_letter():
    assert run(["A-X", "C-Z"], {"split": {"sep": "-", "index": 0}})[0] == ["A", "C"]


def test_write_formats():
    assert run([120.5, 0, 3], {"format_decimal": 3})[0] == ["120.500", "0.000", "3.000"]
    assert run([date(2024, 3, 1)], "to_sap_date")[0] == ["20240301"]
    assert run([date(2024, 3, 1)], "to_odata_date")[0] == ["/Date(1709251200000)/"]
    assert run([True, False], "to_sap_bool")[0] == ["X", ""]


def test_non_negative():
    assert run(["3", "-1"], "non_negative")[1] == [None, "negative"]


def test_unknown_transform_lists_valid_names_and_suggests():
    with pytest.raises(ConfigError) as err:
        get_transform("odata_dat")
    assert "did you mean 'odata_date'?" in err.value.hint
    assert "alpha_strip" in err.value.hint and "uom" in err.value.hint


def test_unknown_option_is_reported_with_suggestion():
    assert check_params("decimal", {"scal": 3}) == ["transform 'decimal' has no option 'scal'; did you mean 'scale'?"]
    assert check_params("alpha", {}) == ["transform 'alpha' needs option 'length'"]
