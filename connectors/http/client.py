"""The one HTTP client every connector uses: timeouts, retries, rate limit, auth, redaction.

Retries (tenacity): connection errors, timeouts, 429, 502, 503 and 504, with exponential
backoff and jitter, honouring Retry-After. Never retried: other 4xx and business errors.

An unreachable address (connection refused, host name not found) names the host and port tried.
Inside `unreachable_fails_fast()` (what `segbridge check` uses) it fails at once: the person at
the terminal wants to know now that the port or host is wrong. Elsewhere (pull, apply) a refused
connection is retried within `max_attempts` like any connection error, because a server that is
restarting refuses connections for a few seconds; a host name that does not resolve is not
retried anywhere, since a wrong name does not heal (a temporary DNS failure, EAI_AGAIN, is).
On 401 an OAuth2 token is refreshed once.

TLS: verification is on. An explicit `ca_bundle` is passed with every request, so it wins over the
REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE environment variables (requests lets those override
`session.verify`); `verify_tls: false` logs one warning per client naming the host. A TLS failure
says "certificate verification failed" (or "TLS handshake failed"), names the host and the fix
(`ca_bundle`), and is not retried: a certificate does not heal between attempts.

A 2xx body that must be JSON (`expect_json`) and is not (a proxy's HTML page, a truncated body) is
retried within `max_attempts` like a 503; once they are used up it is a `MalformedResponse` (a
FatalError naming method, URL, status, content type and the body's first bytes): a system that
keeps answering HTML with 200 fails that stream, it is not a transient to retry for ever.

Example:
    >>> client = HttpClient(HttpOptions(base_url="https://api.example.com"))
    >>> resp = client.get("items", params={"limit": 100})          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from pydantic import Field
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.connector_errors import AuthError, ConnectorError, FatalError, RateLimited, RetriableError
from connectors.http.auth import AuthConfig, OAuth2ClientCredentials, TokenManager

log = logging.getLogger("segbridge.http")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BODY_EXCERPT = 200  # characters of a body quoted in an error
_FAIL_FAST = contextvars.ContextVar("segbridge_http_fail_fast", default=False)


@contextlib.contextmanager
def unreachable_fails_fast() -> Iterator[None]:
    """Within this block a refused connection or an unknown host fails at once (no retries): for
    interactive checks, where waiting out the backoff only hides a wrong port or host name."""
    token = _FAIL_FAST.set(True)
    try:
        yield
    finally:
        _FAIL_FAST.reset(token)


class HttpTransportOptions(StrictModel):
    """The HttpOptions keys except base_url, for a connector whose URL is one of its own options (a
    SOAP service endpoint, Salesforce's instance or login URL). Its options subclass this, so the keys
    sit flat in `options:` and are validated like every other key; `http_options(url)` builds the
    client's options."""

    auth: AuthConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    verify_tls: bool = Field(True, description="Never switch off in production")
    ca_bundle: str | None = Field(None, description="Path of a CA bundle for a private CA")
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_initial: float = Field(0.5, ge=0)
    backoff_max: float = Field(30.0, ge=0)
    max_retry_after: float = Field(120.0, ge=0, description="Longest Retry-After honoured, seconds")
    requests_per_second: float | None = Field(None, gt=0, description="Client-side rate limit")

    def http_options(self, base_url: str, **overrides: Any) -> HttpOptions:
        """HttpOptions for HttpClient: these keys, `base_url`, and `overrides` (e.g. auth=None)."""
        values = {name: getattr(self, name) for name in HttpTransportOptions.model_fields}
        return HttpOptions(**{**values, "base_url": base_url, **overrides})


class HttpOptions(HttpTransportOptions):
    """Options shared by every HTTP connector: a connector's options subclass it, so the keys sit flat
    in `options:` (see HttpTransportOptions when the URL is another option)."""

    base_url: str = Field(description="Root URL; paths are joined to it")


class MalformedResponse(FatalError):
    """A 2xx answer whose body is not what the protocol promises (HTML, truncated or empty JSON),
    still so after the client's attempts: that stream fails, with what the system sent."""


class _MalformedBody(RetriableError):
    """Internal: one malformed 2xx body, retried within the attempts, then a MalformedResponse."""


class RateLimiter:
    """At most `rate` requests per second from this client (thread-safe, sleeps the caller)."""

    def __init__(self, rate: float | None, sleep=time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            self._sleep(delay)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """A requests Session with segbridge's one retry policy. Use one per connector instance."""

    def __init__(self, options: HttpOptions, session: requests.Session | None = None, sleep=time.sleep):
        self.options = options
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": "segbridge", **options.headers})
        self.verify: bool | str = options.ca_bundle or options.verify_tls
        self.session.verify = self.verify
        self._sleep = sleep
        self.limiter = RateLimiter(options.requests_per_second, sleep=sleep)
        self.tokens: TokenManager | None = None
        self.attempts = 0
        if isinstance(options.auth, OAuth2ClientCredentials):
            self.tokens = TokenManager(options.auth, timeout=options.read_timeout, verify=self.verify)
        elif options.auth is not None:
            options.auth.apply(self.session)
        if self.verify is False:
            log.warning("TLS certificate verification is OFF for %s (verify_tls: false): anyone on the "
                        "network path can read and change this traffic; set ca_bundle instead",
                        urlsplit(options.base_url).hostname or options.base_url)

    # ------------------------------------------------------------------ public API

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return self.options.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, raise_for_status: bool = True, expect_json: bool = False,
                **kwargs: Any) -> requests.Response:
        """Send with retries. Transient failures raise RetriableError/RateLimited once attempts run out;
        other 4xx/5xx raise FatalError/AuthError unless `raise_for_status=False`. With `expect_json`, a
        2xx body that is not JSON (a proxy's error page, a truncated body) is retried like a 503, then
        raises MalformedResponse."""
        kwargs.setdefault("timeout", (self.options.connect_timeout, self.options.read_timeout))
        kwargs.setdefault("verify", self.verify)  # per request: an explicit ca_bundle beats REQUESTS_CA_BUNDLE
        kwargs["_expect_json"] = expect_json
        retrying = Retrying(
            stop=stop_after_attempt(self.options.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, RetriableError)),
            before_sleep=self._log_retry,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            resp = retrying(self._send_once, method, self.url(path), kwargs)
        except _MalformedBody as exc:
            raise MalformedResponse(exc.message, hint=exc.hint) from None
        if raise_for_status and resp.status_code >= 400:
            raise self.error_for(resp)
        return resp

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def get_json(self, path: str, **kw: Any) -> tuple[Any, requests.Response]:
        """GET a JSON body (retrying malformed bodies); returns (parsed body, response)."""
        resp = self.request("GET", path, expect_json=True, **kw)
        return resp.parsed_json, resp

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ internals

    def _send_once(self, method: str, url: str, kwargs: dict) -> requests.Response:
        self.limiter.wait()
        self.attempts += 1
        expect_json = kwargs.get("_expect_json", False)
        try:
            resp = self.session.request(method, url, headers=self._auth_headers(kwargs), **_without(kwargs))
            if resp.status_code == 401 and self.tokens is not None:
                self.tokens.token(force=True)
                resp = self.session.request(method, url, headers=self._auth_headers(kwargs), **_without(kwargs))
        except requests.exceptions.SSLError as exc:
            raise tls_error(exc, method, url) from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            unreachable = _unreachable_error(exc, method, url)
            if unreachable is not None:
                raise unreachable from None
            log.warning("%s %s: %s", method, _safe(url), type(exc).__name__)
            raise RetriableError(f"{method} {_safe(url)}: {type(exc).__name__}",
                                 hint="check the network path and the base_url") from None
        if resp.status_code in RETRY_STATUSES:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            log.warning("%s %s: HTTP %s (Retry-After %s)", method, _safe(url),
                        resp.status_code, retry_after)
            cls = RateLimited if resp.status_code == 429 else RetriableError
            err = cls(f"{method} {_safe(url)}: HTTP {resp.status_code} {resp.reason}")
            err.retry_after = retry_after
            err.response = resp
            raise err
        if expect_json and resp.status_code < 300:
            _parse_json(resp, method, url)
        return resp

    def _auth_headers(self, kwargs: dict) -> dict:
        headers = dict(kwargs.get("headers") or {})
        if self.tokens is not None:
            headers["Authorization"] = f"Bearer {self.tokens.token()}"
        return headers

    def _log_retry(self, state: RetryCallState) -> None:
        """Say a retry is coming only when one is (the last failed attempt raises instead)."""
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("retrying in %.1f s (attempt %d of %d)", wait, state.attempt_number + 1,
                    self.options.max_attempts)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.options.max_retry_after)
        backoff = wait_exponential_jitter(multiplier=self.options.backoff_initial, max=self.options.backoff_max)
        return backoff(state)

    def error_for(self, resp: requests.Response) -> ConnectorError:
        """A clear error for a failed response (body excerpt redacted, no credentials)."""
        where = f"{resp.request.method} {_safe(resp.url)}"
        excerpt = secrets.redact((resp.text or "")[:500])
        if resp.status_code in (401, 403):
            return AuthError(f"{where}: HTTP {resp.status_code}: {excerpt}",
                             hint="check the credentials' environment variables and the user's authorisations")
        return FatalError(f"{where}: HTTP {resp.status_code}: {excerpt}")


def tls_error(exc: BaseException, method: str, url: str) -> FatalError:
    """A TLS failure, never retried: what failed, for which host, and the fix."""
    host = urlsplit(url).hostname
    cause = _ssl_cause(exc)
    if isinstance(cause, ssl.SSLCertVerificationError):
        reason = cause.verify_message or cause.reason or str(cause)
        return FatalError(f"{method} {_safe(url)}: certificate verification failed for host {host!r}: {reason}",
                          hint="if the server's certificate comes from a private or company CA, set "
                               "`ca_bundle: <path of that CA's PEM file>` in the system's options "
                               "(relative to segbridge.yaml); do not switch verify_tls off in production")
    return FatalError(f"{method} {_safe(url)}: TLS handshake failed with host {host!r}: "
                      f"{getattr(cause, 'reason', None) or cause}",
                      hint="check that the URL's port speaks HTTPS and the server's TLS versions; "
                           "a private CA is configured with `ca_bundle`")


def _ssl_cause(exc: BaseException) -> BaseException:
    """The ssl.SSLError inside requests' wrapping (SSLError -> MaxRetryError -> SSLError -> ssl's)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        todo += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                             *getattr(current, "args", ())) if isinstance(e, BaseException)]
    return exc


def _unreachable_error(exc: BaseException, method: str, url: str) -> ConnectorError | None:
    """A clear error naming host:port for a refused connection or an unknown host, or None for any
    other network failure. Refused is retriable (a restarting server) unless fail-fast is on; an
    unknown host never is (EAI_AGAIN, a temporary DNS failure, is left to the ordinary retries)."""
    cause = _root_cause(exc)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{parts.hostname}:{port}"
    if isinstance(cause, ConnectionRefusedError):
        message = f"{method} {_safe(url)}: connection refused by {where}"
        hint = "is the server running, and are the host and port in the URL right?"
        if _FAIL_FAST.get():
            return FatalError(message, hint=hint)
        log.warning("%s (a restarting server refuses for a while)", message)
        return RetriableError(message, hint=hint)
    if isinstance(cause, socket.gaierror) and cause.errno != socket.EAI_AGAIN:
        return FatalError(f"{method} {_safe(url)}: host {parts.hostname!r} not found (DNS), address {where}",
                          hint="check the host name in the URL (base_url, endpoint, instance_url or token_url)")
    return None


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of requests' wrapping (urllib3's MaxRetryError -> NewConnectionError -> OSError)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (ConnectionRefusedError, socket.gaierror)):
            return current
        todo += [e for e in (current.__cause__, current.__context__, getattr(current, "reason", None),
                             *getattr(current, "args", ())) if isinstance(e, BaseException)]
    return exc


def _without(kwargs: dict) -> dict:
    return {k: v for k, v in kwargs.items() if k not in ("headers", "_expect_json")}


def _parse_json(resp: requests.Response, method: str, url: str) -> None:
    """Parse the body once into `resp.parsed_json`; a malformed body is retried (`_MalformedBody`),
    and `request` turns the last one into a MalformedResponse."""
    try:
        resp.parsed_json = resp.json()
    except ValueError:
        log.warning("%s %s: HTTP %s with a body that is not JSON", method, _safe(url),
                    resp.status_code)
        kind = resp.headers.get("Content-Type") or "no Content-Type"
        excerpt = body_excerpt(resp)
        what = f"with a body that is not valid JSON: {excerpt!r}" if excerpt.strip() else \
            "with an empty body where JSON was expected"
        raise _MalformedBody(f"{method} {_safe(resp.url or url)}: HTTP {resp.status_code} ({kind}) {what}",
                             hint="the system (or a proxy or login page in front of it) answered something "
                                  "else than its API: check the URL and the network path") from None


def body_excerpt(resp: requests.Response, limit: int = BODY_EXCERPT) -> str:
    """The first characters of a body for an error message, secrets redacted ('' when empty)."""
    return secrets.redact((resp.text or "")[:limit])


def _safe(url: str) -> str:
    """The URL without query-string secrets (tokens sometimes travel there)."""
    return secrets.redact(url)
