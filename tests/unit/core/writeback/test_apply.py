"""The outbox against an in-memory system: batching, rejections, retries, exactly once, crash recovery."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from sqlalchemy import select

from basics.errors import BlockedError
from basics.users import current_user
from core.model import AuditEvent, Plan, PlannedChange, Run
from core.store import read_frame
from core.writeback import outbox
from core.writeback.apply import apply_plan
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit


def setup(store, tmp_path, name: str, n: int = 7, **cfg):
    its = s.items(n)
    s.seed(store, its)
    world = s.world_from_store(name, its)
    config = s.make_config(tmp_path, name, **cfg)
    return config, world, make_plan(config, store)


def states(store, plan_id: int) -> dict[str, str]:
    pc = PlannedChange.__table__
    frame = read_frame(store, select(pc).where(pc.c.plan_id == plan_id))
    return {f"{json.loads(k)['Product']}.{f}": st for k, f, st in zip(frame["target_key"], frame["field"],
                                                                       frame["state"], strict=False)}


def writes_per_record(world) -> Counter:
    return Counter(k for _, k, _ in world.writes)


def test_batches_group_all_fields_of_a_record(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "batch", n=7)
    result = apply_plan(config, store, plan.id)
    assert (result.requests, result.items, result.status, result.ok) == (3, 7, "applied", True)
    assert result.systems == {"sap": {"applied": 14, "rejected": 0, "failed": 0, "pending": 0, "conflict": 0}}
    assert all(set(values) == {"SafetyStockQuantity", "ReorderThresholdQuantity"} for _, _, values in world.writes)
    assert set(writes_per_record(world).values()) == {1} and len(world.writes) == 7
    assert world.value("P0003", "1010", "SafetyStockQuantity") == "14.000"
    pc = PlannedChange.__table__
    batches = read_frame(store, select(pc.c.batch_id).where(pc.c.plan_id == plan.id))["batch_id"]
    assert sorted(set(batches)) == [f"r{result.run_id}-sap-1", f"r{result.run_id}-sap-2", f"r{result.run_id}-sap-3"]
    with store.connect() as conn:
        run = conn.execute(select(Run.__table__).where(Run.__table__.c.id == result.run_id)).one()
        events = conn.execute(select(AuditEvent.__table__).where(AuditEvent.action == "apply")).all()
    assert (run.kind, run.status, run.parent_run_id) == ("apply", "ok", plan.run_id)
    assert len(events) == 1 and json.loads(events[0].after)["requests"] == 3


def test_rejections_are_recorded_with_the_systems_message(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "rej", n=4)
    world.reject[s.key_json("P0002", "1010")] = "Plant 1010 is locked for planning"
    result = apply_plan(config, store, plan.id)
    assert not result.ok and result.status == "partial"
    assert result.systems["sap"] == {"applied": 6, "rejected": 2, "failed": 0, "pending": 0, "conflict": 0}
    rejected = outbox.changes_in(store, plan.id, "rejected")
    assert set(rejected["message"]) == {"HTTP 400: Plant 1010 is locked for planning"}
    assert world.value("P0002", "1010", "SafetyStockQuantity") == "12.000"
    rerun = apply_plan(config, store, plan.id)
    assert rerun.requests == 0 and len(world.writes) == 3


def test_retriable_items_are_retried_until_applied(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "retry", n=3)
    world.retriable[s.key_json("P0001", "1010")] = 2
    result = apply_plan(config, store, plan.id)
    assert result.ok and result.requests == 3
    pc = PlannedChange.__table__
    frame = read_frame(store, select(pc).where(pc.c.plan_id == plan.id))
    attempts = dict(zip(frame["target_key"] + "." + frame["field"], frame["attempts"], strict=False))
    assert attempts[s.key_json("P0001", "1010") + ".SafetyStockQuantity"] == 3
    assert attempts[s.key_json("P0000", "1010") + ".SafetyStockQuantity"] == 1
    assert writes_per_record(world)[s.key_json("P0001", "1010")] == 1


def test_retriable_items_fail_at_max_attempts(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "giveup", n=2, writeback={"max_attempts": 2})
    world.retriable[s.key_json("P0000", "1010")] = 5
    result = apply_plan(config, store, plan.id)
    assert result.systems["sap"] == {"applied": 2, "rejected": 0, "failed": 2, "pending": 0, "conflict": 0}
    failed = outbox.changes_in(store, plan.id, "failed")
    assert set(failed["message"]) == {"gave up after retries: HTTP 503: busy, try later"}
    assert set(failed["attempts"]) == {2}


def test_sent_changes_are_verified_by_read_back_not_resent(store, tmp_path):
    """A crash after `sent` was committed: one record reached the target, one did not."""
    config, world, plan = setup(store, tmp_path, "crash", n=3)
    pending = outbox.changes_in(store, plan.id, "pending")
    items = outbox.group_items(pending)
    outbox.mark_sent(store, items[0].change_ids + items[1].change_ids, "r0-sap-1")
    reached = items[0].item
    world.records[s.ENTITY][json.dumps(reached.key, sort_keys=True)].update(reached.values)
    result = apply_plan(config, store, plan.id)
    assert (result.verified, result.requeued, result.ok) == (2, 2, True)
    assert writes_per_record(world) == Counter({s.key_json("P0001", "1010"): 1, s.key_json("P0002", "1010"): 1})
    verified = outbox.changes_in(store, plan.id, "applied")
    msgs = dict(zip(verified["target_key"], verified["message"], strict=False))
    assert msgs[s.key_json("P0000", "1010")] == "verified by read-back after an interrupted send"


def test_connection_lost_after_the_target_applied(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "lost", n=5)
    world.raise_on_request.add(1)
    world.fail_before_apply.add(2)
    result = apply_plan(config, store, plan.id)
    assert result.ok and set(states(store, plan.id).values()) == {"applied"}
    assert set(writes_per_record(world).values()) == {1} and len(world.writes) == 5


def test_refuses_unapproved_and_blocked_plans(store, tmp_path):
    its = s.items(2)
    s.seed(store, its)
    s.world_from_store("refuse", its)
    cfg = s.make_config(tmp_path, "refuse", writeback={"guardrails": {"approval_required": True}})
    plan = make_plan(cfg, store)
    with pytest.raises(BlockedError, match="needs approval") as err:
        apply_plan(cfg, store, plan.id)
    assert f"segbridge approve {plan.id}" in err.value.hint
    with store.begin() as conn:
        conn.execute(Plan.__table__.update().where(Plan.__table__.c.id == plan.id).values(status="blocked"))
    with pytest.raises(BlockedError, match="blocked"):
        apply_plan(cfg, store, plan.id)


def test_dry_run_changes_nothing(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "dry", n=7)
    result = apply_plan(config, store, plan.id, dry_run=True)
    assert (result.dry_run, result.items, result.requests) == (True, 7, 3)
    assert world.writes == [] and set(states(store, plan.id).values()) == {"pending"}


def test_stop_event_leaves_the_rest_pending_and_a_rerun_finishes(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "stop", n=6)
    stop = threading.Event()
    stop.set()
    first = apply_plan(config, store, plan.id, stop_event=stop)
    assert (first.requests, first.stopped, first.status) == (0, True, "applying")
    second = apply_plan(config, store, plan.id)
    assert (second.requests, second.status) == (2, "applied")
    assert len(world.writes) == 6


def test_cli_plan_approve_apply(tmp_path, monkeypatch, run_cli):
    from core.migrate import ensure_schema
    from core.store import open_store

    monkeypatch.setenv("COLUMNS", "200")
    db = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    ensure_schema(db)
    its = s.items(4, changed=3)
    s.seed(db, its)
    world = s.world_from_store("cli", its)
    world.reject[s.key_json("P0002", "1010")] = "material locked"
    cfg = tmp_path / "segbridge.yaml"
    (tmp_path / "memsap.yaml").write_text(s.MAPPING, encoding="utf-8")
    cfg.write_text(f"""
database: {{url: "sqlite:///{tmp_path / 'cli.db'}"}}
systems:
  sap: {{kind: memory, mapping: memsap.yaml, options: {{world: cli}}, write: {{batch_size: 2}}}}
writeback: {{retry_backoff_seconds: 0, four_eyes: false, guardrails: {{approval_required: true}}}}
""", encoding="utf-8")
    code, text = run_cli("-c", str(cfg), "plan")
    assert code == 0 and "6 change(s) of 12 compared; status needs_approval" in text
    assert str(tmp_path / "plans" / "plan-1.csv") in text
    code, text = run_cli("-c", str(cfg), "apply")
    assert code == 1 and "plan 1 needs approval" in text and "segbridge approve 1" in text
    code, text = run_cli("-c", str(cfg), "approve", "1", "--reason", "checked")  # planner approves: four_eyes off
    assert code == 0 and f"plan 1 approved by {current_user()} (planned by {current_user()}): checked" in text
    code, text = run_cli("-c", str(cfg), "apply", "--dry-run")
    assert code == 0 and "would send 3 item(s) in 2 request(s)" in text and world.writes == []
    code, text = run_cli("-c", str(cfg), "apply", "1")
    assert code == 1 and "sent 3 item(s) in 2 request(s)" in text and "material locked" in text
    assert len(world.writes) == 2
    db.dispose()


def test_apply_reports_progress_per_system_and_finishes_at_the_changes_it_settled(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "progress", n=5)
    events = []
    result = apply_plan(config, store, plan.id, progress=events.append)
    assert result.status == "applied"
    assert {e.label for e in events} == {"apply sap"}
    assert events[0].total == 10  # five records, two fields each: ten open changes
    assert events[-1].finished and events[-1].done == events[-1].total == 10
    assert [e.done for e in events] == sorted(e.done for e in events)


class RefusingConnector(s.MemoryConnector):
    """The memory system behind a login that refuses the integration user: every write request (or,
    with `read_back` in `world.retriable["__refuse__"]`, every read-back) answers 401 as AuthError."""

    kind = "memory_auth_refused"

    def _refuses(self, what: str) -> bool:
        return what in self.world.retriable.get("__refuse__", {"write"})

    def write(self, batch):
        from connectors.connector_errors import AuthError

        if self._refuses("write"):
            self.world.requests += 1
            raise AuthError("PATCH https://erp.example.com/api/items: HTTP 401: Unauthorized")
        return super().write(batch)

    def read_back(self, target, keys):
        from connectors.connector_errors import AuthError

        if self._refuses("read_back"):
            self.world.reads += 1
            raise AuthError("GET https://erp.example.com/api/items: HTTP 401: Unauthorized")
        return super().read_back(target, keys)


s.registry.register(RefusingConnector)


@pytest.mark.parametrize("refused, writes, reads", [("write", 1, 1), ("read_back", 0, 1)])
def test_an_authentication_refusal_stops_sending_to_that_system_at_once(store, tmp_path, refused, writes, reads):
    config, world, plan = setup(store, tmp_path, f"auth-{refused}", n=7, kind="memory_auth_refused")
    world.retriable["__refuse__"] = {refused}
    result = apply_plan(config, store, plan.id)
    # one refused request (the read before the first batch, or its write), not one per batch of 3: no login storm
    assert (world.requests, world.reads) == (writes, reads)
    assert world.writes == []
    assert result.systems["sap"] == {"applied": 0, "rejected": 0, "failed": 0, "pending": 14, "conflict": 0}
    assert not result.ok and result.status == "applying"
    error = result.errors["sap"]
    assert error.startswith("sap: authentication failed: ") and "HTTP 401: Unauthorized" in error
    assert "nothing more was sent to sap" in error
    with store.connect() as conn:
        run = conn.execute(select(Run.__table__).where(Run.__table__.c.id == result.run_id)).one()
    assert (run.status, run.message) == ("failed", error)
    pending = outbox.changes_in(store, plan.id, "pending")
    assert set(pending["attempts"]) == {0}  # not counted as tries: nothing reached the system

    world.retriable["__refuse__"] = set()  # the credentials are fixed: a rerun sends everything
    rerun = apply_plan(config, store, plan.id)
    assert rerun.ok and rerun.status == "applied" and len(world.writes) == 7


class CountingMemoryConnector(s.MemoryConnector):
    """The memory system reporting the requests it was sent: each write and each read-back is one."""

    kind = "memory_counting"

    def requests_sent(self) -> int:
        return self.world.requests + self.world.reads


s.registry.register(CountingMemoryConnector)


def test_apply_counts_the_requests_the_connector_really_sent_not_the_batches(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "counting", n=7, kind="memory_counting")
    result = apply_plan(config, store, plan.id)
    assert result.ok and result.items == 7
    assert (world.requests, world.reads) == (3, 3)  # 3 batches, each read back before its write
    assert result.requests == 6
