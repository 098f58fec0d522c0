"""webapp.application: errors become 400/404/409 with the hint (JSON for the API, a page otherwise)."""

from __future__ import annotations

import pytest

from tests.unit.webapp import site

pytestmark = pytest.mark.unit


def test_api_errors_carry_the_message_and_hint(db, tokens):
    client = site.client_for(db)
    auth = {"Authorization": f"Bearer {tokens['steward']}"}
    missing = client.get("/api/v1/exceptions/999", headers=auth)
    assert missing.status_code == 404 and missing.json() == {"detail": "no exception with id 999",
                                                              "hint": "see `segbridge exceptions list`"}
    client.post("/api/v1/exceptions/1/ack", json={"version": 1}, headers=auth)
    stale = client.post("/api/v1/exceptions/1/resolve", json={"reason": "x", "version": 1}, headers=auth)
    assert stale.status_code == 409 and stale.json()["hint"].startswith("reload the page")
    assert stale.headers["cache-control"] == "no-store"


def test_page_errors_are_pages(db):
    client = site.client_for(db)
    site.login(client, "vera")
    page = client.get("/exceptions/999")
    assert page.status_code == 404 and "no exception with id 999" in page.text and "<html" in page.text
    forbidden = client.get("/api/v1/users")
    assert forbidden.status_code == 403 and forbidden.json()["detail"] == "your role (viewer) may not manage users"
