"""A site for the export commands: segbridge.yaml next to a store holding two segment runs."""

from __future__ import annotations

import pytest

from core.migrate import upgrade
from core.model import ParameterValue, ProductLocation, SegmentAssignment
from core.runs import finish_run, start_run
from core.store import open_store, upsert


def _segment_run(db, safety_stock: float, segment: str) -> int:
    run_id = start_run(db, "segment")
    upsert(db, ParameterValue, [
        {"run_id": run_id, "entity": "product_location", "entity_key": "P1|DC1", "name": "safety_stock",
         "value_num": safety_stock, "value_text": None},
        {"run_id": run_id, "entity": "product_location", "entity_key": "P1|DC1", "name": "rule",
         "value_num": None, "value_text": "=fast"}])
    upsert(db, SegmentAssignment, [
        {"run_id": run_id, "entity": e, "entity_key": k, "dimension": "segment", "value": segment, "source": "rule"}
        for e, k in (("product_location", "P1|DC1"), ("product", "P1"))])
    finish_run(db, run_id, "ok")
    return run_id


@pytest.fixture
def site(tmp_path):
    """tmp_path with segbridge.yaml; runs 1 and 2 are segment runs (P1 at DC1: safety stock 12 then 15,
    segment B-Y then A-X), run 3 a pull; the source holds safety stock 10."""
    (tmp_path / "segbridge.yaml").write_text("database:\n  url: sqlite:///store.db\n", encoding="utf-8")
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    upsert(db, ProductLocation, [{"product_id": "P1", "location_id": "DC1", "current_safety_stock": 10.0}])
    assert _segment_run(db, 12.0, "B-Y") == 1 and _segment_run(db, 15.0, "A-X") == 2
    pull = start_run(db, "pull")
    finish_run(db, pull, "ok")
    db.dispose()
    return tmp_path


KINDS = ("value_mismatch", "value_mismatch", "writeback_conflict")
SYSTEMS = ("sap", "wms", "crm")


@pytest.fixture
def exception_site(tmp_path):
    """tmp_path with segbridge.yaml and a store of 12 open exceptions, ids 1..12: exception i (0-based)
    is of system SYSTEMS[i % 3] and kind KINDS[i % 3], severity high for even i else low; exception 1
    expects the text `=1+2` (a formula, for the CSV neutralisation) and exception 2 is already resolved."""
    from core.reconcile import Observation, transition, upsert_observations

    (tmp_path / "segbridge.yaml").write_text("database:\n  url: sqlite:///store.db\n", encoding="utf-8")
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    observations = [Observation(kind=KINDS[i % 3], system=SYSTEMS[i % 3], entity="product_location",
                                entity_key=f"P{i:04d}|DC-NORTH-01", field="safety_stock",
                                expected="=1+2" if i == 0 else f"{i * 1.5:.3f}", actual=f"{i * 2.0:.3f}",
                                severity="high" if i % 2 == 0 else "low", owner="supply-planning-stewards")
                    for i in range(12)]
    assert upsert_observations(db, observations, run_id=None).new == list(range(1, 13))
    transition(db, 2, "resolved", reason="fixed earlier", actor="ann")
    db.dispose()
    return tmp_path


@pytest.fixture
def demand_site(tmp_path):
    """tmp_path with segbridge.yaml and a store of five products at DC with ten order lines each
    (no segment run yet)."""
    import pandas as pd

    from core.model import OrderLine, Product

    values = {"P1": 500.0, "P2": 300.0, "P3": 100.0, "P4": 60.0, "P5": 40.0}
    (tmp_path / "segbridge.yaml").write_text("database:\n  url: sqlite:///store.db\n", encoding="utf-8")
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    upsert(db, Product, pd.DataFrame({"id": list(values), "unit_price": 1.0}))
    upsert(db, ProductLocation, pd.DataFrame({"product_id": list(values), "location_id": "DC"}))
    lines = [{"order_id": f"{p}-{i}", "line_no": "10", "product_id": p, "location_id": "DC",
              "order_date": (pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=5 * i)).date(), "quantity": total / 10}
             for p, total in values.items() for i in range(10)]
    upsert(db, OrderLine, pd.DataFrame(lines))
    db.dispose()
    return tmp_path


@pytest.fixture
def restore_logging():
    """Put the segbridge loggers back as they were after a test that ran `setup_logging` (the CLI root)."""
    import logging

    names = ("segbridge", "core", "connectors", "scheduler", "sandbox")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)
