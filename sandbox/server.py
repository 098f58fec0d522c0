"""A small HTTP server framework for stand-ins of external systems, with fault injection.

Each sandbox (SAP, Oracle, Salesforce, WMS, ...) is a `SandboxApp` with routes; `serve(app)`
runs it on 127.0.0.1 with an ephemeral port in a background thread (tests) or in the
foreground (`segbridge sandbox`). Faults are queued per path pattern: a status with an
optional Retry-After, a delay, or a dropped connection, so clients meet the failures real
systems produce; a fault's `body` and `content_type` make malformed answers too (an HTML page
with 200, an empty 200, truncated JSON, `null`, a SOAP fault, a DTD), see `MALFORMED`.

Example:
    >>> app = SandboxApp("demo")
    >>> @app.route("GET", r"/items")
    ... def items(req):
    ...     return Response.json({"items": []})
    >>> with serve(app) as server:                       # doctest: +SKIP
    ...     requests.get(server.url + "/items").json()
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict | None = None) -> Response:
        return cls(status, json.dumps(payload, default=str).encode(), {"Content-Type": "application/json",
                                                                       **(headers or {})})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain",
             headers: dict | None = None) -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type, **(headers or {})})


@dataclass
class Fault:
    """An injected failure for requests whose path matches `path` (regex), `times` times."""

    status: int = 503
    times: int = 1
    path: str = ".*"
    method: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    body: str | None = None
    """The answer's body: None is the default "injected fault" text; "" is an empty body (an empty
    200 from a broken proxy), anything else is sent as it is (truncated JSON, `null`, a SOAP fault)."""
    content_type: str = "text/html"
    """The answer's Content-Type: a proxy's error page is text/html, a truncated answer keeps the
    system's own type (application/json, text/xml)."""
    skip: int = 0  # matching requests let through before this fault fires

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and re.search(self.path, path) is not None and self.method in (None, method)


Handler = Callable[[Request], Response]


class SandboxAuth:
    """What a sandbox accepts: HTTP basic, static bearer tokens and OAuth2 client-credentials tokens.

    `expire_tokens()` invalidates every issued OAuth2 token, the way a real token expires
    mid-run, so clients must fetch a new one on the 401.
    """

    @classmethod
    def of_kind(cls, kind: str, user: str, password: str, token: str) -> SandboxAuth:
        """One kind of credentials: "basic" (user/password), "bearer" (token) or "oauth2" (client id/secret)."""
        if kind not in ("basic", "bearer", "oauth2"):
            raise ValueError(f"unknown sandbox auth {kind!r}; use basic, bearer or oauth2")
        return cls(basic=(user, password) if kind == "basic" else None, bearer=token if kind == "bearer" else None,
                   clients={user: password} if kind == "oauth2" else None)

    def __init__(self, basic: tuple[str, str] | None = None, bearer: str | None = None,
                 clients: dict[str, str] | None = None, token_ttl: int = 3600):
        self.basic = basic
        self.bearer = bearer
        self.clients = clients or {}
        self.token_ttl = token_ttl
        self.issued: set[str] = set()
        self.lock = threading.Lock()

    def allows(self, req: Request) -> bool:
        header = req.header("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic" and self.basic:
            try:
                user, _, pw = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return False
            return (user, pw) == self.basic
        if scheme.lower() == "bearer":
            with self.lock:
                return value == self.bearer or value in self.issued
        return False

    def token(self, req: Request) -> Response:
        """POST form `grant_type=client_credentials&client_id=..&client_secret=..`."""
        form = {k: v[0] for k, v in parse_qs(req.text).items()}
        if form.get("grant_type") != "client_credentials" or \
                self.clients.get(form.get("client_id", "")) != form.get("client_secret"):
            return Response.json({"error": "invalid_client"}, 401)
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.issued.add(token)
        return Response.json({"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl})

    def expire_tokens(self) -> None:
        with self.lock:
            self.issued.clear()


class SandboxApp:
    """Routes plus a fault queue and a request log (tests assert what clients really sent)."""

    def __init__(self, name: str):
        self.name = name
        self.routes: list[tuple[str, re.Pattern, Handler]] = []
        self.faults: list[Fault] = []
        self.log: list[Request] = []
        self.lock = threading.RLock()
        self.requests_per_second: float | None = None  # throttle: 429 beyond this rate
        self._recent: list[float] = []
        self.auth: SandboxAuth | None = None
        self.token_path = "/oauth2/token"

    def require_auth(self, auth: SandboxAuth, token_path: str = "/oauth2/token") -> SandboxAuth:
        """Answer 401 to requests without valid credentials; serve OAuth2 tokens at `token_path`."""
        self.auth = auth
        self.token_path = token_path
        return auth

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append((method.upper(), re.compile(pattern + r"$"), fn))
            return fn

        return deco

    def inject(self, **kwargs: Any) -> Fault:
        """Queue a fault, e.g. `app.inject(status=429, retry_after=1, times=2, path="/Products")`."""
        fault = Fault(**kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault this request meets, if any. A fault with `skip` lets that many matching requests
        through first, so faults can be spread over a read instead of failing one request repeatedly."""
        with self.lock:
            matching = [f for f in self.faults if f.matches(method, path)]
            ready = next((f for f in matching if f.skip <= 0), None)
            if ready is not None:
                ready.times -= 1
                return ready
            for fault in matching:
                fault.skip -= 1
        return None

    def throttled(self) -> bool:
        if not self.requests_per_second:
            return False
        now = time.monotonic()
        with self.lock:
            self._recent = [t for t in self._recent if now - t < 1.0] + [now]
            return len(self._recent) > self.requests_per_second

    def dispatch(self, req: Request) -> Response:
        with self.lock:
            self.log.append(req)
        if self.auth is not None:
            if req.path == self.token_path and req.method == "POST":
                return self.auth.token(req)
            if not self.auth.allows(req):
                return Response.json({"error": {"code": "UNAUTHORIZED", "message": "missing or expired credentials"}},
                                     401, headers={"WWW-Authenticate": 'Bearer realm="sandbox"'})
        allowed = []
        for method, pattern, handler in self.routes:
            match = pattern.match(req.path)
            if match:
                if method == req.method:
                    req.match = match
                    return handler(req)
                allowed.append(method)
        if allowed:
            return Response.text("method not allowed", 405, headers={"Allow": ", ".join(allowed)})
        return Response.json({"error": {"code": "NOT_FOUND", "message": f"no resource at {req.path}"}}, 404)


def _handler_class(app: SandboxApp) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as real web servers set it: the handler writes the headers and the body in two
        # sends, and with Nagle on, the body waited for the client's delayed ACK (~40 ms per response).
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, unquote(parts.path), parse_qs(parts.query, keep_blank_values=True),
                          {k.lower(): v for k, v in self.headers.items()}, body)
            fault = app.take_fault(req.method, req.path)
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault.status:
                    headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
                    body = "injected fault" if fault.body is None else fault.body
                    return self._send(Response.text(body, fault.status, content_type=fault.content_type,
                                                    headers=headers))
            if app.throttled():
                return self._send(Response.text("Too Many Requests", 429, headers={"Retry-After": "1"}))
            try:
                resp = app.dispatch(req)
            except Exception as exc:  # noqa: BLE001 - a sandbox bug shows as a 500 like a real server's
                resp = Response.json({"error": {"message": f"sandbox error: {exc}"}}, 500)
            self._send(resp)

        def _send(self, resp: Response) -> None:
            self.send_response(resp.status)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_MERGE = do_HEAD = _handle

    return _Handler


class RunningServer:
    """A sandbox serving in a background thread; `.url` is its base URL."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0):
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), _handler_class(app))
        self.httpd.daemon_threads = True
        # A short poll interval: stop() waits up to one interval, and tests start and stop many servers.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"sandbox-{app.name}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RunningServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> RunningServer:
        return self.start() if not self.thread.is_alive() else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """A server for `app` on an ephemeral port; use as a context manager or call `.start()`."""
    return RunningServer(app, host, port)
