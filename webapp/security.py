"""Who is calling, may they, and the browser protections: sessions, tokens, CSRF, rate limits, headers.

A request is authenticated by the session cookie (browsers) or an `Authorization: Bearer` API
token (automation). Every route declares one action of `core.accounts.PERMISSIONS` through
`guard(action)`; a role without it gets 403. A state-changing request authenticated by the cookie
must carry the session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`); a token
request needs none (a browser never sends it by itself).
"""

from __future__ import annotations

import hmac
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request

from core import accounts
from core.model import AppUser

COOKIE = "sb_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Caller:
    user: AppUser
    csrf: str | None  # None: authenticated by token (no CSRF needed)


class LoginLimiter:
    """At most `attempts` failed logins per user name and per client address in `window` seconds."""

    def __init__(self, attempts: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.attempts, self.window, self.clock = attempts, window, clock
        self._fails: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        q, now = self._fails[key], self.clock()
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked(self, name: str, address: str) -> bool:
        return any(len(self._recent(k)) >= self.attempts for k in (f"u:{name}", f"a:{address}"))

    def failed(self, name: str, address: str) -> None:
        for key in (f"u:{name}", f"a:{address}"):
            self._recent(key).append(self.clock())

    def succeeded(self, name: str) -> None:
        self._fails.pop(f"u:{name}", None)


def caller_of(request: Request) -> Caller | None:
    db = request.app.state.db
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        user = accounts.user_of_token(db, auth[7:].strip())
        return Caller(user, None) if user else None
    sid = request.cookies.get(COOKIE)
    if sid:
        found = accounts.session_of(db, sid)
        if found:
            return Caller(*found)
    return None


async def _check_csrf(request: Request, caller: Caller) -> None:
    if request.method in SAFE_METHODS or caller.csrf is None:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get("csrf_token")
    if not sent or not hmac.compare_digest(str(sent), caller.csrf):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def guard(action: str):
    """A dependency: the caller must be logged in (401, or a redirect to /login for pages) and their
    role must allow `action` (403)."""
    if action not in accounts.PERMISSIONS:
        raise KeyError(f"undeclared action {action!r}: add it to core.accounts.PERMISSIONS")

    async def check(request: Request) -> Caller:
        caller = caller_of(request)
        if caller is None:
            raise HTTPException(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
        await _check_csrf(request, caller)
        if not accounts.allowed(caller.user.role, action):
            raise HTTPException(403, f"your role ({caller.user.role}) may not {action.replace('_', ' ')}")
        request.state.caller = caller
        return caller

    check.action = action
    return Depends(check)


def action_of(route) -> str | None:
    """The action a route declared through `guard` (None: a public route such as /login)."""
    for dep in getattr(route, "dependant", None).dependencies if hasattr(route, "dependant") else []:
        if hasattr(dep.call, "action"):
            return dep.call.action
    return None


def api_routes(routes) -> list:
    """Every APIRoute of an app or router, included routers flattened (FastAPI keeps them nested)."""
    from fastapi.routing import APIRoute

    out = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            out += api_routes(route.original_router.routes)
    return out
