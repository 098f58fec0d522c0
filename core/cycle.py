"""The whole cycle, and its steps as callables the scheduler runs on a timetable.

`run_cycle` does pull -> segment -> plan -> apply -> reconcile once. Apply runs only when the
plan needs no approval and is not blocked (otherwise it is recorded as a skipped run saying
why, and reconcile still runs so stewards see the state of the systems). Every step is a
`Run` row and runs under its database lease (`core.lease.hold`): `pull:<system>` per pulled
system, `write:<system>` per system an apply writes to, else the step's name. So a manual
`segbridge run`, a CLI command and a scheduled job never run the same step on a system at once.

`STEPS` maps each step name to `fn(config, db, *, systems=None, trigger, stop_event=None,
progress=None) -> StepResult(run_id, status, counts)`; `scheduler.jobs` calls them. A set
`stop_event` ends the step after its batch in flight and the cycle after the current step (None:
never stopped); `progress` is a `basics.progress` callback (None: silent).

Example:
    >>> result = run_cycle(config, db, trigger="manual")            # doctest: +SKIP
    >>> result.status, [s.status for s in result.steps.values()]
    ('ok', ['ok', 'ok', 'ok', 'ok', 'ok'])
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from basics.progress import ProgressCallback
from core import runs
from core.settings import SegbridgeConfig
from core.statuses import ChangeState, PlanStatus, RunKind, RunStatus, Trigger

log = logging.getLogger("segbridge.cycle")
ORDER = [RunKind.PULL, RunKind.SEGMENT, RunKind.PLAN, RunKind.APPLY, RunKind.RECONCILE]
STOPPING = {RunKind.PULL, RunKind.SEGMENT, RunKind.PLAN}  # later steps need their output; a failed apply
#                                                         still gets reconciled
LEASE_TTL = 300.0


@dataclass
class StepResult:
    run_id: int | None
    status: RunStatus  # ok | exceptions | failed | skipped
    counts: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    detail: Any = None  # the step's own result object (plan, apply summary, reconcile summary)


@dataclass
class CycleResult:
    run_id: int
    status: RunStatus
    steps: dict[str, StepResult] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        """Every step ran (some may have failed or been skipped)."""
        return all(name in self.steps for name in ORDER)

    @property
    def exit_code(self) -> int:
        from basics.errors import EXIT_EXCEPTIONS, EXIT_FAILED, EXIT_OK

        return {RunStatus.OK: EXIT_OK, RunStatus.EXCEPTIONS: EXIT_EXCEPTIONS}.get(self.status, EXIT_FAILED)


def _held(db: Engine, step: str, stop_event: threading.Event | None):
    """The step's lease (segment, plan, reconcile); a lost lease sets the step's stop event.

    Pull and apply take their per-system leases themselves (`pull:<system>` in core.sync,
    `write:<system>` in core.writeback.apply), so every caller of them does.
    """
    from core.lease import hold, lease_name

    return hold(db, lease_name(step), ttl=LEASE_TTL, on_lost=stop_event)


def _field(result: Any, name: str, default: Any = None) -> Any:
    return result.get(name, default) if isinstance(result, dict) else getattr(result, name, default)


def step_pull(config: SegbridgeConfig, db: Engine, *, systems: list[str] | None = None,
              trigger: str = Trigger.MANUAL, stop_event: threading.Event | None = None,
              progress: ProgressCallback | None = None) -> StepResult:
    """Read every (or the given) system incrementally into the store (one pull run per system).

    Status: failed if a system's pull failed, skipped if one stopped on request or its lease
    `pull:<system>` was held elsewhere, else ok.
    """
    from core.sync import pull

    results = pull(config, db, systems=systems, progress=progress, trigger=trigger, stop_event=stop_event)
    counts = {key: sum(getattr(s, key) for r in results for s in r.streams) for key in ("read", "loaded",
                                                                                       "quarantined")}
    bad = [f"{r.system}: {r.status}" + (f" ({r.message})" if r.message else "") for r in results
           if r.status != RunStatus.OK]
    status = (RunStatus.FAILED if any(r.status == RunStatus.FAILED for r in results)
              else RunStatus.SKIPPED if bad else RunStatus.OK)
    run_id = results[-1].run_id if results else None
    return StepResult(run_id, status, counts, "; ".join(bad) or None, detail=results)


def step_segment(config: SegbridgeConfig, db: Engine, *, systems: list[str] | None = None,
                 trigger: str = Trigger.MANUAL, stop_event: threading.Event | None = None,
                 progress: ProgressCallback | None = None) -> StepResult:
    """Segment and compute parameters from the store (a saved segment run)."""
    from core.planning_store import segment_from_store

    with _held(db, RunKind.SEGMENT, stop_event):
        run_id = segment_from_store(db, config, trigger=trigger)
    info = runs.get_run(db, run_id)
    return StepResult(run_id, info.status, info.counts)


def step_plan(config: SegbridgeConfig, db: Engine, *, systems: list[str] | None = None,
              trigger: str = Trigger.MANUAL, stop_event: threading.Event | None = None,
              progress: ProgressCallback | None = None) -> StepResult:
    """Compute the write-back plan (saved with its status: ready, needs_approval or blocked)."""
    from core.writeback.plan import make_plan

    with _held(db, RunKind.PLAN, stop_event), runs.recorded_run(
            db, RunKind.PLAN, system=_system_label(systems), trigger=trigger) as outcome:
        plan = make_plan(config, db, systems=systems)
        counts = {"changes": _plan_summary(plan).get("changes", 0), "plan_id": plan.id}
        outcome.update(counts=counts, message=f"plan {plan.id}: {plan.status}"
                       + (f" ({plan.reason})" if plan.reason else ""))
    return StepResult(outcome["run_id"], RunStatus.OK, counts, outcome["message"], detail=plan)


def _plan_summary(plan) -> dict:
    import json

    return json.loads(plan.summary or "{}")


def _system_label(systems: list[str] | None) -> str | None:
    return ",".join(systems)[:64] if systems else None


def step_apply(config: SegbridgeConfig, db: Engine, *, systems: list[str] | None = None,
               trigger: str = Trigger.MANUAL, stop_event: threading.Event | None = None,
               progress: ProgressCallback | None = None, plan_id: int | None = None) -> StepResult:
    """Apply the plan (default: the latest) when it may be applied; otherwise a skipped run saying why."""
    from basics.errors import SegbridgeError
    from core.writeback.apply import apply_plan, latest_plan_id
    from core.writeback.plan import load_plan

    try:
        plan = load_plan(db, plan_id if plan_id is not None else latest_plan_id(db))
    except SegbridgeError as exc:  # no plan yet: nothing to apply is not a failure
        run_id = runs.record_skipped(db, RunKind.APPLY, trigger=trigger, message=exc.message)
        return StepResult(run_id, RunStatus.SKIPPED, {}, exc.message)
    why = _not_applicable(plan)
    if why:
        run_id = runs.record_skipped(db, RunKind.APPLY, trigger=trigger, message=why)
        return StepResult(run_id, RunStatus.SKIPPED, {"plan_id": plan.id}, why)
    stop = stop_event if stop_event is not None else threading.Event()
    summary = apply_plan(config, db, plan.id, progress=progress, stop_event=stop, trigger=trigger)
    counts = {"plan_id": plan.id, "applied": summary.total(ChangeState.APPLIED),
              "rejected": summary.total(ChangeState.REJECTED), "failed": summary.total(ChangeState.FAILED)}
    return StepResult(summary.run_id, RunStatus.OK if summary.ok else RunStatus.FAILED, counts, summary.message,
                      detail=summary)


def _not_applicable(plan) -> str | None:
    if plan.status in (PlanStatus.NEEDS_APPROVAL, PlanStatus.BLOCKED):
        return f"plan {plan.id} is {plan.status}: {plan.reason}"
    if plan.status == PlanStatus.APPLIED:
        return f"plan {plan.id} is applied already"
    if _plan_summary(plan).get("changes", 1) == 0:
        return f"plan {plan.id} has no changes"
    return None


def step_reconcile(config: SegbridgeConfig, db: Engine, *, systems: list[str] | None = None,
                   trigger: str = Trigger.MANUAL, stop_event: threading.Event | None = None,
                   progress: ProgressCallback | None = None) -> StepResult:
    """Read back, compare, file exceptions; status `exceptions` while any remain."""
    from core.reconcile import run_reconcile

    with _held(db, RunKind.RECONCILE, stop_event):
        summary = run_reconcile(config, db, systems=systems, progress=progress, trigger=trigger)
    counts = {"exceptions": summary.remaining, "new": summary.new, "compared": summary.compared}
    message = "; ".join(summary.alerts) or None  # reconcile.alerts thresholds, for the scheduler's alerting
    status = RunStatus.EXCEPTIONS if summary.remaining else RunStatus.OK
    return StepResult(summary.run_id, status, counts, message, detail=summary)


STEPS: dict[str, Callable[..., StepResult]] = {
    RunKind.PULL: step_pull, RunKind.SEGMENT: step_segment, RunKind.PLAN: step_plan, RunKind.APPLY: step_apply,
    RunKind.RECONCILE: step_reconcile,
}


def run_cycle(config: SegbridgeConfig, db: Engine, trigger: str = Trigger.MANUAL,
              systems: list[str] | None = None, stop_event: threading.Event | None = None,
              progress: ProgressCallback | None = None,
              on_step: Callable[[str, StepResult], None] | None = None) -> CycleResult:
    """pull -> segment -> plan -> apply (if allowed) -> reconcile, each a Run row under its lease.

    A failed or skipped pull, segment or plan ends the cycle; a failed apply (rejected items) does
    not: reconcile then shows stewards what the systems hold. Status: failed if any step failed
    or the cycle did not complete, else reconcile's (ok or exceptions). A set `stop_event` ends
    the cycle after the current step (None: never stopped); `progress` hears every step's events.
    """
    kwargs: dict[str, Any] = {"systems": systems, "trigger": trigger, "stop_event": stop_event,
                              "progress": progress}
    with runs.recorded_run(db, RunKind.CYCLE, system=_system_label(systems), trigger=trigger) as outcome:
        result = CycleResult(outcome["run_id"], RunStatus.OK)
        for name in ORDER:
            if stop_event is not None and stop_event.is_set():
                outcome["message"] = f"stopped before {name}"
                break
            step = _run_step(config, db, name, result, kwargs)
            result.steps[name] = step
            if on_step:
                on_step(name, step)
            if name in STOPPING and step.status in (RunStatus.FAILED, RunStatus.SKIPPED):
                break
        failed = any(s.status == RunStatus.FAILED for s in result.steps.values())
        if failed or not result.completed:
            result.status = RunStatus.FAILED
        else:
            result.status = result.steps[RunKind.RECONCILE].status
        outcome.update(status=result.status, counts=_cycle_counts(result),
                       message=outcome.get("message") or " ".join(f"{n}={s.run_id}:{s.status}"
                                                                  for n, s in result.steps.items()))
    return result


def _run_step(config: SegbridgeConfig, db: Engine, name: str, result: CycleResult,
              kwargs: dict[str, Any]) -> StepResult:
    """One step of the cycle; a lease held by another process makes it a skipped run, any other
    exception a failed step with its message (the step's own run records the failure)."""
    from core.lease import LeaseHeld

    extra: dict[str, Any] = {}
    if name == RunKind.APPLY and RunKind.PLAN in result.steps:
        extra["plan_id"] = result.steps[RunKind.PLAN].counts.get("plan_id")  # apply the plan this cycle made
    try:
        return STEPS[name](config, db, **kwargs, **extra)
    except LeaseHeld as exc:
        run_id = runs.record_skipped(db, name, trigger=kwargs["trigger"], message=exc.message)
        return StepResult(run_id, RunStatus.SKIPPED, message=exc.message)
    except Exception as exc:  # noqa: BLE001 - the cycle records a failed step and ends, it does not crash
        from core.sync import failure_message

        message = failure_message(exc)
        log.error("cycle step %s failed: %s", name, message)
        log.debug("cycle step %s failed", name, exc_info=True)
        return StepResult(None, RunStatus.FAILED, message=message)


def _cycle_counts(result: CycleResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, step in result.steps.items():
        for key in ("changes", "applied", "rejected", "failed", "exceptions", "read", "loaded", "quarantined"):
            if isinstance(step.counts.get(key), int):
                counts[key if key not in counts else f"{name}_{key}"] = step.counts[key]
    return counts
