"""`segbridge approve`: the OS user running it is the approver; --by is refused; four eyes holds."""

from __future__ import annotations

import pytest

from basics.errors import EXIT_FAILED, EXIT_USAGE
from basics.users import current_user
from core.migrate import ensure_schema
from core.settings import load_config
from core.store import open_store
from core.writeback.plan import load_plan, make_plan
from tests.unit.core.writeback import wb_support as s

pytestmark = pytest.mark.unit


@pytest.fixture
def site(tmp_path, monkeypatch):
    """segbridge.yaml (every plan needs approval) over a store with one segment run; returns (config path, db)."""
    monkeypatch.setenv("COLUMNS", "200")
    db = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    ensure_schema(db)
    s.seed(db, s.items(3, changed=2))
    (tmp_path / "memsap.yaml").write_text(s.MAPPING, encoding="utf-8")
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(f"""
database: {{url: "sqlite:///{tmp_path / 'cli.db'}"}}
systems:
  sap: {{kind: memory, mapping: memsap.yaml, options: {{world: approvecmd}}}}
writeback: {{guardrails: {{approval_required: true}}}}
""", encoding="utf-8")
    yield cfg, db
    db.dispose()


def test_the_os_user_approves_a_plan_someone_else_made(site, run_cli):
    cfg, db = site
    plan = make_plan(load_config(cfg), db, actor="pia")  # as the web app's logged-in planner would
    code, text = run_cli("-c", str(cfg), "approve", str(plan.id), "--reason", "checked")
    assert code == 0, text
    assert f"plan {plan.id} approved by {current_user()} (planned by pia): checked" in text
    assert load_plan(db, plan.id).approved_by == current_user()


def test_by_is_refused_saying_what_changed(site, run_cli):
    cfg, db = site
    plan = make_plan(load_config(cfg), db, actor="pia")
    code, text = run_cli("-c", str(cfg), "approve", str(plan.id), "--reason", "ok", "--by", "ana")
    assert code == EXIT_USAGE
    assert "--by was removed: the approver is now the OS user" in text and current_user() in text
    assert "Traceback" not in text
    assert load_plan(db, plan.id).status == "needs_approval"


def test_the_planner_cannot_approve_their_own_plan(site, run_cli):
    cfg, db = site
    code, text = run_cli("-c", str(cfg), "plan")  # the OS user makes the plan ...
    assert code == 0 and "status needs_approval" in text
    code, text = run_cli("-c", str(cfg), "approve", "1", "--reason", "mine")  # ... and tries to approve it
    assert code == EXIT_FAILED
    assert f"plan 1 was made by {current_user()}; approval needs a second person (writeback.four_eyes)" in text
    assert load_plan(db, 1).status == "needs_approval"
