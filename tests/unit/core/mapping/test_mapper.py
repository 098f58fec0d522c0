"""Forward mapping of SAP-shaped records: good rows load, each defect is quarantined with its reason."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from basics.errors import ConfigError
from core.mapping import Conversions, load_mapping, map_records, reverse_key, reverse_map, reverse_target

pytestmark = pytest.mark.unit

MAPPING = """\
system: sap_s4
codelists:
  sales_orgs: {values: {"1710": US, "1010": DE}}
entities:
  items:
    source: {kind: odata_entity_set, name: A_SalesOrderItem, expand: {to_SalesOrder: A_SalesOrder}}
    target: order_line
    key: [SalesOrder, SalesOrderItem]
    fields:
      order_id: {from: SalesOrder, transforms: [required, alpha_strip]}
      line_no: {from: SalesOrderItem, transforms: [required, alpha_strip]}
      product_id: {from: Material, transforms: [required, alpha_strip]}
      order_date: {from: to_SalesOrder/SalesOrderDate, transforms: [odata_date]}
      quantity: {from: RequestedQuantity, transforms: [{decimal: 3}, {uom: {unit_field: RequestedQuantityUnit, product_field: Material}}]}
      sales_org: {from: to_SalesOrder/SalesOrganization, transforms: [{map: {codelist: sales_orgs}}]}
      rejected: {from: SalesDocumentRjcnReason, transforms: [is_set]}
    quality: {non_negative: [quantity]}
"""

CONV = Conversions.from_product_units([
    {"Product": "TG11", "AlternativeUnit": "EA", "QuantityNumerator": "1", "QuantityDenominator": "1"},
    {"Product": "TG11", "AlternativeUnit": "CS", "QuantityNumerator": "12", "QuantityDenominator": "1"},
])


def item(order="0000001000", line="000010", qty="2.000", unit="CS", org="1710", day="/Date(1709251200000)/",
         material="TG11", reason=""):
    return {"SalesOrder": order, "SalesOrderItem": line, "Material": material, "RequestedQuantity": qty,
            "RequestedQuantityUnit": unit, "SalesDocumentRjcnReason": reason,
            "to_SalesOrder": {"SalesOrderDate": day, "SalesOrganization": org}}


@pytest.fixture
def mapping(tmp_path: Path):
    path = tmp_path / "sap.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return load_mapping(path).entities["items"]


def test_good_record_maps_to_canonical_row(mapping):
    result = map_records(mapping, [item()], CONV)
    assert result.quarantined == []
    assert result.rows == [{"order_id": "1000", "line_no": "10", "product_id": "TG11", "order_date": date(2024, 3, 1),
                            "quantity": 24.0, "sales_org": "US", "rejected": False}]
    assert result.source_keys.tolist() == ["0000001000|000010"]


def test_each_defect_is_quarantined_with_its_reason(mapping):
    records = [
        item(order="1"),                                   # ok
        item(order="2", line=None),                        # missing key
        item(order="3", qty="two"),                        # bad type
        item(order="4", qty="-5", unit="EA"),              # negative quantity
        item(order="5", qty="1"), item(order="5", qty="2"),  # duplicate key, different values
        item(order="6", org="9999"),                       # unmapped code
        item(order="7", unit="PAL"),                       # unit without conversion
        item(order="8", day=None),                         # missing required (order_date NOT NULL)
        item(order="9"), item(order="9"),                  # exact duplicate: merged, not a defect
    ]
    result = map_records(mapping, records, CONV)
    reasons = {(q.source_key, q.reason_code) for q in result.quarantined}
    assert reasons == {(None, "missing_key"), ("3|000010", "bad_type"), ("4|000010", "negative"),
                       ("5|000010", "duplicate"), ("6|000010", "unmapped_code"), ("7|000010", "no_conversion"),
                       ("8|000010", "missing_required")}
    assert len(result.quarantined) == 8  # both duplicate records
    assert sorted(result.frame["order_id"]) == ["1", "9"]
    assert result.read == 11 and result.duplicates_merged == 1
    bad = next(q for q in result.quarantined if q.reason_code == "unmapped_code")
    assert bad.reason == "sales_org: code '9999' is not in code list 'sales_orgs'"
    assert bad.record["to_SalesOrder"] == {"SalesOrderDate": "/Date(1709251200000)/", "SalesOrganization": "9999"}


def test_flattened_navigation_columns_work_too(mapping):
    flat = {k: v for k, v in item().items() if k != "to_SalesOrder"}
    flat.update({"to_SalesOrder/SalesOrderDate": "/Date(1709251200000)/", "to_SalesOrder/SalesOrganization": "1010"})
    assert map_records(mapping, [flat], CONV).rows[0]["sales_org"] == "DE"


def test_empty_batch(mapping):
    result = map_records(mapping, [], CONV)
    assert result.rows == [] and result.quarantined == [] and result.read == 0


def test_misspelt_transform_names_file_line_column_and_suggests(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(MAPPING.replace("[odata_date]", "[odata_dat]"), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert f"{path}:13:69: unknown transform 'odata_dat'" in err.value.message
    assert "did you mean 'odata_date'?" in err.value.message


def test_unknown_canonical_field_and_type_mismatch_are_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    text = MAPPING.replace("      rejected:", "      quantty: {from: X}\n      customer_id: {from: Y, transforms: [int]}\n"
                           "      rejected:")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert f"{path}:16:7: order_line has no field 'quantty'\n  hint: did you mean 'quantity'?" in err.value.message
    assert (f"{path}:17:7: type mismatch: transforms produce int, order_line.customer_id is str"
            in err.value.message)


def test_reverse_map_formats_for_sap():
    from core.paths import shipped_mapping

    em = load_mapping(shipped_mapping("sap_s4.yaml")).entities["product_supply_planning"]
    values = {"product_id": "tg11", "location_id": "1010", "abc": "a", "safety_stock": 120.5, "reorder_point": 300,
              "mrp_type": "vb", "max_qty": 900}
    assert reverse_map(em, values) == {"Product": "TG11", "Plant": "1010", "ABCIndicator": "A",
                                       "SafetyStockQuantity": "120.500", "ReorderThresholdQuantity": "300.000",
                                       "MRPType": "VB", "MaximumStockQuantity": "900.000"}
    assert reverse_key(em, values) == {"Product": "TG11", "Plant": "1010"}
    target = reverse_target(em)
    assert target.entity == "A_ProductSupplyPlanning" and target.key_fields == ["Product", "Plant"]
    assert target.read_back["SafetyStockQuantity"] == "current_safety_stock"


def test_reverse_map_rejects_values_the_target_cannot_hold():
    from basics.errors import DataError
    from core.paths import shipped_mapping

    em = load_mapping(shipped_mapping("sap_s4.yaml")).entities["customer_sales_area"]
    with pytest.raises(DataError, match="unmapped_code"):
        reverse_map(em, {"transport_class": "TELEPORT"})
    with pytest.raises(DataError, match="negative"):
        reverse_map(load_mapping(shipped_mapping("sap_s4.yaml")).entities["product_supply_planning"],
                    {"safety_stock": -1})


# --------------------------------------------------------------------------- numbers as declared

GERMAN_CSV = """\
system: erp_de
number_format: {decimal: ",", thousands: "."}   # the whole system writes German numbers
entities:
  lines:
    source: {kind: csv_file, name: lines.csv}
    target: order_line
    key: [Auftrag, Pos]
    fields:
      order_id: {from: Auftrag, transforms: [required, str]}
      line_no: {from: Pos, transforms: [required, str]}
      product_id: {from: Material, transforms: [required, str]}
      order_date: {from: Datum, transforms: [required, date]}
      quantity: {from: Menge, transforms: [required]}          # no number step: the canonical float type reads it
      net_value: {from: Wert, transforms: [{decimal: 2}]}
      cost: {from: Kosten, number_format: {decimal: "."}}      # this column comes from another export
"""


def _line(pos, menge, wert="1", kosten="1"):
    return {"Auftrag": "A1", "Pos": str(pos), "Material": "M1", "Datum": "2024-03-01", "Menge": menge,
            "Wert": wert, "Kosten": kosten}


@pytest.fixture
def german(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "erp_de.yaml").write_text(GERMAN_CSV, encoding="utf-8")
    return load_mapping(tmp_path / "mappings" / "erp_de.yaml").entities["lines"]


def test_declared_german_numbers_load_through_the_engine(german):
    result = map_records(german, [_line(1, "1,5", "1.234,56", "3.25"), _line(2, "1.000", "12", "7")])
    assert result.quarantined == []
    assert result.frame[["quantity", "net_value", "cost"]].to_dict("records") == [
        {"quantity": 1.5, "net_value": 1234.56, "cost": 3.25}, {"quantity": 1000.0, "net_value": 12.0, "cost": 7.0}]


def test_values_that_do_not_fit_the_declaration_are_quarantined_with_the_file(german):
    result = map_records(german, [_line(1, "1.5"), _line(2, "2", kosten="1,5"), _line(3, "4")])
    assert result.frame["line_no"].tolist() == ["3"]
    assert [(q.source_key, q.reason_code, q.reason) for q in result.quarantined] == [
        ("A1|1", "bad_format", "quantity: '1.5' does not fit the declared number format (decimal ',', thousands '.'); "
                               "check `number_format` in mappings/erp_de.yaml"),
        ("A1|2", "bad_format", "cost: '1,5' does not fit the declared number format (decimal '.', no thousands "
                               "separator); check `number_format` in mappings/erp_de.yaml")]


def test_undeclared_localized_numbers_are_quarantined_not_reinterpreted(german):
    undeclared = german.model_copy(update={"number_format": None})
    undeclared._file = "mappings/erp_de.yaml"
    result = map_records(undeclared, [_line(1, "1,5"), _line(2, "1,234.5"), _line(3, "1,234"), _line(4, "7", "1.234,5")])
    assert result.frame[["line_no", "quantity"]].to_dict("records") == [{"line_no": "2", "quantity": 1234.5}]
    reasons = {q.source_key: (q.reason_code, q.reason) for q in result.quarantined}
    assert reasons["A1|1"] == ("bad_format", "quantity: '1,5' is ambiguous (decimal comma or thousands separator?); "
                                             "declare `number_format: {decimal: ','}` for this field in "
                                             "mappings/erp_de.yaml")
    assert reasons["A1|3"][0] == "bad_format" and "'1,234' is ambiguous" in reasons["A1|3"][1]
    assert reasons["A1|4"][1].startswith("net_value: '1.234,5' is written with a decimal comma; "
                                         "declare `number_format: {decimal: ',', thousands: '.'}`")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "1e309", float("inf")])
def test_non_finite_numbers_are_quarantined_in_every_numeric_field(mapping, value):
    records = [item(order="1"), item(order="2", qty=value)]
    result = map_records(mapping, records, CONV)
    assert result.frame["order_id"].tolist() == ["1"]
    [q] = result.quarantined
    assert q.reason_code == "bad_value" and q.reason == f"quantity: {value!r} is not a finite number" + (
        " (beyond the range of a float)" if value == "1e309" else "")


def test_json_infinity_in_a_field_without_number_steps_is_quarantined(german):
    result = map_records(german, [_line(1, float("inf")), _line(2, 2.5), _line(3, None)])
    assert [(q.source_key, q.reason_code) for q in result.quarantined] == [("A1|1", "bad_value"), ("A1|3", "missing_required")]
    assert result.frame["quantity"].tolist() == [2.5]


def test_equal_decimal_and_thousands_separators_are_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GERMAN_CSV.replace('{decimal: ",", thousands: "."}', '{thousands: "."}'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert f"{path}:2:" in err.value.message
    assert "decimal and thousands separators are both '.'" in err.value.message
    assert "declare decimal: ','" in err.value.message


def test_an_unknown_separator_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GERMAN_CSV.replace('{decimal: ",", thousands: "."}', '{decimal: ";"}'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert "number_format.decimal" in err.value.message and "','" in err.value.message


def test_the_numbers_example_of_the_docs_loads_and_maps_as_documented(tmp_path):
    text = (Path(__file__).resolve().parents[4] / "docs" / "mapping.md").read_text(encoding="utf-8")
    block = text.split("## Numbers", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "erp_de.yaml"
    path.write_text(block, encoding="utf-8")
    em = load_mapping(path).entities["order_lines"]
    record = {"Auftrag": "A1", "Position": "10", "Material": "M1", "Datum": "01.03.2024", "Menge": "1.234,5",
              "Nettowert": "12,50", "Kosten": "12.50"}
    result = map_records(em, [record, {**record, "Position": "20", "Menge": "1,234.5"}])
    [row] = result.rows
    assert (row["quantity"], row["net_value"], row["cost"], row["order_date"]) == (1234.5, 12.5, 12.5, date(2024, 3, 1))
    [q] = result.quarantined
    assert q.source_key == "A1|20" and q.reason_code == "bad_format"


def test_number_format_on_a_field_that_reads_no_number_is_reported(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GERMAN_CSV.replace("product_id: {from: Material, transforms: [required, str]}",
                                       'product_id: {from: Material, transforms: [required, str], '
                                       'number_format: {decimal: ","}}'), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert f"{path}:11:65: number_format on 'product_id', which reads no number" in err.value.message


def test_non_negative_reads_the_declared_format(german):
    german.fields["net_value"].transforms.insert(0, "non_negative")
    result = map_records(german, [_line(1, "2", "-1,5"), _line(2, "2", "1,5")])
    assert [(q.source_key, q.reason_code) for q in result.quarantined] == [("A1|1", "negative")]
    assert result.frame["net_value"].tolist() == [1.5]
