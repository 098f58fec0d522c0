"""The pages' forms: filter the queue, bulk-waive with a reason, a stale update refused, plan review."""

from __future__ import annotations

import pytest

from core.reconcile import get_exception, history
from core.writeback.plan import load_plan
from tests.unit.webapp import site

pytestmark = pytest.mark.unit


def test_the_queue_filters_and_shows_due_dates_and_aging(db):
    client = site.client_for(db)
    site.login(client, "stu")
    page = client.get("/exceptions?system=crm&severity=high")
    assert "2 match" in page.text and "P0|DC1" in page.text and "P1|DC1" not in page.text
    assert "on time" in page.text


def test_a_steward_bulk_waives_with_a_reason_and_the_audit_shows_it(db):
    client = site.client_for(db)
    csrf = site.login(client, "stu")
    answer = client.post("/exceptions/bulk", data={"csrf_token": csrf, "action": "waive", "reason": "test data",
                                                   "id": ["1:1", "3:1"], "query": "system=crm"})
    assert answer.status_code == 200 and "2 exception(s): waive done" in answer.text
    assert get_exception(db, 3).status == "waived"
    assert [(h.action, h.actor, h.reason) for h in history(db, 3)] == [("exception_waived", "stu", "test data")]
    assert "exception_waived" in client.get("/exceptions/3").text


def test_a_stale_form_is_refused_with_a_clear_message(db):
    client = site.client_for(db)
    csrf = site.login(client, "stu")
    client.post("/exceptions/4/move", data={"csrf_token": csrf, "action": "ack", "version": "1"})
    stale = client.post("/exceptions/4/move", data={"csrf_token": csrf, "action": "resolve", "reason": "x",
                                                    "version": "1"})
    assert "changed since you loaded them" in stale.text and get_exception(db, 4).status == "acknowledged"


def test_assign_and_comment_forms(db):
    client = site.client_for(db)
    csrf = site.login(client, "stu")
    client.post("/exceptions/5/assign", data={"csrf_token": csrf, "owner": "stu", "version": "1"})
    page = client.post("/exceptions/5/comment", data={"csrf_token": csrf, "text": "called the plant"})
    assert "called the plant" in page.text and get_exception(db, 5).owner == "stu"


def test_an_approver_approves_a_plan_a_planner_made_and_a_planner_cannot(db):
    planner = site.client_for(db)
    csrf = site.login(planner, "pia")
    refused = planner.post("/plans/1/approve", data={"csrf_token": csrf, "reason": "mine"})
    assert refused.status_code == 403 and load_plan(db, 1).status == "needs_approval"
    approver = site.client_for(db)
    csrf = site.login(approver, "alma")
    page = approver.post("/plans/1/approve", data={"csrf_token": csrf, "reason": "checked with planning"})
    assert "plan 1 approved" in page.text and load_plan(db, 1).approved_by == "alma"


def test_plan_lines_reviewed_on_the_page(db):
    client = site.client_for(db)
    csrf = site.login(client, "alma")
    page = client.post("/plans/1/lines", data={"csrf_token": csrf, "decision": "rejected", "reason": "too high",
                                               "line": ["1:1"]})
    assert "1 line(s) rejected" in page.text and "rejected by alma" in page.text
    none = client.post("/plans/1/lines", data={"csrf_token": csrf, "decision": "approved"})
    assert "select lines" in none.text


def test_the_kpi_page_shows_the_table_and_the_dashboards_charts(db):
    from tests.unit.webapp.test_api import seed_kpis

    client = site.client_for(db)
    site.login(client, "vera")
    assert "segbridge kpis --compute" in client.get("/kpis").text
    assert 'href="/kpis"' in client.get("/").text
    seed_kpis(db)
    page = client.get("/kpis")
    assert "segment run <a href=\"/runs/2\">2</a>" in page.text and "9 rows" in page.text
    assert page.text.count("<svg") >= 2  # the trend line chart and the promised-vs-achieved bars
    assert "Promised vs achieved (planning replay)" in page.text  # the dashboard's own section
    assert "no shipments &lt;b&gt;yet&lt;/b&gt;" in page.text and "<b>yet" not in page.text
    one = client.get("/kpis?kpi=service_promised&segment=A-X")
    assert "2 rows" not in one.text and "1 rows" in one.text and "0.97" in one.text


def test_a_runs_page_shows_promised_and_achieved_service_per_segment(db):
    from core.model import ParameterValue
    from core.store import upsert
    from tests.unit.webapp.test_api import seed_kpis

    upsert(db, ParameterValue, [{"run_id": 2, "entity": "product_location", "entity_key": f"P{i}|DC1", "name": name,
                                 "value_num": value, "value_text": None}
                                for i in range(4) for name, value in (("service_level", 0.95),
                                                                      ("achieved_service", 0.90 + i / 100))])
    client = site.client_for(db)
    site.login(client, "vera")
    assert 'hx-get="/runs/2/service" hx-trigger="load"' in client.get("/runs/2").text  # loaded after the page
    part = client.get("/runs/2/service", headers={"HX-Request": "true"}).text
    assert "<html" not in part and "the run&#39;s parameters" in part
    # A-X: four product-locations with targets (the fifth has none): promised 0.950, achieved mean(0.90..0.93)
    assert "<td>A-X</td><td>4</td><td>0.950</td><td>0.915</td><td>-0.035</td><td>–</td>" in part
    assert "<html" in client.get("/runs/2/service").text  # without htmx: a page of its own
    assert "no service targets" in client.get("/runs/1/service", headers={"HX-Request": "true"}).text
    seed_kpis(db)  # once computed, the KPIs are read instead (a few rows, not a pass over the parameters)
    kpis = client.get("/runs/2/service", headers={"HX-Request": "true"}).text
    assert "the KPIs computed for this run" in kpis
    assert "<td>A-X</td><td>10</td><td>0.970</td><td>0.930</td><td>-0.040</td><td>–</td>" in kpis


def test_an_exception_links_to_its_plan_line(db):
    from core.reconcile import Observation, upsert_observations

    upsert_observations(db, [Observation("writeback_conflict", "sap", "A_ProductPlant", '{"Product": "P2"}',
                                         "SafetyStock", "22", "17", severity="high")], run_id=None)
    client = site.client_for(db)
    site.login(client, "stu")
    page = client.get("/exceptions/9").text
    assert '<a class="plan-line" href="/plans/1?page=1#line-3">plan 1, line 3</a>' in page
    assert 'id="line-3"' in client.get("/plans/1?page=1").text
    from core import plan_review

    assert plan_review.plan_line_of(db, get_exception(db, 9), page_size=2) == (1, 3, 2)  # lines 1-2, then 3-4
    assert "plan-line" not in client.get("/exceptions/1").text


def test_htmx_is_served_from_the_app_and_sends_the_csrf_header(db):
    client = site.client_for(db)
    csrf = site.login(client, "stu")
    page = client.get("/exceptions")
    assert '<script src="/static/htmx.min.js" defer></script>' in page.text and "unpkg" not in page.text
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf}"}}\'' in page.text
    script = client.get("/static/htmx.min.js")
    assert script.status_code == 200 and "htmx" in script.text[:100]
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_the_queue_answers_htmx_with_the_results_fragment(db):
    client = site.client_for(db)
    site.login(client, "stu")
    whole = client.get("/exceptions?system=crm&severity=high")
    fragment = client.get("/exceptions?system=crm&severity=high", headers={"HX-Request": "true"})
    assert "<html" in whole.text and "<html" not in fragment.text and 'id="filters"' not in fragment.text
    assert "2 match" in fragment.text and "P0|DC1" in fragment.text and "P1|DC1" not in fragment.text
    assert 'name="query" value="system=crm&amp;severity=high"' in fragment.text  # bulk acts on this filter
    assert fragment.headers["vary"] == "HX-Request"
    restore = client.get("/exceptions", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text
    paged = client.get("/exceptions?page=1", headers={"HX-Request": "true"})
    assert paged.text.count('<tr id="exc-') == 8


def test_row_actions_answer_the_fresh_row_and_refuse_a_stale_one(db):
    client = site.client_for(db)
    csrf = site.login(client, "stu")
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    acked = client.post("/exceptions/5/row/ack", data={"version": "1"}, headers=htmx)
    assert acked.status_code == 200 and acked.text.lstrip().startswith('<tr id="exc-5">')
    assert "acknowledged" in acked.text and "row-ack" not in acked.text and get_exception(db, 5).status == "acknowledged"
    stale = client.post("/exceptions/5/row/assign", data={"version": "1"}, headers=htmx)
    assert "changed since you loaded them" in stale.text and get_exception(db, 5).owner is None
    taken = client.post("/exceptions/5/row/assign", data={"version": "2"}, headers=htmx)
    assert "row-take" not in taken.text and get_exception(db, 5).owner == "stu"
    assert [h.actor for h in history(db, 5)] == ["stu", "stu"]
    no_token = client.post("/exceptions/6/row/ack", data={"version": "1"}, headers={"HX-Request": "true"})
    assert no_token.status_code == 403 and get_exception(db, 6).status == "open"


def test_a_viewer_sees_no_row_actions(db):
    client = site.client_for(db)
    site.login(client, "vera")
    page = client.get("/exceptions").text
    assert 'id="exc-1"' in page and "row-ack" not in page and "row-take" not in page


def _order_lines(db) -> None:
    """Five products at one DC with yearly values 500, 300, 100, 60, 40 (unit price 1)."""
    import pandas as pd

    from core.model import OrderLine, Product, ProductLocation
    from core.store import upsert

    values = {"P1": 500.0, "P2": 300.0, "P3": 100.0, "P4": 60.0, "P5": 40.0}
    upsert(db, Product, pd.DataFrame({"id": list(values), "unit_price": 1.0}))
    upsert(db, ProductLocation, pd.DataFrame({"product_id": list(values), "location_id": "DC"}))
    upsert(db, OrderLine, pd.DataFrame([
        {"order_id": f"{p}-{i}", "line_no": "10", "product_id": p, "location_id": "DC",
         "order_date": (pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=5 * i)).date(), "quantity": total / 10}
        for p, total in values.items() for i in range(10)]))


def test_a_planner_compares_a_candidate_policy_and_nothing_is_saved(db):
    from core import runs

    _order_lines(db)
    client = site.client_for(db)
    csrf = site.login(client, "pia")
    assert 'href="/what-if"' in client.get("/").text
    before = [r.id for r in runs.list_runs(db, limit=50)]
    candidate = "version: 1\nclassification:\n  abc_thresholds: [0.5, 0.7]\n"
    page = client.post("/what-if", data={"csrf_token": csrf, "policy": candidate}).text
    assert "Segment migration" in page and "what-if only: nothing was saved" in page
    matrix = page.split('<table class="migration">')[1].split("</table>")[0]
    assert matrix.count("<tr>") >= 2
    assert "Parameters that would change" in page and "safety_stock" in page
    uploaded = client.post("/what-if", data={"csrf_token": csrf},
                           files={"file": ("candidate.yaml", candidate.encode(), "application/x-yaml")}).text
    assert uploaded.split('<table class="migration">')[1] == page.split('<table class="migration">')[1]
    assert [r.id for r in runs.list_runs(db, limit=50)] == before


def test_a_what_if_typo_is_reported_with_its_line(db):
    client = site.client_for(db)
    csrf = site.login(client, "pia")
    page = client.post("/what-if", data={"csrf_token": csrf, "policy": "version: 1\nrules:\n  - name: r\n    servce_level: 0.9\n"})
    assert page.status_code == 200 and 'class="error"' in page.text and "candidate.yaml:4" in page.text
    assert "service_level" in page.text and "Segment migration" not in page.text
    assert "/candidate.yaml" not in page.text  # no server path in the message
    assert client.post("/what-if", data={"csrf_token": csrf, "policy": ""}).text.count("paste or upload") == 1
    site.login(client, "stu")
    assert client.get("/what-if").status_code == 403
