"""core.writeback.writeback_settings: the writeback: section's defaults, validation and look-ups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors import registry
from connectors.base import Connector
from core.settings import DEFAULT_WRITE_BATCH, SegbridgeConfig
from core.writeback.writeback_settings import (
    CLASS_FIELDS,
    Tolerance,
    WritebackConfig,
    check_write_batches,
    write_batch_size,
    writeback_config,
)

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


class _Capped(Connector):
    """A connector whose system documents at most 200 items per write request."""

    kind = "test_capped_writes"
    write_batch_max = 200

    def check(self):
        return None

    def discover(self):
        return []

    def read(self, stream, state):
        yield from ()


class _Uncapped(_Capped):
    kind = "test_uncapped_writes"
    write_batch_max = None


registry.register(_Capped)
registry.register(_Uncapped)


def _systems(**write: dict) -> SegbridgeConfig:
    return SegbridgeConfig.model_validate({"systems": {
        name: {"kind": "test_capped_writes" if name != "plain" else "test_uncapped_writes", "write": w}
        for name, w in write.items()}})


def test_the_write_batch_is_the_systems_setting_else_the_connectors_documented_maximum():
    config = _systems(crm={}, small={"batch_size": 40}, plain={})
    assert [write_batch_size(config, n) for n in ("crm", "small", "plain")] == [200, 40, DEFAULT_WRITE_BATCH]
    assert WritebackConfig().batch_size_of(config, "crm") == 200


def test_the_old_per_system_override_is_refused_saying_where_the_value_goes(tmp_path):
    from basics.errors import ConfigError
    from core.settings import load_config

    path = tmp_path / "segbridge.yaml"
    path.write_text("systems:\n  sap: {kind: test_capped_writes}\nwriteback:\n  batch_size: {sap: 100}\n")
    with pytest.raises(ConfigError) as err:
        writeback_config(load_config(path))
    assert f"{path}:4:3: writeback.batch_size: " in err.value.message
    assert "replaced by systems.<name>.write.batch_size" in err.value.message
    assert "move it: systems.sap.write.batch_size: 100" in err.value.message


def test_validate_refuses_a_write_batch_above_the_maximum_naming_it_and_its_source(tmp_path):
    from basics.errors import ConfigError
    from core.settings import load_config

    path = tmp_path / "segbridge.yaml"
    path.write_text("systems:\n  crm:\n    kind: test_capped_writes\n    write: {batch_size: 500}\n"
                    "  ok: {kind: test_capped_writes, write: {batch_size: 200}}\n")
    with pytest.raises(ConfigError) as err:
        check_write_batches(load_config(path))
    assert err.value.message == (
        f"{path}:4:13: systems.crm.write.batch_size: 500 is more than test_capped_writes's documented maximum "
        f"of 200 items per write request ({__name__}._Capped.write_batch_max)")


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
