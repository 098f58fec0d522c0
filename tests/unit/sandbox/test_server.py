"""The sandbox server framework: routes, request log, faults, throttling and auth, over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox.server import Response, SandboxApp, SandboxAuth, serve

pytestmark = pytest.mark.unit


@pytest.fixture
def app():
    app = SandboxApp("t")

    @app.route("GET", r"/items/(?P<id>\d+)")
    def item(req):
        return Response.json({"id": int(req.match["id"]), "q": req.arg("q")})

    @app.route("POST", r"/items")
    def create(req):
        return Response.json({"got": req.json()}, 201)

    return app


def test_routes_and_request_log(app):
    with serve(app) as server:
        assert requests.get(server.url + "/items/7?q=x", timeout=5).json() == {"id": 7, "q": "x"}
        resp = requests.post(server.url + "/items", json={"a": 1}, timeout=5)
        assert (resp.status_code, resp.json()) == (201, {"got": {"a": 1}})
    assert [(r.method, r.path, r.query) for r in app.log] == [("GET", "/items/7", {"q": ["x"]}), ("POST", "/items", {})]
    assert app.log[1].body == b'{"a": 1}'


def test_unknown_path_404_and_wrong_method_405(app):
    with serve(app) as server:
        assert requests.get(server.url + "/nothing", timeout=5).status_code == 404
        resp = requests.delete(server.url + "/items", timeout=5)
        assert resp.status_code == 405 and resp.headers["Allow"] == "POST"


def test_fault_status_with_retry_after_used_n_times(app):
    app.inject(status=429, retry_after=3, times=2, path=r"/items/\d+")
    with serve(app) as server:
        codes = [requests.get(server.url + "/items/1", timeout=5) for _ in range(3)]
    assert [r.status_code for r in codes] == [429, 429, 200]
    assert codes[0].headers["Retry-After"] == "3"


def test_fault_only_matches_its_path_and_method(app):
    app.inject(status=503, path=r"/items$", method="POST")
    with serve(app) as server:
        assert requests.get(server.url + "/items/1", timeout=5).status_code == 200
        assert requests.post(server.url + "/items", json={}, timeout=5).status_code == 503


def test_fault_malformed_body_and_delay_and_drop(app):
    app.inject(status=200, body="<html>oops</html>")
    app.inject(status=0, delay=0.3)
    app.inject(drop=True)
    with serve(app) as server:
        assert requests.get(server.url + "/items/1", timeout=5).text == "<html>oops</html>"
        started = time.monotonic()
        assert requests.get(server.url + "/items/1", timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.3
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/items/1", timeout=5)
        assert requests.get(server.url + "/items/1", timeout=5).status_code == 200


def test_fault_answers_an_empty_body_or_any_body_with_its_content_type(app):
    """Malformed answers as systems send them: an empty 200, `null` and truncated JSON as JSON, a SOAP fault."""
    app.inject(status=200, body="", content_type="application/json")
    app.inject(status=200, body="null", content_type="application/json")
    app.inject(status=200, body='{"results": [{"id"', content_type="application/json")
    app.inject(status=500, body="<soapenv:Fault/>", content_type="text/xml; charset=utf-8")
    app.inject(status=502)
    with serve(app) as server:
        answers = [requests.get(server.url + "/items/1", timeout=5) for _ in range(5)]
    assert [(a.status_code, a.headers["Content-Type"], a.text) for a in answers] == [
        (200, "application/json", ""), (200, "application/json", "null"),
        (200, "application/json", '{"results": [{"id"'), (500, "text/xml; charset=utf-8", "<soapenv:Fault/>"),
        (502, "text/html", "injected fault")]
    assert answers[0].headers["Content-Length"] == "0"


def test_throttle_answers_429_beyond_rate(app):
    app.requests_per_second = 2
    with serve(app) as server:
        codes = [requests.get(server.url + "/items/1", timeout=5).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:]


def test_basic_and_bearer_auth(app):
    app.require_auth(SandboxAuth(basic=("u", "p"), bearer="tok"))
    with serve(app) as server:
        url = server.url + "/items/1"
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.get(url, auth=("u", "wrong"), timeout=5).status_code == 401
        assert requests.get(url, auth=("u", "p"), timeout=5).status_code == 200
        assert requests.get(url, headers={"Authorization": "Bearer tok"}, timeout=5).status_code == 200


def test_oauth2_tokens_and_expiry(app):
    auth = app.require_auth(SandboxAuth(clients={"app": "s3"}))
    with serve(app) as server:
        bad = requests.post(server.url + "/oauth2/token", data={"grant_type": "client_credentials",
                                                               "client_id": "app", "client_secret": "no"}, timeout=5)
        assert bad.status_code == 401
        token = requests.post(server.url + "/oauth2/token", data={"grant_type": "client_credentials",
                                                                 "client_id": "app", "client_secret": "s3"},
                              timeout=5).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(server.url + "/items/1", headers=headers, timeout=5).status_code == 200
        auth.expire_tokens()
        assert requests.get(server.url + "/items/1", headers=headers, timeout=5).status_code == 401


def test_handler_exception_is_a_500(app):
    @app.route("GET", r"/boom")
    def boom(req):
        raise RuntimeError("kaput")

    with serve(app) as server:
        resp = requests.get(server.url + "/boom", timeout=5)
    assert resp.status_code == 500 and "kaput" in resp.json()["error"]["message"]


def test_fault_skip_lets_requests_through_first():
    from sandbox.server import SandboxApp

    app = SandboxApp("t")
    app.inject(status=503, skip=2, path="/a")
    seen = [app.take_fault("GET", "/a") for _ in range(4)]
    assert [f.status if f else None for f in seen] == [None, None, 503, None]


def test_responses_go_out_without_nagle(app):
    """TCP_NODELAY on the served connections, as real web servers set it: the handler sends headers
    and body in two writes, and with Nagle the body waited ~40 ms for the client's delayed ACK."""
    server = serve(app)
    try:
        assert server.httpd.RequestHandlerClass.disable_nagle_algorithm is True
    finally:
        server.httpd.server_close()
