"""The role matrix: every role x every route -> allowed or 403, derived from core.accounts.PERMISSIONS.

Each guarded route of the app (API and pages) is called once per role with a sample request; the
expected answer comes from the one declared table. A route added without a sample here fails
`test_every_guarded_route_has_a_sample`, so no route escapes the matrix.
"""

from __future__ import annotations

import pytest

from core.accounts import PERMISSIONS, Role, allowed
from tests.unit.webapp import site
from webapp.security import action_of, api_routes

pytestmark = pytest.mark.unit

# route path template -> (method, concrete path, json body or form data)
SAMPLES = {
    "/api/v1/me": ("GET", "/api/v1/me", None),
    "/api/v1/runs": ("GET", "/api/v1/runs", None),
    "/api/v1/runs/{run_id}": ("GET", "/api/v1/runs/2", None),
    "/api/v1/runs/{run_id}/release": ("POST", "/api/v1/runs/3/release", {"reason": "checked by hand"}),
    "/api/v1/runs/{run_id}/parameters": ("GET", "/api/v1/runs/2/parameters", None),
    "/api/v1/runs/{run_id}/segments": ("GET", "/api/v1/runs/2/segments", None),
    "/api/v1/exceptions": ("GET", "/api/v1/exceptions", None),
    "/api/v1/exceptions/{exc_id}": ("GET", "/api/v1/exceptions/1", None),
    "/api/v1/exceptions/{exc_id}/assign": ("POST", "/api/v1/exceptions/1/assign", {"owner": "stu"}),
    "/api/v1/exceptions/{exc_id}/comments": ("POST", "/api/v1/exceptions/1/comments", {"text": "looking"}),
    "/api/v1/exceptions/{exc_id}/{move}": ("POST", "/api/v1/exceptions/2/waive", {"reason": "accepted"}),
    "/api/v1/exceptions-bulk": ("POST", "/api/v1/exceptions-bulk", {"action": "ack", "ids": [3, 4]}),
    "/api/v1/quarantine": ("GET", "/api/v1/quarantine", None),
    "/api/v1/quarantine/{record_id}": ("GET", "/api/v1/quarantine/1", None),
    "/api/v1/quarantine/release": ("POST", "/api/v1/quarantine/release", {"ids": [1], "reason": "fixed at source"}),
    "/quarantine/release": ("POST", "/quarantine/release", {"record": ["1"], "reason": "fixed at source"}),
    "/api/v1/plans": ("GET", "/api/v1/plans", None),
    "/api/v1/plans/{plan_id}": ("GET", "/api/v1/plans/1", None),
    "/api/v1/plans/{plan_id}/lines": ("GET", "/api/v1/plans/1/lines", None),
    "/api/v1/plans/{plan_id}/approve": ("POST", "/api/v1/plans/1/approve", {"reason": "looks right"}),
    "/api/v1/plans/{plan_id}/reject": ("POST", "/api/v1/plans/1/reject", {"reason": "not now"}),
    "/api/v1/plans/{plan_id}/lines/review": ("POST", "/api/v1/plans/1/lines/review",
                                             {"decision": "approved", "ids": [1]}),
    "/api/v1/plans/{plan_id}/apply": ("POST", "/api/v1/plans/1/apply", None),
    "/api/v1/overrides": ("GET", "/api/v1/overrides", None),
    "/api/v1/overrides/{override_id}/approve": ("POST", "/api/v1/overrides/999/approve", None),
    "/api/v1/audit": ("GET", "/api/v1/audit?entity=plan&key=1", None),
    "/api/v1/users": ("GET", "/api/v1/users", None),
    "/api/v1/users/{name}/role": ("POST", "/api/v1/users/al2/role", {"role": "viewer"}),
    "/api/v1/users/{name}/disable": ("POST", "/api/v1/users/al2/disable", None),
    "/": ("GET", "/", None),
    "/exceptions": ("GET", "/exceptions", None),
    "/exceptions/bulk": ("POST", "/exceptions/bulk", {"action": "ack", "id": ["5:1"]}),
    "/exceptions/{exc_id}": ("GET", "/exceptions/1", None),
    "/exceptions/{exc_id}/move": ("POST", "/exceptions/6/move", {"action": "ack", "version": "1"}),
    "/exceptions/{exc_id}/assign": ("POST", "/exceptions/6/assign", {"owner": "stu", "version": "1"}),
    "/exceptions/{exc_id}/comment": ("POST", "/exceptions/6/comment", {"text": "noted"}),
    "/exceptions/{exc_id}/row/ack": ("POST", "/exceptions/7/row/ack", {"version": "1"}),
    "/exceptions/{exc_id}/row/assign": ("POST", "/exceptions/7/row/assign", {"version": "1"}),
    "/quarantine": ("GET", "/quarantine", None),
    "/plans": ("GET", "/plans", None),
    "/plans/{plan_id}": ("GET", "/plans/1", None),
    "/plans/{plan_id}/approve": ("POST", "/plans/1/approve", {"reason": "fine"}),
    "/plans/{plan_id}/lines": ("POST", "/plans/1/lines", {"decision": "approved", "line": ["2:1"]}),
    "/runs": ("GET", "/runs", None),
    "/api/v1/kpis": ("GET", "/api/v1/kpis?run=2", None),
    "/kpis": ("GET", "/kpis", None),
    "/what-if": ("GET", "/what-if", None),
    "/runs/{run_id}": ("GET", "/runs/2", None),
    "/runs/{run_id}/service": ("GET", "/runs/2/service", None),
    "/logout": ("POST", "/logout", {}),
}
# Posting both /api/v1/overrides (request) variants: a GET lists, a POST requests.
POSTS = {"/api/v1/overrides": ("POST", "/api/v1/overrides", {"entity": "product", "entity_key": "P1",
                                                             "name": "segment", "value": "A", "reason": "launch"}),
         "/what-if": ("POST", "/what-if", {"policy": "rules: ["}),
         "/api/v1/users": ("POST", "/api/v1/users", {"name": "newbie", "role": "viewer", "password": "long enough pw"})}


def guarded_routes(app) -> list[tuple[str, str, str]]:
    """(method, path, action) of every route that declares an action."""
    out = []
    for route in api_routes(app.routes):
        if action_of(route):
            out += [(m, route.path, action_of(route)) for m in route.methods]
    return out


def _sample(method: str, path: str):
    if method == "POST" and path in POSTS:
        return POSTS[path]
    return SAMPLES[path]


def test_every_route_but_login_declares_an_action(db):
    app = site.client_for(db).app
    public = [r.path for r in api_routes(app.routes) if not action_of(r)]
    assert sorted(public) == ["/login", "/login", "/login/oidc", "/login/oidc/callback"]  # the form, its post, SSO


def test_every_guarded_route_has_a_sample(db):
    routes = guarded_routes(site.client_for(db).app)
    assert len(routes) > 35
    missing = [(m, p) for m, p, _ in routes if not (m == "POST" and p in POSTS) and p not in SAMPLES]
    assert not missing


def test_every_declared_action_is_used_by_a_route(db):
    used = {a for _, _, a in guarded_routes(site.client_for(db).app)}
    assert used == set(PERMISSIONS)


def _call(client, method, path, body, headers, form: bool):
    if method == "GET":
        return client.get(path, headers=headers, follow_redirects=False)
    if form:
        return client.post(path, data=body, headers=headers, follow_redirects=False)
    return client.post(path, json=body, headers=headers, follow_redirects=False)


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix_with_api_tokens(role, db, tokens):
    client = site.client_for(db)
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    wrong = []
    for method, path, action in guarded_routes(client.app):
        if not path.startswith("/api/"):
            continue
        m, concrete, body = _sample(method, path)
        answer = _call(client, m, concrete, body, headers, form=False)
        expected_forbidden = not allowed(role, action)
        if (answer.status_code == 403) != expected_forbidden or answer.status_code == 401:
            wrong.append(f"{role} {m} {concrete} ({action}): {answer.status_code} {answer.text[:150]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix_with_a_browser_session(role, db):
    client = site.client_for(db)
    csrf = site.login(client, site.ROLE_USER[role])
    wrong = []
    routes = [r for r in guarded_routes(client.app) if not r[1].startswith("/api/") and r[1] != "/logout"]
    for method, path, action in routes:
        m, concrete, body = _sample(method, path)
        body = {**body, "csrf_token": csrf} if body is not None else None
        answer = _call(client, m, concrete, body, {}, form=True)
        if (answer.status_code == 403) != (not allowed(role, action)) or answer.status_code in (401, 500):
            wrong.append(f"{role} {m} {concrete} ({action}): {answer.status_code} {answer.text[:150]}")
    assert not wrong, "\n".join(wrong)


def test_without_login_the_api_answers_401_and_pages_send_to_the_login(db):
    client = site.client_for(db)
    for method, path, _ in guarded_routes(client.app):
        m, concrete, body = _sample(method, path)
        answer = _call(client, m, concrete, body, {}, form=not path.startswith("/api/"))
        if path.startswith("/api/") or m == "POST":
            assert answer.status_code == 401, (m, concrete)
        else:
            assert answer.status_code == 303 and answer.headers["location"] == "/login", (m, concrete)
