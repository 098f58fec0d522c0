"""Exceptions stay one record across runs, reopen when they recur, and every status change is audited."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from basics.errors import ConfigError
from core.model import AuditEvent, ReconException
from core.reconcile.discrepancies import (
    Observation,
    fingerprint,
    get_exception,
    history,
    list_exceptions,
    transition,
    transition_many,
    upsert_observations,
)

pytestmark = pytest.mark.unit


def obs(key="{\"Product\": \"P1\", \"Plant\": \"1010\"}", actual="5", system="sap", kind="value_mismatch"):
    return Observation(kind, system, "A_ProductSupplyPlanning", key, "SafetyStockQuantity",
                       expected="10.000", actual=actual, severity="medium", owner="mdm@example.com")


def rows(db):
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(ReconException.__table__)
                                                       .order_by(ReconException.__table__.c.id))]


def test_fingerprint_depends_on_kind_system_entity_key_field_only():
    a = fingerprint("value_mismatch", "sap", "E", "K", "F")
    assert a == fingerprint("value_mismatch", "sap", "E", "K", "F")
    assert a.startswith("rc:")
    assert len({a, fingerprint("orphan", "sap", "E", "K", "F"), fingerprint("value_mismatch", "wms", "E", "K", "F"),
                fingerprint("value_mismatch", "sap", "E2", "K", "F"), fingerprint("value_mismatch", "sap", "E", "K2", "F"),
                fingerprint("value_mismatch", "sap", "E", "K", "F2")}) == 6
    assert obs(actual="1").fingerprint == obs(actual="2").fingerprint


def test_same_exception_across_runs_is_one_record(store):
    first = upsert_observations(store, [obs(actual="5")], run_id=1)
    second = upsert_observations(store, [obs(actual="6")], run_id=2)
    assert len(first.new) == 1 and second.new == [] and second.recurring == first.new
    [row] = rows(store)
    assert (row["count"], row["run_id"], row["status"], row["actual"], row["expected"]) == (2, 2, "open", "6", "10.000")
    assert row["owner"] == "mdm@example.com"
    assert row["last_seen"] >= row["first_seen"]


def test_lifecycle_open_ack_resolve_reopen_with_audit(store):
    [exc_id] = upsert_observations(store, [obs()], run_id=1).new
    assert transition(store, exc_id, "acknowledged", actor="ann").status == "acknowledged"
    resolved = transition(store, exc_id, "resolved", reason="fixed in SAP by hand", actor="ann")
    assert (resolved.status, resolved.reason) == ("resolved", "fixed in SAP by hand")
    res = upsert_observations(store, [obs()], run_id=2)
    assert res.reopened == [exc_id]
    again = get_exception(store, exc_id)
    assert (again.status, again.count) == ("open", 2)
    trail = [(e.action, e.before, e.after, e.actor) for e in history(store, exc_id)]
    assert trail == [("exception_acknowledged", "open", "acknowledged", "ann"),
                     ("exception_resolved", "acknowledged", "resolved", "ann"),
                     ("exception_reopened", "resolved", "open", "segbridge")]


def test_waived_stays_waived_when_seen_again(store):
    [exc_id] = upsert_observations(store, [obs()], run_id=1).new
    transition(store, exc_id, "waived", reason="planner keeps a manual buffer", actor="bob")
    res = upsert_observations(store, [obs()], run_id=2)
    assert res.recurring == [exc_id] and res.reopened == []
    row = get_exception(store, exc_id)
    assert (row.status, row.count, row.reason) == ("waived", 2, "planner keeps a manual buffer")


def test_auto_resolve_only_within_scope(store):
    ids = upsert_observations(store, [obs(key="k1"), obs(key="k2"), obs(key="k3", system="wms")], run_id=1).new
    res = upsert_observations(store, [obs(key="k1")], run_id=2, scope_systems=["sap"],
                              scope_kinds=["value_mismatch"])
    assert res.auto_resolved == [ids[1]]
    by_id = {r["id"]: r for r in rows(store)}
    assert [by_id[i]["status"] for i in ids] == ["open", "resolved", "open"]
    assert by_id[ids[1]]["reason"] == "no longer observed in run 2"
    assert [(e.action, e.actor) for e in history(store, ids[1])] == [("exception_resolved", "segbridge")]


def test_auto_resolve_leaves_waived_and_foreign_fingerprints(store):
    ids = upsert_observations(store, [obs(key="k1"), obs(key="k2")], run_id=1).new
    transition(store, ids[0], "waived", reason="accepted")
    with store.begin() as conn:
        conn.execute(ReconException.__table__.insert().values(
            fingerprint="xw:abc", kind="conflict", system="sap", entity="customer", status="open"))
    res = upsert_observations(store, [], run_id=2, auto_resolve=True)
    assert res.auto_resolved == [ids[1]]
    statuses = {r["fingerprint"][:3] + str(r["id"]): r["status"] for r in rows(store)}
    assert sorted(statuses.values()) == ["open", "resolved", "waived"]
    assert upsert_observations(store, [], run_id=3, auto_resolve=False).auto_resolved == []


def test_transition_rules(store):
    [exc_id] = upsert_observations(store, [obs()], run_id=1).new
    with pytest.raises(ConfigError, match="reason is required"):
        transition(store, exc_id, "waived")
    with pytest.raises(ConfigError, match="reason is required"):
        transition(store, exc_id, "resolved", reason="  ")
    transition(store, exc_id, "resolved", reason="done")
    with pytest.raises(ConfigError, match="exception .* is resolved; it cannot become acknowledged"):
        transition(store, exc_id, "acknowledged")
    with pytest.raises(ConfigError, match="no exception with id 999"):
        transition(store, 999, "acknowledged")
    with pytest.raises(ConfigError, match="unknown status"):
        transition(store, exc_id, "closed")
    with store.connect() as conn:
        n = conn.execute(select(AuditEvent.__table__)).fetchall()
    assert len(n) == 1


def test_list_filters(store):
    upsert_observations(store, [obs(key="k1"), obs(key="k2", system="wms"),
                                obs(key="k3", kind="orphan")], run_id=1)
    assert len(list_exceptions(store)) == 3
    assert [e.entity_key for e in list_exceptions(store, system=["wms"])] == ["k2"]
    assert [e.entity_key for e in list_exceptions(store, kind=["orphan"])] == ["k3"]
    assert list_exceptions(store, status=["resolved"]) == []
    assert len(list_exceptions(store, severity=["medium"], status=["open"])) == 3


def _sb(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "segbridge", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_cli_list_ack_resolve_waive_report(tmp_path):
    from core.migrate import upgrade
    from core.store import open_store

    (tmp_path / "segbridge.yaml").write_text("database:\n  url: sqlite:///store.db\n", encoding="utf-8")
    db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    ids = upsert_observations(db, [obs(key="k1"), obs(key="k2", system="wms")], run_id=None).new
    db.dispose()
    listed = _sb("exceptions", "list", "--system", "wms", cwd=tmp_path)
    assert listed.returncode == 0 and "1 exception(s)" in listed.stdout and "k2" in listed.stdout
    assert _sb("exceptions", "ack", str(ids[0]), "--by", "ann", cwd=tmp_path).returncode == 0
    missing_reason = _sb("exceptions", "resolve", str(ids[0]), cwd=tmp_path)
    assert missing_reason.returncode == 2 and "a reason is required" in missing_reason.stderr
    done = _sb("exceptions", "resolve", str(ids[0]), "--reason", "fixed in SAP", "--by", "ann", cwd=tmp_path)
    assert done.returncode == 0 and "is now resolved: fixed in SAP" in done.stdout
    assert _sb("exceptions", "waive", str(ids[1]), "--reason", "accepted", cwd=tmp_path).returncode == 0
    shown = _sb("exceptions", "show", str(ids[0]), cwd=tmp_path)
    assert "exception_acknowledged" in shown.stdout and "exception_resolved" in shown.stdout
    assert _sb("exceptions", "list", "--status", "open,acknowledged", cwd=tmp_path).stdout.count("0 exception(s)") == 1
    report = _sb("exceptions", "report", "--out", "rep", cwd=tmp_path)
    assert report.returncode == 0 and (tmp_path / "rep" / "exceptions.xlsx").is_file()


def test_rerun_after_a_killed_reconcile_counts_each_difference_once(store):
    from core import runs

    finished = runs.start_run(store, "reconcile")
    upsert_observations(store, [obs(key="K1")], run_id=finished)
    runs.finish_run(store, finished, "exceptions")
    killed = runs.start_run(store, "reconcile")  # files its observations, then dies before finishing
    upsert_observations(store, [obs(key="K1"), obs(key="K2")], run_id=killed)
    runs.finish_run(store, killed, "interrupted")  # what the next command marks it
    rerun = runs.start_run(store, "reconcile")
    res = upsert_observations(store, [obs(key="K1"), obs(key="K2")], run_id=rerun)
    by_key = {r["entity_key"]: r for r in rows(store)}
    assert len(by_key) == 2
    assert (by_key["K1"]["count"], by_key["K2"]["count"]) == (2, 1)  # finished + rerun; rerun only
    assert {r["run_id"] for r in by_key.values()} == {rerun}
    assert res.new == [by_key["K2"]["id"]] and res.recurring == [by_key["K1"]["id"]]
    again = upsert_observations(store, [obs(key="K1"), obs(key="K2")], run_id=runs.start_run(store, "reconcile"))
    assert again.new == [] and [r["count"] for r in rows(store)] == [3, 2]  # a finished run's count stays


def test_transition_many_moves_all_in_one_go_with_an_audit_event_each(store, monkeypatch):
    monkeypatch.setattr("basics.users.current_user", lambda: "stew")
    ids = upsert_observations(store, [obs(key=f"k{i}") for i in range(3)], run_id=None).new
    assert transition_many(store, ids[:2], "waived", reason="accepted") == 2
    assert [r["status"] for r in rows(store)] == ["waived", "waived", "open"]
    assert [(h.actor, h.before, h.after, h.reason) for h in history(store, ids[0])] == [
        ("stew", "open", "waived", "accepted")]


def test_transition_many_is_all_or_none(store):
    ids = upsert_observations(store, [obs(key=f"k{i}") for i in range(3)], run_id=None).new
    transition(store, ids[0], "resolved", reason="fixed")
    with pytest.raises(ConfigError, match=f"exception {ids[0]} is resolved; it cannot become acknowledged"):
        transition_many(store, ids, "acknowledged")
    with pytest.raises(ConfigError, match="no exception with id 999"):
        transition_many(store, [ids[1], 999], "acknowledged")
    assert [r["status"] for r in rows(store)] == ["resolved", "open", "open"]
    assert transition_many(store, ids[1:], "acknowledged", check_only=True) == 2
    assert [r["status"] for r in rows(store)] == ["resolved", "open", "open"]  # check_only changes nothing


def test_list_exceptions_by_id(store):
    ids = upsert_observations(store, [obs(key=f"k{i}") for i in range(3)], run_id=None).new
    assert [e.id for e in list_exceptions(store, ids=[ids[0], ids[2]])] == [ids[2], ids[0]]
