"""Running jobs: dependencies, leases, run records, failures, chaining, run history queries."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from core import lease, runs
from scheduler import jobs
from scheduler.app import SchedulerApp
from scheduler.jobs import JobContext, JobSpec, execute

pytestmark = pytest.mark.unit
CALLS: list[dict] = []


def ok_step(config, db, *, systems=None, trigger, stop_event=None):
    CALLS.append({"systems": systems, "trigger": trigger, "stop": stop_event})
    with runs.recorded_run(db, "pull" if systems else "segment", system=(systems or [None])[0],
                           trigger=trigger) as outcome:
        outcome["counts"] = {"read": 10, "loaded": 9, "quarantined": 1}
    return SimpleNamespace(run_id=outcome["run_id"], status="ok", counts=outcome["counts"])


def broken_step(config, db, *, systems=None, trigger, stop_event=None):
    runs.start_run(db, "plan", trigger=trigger)  # started, then dies without finishing it
    raise RuntimeError("target system said no")


def nested_lease_step(config, db, *, systems=None, trigger, stop_event=None):
    with lease.hold(db, "apply", ttl=30):  # the cycle takes the same lease again: must not block
        run_id = runs.start_run(db, "apply", trigger=trigger)
        runs.finish_run(db, run_id, "ok", counts={"applied": 3})
    return {"run_id": run_id, "status": "ok"}


@pytest.fixture(autouse=True)
def steps(monkeypatch):
    """Test steps in place of the cycle's, for this test only."""
    CALLS.clear()
    for name, fn in {"pull": ok_step, "segment": ok_step, "plan": broken_step, "apply": nested_lease_step}.items():
        monkeypatch.setitem(jobs._REGISTERED, name, fn)


def _ctx(store):
    return JobContext(SimpleNamespace(), store, "me:1:abcd", lease_ttl=30)


def test_ok_run_is_recorded_with_counts(store):
    outcome = execute(_ctx(store), JobSpec("pull:sap", "pull", "sap", None, "UTC"))
    assert outcome.status == "ok"
    run = runs.get_run(store, outcome.run_id)
    assert (run.kind, run.system, run.status, run.trigger) == ("pull", "sap", "ok", "schedule")
    assert run.counts == {"read": 10, "loaded": 9, "quarantined": 1}
    assert CALLS[0]["systems"] == ["sap"]
    assert isinstance(CALLS[0]["stop"], threading.Event)
    assert lease.holder(store, "pull:sap") is None  # released


def test_lease_held_elsewhere_records_skipped(store):
    assert lease.try_acquire(store, "pull:sap", "other:2:ffff", ttl=60)
    outcome = execute(_ctx(store), JobSpec("pull:sap", "pull", "sap", None, "UTC"))
    assert (outcome.status, outcome.message) == ("skipped", "lease held by other:2:ffff")
    run = runs.get_run(store, outcome.run_id)
    assert (run.status, run.message, run.kind, run.system) == ("skipped", "lease held by other:2:ffff", "pull", "sap")
    assert CALLS == []


def test_dependency_must_have_succeeded(store):
    spec = JobSpec("segment", "segment", None, None, "UTC", depends_on=["pull:sap"])
    outcome = execute(_ctx(store), spec)
    assert (outcome.status, outcome.message) == ("skipped", "waiting for pull:sap: has not run")
    failed = runs.start_run(store, "pull", system="sap")
    runs.finish_run(store, failed, "failed", message="boom")
    outcome = execute(_ctx(store), spec)
    assert outcome.message == f"waiting for pull:sap: last run {failed} is failed"
    execute(_ctx(store), JobSpec("pull:sap", "pull", "sap", None, "UTC"))
    assert execute(_ctx(store), spec).status == "ok"
    # chained (fresh) mode: no new pull since segment ran -> not due, and nothing recorded
    before = len(runs.list_runs(store, limit=None))
    stale = execute(_ctx(store), spec, fresh=True)
    assert stale.status == "skipped" and stale.run_id is None and stale.message.startswith("waiting for pull:sap: no new")
    assert len(runs.list_runs(store, limit=None)) == before


def test_failing_step_leaves_a_failed_run_not_a_running_one(store):
    outcome = execute(_ctx(store), JobSpec("plan", "plan", None, None, "UTC"))
    assert outcome.status == "failed"
    run = runs.get_run(store, outcome.run_id)
    assert (run.status, run.message) == ("failed", "RuntimeError: target system said no")
    assert runs.list_runs(store, status="running") == []
    assert lease.holder(store, "plan") is None


def test_step_taking_its_own_lease_nests(store):
    outcome = execute(_ctx(store), JobSpec("apply", "apply", None, None, "UTC"))
    assert outcome.status == "ok"
    assert runs.get_run(store, outcome.run_id).counts == {"applied": 3}


def test_history_queries(store):
    a = runs.start_run(store, "pull", system="sap", trigger="manual", ruleset_hash="r1")
    runs.finish_run(store, a, "ok", counts={"loaded": 5, "read": 6, "extra_pages": 2})
    b = runs.record_skipped(store, "pull", system="sap", message="lease held by x")
    c = runs.start_run(store, "segment", trigger="demo")
    assert [r.id for r in runs.list_runs(store)] == [c, b, a]
    assert [r.id for r in runs.list_runs(store, kind="pull", status="ok")] == [a]
    assert runs.get_run(store, a).counts == {"read": 6, "loaded": 5, "extra_pages": 2}
    assert list(runs.get_run(store, a).counts) == ["read", "loaded", "extra_pages"]
    assert runs.last_run(store, "pull", "sap").id == a
    assert runs.last_run(store, "pull", "sap", include_skipped=True).id == b
    assert runs.get_run(store, b).seconds == 0.0
    with pytest.raises(Exception, match="unknown run status 'done'"):
        runs.list_runs(store, status="done")
    with pytest.raises(Exception, match="run 999 does not exist"):
        runs.get_run(store, 999)
    runs.finish_run(store, b, "stopped", counts={"products": {"read": 5, "loaded": 4}, "orders": {"read": 2}})
    assert runs.totals(runs.get_run(store, b).counts) == {"read": 7, "loaded": 4}
    assert [r.id for r in runs.list_runs(store, status="stopped")] == [b]
    with pytest.raises(ValueError, match="run count 'read' must be a whole number"):
        runs.finish_run(store, c, "ok", counts={"read": "many"})


def test_chained_job_runs_after_its_dependency(sqlite_db, tmp_path):
    from core.settings import load_config
    from core.store import create_all

    create_all(sqlite_db)
    path = tmp_path / "segbridge.yaml"
    path.write_text("systems: {sap: {kind: sap_odata}}\n"
                    "schedules:\n  steps:\n    pull: {every_seconds: 0.4}\n    segment: {depends_on: [pull]}\n")
    app = SchedulerApp(load_config(path), sqlite_db, owner="me:1:abcd")
    app.build()
    thread = threading.Thread(target=app.start)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not runs.list_runs(sqlite_db, kind="segment", status="ok"):
            time.sleep(0.1)
    finally:
        app.stop()
        thread.join(30)
    assert not thread.is_alive()
    segment = runs.list_runs(sqlite_db, kind="segment", status="ok", limit=None)[-1]
    pull = runs.list_runs(sqlite_db, kind="pull", status="ok", limit=None)[-1]
    assert pull.finished_at <= segment.started_at
    assert app.ctx.stop_event.is_set()
    assert lease.holder(sqlite_db, "pull:sap") is None and lease.holder(sqlite_db, "segment") is None


def test_scheduler_pull_job_and_a_manual_pull_share_one_lease(store, monkeypatch):
    from core import sync
    from core.settings import SegbridgeConfig

    monkeypatch.delitem(jobs._REGISTERED, "pull")  # the real cycle step: core.cycle.step_pull -> core.sync
    monkeypatch.setattr(SegbridgeConfig, "system", lambda self, name: None)
    entered, release = threading.Event(), threading.Event()

    def pulling(config, db, system, *args):
        entered.set()
        assert release.wait(10)
        return sync.PullResult(system, None, "ok")

    monkeypatch.setattr(sync, "_pull_system_held", pulling)
    ctx = JobContext(SegbridgeConfig(), store, "me:1:abcd", lease_ttl=30)
    spec = JobSpec(lease.lease_name(lease.PULL, "sap"), "pull", "sap", None, "UTC")
    outcomes = []
    worker = threading.Thread(target=lambda: outcomes.append(execute(ctx, spec)))
    worker.start()
    assert entered.wait(10)
    manual = sync.pull(SegbridgeConfig(), store, systems=["sap"])  # what `segbridge pull/run sap` does
    release.set()
    worker.join(10)
    assert [r.status for r in manual] == ["skipped"] and "lease held by host me pid 1" in manual[0].message
    assert outcomes[0].status == "ok"
    entered.clear()
    with lease.hold(store, lease.lease_name(lease.PULL, "sap"), ttl=30):  # a manual pull runs: the job is skipped
        job = threading.Thread(target=lambda: outcomes.append(execute(ctx, spec)))  # the scheduler's own thread
        job.start()
        job.join(10)
    assert outcomes[1].status == "skipped" and lease.default_owner() in outcomes[1].message
    assert not entered.is_set()
