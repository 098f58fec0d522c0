"""The one HTTP client: retries, Retry-After, rate limit, auth headers, OAuth2 refresh, TLS, redaction."""

from __future__ import annotations

import base64
import os
from urllib.parse import parse_qs

import pytest
import requests
import responses

from connectors.connector_errors import AuthError, FatalError, RateLimited, RetriableError
from connectors.http.client import HttpClient, HttpOptions, RateLimiter, parse_retry_after
from tests.unit.connectors.http.conftest import self_signed

pytestmark = pytest.mark.unit
BASE = "https://api.example.com/v1"


class Sleeps(list):
    """A fake `sleep` that records the waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleep=None, **opts) -> HttpClient:
    options = HttpOptions(base_url=BASE, backoff_initial=0.5, backoff_max=4, **opts)
    return HttpClient(options, sleep=sleep if sleep is not None else Sleeps())


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv("T_USER", "alice")
    monkeypatch.setenv("T_PASS", "pa55word-xyz")
    monkeypatch.setenv("T_TOKEN", "tok-123456")
    monkeypatch.setenv("T_SECRET", "client-secret-987")


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@responses.activate
def test_retries_transient_statuses_honouring_retry_after(status):
    responses.get(f"{BASE}/items", status=status, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/items", json={"ok": 1})
    sleeps = Sleeps()
    resp = client(sleeps).get("items", params={"page": 2})
    assert resp.json() == {"ok": 1}
    assert sleeps == [7.0]
    assert [c.request.url for c in responses.calls] == [f"{BASE}/items?page=2"] * 2


@responses.activate
def test_backoff_is_exponential_with_jitter_when_no_retry_after():
    for _ in range(3):
        responses.get(f"{BASE}/x", status=503)
    responses.get(f"{BASE}/x", json={})
    sleeps = Sleeps()
    client(sleeps).get("x")
    assert len(sleeps) == 3
    # wait_exponential_jitter: initial * 2**n plus up to 1 s of jitter, capped at backoff_max
    for n, wait in enumerate(sleeps):
        assert 0.5 * 2 ** n <= wait <= min(4, 0.5 * 2 ** n + 1)


@responses.activate
def test_retry_after_is_capped():
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": "3600"})
    responses.get(f"{BASE}/x", json={})
    sleeps = Sleeps()
    client(sleeps, max_retry_after=60).get("x")
    assert sleeps == [60.0]


@responses.activate
def test_gives_up_after_max_attempts_with_rate_limited():
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": "1"})
    c = client(max_attempts=3)
    with pytest.raises(RateLimited) as exc:
        c.get("x")
    assert exc.value.retry_after == 1.0
    assert len(responses.calls) == 3


@responses.activate
def test_connection_errors_are_retried():
    responses.get(f"{BASE}/x", body=requests.ConnectionError("reset"))
    responses.get(f"{BASE}/x", body=requests.ReadTimeout("slow"))
    responses.get(f"{BASE}/x", json={"a": 1})
    sleeps = Sleeps()
    assert client(sleeps).get("x").json() == {"a": 1}
    assert len(sleeps) == 2 and len(responses.calls) == 3


@responses.activate
def test_connection_errors_exhausted_raise_retriable():
    responses.get(f"{BASE}/x", body=requests.ConnectionError("reset"))
    with pytest.raises(RetriableError, match="GET https://api.example.com/v1/x: ConnectionError"):
        client(max_attempts=2).get("x")
    assert len(responses.calls) == 2


@pytest.mark.parametrize("status", [400, 404, 409, 422])
@responses.activate
def test_no_retry_on_other_4xx(status):
    responses.get(f"{BASE}/x", status=status, json={"error": "bad filter"})
    sleeps = Sleeps()
    with pytest.raises(FatalError, match=f"HTTP {status}: .*bad filter"):
        client(sleeps).get("x")
    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_business_error_in_200_is_not_retried_and_raise_for_status_false_returns():
    responses.post(f"{BASE}/x", status=400, json={"message": "quantity must be positive"})
    resp = client().post("x", json={"q": -1}, raise_for_status=False)
    assert resp.status_code == 400 and len(responses.calls) == 1
    assert responses.calls[0].request.body == b'{"q": -1}'


@responses.activate
def test_malformed_json_body_is_retried_when_json_expected():
    responses.get(f"{BASE}/x", body="<html>proxy error</html>", status=200)
    responses.get(f"{BASE}/x", json={"items": []})
    body, _ = client().get_json("x")
    assert body == {"items": []} and len(responses.calls) == 2


def test_rate_limiter_spaces_requests():
    sleeps = Sleeps()
    limiter = RateLimiter(4, sleep=sleeps)
    for _ in range(3):
        limiter.wait()
    assert len(sleeps) == 2
    assert sleeps[0] == pytest.approx(0.25, abs=0.02)
    assert sleeps[1] == pytest.approx(0.5, abs=0.02)


@responses.activate
def test_client_applies_rate_limit():
    responses.get(f"{BASE}/x", json={})
    sleeps = Sleeps()
    c = client(sleeps, requests_per_second=10)
    c.get("x")
    c.get("x")
    assert len(sleeps) == 1 and sleeps[0] == pytest.approx(0.1, abs=0.02)


@responses.activate
def test_basic_auth_header():
    responses.get(f"{BASE}/x", json={})
    client(auth={"type": "basic", "username": "${T_USER}", "password": "${T_PASS}"}).get("x")
    expected = "Basic " + base64.b64encode(b"alice:pa55word-xyz").decode()
    assert responses.calls[0].request.headers["Authorization"] == expected


@responses.activate
def test_api_key_header():
    responses.get(f"{BASE}/x", json={})
    client(auth={"type": "api_key", "header": "X-Api-Key", "value": "${T_TOKEN}"}).get("x")
    assert responses.calls[0].request.headers["X-Api-Key"] == "tok-123456"
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_bearer_header():
    responses.get(f"{BASE}/x", json={})
    client(auth={"type": "bearer", "token": "${T_TOKEN}"}).get("x")
    assert responses.calls[0].request.headers["Authorization"] == "Bearer tok-123456"


def test_literal_secret_in_config_is_refused():
    with pytest.raises(ValueError, match="must be an \\$\\{ENV_VAR\\} reference"):
        HttpOptions(base_url=BASE, auth={"type": "bearer", "token": "literal-token"})


OAUTH = {"type": "oauth2_client_credentials", "token_url": "https://login.example.com/token",
         "client_id": "app", "client_secret": "${T_SECRET}", "scope": "read"}


@responses.activate
def test_oauth2_token_fetched_once_and_refreshed_on_401():
    tokens = iter(["tok-A-0001", "tok-B-0002"])
    responses.add_callback(responses.POST, "https://login.example.com/token",
                           callback=lambda req: (200, {}, f'{{"access_token": "{next(tokens)}", "expires_in": 3600}}'))
    responses.get(f"{BASE}/x", json={"n": 1})
    responses.get(f"{BASE}/x", json={"n": 2})
    responses.get(f"{BASE}/x", status=401, json={"error": "expired"})
    responses.get(f"{BASE}/x", json={"n": 3})
    c = client(auth=OAUTH)
    assert [c.get("x").json()["n"] for _ in range(3)] == [1, 2, 3]
    token_calls = [call for call in responses.calls if "token" in call.request.url]
    assert len(token_calls) == 2
    assert parse_qs(token_calls[0].request.body) == {"grant_type": ["client_credentials"], "client_id": ["app"],
                                                     "client_secret": ["client-secret-987"], "scope": ["read"]}
    api = [call.request.headers["Authorization"] for call in responses.calls if "/v1/x" in call.request.url]
    assert api == ["Bearer tok-A-0001", "Bearer tok-A-0001", "Bearer tok-A-0001", "Bearer tok-B-0002"]


@responses.activate
def test_oauth2_refused_credentials_raise_auth_error_without_the_secret():
    responses.post("https://login.example.com/token", status=401, json={"error": "invalid_client"})
    with pytest.raises(AuthError) as exc:
        client(auth=OAUTH).get("x")
    assert "client-secret-987" not in str(exc.value)


def test_tls_verification_on_by_default_and_ca_bundle(tmp_path):
    assert client().session.verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("---")
    assert client(ca_bundle=str(bundle)).session.verify == str(bundle)
    assert HttpOptions(base_url=BASE).verify_tls is True


@responses.activate
def test_secrets_redacted_from_errors():
    responses.get(f"{BASE}/x", status=403, body="denied for token tok-123456 and pa55word-xyz")
    c = client(auth={"type": "bearer", "token": "${T_TOKEN}"})
    with pytest.raises(AuthError) as exc:
        c.get("x", params={"key": os.environ["T_TOKEN"]})
    text = str(exc.value)
    assert "tok-123456" not in text and "***" in text
    assert "HTTP 403" in text


def test_parse_retry_after_forms():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait


def test_url_joins_base_and_keeps_absolute_urls():
    c = client()
    assert c.url("/items") == f"{BASE}/items"
    assert c.url("https://other/x?page=2") == "https://other/x?page=2"


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released): connecting is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection_fails_at_once_under_fail_fast_naming_the_address():
    from connectors.http.client import unreachable_fails_fast

    port = _closed_port()
    sleeps = Sleeps()
    http = HttpClient(HttpOptions(base_url=f"http://127.0.0.1:{port}/sap"), sleep=sleeps)
    with unreachable_fails_fast(), pytest.raises(FatalError) as err:
        http.get("x")
    assert f"connection refused by 127.0.0.1:{port}" in err.value.message
    assert "port" in err.value.hint
    assert http.attempts == 1 and sleeps == []


def test_refused_connection_is_retried_within_max_attempts_outside_fail_fast():
    """A pull meeting a restarting server: the refusal is retried, but only max_attempts times."""
    port = _closed_port()
    sleeps = Sleeps()
    http = HttpClient(HttpOptions(base_url=f"http://127.0.0.1:{port}", max_attempts=3), sleep=sleeps)
    with pytest.raises(RetriableError, match=f"connection refused by 127.0.0.1:{port}"):
        http.get("x")
    assert http.attempts == 3 and len(sleeps) == 2


def test_unknown_host_is_never_retried_and_names_the_host(monkeypatch):
    import socket

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    sleeps = Sleeps()
    http = HttpClient(HttpOptions(base_url="https://s4.exmaple.com:44300"), sleep=sleeps)
    with pytest.raises(FatalError) as err:
        http.get("x")
    assert "host 's4.exmaple.com' not found (DNS), address s4.exmaple.com:44300" in err.value.message
    assert http.attempts == 1 and sleeps == []


def test_temporary_dns_failure_is_retried_like_any_connection_error(monkeypatch):
    import socket

    def resolver_down(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", resolver_down)
    sleeps = Sleeps()
    http = HttpClient(HttpOptions(base_url="https://s4.example.com", max_attempts=2), sleep=sleeps)
    with pytest.raises(RetriableError):
        http.get("x")
    assert http.attempts == 2


# --------------------------------------------------------------------------- malformed bodies, 400s


@responses.activate
def test_html_with_200_after_the_attempts_is_a_fatal_malformed_response_naming_what_came():
    from connectors.http.client import MalformedResponse

    responses.get(f"{BASE}/x", body="<html><title>Login</title>proxy page</html>", status=200,
                  content_type="text/html")
    sleeps = Sleeps()
    with pytest.raises(MalformedResponse) as err:
        client(sleeps, max_attempts=3).get_json("x", params={"page": 1})
    assert isinstance(err.value, FatalError) and not isinstance(err.value, RetriableError)
    message = err.value.message
    assert message.startswith(f"GET {BASE}/x?page=1: HTTP 200 (text/html) with a body that is not valid JSON")
    assert "<html><title>Login</title>proxy page</html>" in message
    assert [c.request.url for c in responses.calls] == [f"{BASE}/x?page=1"] * 3 and len(sleeps) == 2


@responses.activate
def test_truncated_json_body_is_quoted_in_the_error():
    from connectors.http.client import MalformedResponse

    responses.get(f"{BASE}/x", body='{"d": {"results": [', status=200, content_type="application/json")
    with pytest.raises(MalformedResponse, match=r"HTTP 200 \(application/json\).*'\{\"d\": \{\"results\": \['"):
        client(max_attempts=1).get_json("x")
    assert len(responses.calls) == 1


@responses.activate
def test_request_level_400_is_sent_once_and_carries_the_systems_message():
    responses.post(f"{BASE}/x", status=400, json={"error": {"message": "Property 'Qty' is not updatable"}})
    sleeps = Sleeps()
    with pytest.raises(FatalError) as err:
        client(sleeps).post("x", json={"Qty": 1})
    assert not isinstance(err.value, RetriableError)
    assert f"POST {BASE}/x: HTTP 400" in err.value.message and "Property 'Qty' is not updatable" in err.value.message
    assert len(responses.calls) == 1 and sleeps == []


# --------------------------------------------------------------------------- TLS against a real local server


def test_untrusted_certificate_fails_at_once_saying_certificate_verification_failed(https_server, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    url, _, hits = https_server
    sleeps = Sleeps()
    http = HttpClient(HttpOptions(base_url=url, max_attempts=5), sleep=sleeps)
    with pytest.raises(FatalError) as err:
        http.get("items")
    assert not isinstance(err.value, RetriableError)
    assert f"GET {url}/items: certificate verification failed for host '127.0.0.1'" in err.value.message
    assert "ca_bundle" in err.value.hint
    assert http.attempts == 1 and sleeps == [] and hits == []


def test_ca_bundle_is_trusted(https_server):
    url, cert, hits = https_server
    http = HttpClient(HttpOptions(base_url=url, ca_bundle=str(cert)))
    assert http.get("items").json() == {"ok": True}
    assert hits == ["/items"]


def test_explicit_ca_bundle_wins_over_requests_ca_bundle(https_server, tmp_path, monkeypatch):
    """requests' merge_environment_settings lets REQUESTS_CA_BUNDLE replace session.verify; the client
    passes verify with each request, so the configured bundle is the one used."""
    url, cert, hits = https_server
    other, _ = self_signed(tmp_path, "some-other-ca")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    http = HttpClient(HttpOptions(base_url=url, ca_bundle=str(cert)))
    assert http.get("items").json() == {"ok": True}
    assert hits == ["/items"]


def test_verify_tls_false_warns_once_naming_the_host(https_server, caplog):
    import logging
    import warnings

    url, _, hits = https_server
    with caplog.at_level(logging.WARNING, logger="segbridge.http"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning per request
        http = HttpClient(HttpOptions(base_url=url, verify_tls=False))
        http.get("a")
        http.get("b")
    off = [r.getMessage() for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(off) == 1 and "127.0.0.1" in off[0]
    assert hits == ["/a", "/b"]


@responses.activate
def test_a_retry_is_announced_only_when_one_follows(caplog):
    import logging

    responses.get(f"{BASE}/x", status=503)
    with caplog.at_level(logging.WARNING, logger="segbridge.http"), pytest.raises(RetriableError):
        client(max_attempts=3).get("x")
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert [m.split(" (")[1] for m in retries] == ["attempt 2 of 3)", "attempt 3 of 3)"]
