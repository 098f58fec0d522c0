"""`segbridge users`: add (password from stdin), list, set-role, disable/enable, password, token."""

from __future__ import annotations

import pytest

from core import accounts
from core.store import open_store

pytestmark = pytest.mark.unit


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "segbridge.yaml"
    path.write_text(f"database: {{url: 'sqlite:///{tmp_path / 'store.db'}'}}\n", encoding="utf-8")
    return path


def test_add_list_set_role_disable_token(cfg, run_cli):
    c = ["-c", str(cfg), "users"]
    code, text = run_cli(*c, "add", "stu", "--role", "steward", "--password-stdin", stdin="a long password\n")
    assert code == 0 and "user stu added as steward" in text
    db = open_store(f"sqlite:///{cfg.parent / 'store.db'}")
    assert accounts.authenticate(db, "stu", "a long password").role == "steward"
    code, text = run_cli(*c, "set-role", "stu", "approver")
    assert code == 0 and "stu is now approver" in text
    code, text = run_cli(*c, "token", "stu", "--label", "ci")
    token = text.strip().splitlines()[-1]
    assert token.startswith("sbt_") and accounts.user_of_token(db, token).name == "stu"
    code, text = run_cli(*c, "list")
    assert "stu" in text and "approver" in text and "argon2" not in text
    assert run_cli(*c, "disable", "stu")[0] == 0
    assert accounts.authenticate(db, "stu", "a long password") is None
    assert run_cli(*c, "enable", "stu")[0] == 0
    assert run_cli(*c, "password", "stu", "--password-stdin", stdin="another long one\n")[0] == 0
    assert accounts.authenticate(db, "stu", "another long one").name == "stu"
    db.dispose()


def test_a_bad_role_and_a_short_password_say_what_to_fix(cfg, run_cli):
    code, text = run_cli("-c", str(cfg), "users", "add", "x", "--role", "king", "--no-password")
    assert code == 2 and "unknown role 'king'" in text and "Traceback" not in text
    code, text = run_cli("-c", str(cfg), "users", "add", "x", "--role", "viewer", "--password-stdin",
                         stdin="short\n")
    assert code == 2 and "at least 10 characters" in text
