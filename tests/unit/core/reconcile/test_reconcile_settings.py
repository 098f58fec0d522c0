"""core.reconcile.reconcile_settings: the reconcile: section, tolerance rules, stewards and severities."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.reconcile.reconcile_settings import DEFAULT_SEVERITY, ReconcileConfig, Tolerances, reconcile_config
from core.settings import SegbridgeConfig

pytestmark = pytest.mark.unit


def test_defaults():
    rc = ReconcileConfig()
    assert (rc.tolerances.number.abs, rc.tolerances.number.rel) == (0.001, 0.0)
    assert (rc.tolerances.text.ignore_case, rc.tolerances.text.ignore_whitespace) == (False, True)
    assert rc.completeness.enabled and rc.completeness.max_quarantine_share is None
    assert rc.alerts.min_severity == "high" and rc.auto_resolve is True
    assert rc.owner("sap", "A_Customer") is None


def test_most_specific_tolerance_rule_wins():
    tol = Tolerances.model_validate({"fields": {"sap.Plan.SS": {"abs": 1}, "Plan.SS": {"abs": 2}, "SS": {"abs": 3}}})
    assert tol.rule("sap", "Plan", "SS").abs == 1
    assert tol.rule("ecc", "Plan", "SS").abs == 2
    assert tol.rule("ecc", "Other", "SS").abs == 3
    default = tol.rule("ecc", "Other", "ROP")
    assert (default.type, default.abs, default.code_map) == ("auto", None, {})


def test_owner_falls_back_from_exact_to_any():
    rc = ReconcileConfig.model_validate({"stewards": {"sap": {"A_Customer": "sales", "*": "mdm"},
                                                      "*": {"Account": "crm-team", "*": "anyone"}}})
    assert rc.owner("sap", "A_Customer") == "sales"
    assert rc.owner("sap", "Plan") == "mdm"
    assert rc.owner("crm", "Account") == "crm-team"
    assert rc.owner("crm", "Lead") == "anyone"
    assert rc.owner(None, None) == "anyone"


def test_first_matching_severity_rule_else_the_kinds_default():
    rc = ReconcileConfig.model_validate({"severity": [
        {"kind": "value_mismatch", "system": "sap", "field": "SS", "severity": "high"},
        {"kind": "value_mismatch", "severity": "low"},
        {"system": "sap", "severity": "critical"}]})
    assert rc.severity_for("value_mismatch", "sap", "Plan", "SS") == "high"
    assert rc.severity_for("value_mismatch", "sap", "Plan", "ROP") == "low"
    assert rc.severity_for("orphan", "sap", "Plan", "*") == "critical"
    assert rc.severity_for("orphan", "wms", "Plan", "*") == DEFAULT_SEVERITY["orphan"] == "medium"
    assert rc.severity_for("completeness", "wms", None, None) == "high"
    assert rc.severity_for("something_new", "wms", None, None) == "medium"


@pytest.mark.parametrize("bad", [
    {"severity": [{"kind": "typo_kind", "severity": "high"}]},
    {"severity": [{"severity": "urgent"}]},
    {"cross_system": [{"name": "seg", "entity": "customer", "systems": {"sap": {"entity": "C", "field": "G"}}}]},
    {"completeness": {"max_quarantine_share": 1.5}},
    {"tolerances": {"number": {"abs": -1}}},
])
def test_invalid_sections_are_refused(bad):
    with pytest.raises(ValidationError):
        ReconcileConfig.model_validate(bad)


def test_reconcile_config_reads_the_section():
    cfg = SegbridgeConfig.model_validate({"reconcile": {"alerts": {"max_open": 5}, "auto_resolve": False}})
    rc = reconcile_config(cfg)
    assert (rc.alerts.max_open, rc.auto_resolve) == (5, False)
