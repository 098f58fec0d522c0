"""Browser protections: cookie flags, CSRF, login rate limit, escaping, headers, no secrets in pages."""

from __future__ import annotations

import pytest

from core.stewardship import add_comment
from tests.unit.webapp import site
from webapp.security import LoginLimiter

pytestmark = pytest.mark.unit


def test_the_session_cookie_is_httponly_and_samesite_strict(db):
    client = site.client_for(db)
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/login", data={"name": "stu", "password": site.PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    cookie = [c for c in answer.headers.get_list("set-cookie") if c.startswith("sb_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie


def test_secure_cookies_behind_tls(db):
    from fastapi.testclient import TestClient

    from webapp.application import create_app

    client = TestClient(create_app(db, None, secure_cookies=True), base_url="https://testserver")
    page = client.get("/login")
    assert "Secure" in page.headers["set-cookie"]
    assert page.headers["strict-transport-security"].startswith("max-age=")


def test_login_without_its_csrf_cookie_is_refused(db):
    client = site.client_for(db)
    answer = client.post("/login", data={"name": "stu", "password": site.PASSWORD, "csrf_token": "forged"})
    assert answer.status_code == 403 and "CSRF" in answer.text


def test_a_form_post_without_the_csrf_token_is_refused_and_changes_nothing(db):
    from core.reconcile import get_exception

    client = site.client_for(db)
    site.login(client, "stu")
    answer = client.post("/exceptions/1/move", data={"action": "ack", "version": "1"}, follow_redirects=False)
    assert answer.status_code == 403 and get_exception(db, 1).status == "open"
    wrong = client.post("/exceptions/1/move", data={"action": "ack", "version": "1", "csrf_token": "x" * 43})
    assert wrong.status_code == 403


def test_a_cookie_api_call_needs_the_csrf_header_a_token_call_does_not(db, tokens):
    client = site.client_for(db)
    csrf = site.login(client, "stu")
    assert client.post("/api/v1/exceptions/1/ack", json={}).status_code == 403
    assert client.post("/api/v1/exceptions/1/ack", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    bare = site.client_for(db)
    assert bare.post("/api/v1/exceptions/2/ack", json={},
                     headers={"Authorization": f"Bearer {tokens['steward']}"}).status_code == 200


def test_failed_logins_are_rate_limited_per_user_name(db):
    now = [0.0]
    client = site.client_for(db, LoginLimiter(attempts=3, window=60, clock=lambda: now[0]))
    for _ in range(3):
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        bad = client.post("/login", data={"name": "stu", "password": "wrong", "csrf_token": token},
                          follow_redirects=False)
        assert bad.headers["location"].startswith("/login?error=")
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    blocked = client.post("/login", data={"name": "stu", "password": site.PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429
    now[0] = 61.0  # the window passed
    site.login(client, "stu")


def test_every_page_escapes_stored_text_and_sends_the_security_headers(db):
    add_comment(db, 1, '<script>alert("x")</script>', "pia")
    client = site.client_for(db)
    site.login(client, "vera")
    for path in ("/", "/exceptions", "/exceptions/1", "/quarantine", "/plans", "/plans/1", "/runs", "/runs/2"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>alert" not in page.text, path
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert "argon2" not in page.text and "sbt_" not in page.text
    assert "&lt;script&gt;alert" in client.get("/exceptions/1").text


def test_a_message_in_the_query_is_escaped(db):
    client = site.client_for(db)
    site.login(client, "vera")
    assert "<img src=x>" not in client.get("/exceptions?error=<img src=x>").text


def test_logout_ends_the_session(db):
    client = site.client_for(db)
    csrf = site.login(client, "vera")
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/v1/me").status_code == 401


def test_a_disabled_user_is_logged_out(db):
    from core.accounts import set_active

    client = site.client_for(db)
    site.login(client, "vera")
    set_active(db, "vera", False, "ada")
    assert client.get("/api/v1/me").status_code == 401
