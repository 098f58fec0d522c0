"""Two scheduler processes against one PostgreSQL store, 50 fast-firing triggers of one step.

Both processes fire the same step at the same instants (every 0.5 s, 25 times each). The
run history must show no overlapping runs of the step, and every one of the 50 triggers
either ran or is recorded as skipped: because the other process held the lease, or, when a run
outlasts the interval on a loaded machine, because this process's previous run still ran. No
assertion depends on how fast a run is.
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
from sqlalchemy import select

from core import runs
from core.migrate import upgrade
from core.model import Lease
from core.store import open_store
from tests.conftest import drop_pg_schema, pg_schema_url

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
HERE = Path(__file__).resolve().parent
FIRES_PER_PROCESS = 25
INTERVAL = 0.5
LEAD = 10.0  # seconds for both processes to start before the first fire time
IN_PROCESS = "previous run still running in this process"


@pytest.fixture
def pg_store():
    schema, url = pg_schema_url()
    db = open_store(url, connect_args={"options": f"-csearch_path={schema}"})
    upgrade(db)  # migrate once here, so the two processes do not race to create the schema
    yield db, f"{url}?options=-csearch_path%3D{schema}"
    db.dispose()
    drop_pg_schema(schema)


def _config(tmp_path: Path, url: str, first: datetime) -> Path:
    last = first + timedelta(seconds=INTERVAL * (FIRES_PER_PROCESS - 1) + INTERVAL / 2)
    path = tmp_path / "segbridge.yaml"
    # coalesce off and a long grace: every fire time is delivered to the job, none merged
    # away, so the history can account for exactly 25 triggers per process.
    path.write_text(f"""\
database: {{url: "{url}"}}
schedules:
  lease_ttl_seconds: 30
  defaults: {{coalesce: false, misfire_grace_time: 30}}
  steps:
    segment: {{every_seconds: {INTERVAL}, start_date: "{first.isoformat()}", end_date: "{last.isoformat()}"}}
""", encoding="utf-8")
    return path


def _start(config: Path, tmp_path: Path, n: int) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"proc{n}.log"
    env = {**os.environ, "SB_NAP": "0.2", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, str(HERE / "scheduler_proc.py"), "-c", str(config), "-v",
                             "schedule", "start"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    return proc, log


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_schedulers_never_overlap_and_account_for_every_trigger(pg_store, tmp_path):
    db, url = pg_store
    first = datetime.now(UTC) + timedelta(seconds=LEAD)
    config = _config(tmp_path, url, first)
    procs = [_start(config, tmp_path, n) for n in (1, 2)]
    try:
        _wait_for(lambda: all("job(s)" in log.read_text() for _, log in procs), LEAD, "both schedulers to start")
        assert datetime.now(UTC) < first, "a scheduler started after the first fire time"
        finished = lambda: [r for r in runs.list_runs(db, limit=None) if r.status != "running"]  # noqa: E731
        _wait_for(lambda: len(finished()) >= 2 * FIRES_PER_PROCESS, LEAD + FIRES_PER_PROCESS * INTERVAL + 20,
                  "50 recorded triggers")
        time.sleep(1.0)  # nothing more may arrive: the timetables have ended
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(30) for proc, _ in procs]
    logs = "\n".join(log.read_text() for _, log in procs)
    assert codes == [0, 0], logs

    history = sorted(runs.list_runs(db, limit=None), key=lambda r: r.started_at)
    assert len(history) == 2 * FIRES_PER_PROCESS, logs
    assert {r.kind for r in history} == {"segment"}
    ran = [r for r in history if r.status == "ok"]
    skipped = [r for r in history if r.status == "skipped"]
    assert len(ran) + len(skipped) == 2 * FIRES_PER_PROCESS, [(r.status, r.message) for r in history]
    pids = {str(proc.pid) for proc, _ in procs}
    # a skip is the other scheduler's lease, or (on a loaded machine, a run longer than the
    # interval) this scheduler's own previous run still running: APScheduler's max_instances
    in_process = [r for r in skipped if r.message.startswith(IN_PROCESS)]
    for r in skipped:
        if r in in_process:
            assert r.owner.split(":")[1] in pids, r.owner
            continue
        assert r.message.startswith("lease held by "), r.message
        assert r.message.split(":")[1] in pids, r.message  # host:pid:uuid of one of the two schedulers
    for before, after in zip(ran, ran[1:], strict=False):
        assert before.finished_at <= after.started_at, f"runs {before.id} and {after.id} overlap"
    # at every fire time one of the two ran, unless a run of the previous fire time was still going
    # (then one trigger is skipped in-process and the other meets its lease)
    assert len(ran) + len(in_process) >= FIRES_PER_PROCESS, [(r.status, r.message) for r in history]
    with db.connect() as conn:
        assert conn.execute(select(Lease.__table__)).all() == []  # both released on SIGTERM
