"""The pull runner end to end: SIGKILL mid-stream then pull again equals an uninterrupted pull;
a stop request finishes the batch and keeps the state; SIGTERM exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from core.model import Product, ProductLocation, Shipment
from core.settings import load_config
from core.store import create_all, open_store, read_frame
from core.sync import pull
from sandbox.generator import generate
from sandbox.server import serve
from sandbox.wms import build_app

pytestmark = pytest.mark.e2e
TABLES = [Product, ProductLocation, Shipment]


@pytest.fixture(scope="module")
def dataset():
    return generate(seed=11, products=15, locations=2, customers=8, weeks=20)


def write_config(folder: Path, url: str, page_size: int) -> Path:
    path = folder / "segbridge.yaml"
    path.write_text(f"""database: {{url: "sqlite:///{folder}/store.db"}}
systems:
  wms:
    kind: wms
    mapping: wms.yaml
    options:
      base_url: {url}
      page_size: {page_size}
      backoff_initial: 0.01
      auth: {{type: basic, username: wms_user, password: "${{WMS_PASSWORD}}"}}
""")
    return path


def run_cli(config: Path, *args: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "segbridge", "-c", str(config), "pull", "wms", "--no-progress", *args]
    env = {**os.environ, "WMS_PASSWORD": "wms_pass"}
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def snapshot(db: Path) -> dict[str, list]:
    """Canonical rows without load timestamps, sorted: what 'the same store' means."""
    db = open_store(f"sqlite:///{db}")
    out = {}
    for model in TABLES:
        frame = read_frame(db, model).drop(columns=["loaded_at"])
        out[model.__tablename__] = sorted(map(tuple, frame.astype(str).to_numpy().tolist()))
    db.dispose()
    return out


def wait_for_progress(db_file: Path, proc: subprocess.Popen, min_rows: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db_file.exists():
            try:
                db = open_store(f"sqlite:///{db_file}")
                with db.connect() as conn:
                    n = conn.execute(text("SELECT count(*) FROM shipment")).scalar()
                db.dispose()
                if n >= min_rows:
                    return
            except Exception:  # noqa: BLE001 - schema not there yet
                pass
        time.sleep(0.05)
    raise AssertionError("the pull made no progress before the deadline")


def test_sigkill_mid_stream_then_pull_again_equals_uninterrupted(tmp_path, dataset):
    app = build_app(dataset)
    app.inject(status=0, delay=0.03, times=10**6)  # every page takes a while: room to kill mid-stream
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    crashed.mkdir()
    clean.mkdir()
    with serve(app) as server:
        proc = run_cli(write_config(crashed, server.url, 10), wait=False)
        wait_for_progress(crashed / "store.db", proc, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        app.faults.clear()
        resumed = run_cli(crashed / "segbridge.yaml")
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout
        uninterrupted = run_cli(write_config(clean, server.url, 10))
        assert uninterrupted.returncode == 0, uninterrupted.stderr
    crashed_rows, clean_rows = snapshot(crashed / "store.db"), snapshot(clean / "store.db")
    assert len(clean_rows["shipment"]) == len(app.data["order_hdr"])
    assert crashed_rows == clean_rows


def test_sigterm_finishes_the_batch_and_exits_cleanly(tmp_path, dataset):
    app = build_app(dataset)
    app.inject(status=0, delay=0.03, times=10**6)
    with serve(app) as server:
        proc = run_cli(write_config(tmp_path, server.url, 10), wait=False)
        wait_for_progress(tmp_path / "store.db", proc, 20)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopped" in stdout
    db = open_store(f"sqlite:///{tmp_path}/store.db")
    with db.connect() as conn:
        states = conn.execute(text("SELECT count(*) FROM sync_state")).scalar()
    assert states >= 1


def test_stop_event_keeps_state_and_next_pull_completes(tmp_path, dataset, monkeypatch):
    monkeypatch.setenv("WMS_PASSWORD", "wms_pass")
    app = build_app(dataset)
    app.inject(status=0, delay=0.02, times=10**6)
    db = open_store(f"sqlite:///{tmp_path}/store.db")
    create_all(db)
    stop = threading.Event()
    with serve(app) as server:
        config = load_config(write_config(tmp_path, server.url, 10))
        timer = threading.Timer(0.5, stop.set)
        timer.start()
        first = pull(config, db, stop_event=stop)[0]
        timer.cancel()
        assert first.status == "stopped"
        stopped_at = sum(s.read for s in first.streams)
        app.faults.clear()
        second = pull(config, db)[0]
    assert second.status == "ok"
    assert 0 < stopped_at
    stored = read_frame(db, Shipment)
    assert sorted(stored["shipment_id"]) == sorted(app.data["order_hdr"].records)
