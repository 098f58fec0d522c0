"""The cycle's orchestration: order, apply only when allowed, a failed step stops it, runs and leases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core import cycle, runs
from core.cycle import STEPS, StepResult, run_cycle, step_apply
from core.lease import LeaseHeld, try_acquire
from core.model import Lease, Plan, Run
from core.settings import SegbridgeConfig

pytestmark = pytest.mark.unit


def _fake(name: str, calls: list, status: str = "ok", counts: dict | None = None):
    def step(config, db, *, systems=None, trigger="manual", stop_event=None, progress=None, **kw):
        calls.append((name, systems, trigger, kw.get("plan_id")))
        run_id = runs.start_run(db, name, trigger=trigger)
        runs.finish_run(db, run_id, "ok" if status == "skipped" else status)
        return StepResult(run_id, status, counts or {})
    return step


@pytest.fixture
def steps(monkeypatch):
    calls: list = []
    for name in STEPS:
        monkeypatch.setitem(STEPS, name, _fake(name, calls, counts={"plan_id": 42} if name == "plan" else None))
    return calls


def test_cycle_runs_steps_in_order_and_records_a_cycle_run(store, steps):
    result = run_cycle(SegbridgeConfig(), store, trigger="schedule", systems=["sap"])
    assert [c[0] for c in steps] == ["pull", "segment", "plan", "apply", "reconcile"]
    assert steps[3] == ("apply", ["sap"], "schedule", 42)
    assert (result.status, result.exit_code) == ("ok", 0)
    info = runs.get_run(store, result.run_id)
    assert (info.kind, info.status, info.system, info.trigger) == ("cycle", "ok", "sap", "schedule")
    assert info.message == " ".join(f"{n}={s.run_id}:ok" for n, s in result.steps.items())


def test_failed_step_stops_the_cycle(store, steps, monkeypatch):
    monkeypatch.setitem(STEPS, "segment", _fake("segment", steps, status="failed"))
    result = run_cycle(SegbridgeConfig(), store)
    assert [c[0] for c in steps] == ["pull", "segment"]
    assert (result.status, result.exit_code) == ("failed", 1)
    assert runs.get_run(store, result.run_id).status == "failed"


def test_failed_apply_is_still_reconciled(store, steps, monkeypatch):
    monkeypatch.setitem(STEPS, "apply", _fake("apply", steps, status="failed"))
    result = run_cycle(SegbridgeConfig(), store)
    assert [c[0] for c in steps] == ["pull", "segment", "plan", "apply", "reconcile"]
    assert (result.completed, result.status, result.exit_code) == (True, "failed", 1)


def test_stop_request_ends_the_cycle_between_steps(store, steps):
    import threading

    stop = threading.Event()
    stop.set()
    result = run_cycle(SegbridgeConfig(), store, stop_event=stop)
    assert steps == [] and (result.completed, result.status) == (False, "failed")
    assert runs.get_run(store, result.run_id).message == "stopped before pull"


def test_reconcile_exceptions_make_the_cycle_exit_3(store, steps, monkeypatch):
    monkeypatch.setitem(STEPS, "reconcile", _fake("reconcile", steps, status="exceptions"))
    result = run_cycle(SegbridgeConfig(), store)
    assert (result.status, result.exit_code) == ("exceptions", 3)


def test_held_lease_is_a_skipped_step_and_stops_the_cycle(store, steps, monkeypatch):
    def held(*a, **k):
        raise LeaseHeld("pull", "other-host:1", None)

    monkeypatch.setitem(STEPS, "pull", held)
    result = run_cycle(SegbridgeConfig(), store)
    assert result.steps["pull"].status == "skipped" and steps == []
    assert runs.get_run(store, result.steps["pull"].run_id).status == "skipped"


def _plan(db, status: str, changes: int) -> int:
    with db.begin() as conn:
        return conn.execute(Plan.__table__.insert().values(
            status=status, reason="too many class changes" if status == "needs_approval" else None,
            summary=json.dumps({"changes": changes}))).inserted_primary_key[0]


@pytest.mark.parametrize("status, changes, why", [
    ("needs_approval", 5, "plan {id} is needs_approval: too many class changes"),
    ("blocked", 5, "plan {id} is blocked: None"),
    ("ready", 0, "plan {id} has no changes"),
    ("applied", 3, "plan {id} is applied already"),
])
def test_apply_is_skipped_with_the_reason(store, status, changes, why):
    plan_id = _plan(store, status, changes)
    result = step_apply(SegbridgeConfig(), store, trigger="schedule")
    assert (result.status, result.message) == ("skipped", why.format(id=plan_id))
    with store.connect() as conn:
        row = conn.execute(select(Run.__table__).where(Run.__table__.c.id == result.run_id)).one()
    assert (row.kind, row.status, row.message) == ("apply", "skipped", why.format(id=plan_id))


def test_apply_without_any_plan_is_skipped(store):
    result = step_apply(SegbridgeConfig(), store, trigger="schedule")
    assert (result.status, result.message) == ("skipped", "there is no plan to apply")


def test_pull_takes_each_systems_lease_and_a_held_one_is_a_skipped_pull(store, monkeypatch):
    from core import sync
    from core.statuses import RunStatus

    seen = []

    def held(config, db, system, *args):
        with db.connect() as conn:
            seen.extend(r.name for r in conn.execute(select(Lease.__table__)))
        return sync.PullResult(system, None, RunStatus.OK)

    monkeypatch.setattr(sync, "_pull_system_held", held)
    monkeypatch.setattr(SegbridgeConfig, "system", lambda self, name: None)
    assert cycle.step_pull(SegbridgeConfig(), store, systems=["sap", "crm"]).status == "ok"
    assert seen == ["pull:sap", "pull:crm"]  # one system's lease at a time, around its own pull
    assert try_acquire(store, "pull:sap", "someone-else", 60)
    result = cycle.step_pull(SegbridgeConfig(), store, systems=["sap", "crm"])
    assert result.status == "skipped" and "lease held by someone-else" in result.message
    pulled = [r.system for r in result.detail if r.status == "ok"]
    assert pulled == ["crm"]  # the other system was still pulled
    skipped = runs.get_run(store, result.detail[0].run_id)
    assert (skipped.kind, skipped.system, skipped.status) == ("pull", "sap", "skipped")


def test_other_steps_take_their_lease(store, monkeypatch):
    monkeypatch.setattr("core.planning_store.segment_from_store", lambda *a, **k: 1 / 0)
    assert try_acquire(store, "segment", "someone-else", 60)
    with pytest.raises(LeaseHeld):
        cycle.step_segment(SegbridgeConfig(), store)


def test_an_unexpected_exception_in_a_step_fails_the_step_and_the_cycle_without_crashing(store, steps, monkeypatch):
    def broken(config, db, **kwargs):
        steps.append(("segment", None, None, None))
        raise ZeroDivisionError("division by zero in the engine")

    monkeypatch.setitem(STEPS, "segment", broken)
    result = run_cycle(SegbridgeConfig(), store)
    assert [c[0] for c in steps] == ["pull", "segment"]
    step = result.steps["segment"]
    assert (step.status, step.message) == ("failed", "ZeroDivisionError: division by zero in the engine")
    assert (result.status, result.exit_code) == ("failed", 1)
    info = runs.get_run(store, result.run_id)
    assert info.status == "failed" and "segment=None:failed" in info.message
    assert [r for r in runs.list_runs(store) if r.status == "running"] == []
