"""core.writeback.outbox: the pending -> sent -> applied | rejected | failed state machine."""

from __future__ import annotations

import json

import pytest

from basics.errors import SegbridgeError
from connectors.base import ItemOutcome
from core.writeback import outbox
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit


def _plan(store, tmp_path, world: str, n: int = 2):
    its = s.items(n)
    s.seed(store, its)
    w = s.world_from_store(world, its)
    return w, make_plan(s.make_config(tmp_path, world), store)


def _states(store, plan_id):
    return {st: len(outbox.changes_in(store, plan_id, st)) for st in ("pending", "sent", "applied", "rejected",
                                                                        "failed")}


def test_group_items_gives_one_write_item_per_record_with_all_its_fields(store, tmp_path):
    _, plan = _plan(store, tmp_path, "ob-group")
    pending = outbox.changes_in(store, plan.id, "pending")
    assert len(pending) == 4 and list(pending["id"]) == sorted(pending["id"])
    k1 = s.key_json("P0001", "1010")
    items = outbox.group_items(pending, etags={(s.ENTITY, k1): 'W/"7"'})
    assert len(items) == 2
    by_key = {json.dumps(i.item.key, sort_keys=True): i for i in items}
    one = by_key[k1]
    assert one.item.target == s.ENTITY and one.item.etag == 'W/"7"'
    assert one.item.values == {"SafetyStockQuantity": "12.000", "ReorderThresholdQuantity": "23.000"}
    assert one.item.ref == str(one.change_ids[0]) and sorted(one.fields.values()) == sorted(one.change_ids)
    assert by_key[s.key_json("P0000", "1010")].item.etag is None
    assert outbox.state_counts(store, plan.id) == {"sap": {"pending": 4}}


def test_mark_sent_commits_before_sending_and_refuses_taken_changes(store, tmp_path):
    _, plan = _plan(store, tmp_path, "ob-sent")
    items = outbox.group_items(outbox.changes_in(store, plan.id, "pending"))
    outbox.mark_sent(store, items[0].change_ids, "b-1")
    sent = outbox.changes_in(store, plan.id, "sent")
    assert sorted(sent["id"]) == sorted(items[0].change_ids) and set(sent["batch_id"]) == {"b-1"}
    with pytest.raises(SegbridgeError, match="no longer pending"):
        outbox.mark_sent(store, items[0].change_ids + items[1].change_ids, "b-2")
    assert _states(store, plan.id)["sent"] == 2 and _states(store, plan.id)["pending"] == 2


def test_record_outcomes_moves_each_item_by_its_answer(store, tmp_path):
    _, plan = _plan(store, tmp_path, "ob-rec", n=4)
    items = outbox.group_items(outbox.changes_in(store, plan.id, "pending"))
    outbox.mark_sent(store, [c for it in items for c in it.change_ids], "b-1")
    outcomes = [ItemOutcome(items[0].item.ref, "applied"),
                ItemOutcome(items[1].item.ref, "rejected", "plant locked", http_status=400),
                ItemOutcome(items[2].item.ref, "retriable", "busy", http_status=503)]
    # items[3] gets no answer: it stays `sent`
    counts = outbox.record_outcomes(store, items, outcomes, max_attempts=3)
    assert counts == {"applied": 2, "rejected": 2, "pending": 2, "failed": 0}
    assert _states(store, plan.id) == {"pending": 2, "sent": 2, "applied": 2, "rejected": 2, "failed": 0}
    rejected = outbox.changes_in(store, plan.id, "rejected")
    assert set(rejected["message"]) == {"HTTP 400: plant locked"} and set(rejected["attempts"]) == {1}
    assert set(outbox.changes_in(store, plan.id, "pending")["attempts"]) == {1}


def test_retriable_at_max_attempts_fails_with_the_reason(store, tmp_path):
    _, plan = _plan(store, tmp_path, "ob-fail", n=1)
    items = outbox.group_items(outbox.changes_in(store, plan.id, "pending"))
    outbox.mark_sent(store, items[0].change_ids, "b-1")
    counts = outbox.record_outcomes(store, items, [ItemOutcome(items[0].item.ref, "retriable", "busy",
                                                               http_status=503)], max_attempts=1)
    assert counts["failed"] == 2
    failed = outbox.changes_in(store, plan.id, "failed")
    assert set(failed["message"]) == {"gave up after retries: HTTP 503: busy"}


def test_verify_sent_applies_what_the_target_holds_and_requeues_the_rest(store, tmp_path):
    world, plan = _plan(store, tmp_path, "ob-verify")
    items = outbox.group_items(outbox.changes_in(store, plan.id, "pending"))
    outbox.mark_sent(store, [c for it in items for c in it.change_ids], "b-1")
    held = next(i for i in items if i.item.key["Product"] == "P0000")
    world.records[s.ENTITY][s.key_json("P0000", "1010")].update(held.item.values)  # the send had arrived
    conn = s.MemoryConnector({"world": "ob-verify"})
    counts = outbox.verify_sent(store, conn, outbox.changes_in(store, plan.id, "sent"),
                                tolerance_of=lambda entity, field: None, max_attempts=5, batch_size=1)
    assert counts == {"applied": 2, "pending": 2, "failed": 0}
    applied = outbox.changes_in(store, plan.id, "applied")
    assert sorted(applied["id"]) == sorted(held.change_ids)
    assert set(applied["message"]) == {"verified by read-back after an interrupted send"}
    assert world.writes == []  # verifying never sends
    assert outbox.verify_sent(store, conn, outbox.changes_in(store, plan.id, "sent"),
                              lambda e, f: None, 5, 10) == {"applied": 0, "pending": 0, "failed": 0}
