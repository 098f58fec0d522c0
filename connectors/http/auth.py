"""Authentication for the shared HTTP client: basic, API-key header, bearer, OAuth2 client credentials.

Every secret is an `${ENV_VAR}` reference in the config and is resolved only when a request
is signed; the resolved value never reaches a log line or an error (see basics.secrets.redact).

Example (in a connector's options):
    auth:
      type: oauth2_client_credentials
      token_url: https://login.example.com/oauth2/token
      client_id: ${CRM_CLIENT_ID}
      client_secret: ${CRM_CLIENT_SECRET}
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Literal

import requests
from pydantic import Field, field_validator

from basics import secrets
from basics.yaml_loader import StrictModel
from connectors.connector_errors import AuthError


def _secret(value: str | None, info) -> str | None:
    return secrets.check_no_literal(value, f"auth.{info.field_name}")


class BasicAuth(StrictModel):
    type: Literal["basic"]
    username: str
    password: str = Field(description="${ENV_VAR} reference")
    _v = field_validator("password")(_secret)

    def apply(self, session: requests.Session) -> None:
        session.auth = (secrets.resolve(self.username, what="auth.username"),
                        secrets.resolve(self.password, what="auth.password"))


class ApiKeyAuth(StrictModel):
    type: Literal["api_key"]
    header: str = "X-API-Key"
    value: str = Field(description="${ENV_VAR} reference")
    _v = field_validator("value")(_secret)

    def apply(self, session: requests.Session) -> None:
        session.headers[self.header] = secrets.resolve(self.value, what="auth.value")


class BearerAuth(StrictModel):
    type: Literal["bearer"]
    token: str = Field(description="${ENV_VAR} reference")
    _v = field_validator("token")(_secret)

    def apply(self, session: requests.Session) -> None:
        session.headers["Authorization"] = f"Bearer {secrets.resolve(self.token, what='auth.token')}"


class OAuth2ClientCredentials(StrictModel):
    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str
    client_secret: str = Field(description="${ENV_VAR} reference")
    scope: str | None = None
    audience: str | None = None
    _v = field_validator("client_secret")(_secret)

    def apply(self, session: requests.Session) -> None:
        """Tokens are fetched lazily by TokenManager; nothing to set up front."""


AuthConfig = Annotated[BasicAuth | ApiKeyAuth | BearerAuth | OAuth2ClientCredentials, Field(discriminator="type")]


class TokenManager:
    """Holds an OAuth2 access token; refreshes it before expiry and when the server answers 401."""

    def __init__(self, config: OAuth2ClientCredentials, timeout: float = 30.0, verify: bool | str = True):
        self.config = config
        self.timeout = timeout
        self.verify = verify
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.fetches = 0

    def token(self, force: bool = False) -> str:
        with self._lock:
            if force or not self._token or time.monotonic() > self._expires - 30:
                self._fetch()
            return self._token or ""

    def _fetch(self) -> None:
        data = {"grant_type": "client_credentials",
                "client_id": secrets.resolve(self.config.client_id, what="auth.client_id"),
                "client_secret": secrets.resolve(self.config.client_secret, what="auth.client_secret")}
        if self.config.scope:
            data["scope"] = self.config.scope
        if self.config.audience:
            data["audience"] = self.config.audience
        try:
            resp = requests.post(self.config.token_url, data=data, timeout=self.timeout, verify=self.verify)
        except requests.exceptions.SSLError as exc:  # a certificate does not heal: say so, with the fix
            from connectors.http.client import tls_error

            raise tls_error(exc, "POST", self.config.token_url) from None
        except requests.RequestException as exc:
            raise AuthError(f"token endpoint {self.config.token_url} unreachable: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise AuthError(f"token endpoint refused the client credentials (HTTP {resp.status_code})",
                            hint="check client_id/client_secret environment variables and the token_url")
        body = resp.json()
        self._token = body["access_token"]
        secrets.register(self._token)
        self._expires = time.monotonic() + float(body.get("expires_in", 3600))
        self.fetches += 1
