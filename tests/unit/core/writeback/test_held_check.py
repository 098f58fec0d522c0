"""Compare before write: a value a person changed since the plan is a conflict, never overwritten."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.model import ReconException, Run
from core.reconcile import list_exceptions
from core.store import read_frame
from core.writeback import outbox
from core.writeback.apply import apply_plan, plan_outcome
from core.writeback.plan import make_plan
from tests.unit.core.writeback import wb_support as s
from tests.unit.core.writeback.test_apply import states

pytestmark = pytest.mark.unit
SS, ROP = "SafetyStockQuantity", "ReorderThresholdQuantity"


def setup(store, tmp_path, name: str, its: list[dict], **cfg):
    s.seed(store, its)
    world = s.world_from_store(name, its)
    config = s.make_config(tmp_path, name, **cfg)
    return config, world, make_plan(config, store)


def record(world, product: str) -> dict:
    return world.records[s.ENTITY][s.key_json(product, "1010")]


def written(world, product: str) -> list[dict]:
    return [values for _, k, values in world.writes if k == s.key_json(product, "1010")]


def test_each_field_is_written_kept_or_a_conflict_by_what_the_system_holds(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "cmp", s.items(4))
    record(world, "P0001")[SS] = "555.000"                               # a person's edit since the plan
    record(world, "P0002").update({SS: "13.000", ROP: "25.000"})         # already holds the intended values
    del world.records[s.ENTITY][s.key_json("P0003", "1010")]             # gone: nothing held to protect
    result = apply_plan(config, store, plan.id)

    got = states(store, plan.id)
    assert got == {"P0000.SafetyStockQuantity": "applied", "P0000.ReorderThresholdQuantity": "applied",
                   "P0001.SafetyStockQuantity": "conflict", "P0001.ReorderThresholdQuantity": "applied",
                   "P0002.SafetyStockQuantity": "applied", "P0002.ReorderThresholdQuantity": "applied",
                   "P0003.SafetyStockQuantity": "applied", "P0003.ReorderThresholdQuantity": "applied"}
    assert written(world, "P0000") == [{SS: "11.000", ROP: "21.000"}]
    assert written(world, "P0001") == [{ROP: "23.000"}]                  # only the field nobody touched
    assert written(world, "P0002") == [] and written(world, "P0003") == [{SS: "14.000", ROP: "27.000"}]
    assert record(world, "P0001")[SS] == "555.000"                        # the person's value stays
    conflicts = outbox.changes_in(store, plan.id, "conflict")
    msgs = dict(zip(conflicts["target_key"] + "." + conflicts["field"], conflicts["message"], strict=False))
    assert msgs[s.key_json("P0001", "1010") + "." + SS] == (
        "changed in sap since the plan: the plan saw 11.000, sap holds 555.000 (intended 12.000); not written")
    already = outbox.changes_in(store, plan.id, "applied")
    assert set(already[already["target_key"] == s.key_json("P0002", "1010")]["message"]) == {
        "the system already holds the intended value; not written"}
    assert (result.ok, result.status, result.conflicts) == (True, "partial", 1)
    assert result.systems["sap"] == {"applied": 7, "rejected": 0, "failed": 0, "pending": 0, "conflict": 1}


def test_a_conflict_is_a_steward_exception_with_the_seen_held_and_intended_values(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "exc", s.items(2))
    record(world, "P0000")[SS] = "555.000"
    result = apply_plan(config, store, plan.id)
    [exc] = list_exceptions(store, kind=["writeback_conflict"])
    assert (exc.status, exc.severity, exc.system, exc.entity, exc.field) == ("open", "high", "sap", s.ENTITY, SS)
    assert json.loads(exc.entity_key) == {"Plant": "1010", "Product": "P0000"}
    assert (exc.expected, exc.actual, exc.run_id) == ("11.000", "555.000", result.run_id)
    assert exc.reason.startswith(f"plan {plan.id} saw 10.000; changed in sap since the plan")
    with store.connect() as conn:
        run = conn.execute(select(Run.__table__).where(Run.__table__.c.id == result.run_id)).one()
    assert run.status == "exceptions"  # like a reconcile that leaves exceptions, not a failed run
    # the conflict is final: a rerun sends nothing and files nothing new
    rerun = apply_plan(config, store, plan.id)
    assert (rerun.requests, len(read_frame(store, select(ReconException.__table__)))) == (0, 1)


def test_a_plan_that_saw_no_value_has_no_expectation_and_writes(store, tmp_path):
    its = s.items(1)
    its[0]["cur_ss"] = None                                              # the plan did not know the value
    config, world, plan = setup(store, tmp_path, "unknown", its)
    record(world, "P0000")[SS] = "99.000"
    result = apply_plan(config, store, plan.id)
    assert result.status == "applied" and record(world, "P0000")[SS] == "11.000"


def test_a_412_goes_back_to_pending_and_the_next_round_reads_again(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "412", s.items(2))
    world.conflict[s.key_json("P0000", "1010")] = 1                      # ETag changed, value did not
    world.conflict[s.key_json("P0001", "1010")] = 1                      # ETag changed: a person set 777

    def person_edits(w):
        w.before_write = None
        record(w, "P0001")[SS] = "777.000"
    world.before_write = person_edits
    world.etags = {s.key_json("P0000", "1010"): 'W/"fresh-0"', s.key_json("P0001", "1010"): 'W/"fresh-1"'}
    result = apply_plan(config, store, plan.id)
    got = states(store, plan.id)
    assert got["P0000.SafetyStockQuantity"] == "applied" and record(world, "P0000")[SS] == "11.000"
    assert (got["P0001.SafetyStockQuantity"], got["P0001.ReorderThresholdQuantity"]) == ("conflict", "applied")
    assert record(world, "P0001")[SS] == "777.000"
    # the item carried the ETag read just before the write (If-Match), not the last pull's
    assert set(world.etags_sent) == {(s.key_json("P0000", "1010"), 'W/"fresh-0"'),
                                     (s.key_json("P0001", "1010"), 'W/"fresh-1"')}
    assert result.requests == 2 and result.conflicts == 1


def test_412_until_max_attempts_fails(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "412max", s.items(1), writeback={"max_attempts": 2})
    world.conflict[s.key_json("P0000", "1010")] = 9
    result = apply_plan(config, store, plan.id)
    failed = outbox.changes_in(store, plan.id, "failed")
    assert (result.ok, len(failed), set(failed["attempts"])) == (False, 2, {2})
    assert set(failed["message"]) == {"gave up after retries: HTTP 412: precondition failed: the ETag changed"}


def test_an_interrupted_send_is_verified_then_compared_before_it_is_sent_again(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "sent", s.items(2))
    items = outbox.group_items(outbox.changes_in(store, plan.id, "pending"))
    outbox.mark_sent(store, items[0].change_ids + items[1].change_ids, "r0-sap-1")
    record(world, "P0000").update(items[0].item.values)                  # our own send had landed
    record(world, "P0001")[SS] = "555.000"                               # a person edited the other one
    result = apply_plan(config, store, plan.id)
    got = states(store, plan.id)
    assert (result.verified, result.requeued) == (2, 2)
    assert got["P0000.SafetyStockQuantity"] == "applied" and written(world, "P0000") == []
    assert got["P0001.SafetyStockQuantity"] == "conflict" and record(world, "P0001")[SS] == "555.000"


def test_rollback_over_a_later_manual_edit_is_a_conflict(store, tmp_path):
    its = s.items(1)
    s.seed(store, its)
    world = s.world_from_store("rbedit", its)
    cfg = s.make_config(tmp_path, "rbedit")
    applied = apply_plan(cfg, store, make_plan(cfg, store).id)
    record(world, "P0000")[SS] = "777.000"                               # a planner fixes it by hand
    rollback = make_plan(cfg, store, rollback_of=applied.run_id)
    result = apply_plan(cfg, store, rollback.id)
    got = states(store, rollback.id)
    assert (got["P0000.SafetyStockQuantity"], got["P0000.ReorderThresholdQuantity"]) == ("conflict", "applied")
    assert record(world, "P0000")[SS] == "777.000" and record(world, "P0000")[ROP] == "20.000"
    assert result.conflicts == 1 and list_exceptions(store, kind=["writeback_conflict"])[0].actual == "777.000"


def test_dry_run_reads_nothing(store, tmp_path):
    config, world, plan = setup(store, tmp_path, "dryc", s.items(2))
    apply_plan(config, store, plan.id, dry_run=True)
    assert (world.reads, world.requests) == (0, 0)


def test_plan_outcome_counts_conflicts_as_not_landed():
    assert plan_outcome({"sap": {"applied": 3, "conflict": 1}}) == "partial"
    assert plan_outcome({"sap": {"applied": 3}}) == "applied"
    assert plan_outcome({"sap": {"conflict": 1, "pending": 1}}) == "applying"


def test_cli_reports_conflicts_and_exits_3(tmp_path, run_cli, monkeypatch):
    from core.migrate import ensure_schema
    from core.store import open_store

    monkeypatch.setenv("COLUMNS", "200")
    db = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    ensure_schema(db)
    its = s.items(2)
    s.seed(db, its)
    world = s.world_from_store("clic", its)
    (tmp_path / "memsap.yaml").write_text(s.MAPPING, encoding="utf-8")
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(f"""
database: {{url: "sqlite:///{tmp_path / 'cli.db'}"}}
systems:
  sap: {{kind: memory, mapping: memsap.yaml, options: {{world: clic}}}}
writeback: {{retry_backoff_seconds: 0}}
""", encoding="utf-8")
    assert run_cli("-c", str(cfg), "plan")[0] == 0
    record(world, "P0001")[SS] = "555.000"
    code, text = run_cli("-c", str(cfg), "apply")
    assert code == 3, text
    header = next(line for line in text.splitlines() if "system" in line and "applied" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == [
        "system", "applied", "conflict", "rejected", "failed", "pending"]
    assert ("1 change(s) not written: changed in the system since the plan (a person's edit wins); "
            "see `segbridge exceptions list --kind writeback_conflict`") in " ".join(text.split())
    assert "sap holds 555.000" in text
    code, text = run_cli("-c", str(cfg), "exceptions", "list", "--kind", "writeback_conflict")
    assert code == 0 and "555.000" in text
    db.dispose()
