"""Two `segbridge apply` processes on one plan at once, 10 seeded rounds on SQLite and on PostgreSQL.

Each round makes a new plan (20 SAP records, 2 fields each) and has two processes run the real
CLI `segbridge apply PLAN` (`segbridge.cli.main`) on it against the SAP OData sandbox (a thread
of this process, which records every request). The two are `multiprocessing` spawn workers
started once for all rounds (a fresh interpreter costs seconds here), each its own process with
its own lease owner host:pid:uuid. The timing is seeded per round:

- `gate`: the sandbox holds the first write request until one of the two processes has exited,
  so the second process certainly meets the first one's lease `write:sap`;
- `stagger`: the second process starts once the first has made 0..6 sandbox requests (it may
  meet the lease, or start after the first finished and find nothing left to send).

Every round: each record is written exactly once, every change is applied, and a process that
did not write exited 1 naming the holder (host, pid, since when) and "wait for it to finish",
or exited 0 having sent nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from core.migrate import ensure_schema
from core.model import ParameterValue, PlannedChange, Run
from core.settings import load_config
from core.store import open_store, read_frame, upsert
from core.writeback.plan import make_plan
from sandbox.sap_odata import build_app
from sandbox.server import serve
from tests.conftest import drop_pg_schema, pg_schema_url
from tests.e2e.test_apply_crash import planning_rows, seed_store, writes_in_log

pytestmark = pytest.mark.e2e
SEED = 17
ROUNDS = 10
RECORDS = 20  # the sandbox's own TG01..TG10 x plants 1010/1020


def _config(tmp_path: Path, db_url: str, sandbox_url: str) -> Path:
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(f"""
database: {{url: "{db_url}"}}
systems:
  sap:
    kind: sap_odata
    mapping: sap_s4.yaml
    options: {{base_url: "{sandbox_url}", max_attempts: 2, backoff_initial: 0, read_timeout: 30}}
    write: {{batch_size: 2}}
writeback: {{retry_backoff_seconds: 0, out_dir: "{tmp_path / 'plans'}"}}
""", encoding="utf-8")
    return cfg


def _new_targets(db, rows: list[dict], bump: int) -> None:
    """A new segment run whose parameters differ from what the systems hold, so the plan has 40 changes."""
    with db.begin() as conn:
        run_id = conn.execute(insert(Run.__table__).values(kind="segment", status="ok")).inserted_primary_key[0]
    params = []
    for r in rows:
        key = f"{r['Product']}|{r['Plant']}"
        params += [{"run_id": run_id, "entity": "product_location", "entity_key": key, "name": "safety_stock",
                    "value_num": r["ss"] + bump}, {"run_id": run_id, "entity": "product_location",
                                                   "entity_key": key, "name": "reorder_point",
                                                   "value_num": r["rop"] + bump}]
    upsert(db, ParameterValue, params)


class Gate:
    """Holds write requests in the sandbox while closed (the test opens it on a condition)."""

    def __init__(self, app):
        self.open = threading.Event()
        self.open.set()
        self.held = threading.Event()
        dispatch = app.dispatch

        def gated(req):
            if req.method in ("PATCH", "MERGE", "PUT") or req.path.endswith("$batch"):
                if not self.open.is_set():
                    self.held.set()
                    self.open.wait(60)
            return dispatch(req)

        app.dispatch = gated


def apply_worker(cfg: str, inbox, outbox) -> None:
    """A spawned process: for each plan id received, `segbridge -c CFG apply PLAN`; sends (exit code, output)."""
    import contextlib
    import io

    from segbridge.cli import main

    os.environ["COLUMNS"] = "200"
    for plan_id in iter(inbox.get, None):
        buf, code = io.StringIO(), 0
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                main(["-c", cfg, "apply", str(plan_id)])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        outbox.put((code, buf.getvalue()))


class Appliers:
    """Two worker processes; `go(i, plan)` starts worker i on a plan, `result(i)` waits for its outcome."""

    def __init__(self, cfg: Path):
        ctx = multiprocessing.get_context("spawn")
        self.inboxes = [ctx.Queue(), ctx.Queue()]
        self.outboxes = [ctx.Queue(), ctx.Queue()]
        self.procs = [ctx.Process(target=apply_worker, args=(str(cfg), i, o), daemon=True)
                      for i, o in zip(self.inboxes, self.outboxes, strict=True)]
        for proc in self.procs:
            proc.start()
        self.done: dict[int, tuple[int, str]] = {}

    def go(self, i: int, plan_id: int) -> None:
        self.done.pop(i, None)
        self.inboxes[i].put(plan_id)

    def finished(self, i: int) -> bool:
        if i not in self.done and not self.outboxes[i].empty():
            self.done[i] = self.outboxes[i].get()
        return i in self.done

    def result(self, i: int) -> tuple[int, str]:
        if i not in self.done:
            self.done[i] = self.outboxes[i].get(timeout=120)
        return self.done[i]

    def close(self) -> None:
        for inbox, proc in zip(self.inboxes, self.procs, strict=True):
            inbox.put(None)
            proc.join(30)


def _wait(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _round(appliers: Appliers, plan_id: int, app, gate: Gate, mode: str, lead: int,
           first: int) -> list[tuple[int, str]]:
    """Run the two appliers of one round (`first` starts first); returns (exit code, output) of each."""
    second = 1 - first
    if mode == "gate":
        gate.open.clear()
        appliers.go(first, plan_id)
        appliers.go(second, plan_id)
        _wait(lambda: appliers.finished(first) or appliers.finished(second), "one applier to give way")
        gate.open.set()
    else:
        start = len(app.log)
        appliers.go(first, plan_id)
        _wait(lambda: len(app.log) >= start + lead or appliers.finished(first), "the first applier's requests")
        appliers.go(second, plan_id)
    return [appliers.result(first), appliers.result(second)]


def _check_round(db, app, plan_id: int, log_from: int, results: list[tuple[int, str]], rows: list[dict],
                 bump: int) -> int:
    """Every change applied and each record written once in this round; returns how many gave way."""
    pc = PlannedChange.__table__
    states = read_frame(db, select(pc.c.state).where(pc.c.plan_id == plan_id))["state"]
    assert set(states) == {"applied"} and len(states) == 2 * RECORDS, states.value_counts()
    for r in rows:
        held = app.state.entity("API_PRODUCT_SRV", "A_ProductSupplyPlanning", {"Product": r["Product"],
                                                                                  "Plant": r["Plant"]})
        assert float(held["SafetyStockQuantity"]) == r["ss"] + bump
    writes = writes_in_log(_Slice(app.log[log_from:]))
    assert len(writes) == RECORDS and set(writes.values()) == {1}, writes.most_common(3)
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 1]), results
    gave_way = [text for code, text in results if code == 1]
    for text in gave_way:
        flat = " ".join(text.split())
        assert "'write:sap' is running elsewhere: lease held by host" in flat and " pid " in flat, text
        assert " since " in flat and "wait for it to finish" in flat, text
    for code, text in results:
        if code == 0 and "sent 0 item(s)" not in text:
            assert "sent 20 item(s)" in text, text  # the writer sent everything, once
    return len(gave_way)


class _Slice:
    def __init__(self, log):
        self.log = log


def _rounds(tmp_path: Path, db, db_url: str) -> None:
    rows = planning_rows()[:RECORDS]
    app = build_app()
    gate = Gate(app)
    rng = random.Random(SEED)
    with serve(app) as server:
        cfg = _config(tmp_path, db_url, server.url)
        seed_store(db, rows)  # what the systems hold now (the sandbox's own values)
        appliers = Appliers(cfg)
        try:
            gave_way = 0
            for n in range(ROUNDS):
                bump = 10 * (n + 1)
                _new_targets(db, rows, bump)
                plan = make_plan(load_config(cfg), db)
                assert (plan.status, json.loads(plan.summary)["changes"]) == ("ready", 2 * RECORDS), plan.reason
                mode = "gate" if n % 2 == 0 else "stagger"  # seeded: which starts first, the stagger
                log_from = len(app.log)
                results = _round(appliers, plan.id, app, gate, mode, rng.randint(0, 6), rng.randint(0, 1))
                gave_way += _check_round(db, app, plan.id, log_from, results, rows, bump)
        finally:
            appliers.close()
        assert gave_way >= ROUNDS // 2, gave_way  # at least every gated round met the lease


def test_two_appliers_on_sqlite_write_each_record_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    db = open_store(url)
    ensure_schema(db)
    try:
        _rounds(tmp_path, db, url)
    finally:
        db.dispose()


@pytest.mark.postgres
def test_two_appliers_on_postgres_write_each_record_once(tmp_path):
    schema, url = pg_schema_url()
    db = open_store(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        ensure_schema(db)
        _rounds(tmp_path, db, f"{url}?options=-csearch_path%3D{schema}")
    finally:
        db.dispose()
        drop_pg_schema(schema)
