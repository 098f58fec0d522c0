"""core.writeback.approve: who approved a plan and why go on the plan and into the audit log."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from basics.errors import BlockedError, ConfigError, SegbridgeError
from core.model import AuditEvent, Plan
from core.writeback.approve import approve
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit


def _plan(store, tmp_path, **run_kwargs):
    s.seed(store, s.items(2), run_kwargs=run_kwargs or None)
    return make_plan(s.make_config(tmp_path, "approve"), store)


def _audit(store):
    with store.connect() as conn:
        return conn.execute(select(AuditEvent.__table__).where(AuditEvent.action == "approve")).fetchall()


def test_approve_a_ready_plan_records_who_when_and_why(store, tmp_path):
    plan = _plan(store, tmp_path)
    assert plan.status == "ready"
    approved = approve(store, plan.id, "ana", "checked the numbers")
    assert (approved.status, approved.approved_by) == ("approved", "ana")
    assert approved.approved_at is not None
    [ev] = _audit(store)
    assert (ev.actor, ev.entity, ev.entity_key, ev.run_id, ev.reason) == (
        "ana", "plan", str(plan.id), plan.run_id, "checked the numbers")
    assert json.loads(ev.before)["status"] == "ready"
    assert json.loads(ev.after) == {"status": "approved", "approved_by": "ana"}


@pytest.mark.parametrize(("by", "reason", "needs"), [("ana", "", "reason"), ("ana", "  ", "reason"),
                                                     ("", "ok", "approver"), (" ", "ok", "approver")])
def test_a_reason_and_a_name_are_required(store, tmp_path, by, reason, needs):
    plan = _plan(store, tmp_path)
    with pytest.raises(ConfigError, match=needs):
        approve(store, plan.id, by, reason)
    assert _audit(store) == []


def test_twice_is_refused(store, tmp_path):
    plan = _plan(store, tmp_path)
    approve(store, plan.id, "ana", "fine")
    with pytest.raises(SegbridgeError, match="already approved by ana"):
        approve(store, plan.id, "bo", "fine too")
    assert len(_audit(store)) == 1


def test_blocked_and_finished_plans_are_refused(store, tmp_path):
    blocked = _plan(store, tmp_path, suspect=True)
    assert blocked.status == "blocked"
    with pytest.raises(BlockedError):
        approve(store, blocked.id, "ana", "looks fine")
    with store.begin() as conn:
        conn.execute(update(Plan.__table__).where(Plan.__table__.c.id == blocked.id).values(status="applied"))
    with pytest.raises(SegbridgeError, match="only a ready or needs_approval plan"):
        approve(store, blocked.id, "ana", "looks fine")
    assert _audit(store) == []
