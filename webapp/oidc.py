"""Log in through an OpenID Connect provider: authorization-code flow with PKCE, state and nonce.

Configured by `webapp.oidc` in segbridge.yaml (core.accounts.OidcConfig). `/login/oidc` sends the
browser to the provider with a fresh state, nonce and PKCE verifier (S256), kept server-side for
ten minutes and bound to the browser by an HttpOnly cookie; `/login/oidc/callback` checks the
state, redeems the code with the verifier (and the client secret, if any), and validates the ID
token with authlib's JOSE against the issuer's JWKS: signature (RS/ES/PS algorithms only, never
`none` or HMAC), issuer, audience, expiry and nonce. The user named by `name_claim` is matched
(only users without a password: a local account is never taken over), or created on first login with `role_claim`'s role when it names one (never admin) or `default_role`;
a disabled user is refused. The pending logins live in the process (one server process, as
`segbridge serve` runs); a restart only means logging in again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from basics.errors import ConfigError
from core import accounts
from core.accounts import OidcConfig, Role

STATE_COOKIE = "sb_oidc"
PENDING_SECONDS = 600
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
TIMEOUT = 10


class OidcError(Exception):
    """A login through the provider that must be refused (the message says why, without secrets)."""


@dataclass
class Pending:
    nonce: str
    verifier: str
    expires: float


@dataclass
class OidcClient:
    """The provider's endpoints (read once from its discovery document) and the pending logins."""

    config: OidcConfig
    clock: object = time.monotonic
    _meta: dict | None = None
    _pending: dict[str, Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def metadata(self) -> dict:
        if self._meta is None:
            url = self.config.issuer + "/.well-known/openid-configuration"
            meta = _get_json(url)
            if meta.get("issuer", "").rstrip("/") != self.config.issuer:
                raise OidcError(f"{url} names issuer {meta.get('issuer')!r}, not {self.config.issuer!r}")
            self._meta = meta
        return self._meta

    def start(self, redirect_uri: str) -> tuple[str, str]:
        """(the provider's authorization URL, the state for the browser's cookie)."""
        meta = self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        with self._lock:
            now = self.clock()
            self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
            self._pending[state] = Pending(nonce, verifier, now + PENDING_SECONDS)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({"response_type": "code", "client_id": self.config.client_id, "redirect_uri": redirect_uri,
                           "scope": " ".join(self.config.scopes), "state": state, "nonce": nonce,
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        return f"{meta['authorization_endpoint']}?{query}", state

    def _take(self, state: str, cookie: str) -> Pending:
        if not state or not cookie or not hmac.compare_digest(state, cookie):
            raise OidcError("the login's state does not match this browser's: start the login again")
        with self._lock:
            pending = self._pending.pop(state, None)  # single use
        if pending is None or pending.expires <= self.clock():
            raise OidcError("the login expired or was already used: start the login again")
        return pending

    def finish(self, code: str, state: str, cookie: str, redirect_uri: str) -> dict:
        """The validated ID token's claims, or OidcError."""
        pending = self._take(state, cookie)
        meta = self.metadata()
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier, "client_id": self.config.client_id}
        secret = self.config.secret()
        auth = (self.config.client_id, secret) if secret else None
        answer = requests.post(meta["token_endpoint"], data=data, auth=auth, timeout=TIMEOUT)
        if answer.status_code != 200:
            raise OidcError(f"the provider refused the code: HTTP {answer.status_code} {answer.text[:200]}")
        id_token = answer.json().get("id_token")
        if not id_token:
            raise OidcError("the provider's token answer has no id_token (is `openid` in the scopes?)")
        return self.validate(id_token, pending.nonce)

    def validate(self, id_token: str, nonce: str) -> dict:
        from authlib.jose import JsonWebKey, JsonWebToken
        from authlib.jose.errors import JoseError

        keys = JsonWebKey.import_key_set(_get_json(self.metadata()["jwks_uri"]))
        options = {"iss": {"essential": True, "value": self.config.issuer},
                   "aud": {"essential": True, "value": self.config.client_id},
                   "exp": {"essential": True}, "nonce": {"essential": True, "value": nonce}}
        try:
            claims = JsonWebToken(ALGORITHMS).decode(id_token, keys, claims_options=options)
            claims.validate(leeway=60)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from None
        return dict(claims)


def _get_json(url: str) -> dict:
    try:
        answer = requests.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise OidcError(f"could not read {url}: {exc}") from None
    if answer.status_code != 200:
        raise OidcError(f"{url} answered HTTP {answer.status_code}: {answer.text[:200]}")
    return answer.json()


def user_for(db, config: OidcConfig, claims: dict):
    """The local user of these claims: matched by name, or created with the configured role."""
    name = str(claims.get(config.name_claim) or claims.get("sub") or "").strip()[:80]
    if not name:
        raise OidcError(f"the ID token names nobody (no {config.name_claim!r} and no 'sub')")
    try:
        user = accounts.get_user(db, name)
    except ConfigError:  # no such user yet: the first login
        user = None
    if user is None:
        wanted = str(claims.get(config.role_claim) or "") if config.role_claim else ""
        role = Role(wanted) if wanted in {r.value for r in Role} - {Role.ADMIN.value} else config.default_role
        user = accounts.add_user(db, name, role, None, f"oidc:{config.issuer}")
    elif user.password_hash is not None:
        # a local account with a password is never taken over by a name a provider asserts
        raise OidcError(f"{name!r} is a local user with a password: log in with it, or ask an admin")
    if not user.active:
        raise OidcError(f"user {name!r} is disabled")
    return user


def redirect_uri(request: Request, config: OidcConfig) -> str:
    return config.redirect_url or str(request.url_for("oidc_callback"))


def routes(app) -> None:
    """/login/oidc and /login/oidc/callback (public: they are the login)."""

    @app.get("/login/oidc")
    def oidc_start(request: Request):
        client: OidcClient = _client(request)
        try:
            url, state = client.start(redirect_uri(request, client.config))
        except OidcError as exc:
            return RedirectResponse("/login?" + urlencode({"error": f"single sign-on unavailable: {exc}"}), 303)
        response = RedirectResponse(url, status_code=303)
        # Lax, not Strict: the provider sends the browser back by a cross-site top-level GET.
        response.set_cookie(STATE_COOKIE, state, httponly=True, samesite="lax", secure=app.state.secure,
                            path="/login/oidc", max_age=PENDING_SECONDS)
        return response

    @app.get("/login/oidc/callback", name="oidc_callback")
    def oidc_callback(request: Request):
        client: OidcClient = _client(request)
        q = request.query_params
        try:
            if q.get("error"):
                raise OidcError(f"the provider answered {q.get('error')}: {q.get('error_description', '')[:200]}")
            claims = client.finish(q.get("code", ""), q.get("state", ""), request.cookies.get(STATE_COOKIE, ""),
                                   redirect_uri(request, client.config))
            user = user_for(app.state.db, client.config, claims)
        except OidcError as exc:
            response = RedirectResponse("/login?" + urlencode({"error": str(exc)[:300]}), status_code=303)
            response.delete_cookie(STATE_COOKIE, path="/login/oidc")
            return response
        sid, _ = accounts.open_session(app.state.db, user.name)
        # A page, not a redirect: the SameSite=Strict session cookie set in a chain that began on the
        # provider's site would not be sent with the redirect; a same-site navigation sends it.
        response = HTMLResponse('<!doctype html><meta http-equiv="refresh" content="0;url=/">'
                                '<p>Logged in. <a href="/">Continue</a></p>')
        response.set_cookie("sb_session", sid, httponly=True, samesite="strict", secure=app.state.secure,
                            max_age=accounts.SESSION_HOURS * 3600)
        response.delete_cookie(STATE_COOKIE, path="/login/oidc")
        return response


def _client(request: Request) -> OidcClient:
    client = getattr(request.app.state, "oidc", None)
    if client is None:
        raise HTTPException(404, "single sign-on is not configured (webapp.oidc in segbridge.yaml)")
    return client
