"""core.writeback.writeback_settings: the writeback: section's defaults, validation and look-ups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings import SegbridgeConfig
from core.writeback.writeback_settings import CLASS_FIELDS, Tolerance, WritebackConfig, writeback_config

pytestmark = pytest.mark.unit


def _config(writeback: dict | None = None) -> SegbridgeConfig:
    raw = {"systems": {"sap": {"kind": "sap_odata", "options": {"base_url": "http://127.0.0.1:1/sap"},
                               "write": {"batch_size": 40}}}}
    if writeback is not None:
        raw["writeback"] = writeback
    return SegbridgeConfig.model_validate(raw)


def test_defaults_without_a_config():
    wb = writeback_config(None)
    assert wb.guardrails.max_class_change_share == 0.2
    assert wb.guardrails.max_safety_stock_value_increase_pct == 10.0
    assert wb.guardrails.approval_required is False
    assert wb.guardrails.class_fields == CLASS_FIELDS
    assert (wb.max_attempts, wb.value_fields, wb.out_dir) == (5, ["safety_stock"], "plans")


def test_section_is_read_from_the_config():
    wb = writeback_config(_config({"guardrails": {"approval_required": True}, "max_attempts": 2,
                                   "tolerances": {"safety_stock": {"absolute": 0.5}}}))
    assert wb.guardrails.approval_required is True and wb.max_attempts == 2
    assert wb.tolerances == {"safety_stock": Tolerance(absolute=0.5)}


def test_most_specific_tolerance_wins():
    wb = WritebackConfig.model_validate({"tolerances": {
        "sap.A_ProductSupplyPlanning.SafetyStockQuantity": {"absolute": 1},
        "A_ProductSupplyPlanning.SafetyStockQuantity": {"absolute": 2},
        "SafetyStockQuantity": {"absolute": 3},
        "safety_stock": {"absolute": 4}}})
    assert wb.tolerance("sap", "A_ProductSupplyPlanning", "SafetyStockQuantity", "safety_stock").absolute == 1
    assert wb.tolerance("ecc", "A_ProductSupplyPlanning", "SafetyStockQuantity", "safety_stock").absolute == 2
    assert wb.tolerance("ecc", "Other", "SafetyStockQuantity", "safety_stock").absolute == 3
    assert wb.tolerance("ecc", "Other", "Stock", "safety_stock").absolute == 4
    assert wb.tolerance("ecc", "Other", "Stock", None) is None


def test_batch_size_override_else_the_systems_write_setting():
    assert WritebackConfig().batch_size_of(_config(), "sap") == 40
    assert WritebackConfig(batch_size={"sap": 7}).batch_size_of(_config(), "sap") == 7
    assert WritebackConfig(batch_size={"sap": 0}).batch_size_of(_config(), "sap") == 1


@pytest.mark.parametrize("bad", [
    {"guardrails": {"max_class_change_share": 1.5}},
    {"max_attempts": 0},
    {"tolerances": {"x": {"absolute": -1}}},
    {"tolerances": {"x": {"decimals": 13}}},
    {"guardrails": {"max_class_share": 0.1}},  # misspelt key
])
def test_invalid_values_are_refused(bad):
    with pytest.raises(ValidationError):
        WritebackConfig.model_validate(bad)
