"""Approving a plan: who approved it and why go on the plan and into the audit log.

A blocked plan (from a suspect run) cannot be approved: the data must be released by a steward
first (`segbridge runs release`), then planned again.
"""

from __future__ import annotations

import json

from basics.errors import BlockedError, ConfigError, SegbridgeError
from core.model import AuditEvent, Plan, utcnow
from core.statuses import PlanStatus
from core.writeback.plan import load_plan

APPROVABLE = {PlanStatus.READY, PlanStatus.NEEDS_APPROVAL}


def approve(db, plan_id: int, by: str, reason: str) -> Plan:
    """Mark a plan approved by `by` for `reason` (audited); refuses blocked and finished plans."""
    if not reason or not reason.strip():
        raise ConfigError("an approval needs a reason", hint="pass --reason 'why these changes are right'")
    if not by or not by.strip():
        raise ConfigError("an approval needs the approver's name", hint="pass --by NAME")
    plan = load_plan(db, plan_id)
    if plan.status == PlanStatus.BLOCKED:
        raise BlockedError(f"plan {plan_id} is blocked: {plan.reason}",
                           hint="a blocked plan cannot be approved; release the run, then plan again")
    if plan.status == PlanStatus.APPROVED:
        raise SegbridgeError(f"plan {plan_id} was already approved by {plan.approved_by}")
    if plan.status not in APPROVABLE:
        raise SegbridgeError(f"plan {plan_id} is {plan.status}; only a ready or needs_approval plan can be approved")
    now = utcnow()
    table = Plan.__table__
    with db.begin() as conn:
        done = conn.execute(table.update().where(table.c.id == plan_id, table.c.status == plan.status).values(
            status=PlanStatus.APPROVED, approved_by=by, approved_at=now)).rowcount
        if done != 1:
            raise SegbridgeError(f"plan {plan_id} changed while approving; look at it again")
        conn.execute(AuditEvent.__table__.insert().values(
            at=now, actor=by, action="approve", entity="plan", entity_key=str(plan_id), run_id=plan.run_id,
            before=json.dumps({"status": plan.status, "reason": plan.reason}),
            after=json.dumps({"status": PlanStatus.APPROVED, "approved_by": by}), reason=reason))
    return load_plan(db, plan_id)
