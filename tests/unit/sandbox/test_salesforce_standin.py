"""sandbox.salesforce_standin: a person's edit (`app.edit`) changes the record and its SystemModstamp."""

from __future__ import annotations

import pytest

from sandbox.salesforce_standin import build_app, seed_accounts

pytestmark = pytest.mark.unit


def test_edit_changes_the_field_and_moves_system_modstamp_on():
    app = build_app(accounts=seed_accounts(count=3))
    row = app.state.objects["Account"]["001000000000000002"]
    before = row["SystemModstamp"]
    app.edit("Account", {"Id": "001000000000000002"}, "Segment__c", "A")
    assert row["Segment__c"] == "A" and row["SystemModstamp"] != before


def _login(app) -> dict:
    from sandbox.server import Request

    resp = app.dispatch(Request("POST", "/services/oauth2/token", {}, {"host": "127.0.0.1"},
                                b"grant_type=client_credentials&client_id=segbridge&client_secret=s3cret"))
    return {"authorization": "Bearer " + __import__("json").loads(resp.body)["access_token"]}


def _get(app, path: str, headers: dict, **query):
    from sandbox.server import Request

    return app.dispatch(Request("GET", path, {k: [v] for k, v in query.items()}, headers, b""))


def test_a_query_locator_expires_after_15_idle_minutes_on_the_stand_ins_clock():
    import json

    app = build_app(accounts=seed_accounts(count=5), page_size=2)
    headers = _login(app)
    first = json.loads(_get(app, "/services/data/v59.0/query", headers, q="SELECT Id FROM Account").body)
    app.state.advance(minutes=14)
    second = json.loads(_get(app, first["nextRecordsUrl"], headers).body)
    assert [r["Id"] for r in second["records"]] == ["001000000000000003", "001000000000000004"]
    app.state.advance(minutes=15, seconds=1)
    expired = _get(app, second["nextRecordsUrl"], headers)
    assert expired.status == 400
    assert json.loads(expired.body) == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]


def test_malform_answers_the_next_queries_with_the_given_body():
    app = build_app(accounts=seed_accounts(count=3))
    headers = _login(app)
    app.state.malform("<html>proxy</html>", times=2)
    answers = [_get(app, "/services/data/v59.0/query", headers, q="SELECT Id FROM Account") for _ in range(3)]
    assert [(a.status, a.body[:6]) for a in answers[:2]] == [(200, b"<html>")] * 2
    assert answers[0].headers["Content-Type"] == "text/html" and b'"records"' in answers[2].body
