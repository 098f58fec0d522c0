"""basics.users: the acting user is the OS account of the process, or the actor a web app passes."""

from __future__ import annotations

import getpass
import os
import pwd

import pytest

from basics.users import actor_or_current, current_user

pytestmark = pytest.mark.unit


def test_current_user_is_the_effective_os_account():
    assert current_user() == pwd.getpwuid(os.geteuid()).pw_name


def test_current_user_ignores_a_user_environment_variable(monkeypatch):
    """LOGNAME/USER can be set by anyone; the password database names the account actually running."""
    monkeypatch.setenv("LOGNAME", "someone-else")
    monkeypatch.setenv("USER", "someone-else")
    assert current_user() == pwd.getpwuid(os.geteuid()).pw_name


def test_without_a_password_entry_getpass_is_the_fallback(monkeypatch):
    def no_entry(uid):
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    monkeypatch.setenv("LOGNAME", "container-user")
    assert current_user() == getpass.getuser() == "container-user"


@pytest.mark.parametrize(("actor", "expected"), [("  bob ", "bob"), ("", None), ("   ", None), (None, None)])
def test_an_explicit_actor_wins_otherwise_the_os_user(actor, expected):
    assert actor_or_current(actor) == (expected or current_user())
