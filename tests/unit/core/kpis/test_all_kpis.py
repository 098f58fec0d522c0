"""`prepare_lines` joins order lines, shipments and the run's product-locations; `compute_all` stacks
every family; the maths modules stay free of the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.kpis.all_kpis import KpiInputs, compute_all, pl_codes, prepare_lines
from tests.architecture.floors import imported_names
from tests.unit.core.kpis.conftest import kpi

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[4]
PURE = ["kpi_rows", "service_kpis", "inventory_kpis", "customer_kpis", "stability", "governance_kpis", "all_kpis"]


@pytest.fixture
def pls():
    return pd.DataFrame({"entity_key": ["P1|L1", "P2|L1"], "segment": ["AX", "CZ"], "unit_cost": [2.0, 5.0],
                         "max_qty": [10.0, 5.0], "service_level": [0.98, 0.9], "achieved_service": [0.97, 0.85],
                         "achieved_fill_rate": [0.99, 0.9]})


@pytest.fixture
def order_lines():
    """O1: P1 10 units (value 100) + P2 4 units (80, no cost); O2: P1 6 units, not shipped; O3: rejected;
    O4: a product-location the run did not segment."""
    return pd.DataFrame({"order_id": ["O1", "O1", "O2", "O3", "O4"], "line_no": ["10", "20", "10", "10", "10"],
                         "customer_id": ["C1", "C1", "C2", "C2", "C9"], "product_id": ["P1", "P2", "P1", "P1", "P9"],
                         "location_id": ["L1"] * 5, "order_date": pd.to_datetime(["2026-01-05"] * 5),
                         "requested_date": pd.to_datetime(["2026-01-08"] * 5), "quantity": [10.0, 4.0, 6.0, 1.0, 1.0],
                         "net_value": [100.0, 80.0, 60.0, 10.0, 5.0], "cost": [20.0, None, 12.0, 2.0, 1.0],
                         "rejected": [False, False, False, True, False]})


@pytest.fixture
def shipments():
    return pd.DataFrame({"shipment_id": ["S1"], "order_id": ["O1"], "customer_id": ["C1"],
                         "ship_date": pd.to_datetime(["2026-01-06"]), "delivery_date": pd.to_datetime(["2026-01-07"]),
                         "freight_cost": [10.0], "mode": ["LTL"]})


def test_prepare_joins_segments_costs_and_shipments(pls, order_lines, shipments):
    lines = prepare_lines(order_lines, shipments, pls, pd.Series({"C1": "gold"}))
    assert list(lines["order_id"]) == ["O1", "O1", "O2", "O4"]  # the rejected line is not demand
    assert list(lines["pl"]) == [0, 1, 0, -1]
    assert list(lines["segment"]) == ["AX", "CZ", "AX", "unsegmented"]
    assert list(lines["customer_segment"]) == ["gold", "gold", "unsegmented", "unsegmented"]
    assert list(lines["shipped_quantity"]) == [10.0, 4.0, 0.0, 0.0]
    assert list(lines["unit_cost"])[:3] == [2.0, 5.0, 2.0]  # P2's line has no cost: the product-location's
    assert list(lines["cost"])[:3] == [20.0, 20.0, 12.0]
    assert list(lines["unit_price"])[:3] == [10.0, 20.0, 10.0]


def test_pl_codes_find_rows_by_product_and_location(pls):
    assert list(pl_codes(pls, pd.Series(["P2", "P1", "P1"]), pd.Series(["L1", "L1", "L2"]))) == [1, 0, -1]


def test_compute_all_stacks_every_family(pls, order_lines, shipments):
    lines = prepare_lines(order_lines, shipments, pls, pd.Series({"C1": "gold", "C2": "gold"}))
    ships = shipments.assign(customer_segment="gold")
    rows = compute_all(KpiInputs(pls, lines, ships, None, {"per_order": 1.0}))
    assert kpi(rows, "fill_rate_units", "AX").value == pytest.approx(10 / 16)
    assert kpi(rows, "service_promised", "CZ").value == 0.9
    assert kpi(rows, "inventory_turns").note.startswith("unavailable")
    # gold: revenue 100 + 80 + 60, costs 20 + 20 + 12, 2 orders x 1 + freight 10
    assert kpi(rows, "profit", "customer:gold").value == pytest.approx(240 - 52 - 12)
    assert not rows.duplicated(["segment", "kpi", "period", "scope"]).any()


def test_two_forked_workers_give_the_same_rows(pls, order_lines, shipments):
    lines = prepare_lines(order_lines, shipments, pls, pd.Series({"C1": "gold"}))
    inputs = KpiInputs(pls, lines, shipments.assign(customer_segment="gold"), None, {"per_order": 1.0})
    pd.testing.assert_frame_equal(compute_all(inputs, workers=2), compute_all(inputs))


@pytest.mark.parametrize("module", PURE)
def test_the_kpi_maths_never_reaches_the_store(module):
    source = (ROOT / "core" / "kpis" / f"{module}.py").read_text(encoding="utf-8")
    names = [n for _, n in imported_names(source, f"core.kpis.{module}")]
    forbidden = [n for n in names if n.split(".")[0] in {"sqlalchemy", "sqlmodel"}
                 or n.startswith(("core.store", "core.model", "core.kpis.kpi_store", "core.settings"))]
    assert forbidden == []
