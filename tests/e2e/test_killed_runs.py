"""Killed processes leave honest history: SIGKILL a pull and a reconcile, then run the next command.

- a pull killed mid-stream: its run becomes `interrupted` (naming the dead process and the command
  that found it) on the next command, and the next pull takes the dead process's lease
  `pull:wms` at once instead of waiting for it to expire;
- a reconcile killed at seeded points after it filed exceptions: the rerun counts each difference
  once (every exception's `count` equals the number of reconciles that finished).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from core import runs
from core.migrate import ensure_schema
from core.model import Lease, ReconException
from core.store import open_store, read_frame
from sandbox.generator import generate
from sandbox.sap_odata import build_app as build_sap
from sandbox.server import serve
from sandbox.wms import build_app as build_wms
from tests.e2e.test_apply_crash import planning_rows, seed_store, write_config

pytestmark = pytest.mark.e2e
HERE = Path(__file__).resolve().parent
SEED = 29


def _env() -> dict:
    return {**os.environ, "WMS_PASSWORD": "wms_pass", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _wait(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _wms_config(folder: Path, url: str) -> Path:
    path = folder / "segbridge.yaml"
    path.write_text(f"""\
database: {{url: "sqlite:///{folder}/store.db"}}
systems:
  wms:
    kind: wms
    mapping: wms.yaml
    options:
      base_url: {url}
      page_size: 10
      backoff_initial: 0.01
      auth: {{type: basic, username: wms_user, password: "${{WMS_PASSWORD}}"}}
""", encoding="utf-8")
    return path


def test_killed_pull_is_interrupted_on_the_next_command_and_its_lease_taken_over(tmp_path):
    app = build_wms(generate(seed=11, products=15, locations=2, customers=8, weeks=20))
    opened, requests = threading.Event(), [0]
    dispatch = app.dispatch

    def gated(req):  # the third request waits until the test has killed the pull: it dies mid-stream
        requests[0] += 1
        if requests[0] >= 3:
            opened.wait(60)
        return dispatch(req)

    app.dispatch = gated
    with serve(app) as server:
        config = _wms_config(tmp_path, server.url)
        db = open_store(f"sqlite:///{tmp_path}/store.db")
        sb = [sys.executable, "-m", "segbridge", "-c", str(config)]
        proc = subprocess.Popen([*sb, "pull", "wms", "--no-progress"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=_env())
        _wait(lambda: requests[0] >= 3, "the pull to be mid-stream")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        opened.set()
        killed = runs.last_run(db, "pull", "wms")
        assert killed.status == "running" and killed.owner.split(":")[1] == str(proc.pid)
        with db.connect() as conn:
            assert conn.execute(select(Lease.__table__.c.owner)).scalar_one() == killed.owner

        listed = subprocess.run([*sb, "runs", "list", "--kind", "pull"], capture_output=True, text=True,
                                env=_env(), timeout=120)
        assert listed.returncode == 0, listed.stderr
        assert "interrupted" in listed.stdout and f"marked run(s) {killed.id} interrupted" in listed.stderr
        after = runs.get_run(db, killed.id)
        assert after.status == "interrupted" and after.finished_at is not None
        host = killed.owner.split(":")[0]
        assert after.message.startswith(f"process {host}:{proc.pid} died; marked interrupted by `")
        assert "runs list` at " in after.message

        again = subprocess.run([*sb, "pull", "wms", "--no-progress"], capture_output=True, text=True,
                               env=_env(), timeout=120)  # the dead holder's lease (ttl 120 s) is taken at once
        assert again.returncode == 0, again.stdout + again.stderr
        assert runs.last_run(db, "pull", "wms").status == "ok"
        db.dispose()


def _exceptions(db):
    frame = read_frame(db, select(ReconException.__table__))
    return frame.sort_values("fingerprint").reset_index(drop=True)


def test_killed_reconcile_counts_each_difference_once_on_rerun(tmp_path):
    rows = planning_rows()[:20]
    app = build_sap()
    rng = random.Random(SEED)
    with serve(app) as server:
        cfg = write_config(tmp_path, server.url)
        db = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        ensure_schema(db)
        seed_store(db, rows)  # intended values differ from what SAP holds: 40 value mismatches
        sb = [sys.executable, "-m", "segbridge", "-c", str(cfg), "reconcile", "-q"]
        expected = None
        for finished in range(1, 4):
            kill_at = rng.choice([1, 2])
            killed = subprocess.run([sys.executable, str(HERE / "reconcile_proc.py"), *sb[3:]],
                                    env={**_env(), "SB_KILL_AT": str(kill_at)}, capture_output=True, text=True,
                                    timeout=120)
            assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
            dead = runs.last_run(db, "reconcile")
            assert dead.status == "running"
            rerun = subprocess.run(sb, env=_env(), capture_output=True, text=True, timeout=120)
            assert rerun.returncode == 3, rerun.stdout + rerun.stderr
            assert runs.get_run(db, dead.id).status == "interrupted"
            last = runs.last_run(db, "reconcile")
            table = _exceptions(db)
            assert len(table) >= 40 and table["fingerprint"].is_unique
            assert set(table["count"]) == {finished}, (kill_at, table["count"].value_counts())
            assert set(table["run_id"]) == {last.id}
            assert last.counts["new"] == (len(table) if finished == 1 else 0)
            assert last.counts["exceptions"] == len(table)
            if expected is not None:
                assert list(table["fingerprint"]) == expected
            expected = list(table["fingerprint"])
        db.dispose()
