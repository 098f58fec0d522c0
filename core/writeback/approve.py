"""Approving a plan: who approved it and why go on the plan and into the audit log.

The approver is the authenticated user, never a typed name: the OS user for the CLI, the logged-in
user for a web app (passed as `actor`). With `writeback.four_eyes` on (the default) the user who
made a plan (`Plan.planned_by`) cannot approve it, so a guardrail always gets a second person.
Plans made before the maker was recorded have no planner; they can be approved, with a warning.

A blocked plan (from a suspect run) cannot be approved: the data must be released by a steward
first (`segbridge runs release`), then planned again.
"""

from __future__ import annotations

import json
import logging

from basics.errors import BlockedError, ConfigError, SegbridgeError
from basics.users import actor_or_current
from core.model import AuditEvent, Plan, utcnow
from core.settings import SegbridgeConfig
from core.statuses import PlanStatus
from core.writeback.plan import load_plan
from core.writeback.writeback_settings import writeback_config

log = logging.getLogger("segbridge.writeback")
APPROVABLE = {PlanStatus.READY, PlanStatus.NEEDS_APPROVAL}
MAX_NAME = 80  # Plan.approved_by and AuditEvent.actor


def approve(db, plan_id: int, reason: str, *, actor: str | None = None,
            config: SegbridgeConfig | None = None) -> Plan:
    """Mark a plan approved by `actor` (default: the OS user) for `reason`, audited with its planner.

    Refuses blocked and finished plans, and (writeback.four_eyes, on unless the config turns it off)
    a plan made by the approver.
    """
    if not reason or not reason.strip():
        raise ConfigError("an approval needs a reason", hint="pass --reason 'why these changes are right'")
    approver = actor_or_current(actor)
    if len(approver) > MAX_NAME:
        raise ConfigError(f"approver name is longer than {MAX_NAME} characters: {approver[:MAX_NAME]}...")
    plan = load_plan(db, plan_id)
    _check_approvable(plan)
    four_eyes = writeback_config(config).four_eyes
    _check_four_eyes(plan, approver, four_eyes)
    _record(db, plan, approver, reason, four_eyes)
    return load_plan(db, plan_id)


def _check_approvable(plan: Plan) -> None:
    """Only a ready or needs_approval plan can be approved; a blocked one needs a release first."""
    if plan.status == PlanStatus.BLOCKED:
        raise BlockedError(f"plan {plan.id} is blocked: {plan.reason}",
                           hint="a blocked plan cannot be approved; release the run, then plan again")
    if plan.status == PlanStatus.APPROVED:
        raise SegbridgeError(f"plan {plan.id} was already approved by {plan.approved_by}")
    if plan.status not in APPROVABLE:
        raise SegbridgeError(f"plan {plan.id} is {plan.status}; only a ready or needs_approval plan can be approved")


def _check_four_eyes(plan: Plan, approver: str, four_eyes: bool) -> None:
    """The planner may not approve their own plan; an unknown planner (an old plan) only warns."""
    if not four_eyes:
        return
    if plan.planned_by is None:
        log.warning("plan %s was made before segbridge recorded who made plans; approving it as %s without "
                    "the four-eyes check (writeback.four_eyes)", plan.id, approver)
        return
    if plan.planned_by == approver:
        hint = ("ask another user to run `segbridge approve` (the approver is the OS user running it)"
                if plan.status == PlanStatus.NEEDS_APPROVAL else
                f"it needs no approval: apply it with `segbridge apply {plan.id}`, or have another user approve it")
        raise BlockedError(f"plan {plan.id} was made by {approver}; approval needs a second person "
                           "(writeback.four_eyes)", hint=hint)


def _record(db, plan: Plan, approver: str, reason: str, four_eyes: bool) -> None:
    """Set the plan approved (only if nobody changed it meanwhile) and write the `approve` audit event."""
    now = utcnow()
    table = Plan.__table__
    with db.begin() as conn:
        done = conn.execute(table.update().where(table.c.id == plan.id, table.c.status == plan.status).values(
            status=PlanStatus.APPROVED, approved_by=approver, approved_at=now)).rowcount
        if done != 1:
            raise SegbridgeError(f"plan {plan.id} changed while approving; look at it again")
        conn.execute(AuditEvent.__table__.insert().values(
            at=now, actor=approver, action="approve", entity="plan", entity_key=str(plan.id), run_id=plan.run_id,
            before=json.dumps({"status": plan.status, "reason": plan.reason, "planned_by": plan.planned_by}),
            after=json.dumps({"status": PlanStatus.APPROVED, "approved_by": approver,
                              "planned_by": plan.planned_by, "four_eyes": four_eyes}),
            reason=reason))
