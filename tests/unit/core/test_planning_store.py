"""The store adapter across runs: a class held by hysteresis must not stop the next scheduled run."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from core.model import OrderLine, Product, ProductLocation, SegmentAssignment
from core.planning_store import segment_from_store
from core.store import create_all, read_frame, upsert

pytestmark = pytest.mark.unit

# values by product (unit price 1): P2 sits on the A/B boundary (cumulative share 0.80 inclusive)
VALUES = {"P1": 500.0, "P2": 300.0, "P3": 100.0, "P4": 60.0, "P5": 40.0}
POLICY = """version: 1
governance:
  hysteresis_margin: {abc: 0.02, xyz: 0.05}
  persist_runs: 3
"""


def _load(db, values: dict[str, float]) -> None:
    rows = []
    for p, total in values.items():
        for i in range(10):  # ten equal lines, one every five weeks
            rows.append({"order_id": f"{p}-{i}", "line_no": "10", "product_id": p, "location_id": "DC",
                         "order_date": (pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=5 * i)).date(),
                         "quantity": total / 10})
    upsert(db, OrderLine, pd.DataFrame(rows))


def _abc(db, run_id: int) -> pd.DataFrame:
    seg = read_frame(db, select(SegmentAssignment.__table__).where(SegmentAssignment.run_id == run_id))
    return seg[(seg["dimension"] == "abc") & (seg["entity"] == "product_location")].set_index("entity_key")


def test_three_runs_with_a_class_held_by_hysteresis(sqlite_db, tmp_path):
    create_all(sqlite_db)
    upsert(sqlite_db, Product, pd.DataFrame({"id": list(VALUES), "unit_price": 1.0}))
    upsert(sqlite_db, ProductLocation, pd.DataFrame({"product_id": list(VALUES), "location_id": "DC"}))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    _load(sqlite_db, VALUES)
    first = segment_from_store(sqlite_db, policy)
    assert _abc(sqlite_db, first).loc["P2|DC", "value"] == "A"
    _load(sqlite_db, {**VALUES, "P2": 310.0})  # cumulative share 0.802: raw class B, inside the margin
    runs = [segment_from_store(sqlite_db, policy) for _ in range(2)]
    for run_id in runs:
        held = _abc(sqlite_db, run_id).loc["P2|DC"]
        assert (held["value"], held["source"]) == ("A", "hysteresis")
    third = segment_from_store(sqlite_db, policy)  # raw B in three runs running: the class moves
    assert _abc(sqlite_db, third).loc["P2|DC", ["value", "source"]].tolist() == ["B", "rule"]
