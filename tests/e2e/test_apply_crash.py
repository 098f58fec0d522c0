"""SIGKILL `segbridge apply` at 10 seeded points against the SAP OData sandbox; each change lands once.

The sandbox runs in this process (a thread); each apply is a real `python -m segbridge apply`
subprocess, killed a random few sandbox requests into its work. Every rerun must carry on; at
the end the sandbox holds the plan's values and its request log shows no record written twice.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from core.migrate import ensure_schema
from core.model import ParameterValue, PlannedChange, ProductLocation, Run
from core.settings import load_config
from core.store import open_store, read_frame, upsert
from core.writeback.plan import make_plan
from sandbox.sap_odata import build_app
from sandbox.server import serve

pytestmark = pytest.mark.e2e
SEED = 8
KILLS = 10
WRITE_LINE = re.compile(r"^(PATCH|MERGE|PUT) (A_ProductSupplyPlanning\([^)]*\))", re.M)


def planning_rows() -> list[dict]:
    """The fallback world's 20 records plus 40 more, as the sandbox and the store both hold them."""
    rows = [{"Product": f"TG{n:02d}", "Plant": plant, "ss": n * 10.0, "rop": n * 20.0}
            for n in range(1, 11) for plant in ("1010", "1020")]
    rows += [{"Product": f"TX{n:03d}", "Plant": "1010", "ss": float(n), "rop": 2.0 * n} for n in range(1, 41)]
    return rows


def seed_sandbox(app, rows: list[dict]) -> None:
    extra = [{"Product": r["Product"], "Plant": r["Plant"], "MRPType": "PD", "LotSizingProcedure": "EX",
              "SafetyStockQuantity": f"{r['ss']:.3f}", "ReorderThresholdQuantity": f"{r['rop']:.3f}",
              "BaseUnit": "EA"} for r in rows if r["Product"].startswith("TX")]
    app.state.load({"API_PRODUCT_SRV": {"A_ProductSupplyPlanning": extra}})


def seed_store(db, rows: list[dict]) -> None:
    with db.begin() as conn:
        run_id = conn.execute(insert(Run.__table__).values(kind="segment", status="ok")).inserted_primary_key[0]
    upsert(db, ProductLocation, [{"product_id": r["Product"], "location_id": r["Plant"], "source_system": "sap",
                                      "current_safety_stock": r["ss"], "current_reorder_point": r["rop"]}
                                     for r in rows])
    params = []
    for r in rows:
        key = f"{r['Product']}|{r['Plant']}"
        params += [{"run_id": run_id, "entity": "product_location", "entity_key": key, "name": "safety_stock",
                    "value_num": r["ss"] + 5}, {"run_id": run_id, "entity": "product_location", "entity_key": key,
                                                "name": "reorder_point", "value_num": r["rop"] + 3}]
    upsert(db, ParameterValue, params)


def write_config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(f"""
database: {{url: "sqlite:///{tmp_path / 'store.db'}"}}
systems:
  sap:
    kind: sap_odata
    mapping: sap_s4.yaml
    options: {{base_url: "{url}", max_attempts: 2, backoff_initial: 0, read_timeout: 10}}
    write: {{batch_size: 2}}
writeback: {{retry_backoff_seconds: 0, out_dir: "{tmp_path / 'plans'}"}}
""", encoding="utf-8")
    return cfg


def run_apply(cfg: Path, plan_id: int, app, rng: random.Random | None) -> tuple[int, bool]:
    """One `segbridge apply`; with rng, SIGKILL it a few sandbox requests in. Returns (code, killed)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "segbridge", "-c", str(cfg), "apply", str(plan_id)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if rng is None:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        return proc.returncode, False
    target = len(app.log) + rng.randint(1, 4)
    deadline = time.monotonic() + 30
    while len(app.log) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.02))
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    return proc.returncode, killed


def writes_in_log(app) -> Counter:
    """Record path -> how many write requests for it the sandbox received (in $batch or alone)."""
    seen: Counter = Counter()
    for req in list(app.log):
        if req.method in ("PATCH", "MERGE", "PUT"):
            seen[req.path.rsplit("/", 1)[-1]] += 1
        elif req.path.endswith("$batch"):
            seen.update(m.group(2) for m in WRITE_LINE.finditer(req.text))
    return seen


def test_sigkill_at_seeded_points_applies_each_change_exactly_once(tmp_path):
    rows = planning_rows()
    app = build_app()
    seed_sandbox(app, rows)
    with serve(app) as server:
        cfg = write_config(tmp_path, server.url)
        db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        ensure_schema(db)
        seed_store(db, rows)
        plan = make_plan(load_config(cfg), db)
        assert (plan.status, json.loads(plan.summary)["changes"]) == ("ready", 120)
        rng = random.Random(SEED)
        outcomes = [run_apply(cfg, plan.id, app, rng) for _ in range(KILLS)]
        assert sum(killed for _, killed in outcomes) >= 5, outcomes
        assert all(code in (0, -signal.SIGKILL) for code, _ in outcomes), outcomes
        run_apply(cfg, plan.id, app, None)

        pc = PlannedChange.__table__
        changes = read_frame(db, select(pc).where(pc.c.plan_id == plan.id))
        assert set(changes["state"]) == {"applied"} and len(changes) == 120
        for r in rows:
            held = app.state.entity("API_PRODUCT_SRV", "A_ProductSupplyPlanning",
                                    {"Product": r["Product"], "Plant": r["Plant"]})
            assert float(held["SafetyStockQuantity"]) == r["ss"] + 5
            assert float(held["ReorderThresholdQuantity"]) == r["rop"] + 3
        writes = writes_in_log(app)
        assert len(writes) == 60 and set(writes.values()) == {1}, writes.most_common(3)
        again = make_plan(load_config(cfg), db)
        assert json.loads(again.summary)["changes"] == 0
        db.dispose()
