"""A store for the web app's tests: a user per role, runs, parameters, exceptions, a plan, quarantine.

Built once per session (argon2 hashing is slow on purpose) and copied for each test. The plan was
made by the planner `pia`; the approver `alma` may approve it, nobody may approve their own.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from core import accounts
from core.migrate import upgrade
from core.model import ParameterValue, Quarantine, SegmentAssignment
from core.reconcile import Observation, upsert_observations
from core.runs import finish_run, mark_suspect, start_run
from core.store import open_store, upsert
from core.writeback.plan import save_plan
from webapp.application import create_app
from webapp.security import LoginLimiter

PASSWORD = "correct horse battery"
USERS = {"vera": "viewer", "pia": "planner", "stu": "steward", "alma": "approver", "ada": "admin",
         "al2": "approver"}
ROLE_USER = {"viewer": "vera", "planner": "pia", "steward": "stu", "approver": "alma", "admin": "ada"}


def _segment_run(db, ss: float, segment: str) -> int:
    run_id = start_run(db, "segment")
    upsert(db, ParameterValue, [{"run_id": run_id, "entity": "product_location", "entity_key": f"P{i}|DC1",
                                 "name": "safety_stock", "value_num": ss + i, "value_text": None} for i in range(5)])
    upsert(db, SegmentAssignment, [{"run_id": run_id, "entity": "product_location", "entity_key": f"P{i}|DC1",
                                    "dimension": "segment", "value": segment, "source": "rule"} for i in range(5)])
    finish_run(db, run_id, "ok")
    return run_id


def build(path: Path) -> None:
    db = open_store(f"sqlite:///{path}")
    upgrade(db)
    for name, role in USERS.items():
        accounts.add_user(db, name, role, PASSWORD, "test")
    assert _segment_run(db, 10, "B-Y") == 1 and _segment_run(db, 20, "A-X") == 2
    suspect = start_run(db, "pull", system="sap")
    mark_suspect(db, suspect, "too many rejected records")
    finish_run(db, suspect, "ok")
    upsert_observations(db, [Observation("value_mismatch", "sap" if i % 2 else "crm", "product_location",
                                         f"P{i}|DC1", "safety_stock", str(i), str(i + 1),
                                         severity="high" if i < 3 else "low") for i in range(8)], run_id=suspect)
    changes = pd.DataFrame([{"system": "sap", "entity": "A_ProductPlant", "target_key": json.dumps({"Product": f"P{i}"}),
                             "field": "SafetyStock", "current_value": 10 + i, "intended_value": 20 + i,
                             "value_impact": 5.0} for i in range(4)])
    save_plan(db, 2, "normal", "needs_approval", "safety stock up by more than 50%", {}, changes, planned_by="pia")
    upsert(db, Quarantine, [{"id": 1, "run_id": suspect, "system": "sap", "entity": "product", "source_key": "X1",
                             "reason_code": "bad_type", "reason": "weight is not a number",
                             "record": json.dumps({"Product": "X1", "Weight": "<script>alert(1)</script>"})}])
    db.dispose()


def copy_of(template: Path, target: Path):
    shutil.copy(template, target)
    return open_store(f"sqlite:///{target}")


def client_for(db, limiter: LoginLimiter | None = None) -> TestClient:
    return TestClient(create_app(db, None, limiter=limiter), base_url="http://testserver")


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the page's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"name": name, "password": password, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    home = client.get("/")
    return re.search(r'name="csrf_token" value="([^"]+)"', home.text).group(1)
