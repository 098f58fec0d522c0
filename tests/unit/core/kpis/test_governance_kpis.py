"""Adherence from reconciliation, quarantine rate, exception counts and age, write-back success."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from core.kpis.governance_kpis import adherence_kpis, exception_kpis, quarantine_kpis, writeback_kpis
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit


def test_adherence_is_the_share_of_product_locations_with_no_open_difference():
    """sap: P1 (AX) has an open mismatch on one of its two fields, P2 (AX) only a resolved one, P3 (CZ)
    an open orphan (its whole record); wms holds P1's value."""
    intended = pd.DataFrame({"system": ["sap", "sap", "sap", "sap", "wms"],
                             "entity": ["Plan"] * 4 + ["Item"],
                             "target_key": ['{"p": "1"}', '{"p": "1"}', '{"p": "2"}', '{"p": "3"}', '{"i": "1"}'],
                             "field": ["SS", "ROP", "SS", "SS", "MIN"],
                             "pl": [0, 0, 1, 2, 0]})
    exceptions = pd.DataFrame({"system": ["sap", "sap", "sap"], "entity": ["Plan"] * 3,
                               "entity_key": ['{"p": "1"}', '{"p": "3"}', '{"p": "2"}'], "field": ["ROP", "*", "SS"],
                               "kind": ["value_mismatch", "orphan", "value_mismatch"],
                               "status": ["open", "acknowledged", "resolved"]})
    rows = adherence_kpis(intended, exceptions, ["AX", "AX", "CZ"])
    assert kpi(rows, "policy_adherence", "AX", scope="sap").value == 0.5
    assert kpi(rows, "policy_adherence", "CZ", scope="sap").value == 0.0
    assert kpi(rows, "policy_adherence", "all", scope="sap").value == pytest.approx(1 / 3)
    assert kpi(rows, "policy_adherence", "AX", scope="wms").value == 1.0
    assert rows[(rows["scope"] == "wms") & (rows["segment"] == "CZ")].empty  # wms holds nothing of P3


def test_adherence_without_open_differences_is_full():
    intended = pd.DataFrame({"system": ["sap"], "entity": ["Plan"], "target_key": ["k"], "field": ["SS"], "pl": [0]})
    none = pd.DataFrame(columns=["system", "entity", "entity_key", "field", "kind", "status"])
    assert kpi(adherence_kpis(intended, none, ["AX"]), "policy_adherence", "AX", scope="sap").value == 1.0


def test_quarantine_rate_per_system_entity_and_week():
    counts = pd.DataFrame({"system": ["sap", "sap", "wms"], "entity": ["product", "product", "order_line"],
                           "read": [100, 50, 0], "quarantined": [5, 0, 0],
                           "started_at": pd.to_datetime(["2026-01-06", "2026-01-13", "2026-01-13"], utc=True)})
    rows = quarantine_kpis(counts)
    assert kpi(rows, "quarantine_rate", period="2026-01-05", scope="sap/product").value == 0.05
    assert kpi(rows, "quarantine_rate", period="2026-01-12", scope="sap/product").value == 0.0
    assert kpi(rows, "quarantine_rate", scope="sap/product").value == pytest.approx(5 / 150)
    assert rows[rows["scope"] == "wms/order_line"].empty  # nothing read: no rate


def test_exceptions_opened_resolved_waived_and_median_age():
    """now 2026-01-20: sap open since 01-10 (10 days), acknowledged since 01-16 (4 days), resolved
    (first seen 01-05); wms waived."""
    ex = pd.DataFrame({"system": ["sap", "sap", "sap", "wms"], "status": ["open", "acknowledged", "resolved", "waived"],
                       "first_seen": pd.to_datetime(["2026-01-10", "2026-01-16", "2026-01-05", "2026-01-06"],
                                                    utc=True)})
    rows = exception_kpis(ex, datetime(2026, 1, 20, tzinfo=UTC))
    assert kpi(rows, "exceptions_opened", period="2026-01-05", scope="sap").value == 2.0
    assert kpi(rows, "exceptions_opened", period="2026-01-12", scope="sap").value == 1.0
    assert kpi(rows, "exceptions_open", scope="sap").value == 2.0
    assert kpi(rows, "exceptions_resolved", scope="sap").value == 1.0
    assert kpi(rows, "exceptions_waived", scope="all").value == 1.0
    assert kpi(rows, "exception_median_age_days", scope="sap").value == pytest.approx(7.0)
    wms_age = kpi(rows, "exception_median_age_days", scope="wms")
    assert np.isnan(wms_age.value) and wms_age.note == "no open exceptions"


def test_writeback_success_counts_final_states_only():
    changes = pd.DataFrame({"system": ["sap", "sap", "sap", "wms", "wms"],
                            "state": ["applied", "rejected", "pending", "applied", "conflict"],
                            "updated_at": pd.to_datetime(["2026-01-06", "2026-01-07", "2026-01-07", "2026-01-13",
                                                          "2026-01-13"], utc=True)})
    rows = writeback_kpis(changes)
    assert kpi(rows, "writeback_success_rate", period="2026-01-05", scope="sap").value == 0.5
    assert kpi(rows, "writeback_success_rate", period="2026-01-12", scope="wms").value == 0.5
    total = kpi(rows, "writeback_success_rate", scope="all")
    assert (total.numerator, total.denominator) == (2.0, 4.0)
    assert writeback_kpis(changes[changes["state"] == "pending"]).empty
