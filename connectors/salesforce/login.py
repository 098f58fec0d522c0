"""Salesforce OAuth 2.0: client credentials, JWT bearer and username-password, over the shared HttpClient.

Why not simple-salesforce's login: it builds `https://{domain}.salesforce.com` token URLs (no custom
token URL, no sandbox on 127.0.0.1) and does username-password through the SOAP login API. Here
every flow posts to `<token_url>` and yields (access_token, instance_url); the token is registered
for redaction and never logged. JWT bearer is the right flow for a server integration: re-signing
a fresh assertion makes re-authentication after INVALID_SESSION_ID cheap.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import jwt
from pydantic import Field, field_validator

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.connector_errors import AuthError
from connectors.http.client import HttpClient

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _secret(value: str | None, info) -> str | None:
    return secrets.check_no_literal(value, f"salesforce.auth.{info.field_name}")


class SalesforceAuth(StrictModel):
    """How to obtain a session. Secrets are ${ENV_VAR} references."""

    flow: Literal["client_credentials", "jwt", "password"]
    token_url: str = Field(description="e.g. https://mycompany.my.salesforce.com/services/oauth2/token")
    client_id: str = Field(description="Connected app consumer key")
    client_secret: str | None = Field(None, description="${ENV_VAR}; client_credentials and password flows")
    username: str | None = Field(None, description="jwt (subject) and password flows")
    password: str | None = Field(None, description="${ENV_VAR}; password flow (append the security token)")
    private_key: str | None = Field(None, description="${ENV_VAR} holding a PEM key; jwt flow")
    private_key_file: str | None = Field(None, description="Path of a PEM key; jwt flow")
    audience: str = Field("https://login.salesforce.com", description="jwt aud: login or test.salesforce.com")

    _v = field_validator("client_secret", "password", "private_key")(_secret)


class SessionProvider:
    """Holds the current session; `refresh()` logs in again (called once on INVALID_SESSION_ID)."""

    def __init__(self, config: SalesforceAuth, http: HttpClient):
        self.config = config
        self.http = http
        self.token: str | None = None
        self.instance_url: str | None = None
        self.logins = 0

    def headers(self) -> dict[str, str]:
        if self.token is None:
            self.refresh()
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self) -> None:
        resp = self.http.request("POST", self.config.token_url, data=self._form(), raise_for_status=False)
        if resp.status_code != 200:
            body = _json(resp)
            reason = body.get("error_description") or body.get("error") or f"HTTP {resp.status_code}"
            raise AuthError(f"Salesforce refused the {self.config.flow} login: {reason}",
                            hint="check the connected app, the user and the credentials' environment variables")
        body = resp.json()
        self.token = body["access_token"]
        secrets.register(self.token)
        self.instance_url = body.get("instance_url")
        self.logins += 1

    def _form(self) -> dict[str, str]:
        c = self.config
        resolve = secrets.resolve
        if c.flow == "client_credentials":
            return {"grant_type": "client_credentials", "client_id": c.client_id,
                    "client_secret": resolve(c.client_secret, what="salesforce.auth.client_secret") or ""}
        if c.flow == "password":
            return {"grant_type": "password", "client_id": c.client_id,
                    "client_secret": resolve(c.client_secret, what="salesforce.auth.client_secret") or "",
                    "username": c.username or "",
                    "password": resolve(c.password, what="salesforce.auth.password") or ""}
        return {"grant_type": JWT_GRANT, "assertion": self._assertion()}

    def _assertion(self) -> str:
        c = self.config
        if c.private_key:
            key = secrets.resolve(c.private_key, what="salesforce.auth.private_key") or ""
        elif c.private_key_file:
            key = Path(c.private_key_file).read_text(encoding="utf-8")
        else:
            raise AuthError("the jwt flow needs private_key (${ENV_VAR}) or private_key_file")
        claims = {"iss": c.client_id, "sub": c.username, "aud": c.audience, "exp": int(time.time()) + 180}
        return jwt.encode(claims, key, algorithm="RS256")


def _json(resp) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
