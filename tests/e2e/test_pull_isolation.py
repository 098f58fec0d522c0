"""Failure isolation end to end: two stand-ins over real HTTP on 127.0.0.1, one of which answers every
request with an HTML page and HTTP 200 (a proxy's or a login page in front of the API). `segbridge
pull` fails that system's streams with what came back (system, entity, URL, status, first bytes),
records its run as failed, still pulls the other system, and prints no traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from contextlib import ExitStack

import pytest
import yaml

from core import runs
from core.settings import load_config
from core.statuses import RunKind, RunStatus
from sandbox.generator import generate
from segbridge.commands.common import store_of
from segbridge.demo_world import DEMO_SECRETS, demo_config, start_world

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
LOGIN_PAGE = "<html><head><title>Sign in</title></head><body>Corporate SSO</body></html>"


@pytest.fixture
def two_systems(tmp_path):
    dataset = generate(seed=3, products=8, locations=2, customers=5, weeks=8)
    with ExitStack() as stack:
        world = start_world(stack, dataset, only=["wms", "tms"])
        assert set(world.apps) == {"wms", "tms"}, world.skipped
        data = demo_config(world)
        data["database"]["url"] = f"sqlite:///{tmp_path}/store.db"
        for system in data["systems"].values():
            system["options"].update(backoff_initial=0.01, backoff_max=0.05)
        path = tmp_path / "segbridge.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        world.apps["wms"].inject(status=200, body=LOGIN_PAGE, times=10_000)  # every request: the login page
        yield world, path


def test_html_with_200_fails_that_systems_run_and_the_other_is_pulled(two_systems):
    world, path = two_systems
    proc = subprocess.run([sys.executable, "-m", "segbridge", "-c", str(path), "pull", "--no-progress"],
                          env={**os.environ, **DEMO_SECRETS, "COLUMNS": "250"}, capture_output=True, text=True,
                          timeout=150)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    assert re.search(r"wms: run \d+ failed", output) and re.search(r"tms: run \d+ ok", output)
    wms_url = world.urls["wms"]
    assert f"GET {wms_url}/" in output and "HTTP 200 (text/html) with a body that is not valid JSON" in output
    assert "<html><head><title>Sign in</title>" in output

    db = store_of(load_config(path))
    pulls = {r.system: r for r in runs.list_runs(db, kind=RunKind.PULL)}
    assert pulls["wms"].status == RunStatus.FAILED
    assert "HTTP 200 (text/html)" in pulls["wms"].message and wms_url in pulls["wms"].message
    assert pulls["tms"].status == RunStatus.OK and runs.totals(pulls["tms"].counts)["loaded"] > 0
    assert [r.id for r in runs.list_runs(db) if r.status == RunStatus.RUNNING] == []
    tms_requests = len(world.apps["tms"].log)
    assert tms_requests > 0
    db.dispose()
