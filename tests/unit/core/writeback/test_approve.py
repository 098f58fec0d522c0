"""core.writeback.approve: the authenticated approver, the planner and why go on the plan and into the
audit log; with writeback.four_eyes the planner cannot approve their own plan."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select, update

from basics.errors import BlockedError, ConfigError, SegbridgeError
from basics.users import current_user
from core.model import AuditEvent, Plan
from core.writeback.approve import approve
from core.writeback.plan import load_plan, make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit
SELF_REFUSED = r"was made by {who}; approval needs a second person \(writeback\.four_eyes\)"


def _config(tmp_path, **writeback):
    return s.make_config(tmp_path, "approve", writeback=writeback)


def _plan(store, tmp_path, actor=None, needs_approval=True, **run_kwargs):
    s.seed(store, s.items(2), run_kwargs=run_kwargs or None)
    guard = {"guardrails": {"approval_required": needs_approval}}
    return make_plan(_config(tmp_path, **guard), store, actor=actor)


def _audit(store):
    with store.connect() as conn:
        return conn.execute(select(AuditEvent.__table__).where(AuditEvent.action == "approve")).fetchall()


def test_make_plan_records_the_os_user_or_the_given_actor_as_planner(store, tmp_path):
    by_os = _plan(store, tmp_path)
    by_web = make_plan(_config(tmp_path), store, actor="pia")
    assert (by_os.planned_by, by_web.planned_by) == (current_user(), "pia")
    with store.connect() as conn:
        actors = conn.execute(select(AuditEvent.actor).where(AuditEvent.action == "plan")
                              .order_by(AuditEvent.id)).scalars().all()
    assert actors == [current_user(), "pia"]


def test_the_os_user_approves_and_the_audit_names_planner_approver_and_reason(store, tmp_path):
    plan = _plan(store, tmp_path, actor="pia")
    assert plan.status == "needs_approval"
    approved = approve(store, plan.id, "checked the numbers")
    assert (approved.status, approved.approved_by, approved.planned_by) == ("approved", current_user(), "pia")
    assert approved.approved_at is not None
    [ev] = _audit(store)
    assert (ev.actor, ev.entity, ev.entity_key, ev.run_id, ev.reason) == (
        current_user(), "plan", str(plan.id), plan.run_id, "checked the numbers")
    assert json.loads(ev.before)["status"] == "needs_approval"
    assert json.loads(ev.after) == {"status": "approved", "approved_by": current_user(), "planned_by": "pia",
                                    "four_eyes": True}


@pytest.mark.parametrize("reason", ["", "  "])
def test_a_reason_is_required(store, tmp_path, reason):
    plan = _plan(store, tmp_path, actor="pia")
    with pytest.raises(ConfigError, match="reason"):
        approve(store, plan.id, reason, actor="bo")
    assert _audit(store) == []


@pytest.mark.parametrize("config", [None, "default"])
def test_the_planner_cannot_approve_their_own_plan(store, tmp_path, config):
    plan = _plan(store, tmp_path)  # made by the OS user, approved by the OS user
    cfg = _config(tmp_path) if config else None
    with pytest.raises(BlockedError, match=f"plan {plan.id} " + SELF_REFUSED.format(who=current_user())) as err:
        approve(store, plan.id, "I checked my own plan", config=cfg)
    assert "another user" in err.value.hint
    assert load_plan(store, plan.id).status == "needs_approval" and _audit(store) == []


def test_self_approval_of_a_web_users_plan_is_refused_too(store, tmp_path):
    plan = _plan(store, tmp_path, actor="alice")
    with pytest.raises(BlockedError, match=SELF_REFUSED.format(who="alice")):
        approve(store, plan.id, "fine", actor="alice")
    assert approve(store, plan.id, "fine", actor="bob").approved_by == "bob"


def test_a_ready_plan_is_not_self_approved_either_and_the_hint_says_to_apply_it(store, tmp_path):
    plan = _plan(store, tmp_path, actor="alice", needs_approval=False)
    assert plan.status == "ready"
    with pytest.raises(BlockedError, match=SELF_REFUSED.format(who="alice")) as err:
        approve(store, plan.id, "fine", actor="alice")
    assert f"segbridge apply {plan.id}" in err.value.hint


def test_self_approval_is_allowed_when_four_eyes_is_off(store, tmp_path):
    plan = _plan(store, tmp_path, actor="alice")
    approved = approve(store, plan.id, "small team", actor="alice", config=_config(tmp_path, four_eyes=False))
    assert (approved.status, approved.approved_by, approved.planned_by) == ("approved", "alice", "alice")
    assert json.loads(_audit(store)[0].after)["four_eyes"] is False


def test_a_plan_without_a_recorded_planner_is_approved_with_a_warning(store, tmp_path, caplog):
    plan = _plan(store, tmp_path)
    with store.begin() as conn:  # as a plan made before the planned_by column existed
        conn.execute(update(Plan.__table__).where(Plan.__table__.c.id == plan.id).values(planned_by=None))
    with caplog.at_level(logging.WARNING, logger="segbridge.writeback"):
        approved = approve(store, plan.id, "old plan, checked")
    assert (approved.status, approved.approved_by, approved.planned_by) == ("approved", current_user(), None)
    assert "made before segbridge recorded who made plans" in caplog.text
    assert json.loads(_audit(store)[0].after)["planned_by"] is None


def test_twice_is_refused(store, tmp_path):
    plan = _plan(store, tmp_path, actor="pia")
    approve(store, plan.id, "fine", actor="ana")
    with pytest.raises(SegbridgeError, match="already approved by ana"):
        approve(store, plan.id, "fine too", actor="bo")
    assert len(_audit(store)) == 1


def test_blocked_and_finished_plans_are_refused(store, tmp_path):
    blocked = _plan(store, tmp_path, actor="pia", suspect=True)
    assert blocked.status == "blocked"
    with pytest.raises(BlockedError, match="is blocked"):
        approve(store, blocked.id, "looks fine", actor="ana")
    with store.begin() as conn:
        conn.execute(update(Plan.__table__).where(Plan.__table__.c.id == blocked.id).values(status="applied"))
    with pytest.raises(SegbridgeError, match="only a ready or needs_approval plan"):
        approve(store, blocked.id, "looks fine", actor="ana")
    assert _audit(store) == []
