"""The REST API, endpoint by endpoint, through FastAPI's test client on a seeded SQLite store."""

from __future__ import annotations

import pytest

from core.reconcile import get_exception
from tests.unit.webapp import site

pytestmark = pytest.mark.unit


@pytest.fixture
def call(api, tokens):
    """call(role, method, path, json=None) -> response, authenticated by that role's API token."""
    def _call(role, method, path, json=None):
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        if method == "GET":
            return api.get(path, headers=headers)
        return api.post(path, json=json, headers=headers)
    return _call


def test_me_lists_what_the_role_may_do(call):
    body = call("planner", "GET", "/api/v1/me").json()
    assert body["name"] == "pia" and body["role"] == "planner"
    assert "comment" in body["may"] and "review_plan" not in body["may"]
    assert "password_hash" not in str(body)


def test_runs_list_show_and_release(call):
    runs = call("viewer", "GET", "/api/v1/runs").json()
    assert [r["id"] for r in runs] == [3, 2, 1] and runs[0]["suspect"] is True
    assert call("viewer", "GET", "/api/v1/runs/2").json()["kind"] == "segment"
    assert call("viewer", "GET", "/api/v1/runs/99").status_code == 404
    released = call("admin", "POST", "/api/v1/runs/3/release", {"reason": "counts checked with SAP"})
    assert released.status_code == 200
    again = call("admin", "POST", "/api/v1/runs/3/release", {"reason": "twice"})
    assert again.status_code == 400 and "already released by ada" in again.json()["detail"]


def test_run_parameters_old_and_new_and_search(call):
    rows = call("viewer", "GET", "/api/v1/runs/2/parameters?size=2").json()
    assert rows == [{"entity": "product_location", "entity_key": "P0|DC1", "name": "safety_stock",
                     "value_num": 20.0, "value_text": None, "old_num": 10.0, "old_text": None},
                    {"entity": "product_location", "entity_key": "P1|DC1", "name": "safety_stock",
                     "value_num": 21.0, "value_text": None, "old_num": 11.0, "old_text": None}]
    found = call("viewer", "GET", "/api/v1/runs/2/parameters?key=P3").json()
    assert [r["entity_key"] for r in found] == ["P3|DC1"]
    second = call("viewer", "GET", "/api/v1/runs/2/parameters?size=2&page=3").json()
    assert [r["entity_key"] for r in second] == ["P4|DC1"]


def test_segment_migration_against_the_previous_run(call):
    body = call("viewer", "GET", "/api/v1/runs/2/segments").json()
    assert body == {"previous_run": 1, "migration": [{"before": "B-Y", "after": "A-X", "n": 5}]}
    assert call("viewer", "GET", "/api/v1/runs/1/segments").json() == {"previous_run": None, "migration": []}


def test_exception_list_filters_pages_and_due_dates(call):
    body = call("viewer", "GET", "/api/v1/exceptions?system=sap&severity=high").json()
    assert body["total"] == 1 and body["items"][0]["entity_key"] == "P1|DC1"
    assert body["items"][0]["aging"] == "on time" and body["items"][0]["version"] == 1
    page = call("viewer", "GET", "/api/v1/exceptions?size=3&page=3&sort=id").json()
    assert page["total"] == 8 and [e["id"] for e in page["items"]] == [7, 8]
    assert call("viewer", "GET", "/api/v1/exceptions?key=P7").json()["total"] == 1
    assert call("viewer", "GET", "/api/v1/exceptions?older_than_days=1").json()["total"] == 0
    assert call("viewer", "GET", "/api/v1/exceptions?sort=nope").status_code == 400


def test_assign_comment_and_show_with_history(call):
    assigned = call("steward", "POST", "/api/v1/exceptions/1/assign", {"owner": "stu", "version": 1}).json()
    assert assigned["owner"] == "stu" and assigned["version"] == 2
    note = call("planner", "POST", "/api/v1/exceptions/1/comments", {"text": "<b>check</b> the plant"}).json()
    assert note["author"] == "pia"
    shown = call("viewer", "GET", "/api/v1/exceptions/1").json()
    assert [c["text"] for c in shown["comments"]] == ["<b>check</b> the plant"]
    assert [(h["action"], h["actor"]) for h in shown["history"]] == [("exception_assigned", "stu"),
                                                                     ("exception_commented", "pia")]
    assert call("viewer", "GET", "/api/v1/exceptions/404").status_code == 404


def test_status_moves_reuse_the_lifecycle(call, db):
    acked = call("steward", "POST", "/api/v1/exceptions/2/ack", {"version": 1}).json()
    assert acked["status"] == "acknowledged" and acked["version"] == 2
    no_reason = call("steward", "POST", "/api/v1/exceptions/2/waive", {"version": 2})
    assert no_reason.status_code == 400 and "reason is required" in no_reason.json()["detail"]
    waived = call("steward", "POST", "/api/v1/exceptions/2/waive", {"reason": "known", "version": 2}).json()
    assert waived["status"] == "waived"
    assert call("steward", "POST", "/api/v1/exceptions/2/ack", {}).status_code == 400  # waived cannot be acked
    assert call("steward", "POST", "/api/v1/exceptions/2/explode", {}).status_code == 404
    assert get_exception(db, 2).reason == "known"


def test_a_stale_version_is_refused_and_changes_nothing(call, db):
    assert call("steward", "POST", "/api/v1/exceptions/3/ack", {"version": 1}).status_code == 200
    stale = call("admin", "POST", "/api/v1/exceptions/3/waive", {"reason": "mine", "version": 1})
    assert stale.status_code == 409
    assert "changed since you loaded them" in stale.json()["detail"] and "now version 2" in stale.json()["detail"]
    assert get_exception(db, 3).status == "acknowledged"
    stale_assign = call("admin", "POST", "/api/v1/exceptions/3/assign", {"owner": "ada", "version": 1})
    assert stale_assign.status_code == 409 and get_exception(db, 3).owner is None


def test_bulk_by_ids_and_by_filter(call, db):
    by_ids = call("steward", "POST", "/api/v1/exceptions-bulk", {"action": "ack", "ids": [4, 5]}).json()
    assert by_ids == {"changed": 2}
    by_filter = call("steward", "POST", "/api/v1/exceptions-bulk",
                     {"action": "waive", "reason": "CRM test data", "filter": {"system": ["crm"]}}).json()
    assert by_filter == {"changed": 4}
    assert {get_exception(db, i).status for i in (1, 3, 5, 7)} == {"waived"}  # crm: the even keys
    owners = call("steward", "POST", "/api/v1/exceptions-bulk",
                  {"action": "assign", "owner": "stu", "filter": {"system": ["sap"]}}).json()
    assert owners == {"changed": 4} and get_exception(db, 8).owner == "stu"
    assert call("steward", "POST", "/api/v1/exceptions-bulk", {"action": "ack"}).status_code == 400
    assert call("steward", "POST", "/api/v1/exceptions-bulk", {"action": "burn", "ids": [1]}).status_code == 400
    stale = call("steward", "POST", "/api/v1/exceptions-bulk",
                 {"action": "resolve", "reason": "x", "ids": [2, 6], "versions": {"2": 2, "6": 1}})
    assert stale.status_code == 409 and "6 (now version 2, you saw 1)" in stale.json()["detail"]
    assert get_exception(db, 2).status == "open"


def test_quarantine_list_and_record(call):
    rows = call("viewer", "GET", "/api/v1/quarantine?system=sap").json()
    assert [(r["id"], r["reason_code"]) for r in rows] == [(1, "bad_type")]
    record = call("viewer", "GET", "/api/v1/quarantine/1").json()
    assert record["record"]["Weight"] == "<script>alert(1)</script>"
    assert call("viewer", "GET", "/api/v1/quarantine/2").status_code == 404


def test_a_steward_releases_a_quarantined_record(call):
    assert call("steward", "POST", "/api/v1/quarantine/release", {"ids": [1], "reason": ""}).status_code == 422
    assert call("steward", "POST", "/api/v1/quarantine/release", {"ids": [1], "reason": "fixed in SAP"}).json() == \
        {"released": 1}
    assert call("viewer", "GET", "/api/v1/quarantine").json() == []
    trail = call("viewer", "GET", "/api/v1/audit?entity=quarantine&key=1").json()
    assert [(a["action"], a["actor"], a["reason"]) for a in trail] == [("quarantine_released", "stu", "fixed in SAP")]


def test_plans_list_show_lines(call):
    assert [p["id"] for p in call("viewer", "GET", "/api/v1/plans").json()] == [1]
    assert call("viewer", "GET", "/api/v1/plans?status=applied").json() == []
    assert call("viewer", "GET", "/api/v1/plans/1").json()["planned_by"] == "pia"
    lines = call("viewer", "GET", "/api/v1/plans/1/lines?size=3").json()
    assert lines["total"] == 4 and [(li["current_value"], li["intended_value"]) for li in lines["items"]][:1] == \
        [("10", "20")]


def test_approve_four_eyes_and_audit(call, db):
    from core.accounts import new_token, set_role

    set_role(db, "pia", "approver", "test")  # the planner made approver still may not approve their own plan
    pia_as_approver = new_token(db, "pia", None, "test")
    client = site.client_for(db)
    refused = client.post("/api/v1/plans/1/approve", json={"reason": "mine"},
                          headers={"Authorization": f"Bearer {pia_as_approver}"})
    assert refused.status_code == 409 and "needs a second person" in refused.json()["detail"]
    approved = call("approver", "POST", "/api/v1/plans/1/approve", {"reason": "checked"}).json()
    assert approved["status"] == "approved" and approved["approved_by"] == "alma"
    trail = call("viewer", "GET", "/api/v1/audit?entity=plan&key=1").json()
    assert [(a["action"], a["actor"]) for a in trail] == [("plan", "pia"), ("approve", "alma")]


def test_line_review_reject_plan_and_stale_lines(call, db):
    lines = call("viewer", "GET", "/api/v1/plans/1/lines").json()["items"]
    ok = call("approver", "POST", "/api/v1/plans/1/lines/review",
              {"decision": "approved", "ids": [lines[0]["id"]], "versions": {str(lines[0]["id"]): 1}})
    assert ok.json() == {"reviewed": 1}
    stale = call("admin", "POST", "/api/v1/plans/1/lines/review",
                 {"decision": "rejected", "reason": "no", "ids": [lines[0]["id"]], "versions": {str(lines[0]["id"]): 1}})
    assert stale.status_code == 409 and "plan line" in stale.json()["detail"]
    no_reason = call("approver", "POST", "/api/v1/plans/1/lines/review", {"decision": "rejected", "ids": [lines[1]["id"]]})
    assert no_reason.status_code == 400
    rejected = call("approver", "POST", "/api/v1/plans/1/reject", {"reason": "wrong season"}).json()
    assert rejected == {"rejected": 4}
    after = call("viewer", "GET", "/api/v1/plans/1/lines").json()["items"]
    assert {(li["state"], li["review"]) for li in after} == {("rejected", "rejected")}
    assert after[1]["message"] == "rejected in review by alma: wrong season"


def test_apply_without_a_configuration_says_how(call):
    answer = call("approver", "POST", "/api/v1/plans/1/apply")
    assert answer.status_code == 409 and "segbridge apply" in answer.json()["detail"]


def test_overrides_request_and_approve_with_four_eyes(call):
    asked = call("planner", "POST", "/api/v1/overrides", {"entity": "product", "entity_key": "P1", "name": "segment",
                                                          "value": "A-X", "reason": "launch"}).json()
    assert asked["active"] is False and asked["requested_by"] == "pia"
    assert call("admin", "POST", "/api/v1/overrides", {"entity": "product", "entity_key": "P2", "name": "segment",
                                                       "value": "C", "reason": "x"}).status_code == 200
    own = call("admin", "POST", "/api/v1/overrides/2/approve")
    assert own.status_code == 409
    done = call("approver", "POST", f"/api/v1/overrides/{asked['id']}/approve").json()
    assert done["active"] is True and done["approved_by"] == "alma"
    assert [o["id"] for o in call("viewer", "GET", "/api/v1/overrides").json()] == [2, 1]


def test_users_list_add_set_role_disable(call, tokens, api):
    assert {u["name"] for u in call("admin", "GET", "/api/v1/users").json()} >= {"ada", "vera"}
    assert "password" not in str(call("admin", "GET", "/api/v1/users").json())
    added = call("admin", "POST", "/api/v1/users", {"name": "nick", "role": "steward", "password": "long password"})
    assert added.json() == {**added.json(), "name": "nick", "role": "steward", "active": True}
    assert call("admin", "POST", "/api/v1/users", {"name": "nick", "role": "viewer"}).status_code == 400
    assert call("admin", "POST", "/api/v1/users/nick/role", {"role": "viewer"}).json()["role"] == "viewer"
    assert call("admin", "POST", "/api/v1/users/nick/role", {"role": "king"}).status_code == 400
    assert call("admin", "POST", "/api/v1/users/vera/disable").json()["active"] is False
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['viewer']}"}).status_code == 401


def test_openapi_document_lists_every_api_route(api):
    doc = api.get("/api/v1/openapi.json").json()
    assert {"/api/v1/exceptions", "/api/v1/exceptions-bulk", "/api/v1/plans/{plan_id}/lines/review",
            "/api/v1/runs/{run_id}/parameters", "/api/v1/overrides/{override_id}/approve"} <= set(doc["paths"])


def seed_kpis(db, run_id: int = 2) -> None:
    """KPI rows of segment run `run_id` as `segbridge kpis --compute` stores them."""
    from core.model import KpiValue
    from core.store import upsert

    rows = [{"run_id": run_id, "segment": seg, "kpi": kpi, "period": period, "scope": "", "value": value,
             "numerator": None, "denominator": 10.0, "note": None}
            for seg in ("all", "A-X")
            for kpi, period, value in (("fill_rate_units", "2026-01-05", 0.9), ("fill_rate_units", "2026-01-12", 0.95),
                                       ("service_promised", "all", 0.97), ("service_achieved_replay", "all", 0.93))]
    rows.append({"run_id": run_id, "segment": "all", "kpi": "otif", "period": "all", "scope": "", "value": None,
                 "numerator": None, "denominator": None, "note": "no shipments <b>yet</b>"})
    upsert(db, KpiValue, rows)


def test_kpis_filtered_and_paged(call, db):
    assert call("viewer", "GET", "/api/v1/kpis").json() == {"run": None, "total": 0, "page": 1, "size": 100,
                                                           "items": []}
    seed_kpis(db)
    whole = call("viewer", "GET", "/api/v1/kpis").json()
    assert whole["run"] == 2 and whole["total"] == 9
    picked = call("viewer", "GET", "/api/v1/kpis?run=2&segment=A-X&kpi=fill_rate_units&period=2026-01-12").json()
    assert picked["items"] == [{"run_id": 2, "segment": "A-X", "kpi": "fill_rate_units", "period": "2026-01-12",
                                "scope": "", "value": 0.95, "numerator": None, "denominator": 10.0, "note": None}]
    pages = [call("viewer", "GET", f"/api/v1/kpis?size=4&page={p}").json()["items"] for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [4, 4, 1]
    keys = {(r["segment"], r["kpi"], r["period"]) for p in pages for r in p}
    assert len(keys) == 9  # no row twice, none lost
    assert call("viewer", "GET", "/api/v1/kpis?run=1").json()["total"] == 0
    assert call("viewer", "GET", "/api/v1/kpis?size=0").status_code == 422
