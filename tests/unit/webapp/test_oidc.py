"""OpenID Connect login against a fake provider served in process on 127.0.0.1 (no internet).

The provider publishes a discovery document, a JWKS with an RSA key generated here, and a token
endpoint that checks the client secret, the code, the redirect URI and the PKCE verifier (S256)
before it signs an ID token. The test plays the browser: it follows /login/oidc to the provider's
authorization URL, "authorizes" there, and comes back to the callback with the code and state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from core import accounts
from core.accounts import OidcConfig
from core.settings import SegbridgeConfig
from webapp.application import create_app

pytestmark = pytest.mark.unit
SECRET = "client-secret-value"


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Provider:
    """The fake provider's state: its key, the codes it issued and what it checked."""

    def __init__(self):
        from authlib.jose import JsonWebKey

        self.pem = _rsa_pem()
        self.jwk = JsonWebKey.import_key(self.pem, {"kty": "RSA", "kid": "k1"})
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def sign(self, claims: dict, pem: bytes | None = None) -> str:
        from authlib.jose import jwt

        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, pem or self.pem).decode()

    def authorize(self, url: str, claims: dict) -> tuple[str, str]:
        """What the provider does when the user logs in there: (code, state) for the callback."""
        q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        assert q["response_type"] == "code" and q["code_challenge_method"] == "S256"
        code = f"code-{len(self.codes)}"
        now = int(time.time())
        self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
                            "claims": {"iss": self.base, "aud": q["client_id"], "iat": now, "exp": now + 300,
                                       "nonce": q["nonce"], **claims}}
        return code, q["state"]

    def _handler(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    b = provider.base
                    return self._json(200, {"issuer": b, "authorization_endpoint": b + "/authorize",
                                            "token_endpoint": b + "/token", "jwks_uri": b + "/jwks"})
                if self.path == "/jwks":
                    return self._json(200, {"keys": [provider.jwk.as_dict(is_private=False)]})
                return self._json(404, {})

            def do_POST(self):
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                provider.token_requests.append(form)
                basic = base64.b64encode(f"segbridge:{SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {basic}":
                    return self._json(401, {"error": "invalid_client"})
                issued = provider.codes.pop(form.get("code"), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if issued is None or issued["challenge"] != challenge or issued["redirect_uri"] != form.get("redirect_uri"):
                    return self._json(400, {"error": "invalid_grant"})
                claims = issued["claims"]
                return self._json(200, {"access_token": "at", "token_type": "Bearer",
                                        "id_token": claims.pop("_token", None) or provider.sign(claims)})

        return Handler


@pytest.fixture
def provider():
    p = Provider()
    p.thread.start()
    yield p
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def sso(db, provider, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("OIDC_SECRET", SECRET)
    config = SegbridgeConfig.model_validate({"webapp": {"oidc": {
        "issuer": provider.base, "client_id": "segbridge", "client_secret": "${OIDC_SECRET}",
        "role_claim": "segbridge_role"}}})
    return TestClient(create_app(db, config), base_url="http://testserver")


def _login(client, provider, claims: dict, state: str | None = None):
    start = client.get("/login/oidc", follow_redirects=False)
    assert start.status_code == 303
    code, real_state = provider.authorize(start.headers["location"], claims)
    return client.get("/login/oidc/callback", params={"code": code, "state": state or real_state},
                      follow_redirects=False)


def test_first_login_creates_a_viewer_with_pkce_state_and_nonce(sso, provider, db):
    assert 'href="/login/oidc"' in sso.get("/login").text
    done = _login(sso, provider, {"sub": "u-1", "preferred_username": "olga"})
    assert done.status_code == 200 and 'url=/' in done.text
    cookie = done.headers["set-cookie"]
    assert "sb_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    user = accounts.get_user(db, "olga")
    assert (user.role, user.password_hash, user.active) == ("viewer", None, True)
    me = sso.get("/api/v1/me", headers={"X-CSRF-Token": "x"})
    assert me.json()["name"] == "olga"
    sent = provider.token_requests[-1]
    assert sent["grant_type"] == "authorization_code" and len(sent["code_verifier"]) >= 43
    assert SECRET not in done.text and SECRET not in sso.get("/").text
    again = _login(sso, provider, {"sub": "u-1", "preferred_username": "olga", "segbridge_role": "approver"})
    assert again.status_code == 200 and accounts.get_user(db, "olga").role == "viewer"  # matched, not changed


def test_the_role_claim_names_the_first_role_but_never_admin(sso, provider, db):
    _login(sso, provider, {"sub": "u-2", "preferred_username": "ana", "segbridge_role": "approver"})
    assert accounts.get_user(db, "ana").role == "approver"
    _login(sso, provider, {"sub": "u-3", "preferred_username": "max", "segbridge_role": "admin"})
    assert accounts.get_user(db, "max").role == "viewer"


@pytest.mark.parametrize("forge", ["state", "replay", "key", "nonce", "audience", "expired"])
def test_a_forged_or_replayed_login_is_refused(forge, sso, provider, db):
    claims = {"sub": "u-9", "preferred_username": "eve"}
    if forge == "state":
        answer = _login(sso, provider, claims, state="not-the-state")
    elif forge == "replay":
        start = sso.get("/login/oidc", follow_redirects=False)
        code, state = provider.authorize(start.headers["location"], {"sub": "u-8", "preferred_username": "bob"})
        assert sso.get("/login/oidc/callback", params={"code": code, "state": state}).status_code == 200
        sso.cookies.set("sb_oidc", state, path="/login/oidc")
        code2, _ = provider.authorize(start.headers["location"], claims)
        answer = sso.get("/login/oidc/callback", params={"code": code2, "state": state}, follow_redirects=False)
    else:
        start = sso.get("/login/oidc", follow_redirects=False)
        code, state = provider.authorize(start.headers["location"], claims)
        issued = provider.codes[code]["claims"]
        if forge == "key":
            issued["_token"] = provider.sign({k: v for k, v in issued.items()}, _rsa_pem())
        elif forge == "nonce":
            issued["nonce"] = "another"
        elif forge == "audience":
            issued["aud"] = "another-client"
        else:
            issued["exp"] = int(time.time()) - 3600
        answer = sso.get("/login/oidc/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?error=")
    assert "sb_session=" not in answer.headers.get("set-cookie", "")
    assert "eve" not in [u.name for u in accounts.list_users(db)]


def test_a_disabled_user_cannot_log_in_through_the_provider(sso, provider, db):
    accounts.add_user(db, "dora", "steward", None, "test")
    accounts.set_active(db, "dora", False, "test")
    answer = _login(sso, provider, {"sub": "u-4", "preferred_username": "dora"})
    assert answer.status_code == 303 and "disabled" in answer.headers["location"]


def test_a_local_user_with_a_password_is_not_taken_over(sso, provider, db):
    answer = _login(sso, provider, {"sub": "u-5", "preferred_username": "ada"})  # the local admin's name
    assert answer.status_code == 303 and "local+user+with+a+password" in answer.headers["location"]
    assert "sb_session=" not in answer.headers.get("set-cookie", "")


def test_without_oidc_configured_the_routes_answer_404(db):
    from tests.unit.webapp import site

    client = site.client_for(db)
    assert client.get("/login/oidc", follow_redirects=False).status_code == 404
    assert "/login/oidc" not in client.get("/login").text


@pytest.mark.parametrize(("change", "message"), [
    ({"default_role": "admin"}, "may not be admin"),
    ({"client_secret": "plain-secret"}, "${ENV_VAR} reference"),
    ({"issuer": "http://idp.example.com"}, "https://"),
])
def test_the_config_refuses_unsafe_settings(change, message):
    with pytest.raises(ValidationError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        OidcConfig.model_validate({"issuer": "https://idp.example.com", "client_id": "c", **change})
