"""core.writeback.current: target keys back to canonical rows, ETags for writes, current values after apply."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from connectors.base import ItemOutcome
from core.mapping import load_mapping
from core.model import ProductLocation
from core.store import read_frame
from core.writeback import outbox
from core.writeback.current import canonical_rows_for, etags_for, update_current
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit
PL = ProductLocation.__table__


def _apply_in_outbox(store, plan_id: int, only_product: str | None = None) -> None:
    """Mark the plan's changes applied the way apply does (sent, then the system's answer)."""
    items = outbox.group_items(outbox.changes_in(store, plan_id, "pending"))
    if only_product:
        items = [i for i in items if i.item.key["Product"] == only_product]
    outbox.mark_sent(store, [c for it in items for c in it.change_ids], "b-1")
    outbox.record_outcomes(store, items, [ItemOutcome(i.item.ref, "applied") for i in items], max_attempts=5)


def test_canonical_rows_for_forward_maps_target_keys(tmp_path, store):
    cfg = s.make_config(tmp_path, "cur-rows")
    em = load_mapping(cfg.mapping_path("sap")).entities["supply_planning"]
    rows = canonical_rows_for(store, "sap", em, [{"Product": " P7 ", "Plant": "1010"},
                                                 {"Product": "P8", "Plant": "2020", "SafetyStockQuantity": "4.5"}])
    assert rows[["product_id", "location_id", "_pos"]].values.tolist() == [["P7", "1010", 0], ["P8", "2020", 1]]
    assert rows["current_safety_stock"].iloc[1] == pytest.approx(4.5)


def test_update_current_writes_applied_values_into_the_read_back_columns(store, tmp_path):
    its = s.items(3, changed=2)
    s.seed(store, its)
    cfg = s.make_config(tmp_path, "cur-upd")
    plan = make_plan(cfg, store)
    assert update_current(cfg, store, "sap", plan.id) == 0  # nothing applied yet
    _apply_in_outbox(store, plan.id, only_product="P0000")
    k = s.key_json("P0000", "1010")
    assert update_current(cfg, store, "sap", plan.id, etags={(s.ENTITY, k): 'W/"9"'}) == 2
    pl = read_frame(store, select(PL).order_by(PL.c.product_id))
    assert pl[["product_id", "current_safety_stock", "current_reorder_point"]].values.tolist() == [
        ["P0000", 11.0, 21.0], ["P0001", 11.0, 22.0], ["P0002", 12.0, 24.0]]
    assert pl["etag"].iloc[0] == 'W/"9"' and pl["etag"].iloc[1:].isna().all()
    assert json.loads(make_plan(cfg, store).summary)["changes"] == 2  # only P0001 still differs


def _etag_plan(store, tmp_path, world: str, etags: dict[str, str]):
    s.seed(store, s.items(2))
    cfg = s.make_config(tmp_path, world)
    with store.begin() as conn:
        for product, etag in etags.items():
            conn.execute(update(PL).where(PL.c.product_id == product).values(etag=etag))
    plan = make_plan(cfg, store)
    return cfg, outbox.changes_in(store, plan.id, "pending")


def test_etags_for_gives_the_etag_the_last_pull_saw(store, tmp_path):
    cfg, pending = _etag_plan(store, tmp_path, "cur-etag", {"P0000": 'W/"1"', "P0001": 'W/"abc"'})
    assert etags_for(cfg, store, "sap", pending) == {(s.ENTITY, s.key_json("P0000", "1010")): 'W/"1"',
                                                     (s.ENTITY, s.key_json("P0001", "1010")): 'W/"abc"'}
    assert etags_for(cfg, store, "elsewhere", pending) == {}  # no mapping for that system: no ETags


def test_a_record_without_an_etag_gets_none(store, tmp_path):
    cfg, pending = _etag_plan(store, tmp_path, "cur-etag2", {"P0001": 'W/"abc"'})
    assert etags_for(cfg, store, "sap", pending) == {(s.ENTITY, s.key_json("P0001", "1010")): 'W/"abc"'}
