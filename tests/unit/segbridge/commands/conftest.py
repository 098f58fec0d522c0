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
