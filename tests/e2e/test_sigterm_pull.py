"""SIGTERM during a scheduled pull: the batch in hand finishes, its state is saved, the lease is
released, the scheduler exits 0, and the next run resumes from the checkpoint without loss
(the store then equals one uninterrupted pull's).

The scheduler runs the real cycle step (core.cycle -> core.sync) against the WMS sandbox,
slowed down per request so the signal lands mid-stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core import runs
from core.model import Lease, Product, ProductLocation, Shipment
from core.settings import load_config
from core.store import create_all, open_store, read_frame
from core.sync import pull
from sandbox.generator import generate
from sandbox.server import serve
from sandbox.wms import build_app

pytestmark = pytest.mark.e2e
TABLES = [Product, ProductLocation, Shipment]


def _config(folder: Path, url: str, first: datetime) -> Path:
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
schedules:
  steps:
    pull: {{every_seconds: 3600, start_date: "{first.isoformat()}"}}
""", encoding="utf-8")
    return path


def _sb(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "segbridge", "-c", str(config), *args]


def _env() -> dict:
    return {**os.environ, "WMS_PASSWORD": "wms_pass", "PYTHONUNBUFFERED": "1"}


def _count(db, table: str) -> int:
    try:
        with db.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    except Exception:  # noqa: BLE001 - the schema is not there yet
        return 0


def _snapshot(db) -> dict[str, list]:
    """Canonical rows without load timestamps, sorted: what 'the same store' means."""
    out = {}
    for model in TABLES:
        frame = read_frame(db, model).drop(columns=["loaded_at"])
        out[model.__tablename__] = sorted(map(tuple, frame.astype(str).to_numpy().tolist()))
    return out


def test_sigterm_during_scheduled_pull_then_resume_without_loss(tmp_path, monkeypatch):
    dataset = generate(seed=11, products=15, locations=2, customers=8, weeks=20)
    app = build_app(dataset)
    app.inject(status=0, delay=0.03, times=10**6)  # every page takes a while: room to stop mid-stream
    (tmp_path / "sched").mkdir()
    (tmp_path / "clean").mkdir()
    with serve(app) as server:
        config = _config(tmp_path / "sched", server.url, datetime.now(UTC) + timedelta(seconds=8))
        db = open_store(f"sqlite:///{tmp_path}/sched/store.db")
        log = tmp_path / "scheduler.log"
        proc = subprocess.Popen(_sb(config, "schedule", "start"), stdout=log.open("w"), stderr=subprocess.STDOUT,
                                env=_env())
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and _count(db, "shipment") < 20:
                time.sleep(0.05)
            assert _count(db, "shipment") >= 20, log.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        assert code == 0, log.read_text()

        stopped = runs.last_run(db, "pull", "wms")
        assert stopped.status == "stopped", stopped
        read_before = runs.totals(stopped.counts)["read"]
        assert _count(db, "sync_state") >= 1
        with db.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Lease.__table__)).scalar_one() == 0

        app.faults.clear()
        res = subprocess.run(_sb(config, "schedule", "run-now", "pull:wms"), capture_output=True, text=True,
                             env=_env(), timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        resumed = runs.last_run(db, "pull", "wms")
        assert (resumed.status, resumed.trigger) == ("ok", "manual")

        monkeypatch.setenv("WMS_PASSWORD", "wms_pass")
        clean = open_store(f"sqlite:///{tmp_path}/clean/store.db")
        create_all(clean)
        [reference] = pull(load_config(_config(tmp_path / "clean", server.url, datetime.now(UTC))), clean)
    assert reference.status == "ok"
    total_read = sum(s.read for s in reference.streams)
    assert runs.totals(resumed.counts)["read"] < total_read  # resumed from the checkpoint, not restarted
    assert read_before + runs.totals(resumed.counts)["read"] >= total_read
    assert _snapshot(db) == _snapshot(clean)
    assert len(_snapshot(clean)["shipment"]) == len(app.data["order_hdr"])
