"""An authentication refusal on apply stops sending to that system at once, against the Oracle Fusion
REST stand-in over real HTTP: with wrong credentials the stand-in sees one refused request (not one
per item), with a user that may read but not write it sees one PATCH. The system's changes stay
pending, its apply ends failed saying "authentication failed ... nothing more was sent", and the
other system's (WMS) changes are still applied."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack

import pytest
import yaml

from core import runs
from core.cycle import step_plan, step_pull, step_segment
from core.settings import load_config
from core.statuses import RunKind
from core.writeback import outbox
from core.writeback.apply import apply_plan
from sandbox.generator import generate
from sandbox.server import SandboxAuth
from segbridge.commands.common import store_of
from segbridge.demo_world import DEMO_SECRETS, demo_config, start_world

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
RIGHT, WRONG = "fusion-right-pass", "fusion-wrong-pass"


@pytest.fixture
def planned(tmp_path, monkeypatch):
    """Fusion REST (`oracle`) and WMS pulled, segmented and planned: both have changes to write."""
    dataset = generate(seed=11, products=20, locations=2, customers=10, weeks=30, order_rate=0.3)
    with ExitStack() as stack:
        world = start_world(stack, dataset, only=["oracle", "wms"])
        assert set(world.apps) == {"oracle", "wms"}, world.skipped
        data = demo_config(world)
        data["database"]["url"] = f"sqlite:///{tmp_path}/store.db"
        data["writeback"]["out_dir"] = str(tmp_path / "plans")
        data["systems"]["oracle"]["options"].update(
            auth={"type": "basic", "username": "SEGBRIDGE", "password": "${FUSION_TEST_PASSWORD}"},
            backoff_initial=0.01)
        path = tmp_path / "segbridge.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        monkeypatch.setenv("FUSION_TEST_PASSWORD", RIGHT)
        config = load_config(path)
        db = store_of(config)
        for step in (step_pull, step_segment, step_plan):
            result = step(config, db)
            assert result.status == "ok", result.message
        plan = result.detail
        counts = outbox.state_counts(db, plan.id)
        assert counts["oracle"]["pending"] > 0 and counts["wms"]["pending"] > 0
        world.apps["oracle"].log.clear()
        yield world, path, config, db, plan
        db.dispose()


def _sent(app, method: str | None = None) -> int:
    return sum(1 for r in app.log if method is None or r.method == method)


def test_wrong_credentials_stop_sending_to_that_system_after_one_request(planned, monkeypatch):
    world, path, config, db, plan = planned
    fusion = world.apps["oracle"]
    fusion.require_auth(SandboxAuth(basic=("SEGBRIDGE", RIGHT)))
    monkeypatch.setenv("FUSION_TEST_PASSWORD", WRONG)
    oracle_pending = outbox.state_counts(db, plan.id)["oracle"]["pending"]

    proc = subprocess.run([sys.executable, "-m", "segbridge", "-c", str(path), "apply", str(plan.id)],
                          env={**os.environ, **DEMO_SECRETS, "FUSION_TEST_PASSWORD": WRONG, "COLUMNS": "250"},
                          capture_output=True, text=True, timeout=150)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output and WRONG not in output
    assert "oracle: authentication failed" in output and "nothing more was sent to oracle" in output
    assert _sent(fusion) == 1 and _sent(fusion, "PATCH") == 0  # one refused login, not one per item

    counts = outbox.state_counts(db, plan.id)
    assert counts["oracle"].get("pending") == oracle_pending and not counts["oracle"].get("applied")
    assert counts["wms"].get("applied", 0) > 0 and not counts["wms"].get("pending")
    [apply_run] = runs.list_runs(db, kind=RunKind.APPLY)
    assert apply_run.status == "failed" and "oracle: authentication failed" in apply_run.message


def test_a_user_refused_writes_sees_one_patch_and_the_other_system_is_applied(planned):
    world, path, config, db, plan = planned
    fusion = world.apps["oracle"]
    refusal = fusion.inject(status=403, method="PATCH", path="itemsV2", times=10_000,
                            body="Forbidden: no write access")
    summary = apply_plan(config, db, plan.id)
    patches = 10_000 - refusal.times  # a refused request is answered by the fault, not logged by the app
    assert patches == 1 and _sent(fusion, "PATCH") == 0  # before: every item sent, verified and sent again
    assert "oracle: authentication failed" in summary.errors["oracle"] and "HTTP 403" in summary.errors["oracle"]
    assert summary.systems["oracle"]["applied"] == 0 and summary.systems["oracle"]["pending"] > 0
    assert summary.systems["wms"]["applied"] > 0 and summary.systems["wms"]["pending"] == 0
    assert not summary.ok
    assert runs.get_run(db, summary.run_id).status == "failed"
