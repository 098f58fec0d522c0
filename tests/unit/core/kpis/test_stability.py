"""Migration matrix and churn per dimension between two segment runs."""

from __future__ import annotations

import pandas as pd
import pytest

from core.kpis.stability import migration_kpis
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit


def _seg(rows):
    return pd.DataFrame(rows, columns=["entity", "entity_key", "dimension", "value"])


PREVIOUS = _seg([("product_location", "P1|L", "abc", "A"), ("product_location", "P2|L", "abc", "B"),
                 ("product_location", "P3|L", "abc", "C"), ("customer", "C1", "segment", "gold")])
CURRENT = _seg([("product_location", "P1|L", "abc", "A"), ("product_location", "P2|L", "abc", "A"),
                ("product_location", "P3|L", "abc", "C"), ("product_location", "P4|L", "abc", "B"),
                ("customer", "C1", "segment", "bronze")])


def test_migration_counts_and_churn_over_entities_in_both_runs():
    rows = migration_kpis(PREVIOUS, CURRENT)
    assert kpi(rows, "migration_count", "B", scope="abc->A").value == 1.0
    assert kpi(rows, "migration_count", "A", scope="abc->A").value == 1.0
    assert kpi(rows, "migration_count", "C", scope="abc->C").value == 1.0
    churn = kpi(rows, "churn_rate", scope="abc")  # P4 is new: not in the denominator
    assert (churn.numerator, churn.denominator) == (1.0, 3.0)
    assert kpi(rows, "churn_rate", scope="customer.segment").value == 1.0
    assert kpi(rows, "migration_count", "gold", scope="customer.segment->bronze").value == 1.0


def test_first_run_has_nothing_to_compare():
    assert migration_kpis(None, CURRENT).empty
    assert migration_kpis(PREVIOUS.iloc[0:0], CURRENT).empty
