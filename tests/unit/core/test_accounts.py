"""core.accounts: users with argon2 hashes, roles from one table, tokens and sessions stored as digests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from basics.errors import ConfigError
from core import accounts
from core.model import ApiToken, AppUser, AuditEvent, WebSession, utcnow

pytestmark = pytest.mark.unit


def test_a_password_is_stored_as_an_argon2_hash_and_checked(store):
    accounts.add_user(store, "stu", "steward", "long enough password", "admin")
    with store.connect() as conn:
        stored = conn.execute(select(AppUser.__table__.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "long enough" not in stored
    assert accounts.authenticate(store, "stu", "long enough password").role == "steward"
    assert accounts.authenticate(store, "stu", "wrong password") is None
    assert accounts.authenticate(store, "nobody", "long enough password") is None


def test_bad_roles_names_and_short_passwords_are_refused(store):
    with pytest.raises(ConfigError, match="unknown role 'king'"):
        accounts.add_user(store, "a", "king", "long enough password", "admin")
    with pytest.raises(ConfigError, match="at least 10"):
        accounts.add_user(store, "a", "viewer", "short", "admin")
    accounts.add_user(store, "a", "viewer", None, "admin")
    with pytest.raises(ConfigError, match="exists"):
        accounts.add_user(store, "a", "viewer", None, "admin")
    assert accounts.authenticate(store, "a", "") is None  # no password: token only


def test_the_permission_table_is_what_roles_may_do():
    assert accounts.allowed("admin", "manage_users") and not accounts.allowed("approver", "manage_users")
    assert accounts.allowed("planner", "request_override") and not accounts.allowed("planner", "review_plan")
    assert all(accounts.allowed(r, "read") for r in accounts.Role)
    with pytest.raises(KeyError):
        accounts.allowed("admin", "fly")


def test_tokens_are_stored_as_digests_and_stop_with_the_user(store):
    accounts.add_user(store, "bot", "viewer", None, "admin")
    token = accounts.new_token(store, "bot", "ci", "admin")
    with store.connect() as conn:
        assert conn.execute(select(ApiToken.__table__.c.token_hash)).scalar_one() == accounts.digest(token)
    assert accounts.user_of_token(store, token).name == "bot"
    assert accounts.user_of_token(store, token + "x") is None
    accounts.set_active(store, "bot", False, "admin")
    assert accounts.user_of_token(store, token) is None


def test_sessions_expire_close_and_end_when_the_user_is_disabled(store):
    accounts.add_user(store, "stu", "steward", None, "admin")
    sid, csrf = accounts.open_session(store, "stu")
    user, token = accounts.session_of(store, sid)
    assert user.name == "stu" and token == csrf
    assert accounts.session_of(store, sid, now=utcnow() + timedelta(hours=9)) is None
    accounts.close_session(store, sid)
    assert accounts.session_of(store, sid) is None
    sid, _ = accounts.open_session(store, "stu")
    accounts.set_active(store, "stu", False, "admin")
    with store.connect() as conn:
        assert conn.execute(select(WebSession.__table__)).first() is None


def test_user_changes_are_audited(store):
    accounts.add_user(store, "stu", "steward", None, "ada")
    accounts.set_role(store, "stu", "approver", "ada")
    with store.connect() as conn:
        rows = conn.execute(select(AuditEvent.__table__.c.action, AuditEvent.__table__.c.actor)
                            .order_by(AuditEvent.__table__.c.id)).all()
    assert [tuple(r) for r in rows] == [("user_added", "ada"), ("user_role_set", "ada")]
