"""connectors.http.auth: each auth signs a session from ${ENV_VAR} references; OAuth2 tokens are
fetched with the exact form the token endpoint expects, cached, and refreshed on demand."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import TypeAdapter, ValidationError

from basics import secrets
from basics.errors import ConfigError
from connectors.connector_errors import AuthError
from connectors.http.auth import (
    ApiKeyAuth,
    AuthConfig,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    TokenManager,
)

pytestmark = pytest.mark.unit
TOKEN_URL = "https://login.example.test/oauth2/token"


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("T_AUTH_USER", "svc-user")
    monkeypatch.setenv("T_AUTH_PASSWORD", "pw-1a2b")
    monkeypatch.setenv("T_AUTH_KEY", "key-3c4d")
    monkeypatch.setenv("T_AUTH_TOKEN", "tok-5e6f")
    monkeypatch.setenv("T_AUTH_SECRET", "sec-7g8h")


def test_config_is_chosen_by_type():
    adapter = TypeAdapter(AuthConfig)
    assert isinstance(adapter.validate_python({"type": "basic", "username": "u", "password": "${P}"}), BasicAuth)
    assert isinstance(adapter.validate_python({"type": "api_key", "value": "${K}"}), ApiKeyAuth)
    assert isinstance(adapter.validate_python({"type": "bearer", "token": "${T}"}), BearerAuth)
    oauth = adapter.validate_python({"type": "oauth2_client_credentials", "token_url": TOKEN_URL,
                                     "client_id": "app", "client_secret": "${S}"})
    assert isinstance(oauth, OAuth2ClientCredentials)
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "kerberos"})


@pytest.mark.parametrize("raw", [
    {"type": "basic", "username": "u", "password": "hunter2"},
    {"type": "api_key", "value": "abc"},
    {"type": "bearer", "token": "abc"},
    {"type": "oauth2_client_credentials", "token_url": TOKEN_URL, "client_id": "app", "client_secret": "abc"},
])
def test_literal_secrets_are_refused(raw):
    with pytest.raises(ValidationError, match=r"must be an \$\{ENV_VAR\} reference"):
        TypeAdapter(AuthConfig).validate_python(raw)


def test_basic_api_key_and_bearer_sign_the_session(env):
    session = requests.Session()
    BasicAuth(type="basic", username="${T_AUTH_USER}", password="${T_AUTH_PASSWORD}").apply(session)
    assert session.auth == ("svc-user", "pw-1a2b")
    ApiKeyAuth(type="api_key", header="X-Key", value="${T_AUTH_KEY}").apply(session)
    assert session.headers["X-Key"] == "key-3c4d"
    BearerAuth(type="bearer", token="${T_AUTH_TOKEN}").apply(session)
    assert session.headers["Authorization"] == "Bearer tok-5e6f"


def test_a_missing_variable_is_a_config_error(monkeypatch):
    monkeypatch.delenv("T_AUTH_NOT_SET", raising=False)
    with pytest.raises(ConfigError):
        BearerAuth(type="bearer", token="${T_AUTH_NOT_SET}").apply(requests.Session())


def _oauth(**extra) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(type="oauth2_client_credentials", token_url=TOKEN_URL, client_id="app-1",
                                   client_secret="${T_AUTH_SECRET}", **extra)


@responses.activate
def test_token_is_fetched_with_the_client_credentials_form_and_cached(env):
    responses.post(TOKEN_URL, json={"access_token": "at-1", "expires_in": 3600})
    manager = TokenManager(_oauth(scope="api.read", audience="erp"))
    assert manager.token() == "at-1" and manager.token() == "at-1"
    assert manager.fetches == 1 and len(responses.calls) == 1
    form = parse_qs(responses.calls[0].request.body)
    assert form == {"grant_type": ["client_credentials"], "client_id": ["app-1"], "client_secret": ["sec-7g8h"],
                    "scope": ["api.read"], "audience": ["erp"]}
    assert secrets.redact("Authorization: Bearer at-1") == "Authorization: Bearer ***"  # redacted like any secret


@responses.activate
def test_forced_and_expiring_tokens_are_fetched_again(env):
    responses.post(TOKEN_URL, json={"access_token": "at-1", "expires_in": 3600})
    responses.post(TOKEN_URL, json={"access_token": "at-2", "expires_in": 10})
    responses.post(TOKEN_URL, json={"access_token": "at-3", "expires_in": 3600})
    manager = TokenManager(_oauth())
    assert manager.token() == "at-1"
    assert manager.token(force=True) == "at-2"
    assert manager.token() == "at-3"  # at-2 expires within the 30 s margin
    assert manager.fetches == 3
    assert "scope" not in parse_qs(responses.calls[0].request.body)


@responses.activate
def test_refused_or_unreachable_token_endpoint_is_an_auth_error_without_the_secret(env):
    responses.post(TOKEN_URL, status=401, json={"error": "invalid_client"})
    with pytest.raises(AuthError, match="HTTP 401") as err:
        TokenManager(_oauth()).token()
    assert "sec-7g8h" not in str(err.value)
    responses.replace(responses.POST, TOKEN_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(AuthError, match="unreachable: ConnectionError"):
        TokenManager(_oauth()).token()



def test_an_untrusted_token_endpoint_says_certificate_verification_failed(env, https_server, monkeypatch):
    from connectors.connector_errors import FatalError, RetriableError

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    url, cert, hits = https_server
    config = OAuth2ClientCredentials(type="oauth2_client_credentials", token_url=f"{url}/token",
                                     client_id="segbridge", client_secret="${T_AUTH_SECRET}")
    with pytest.raises(FatalError) as err:
        TokenManager(config).token()
    assert not isinstance(err.value, RetriableError)
    assert f"POST {url}/token: certificate verification failed for host '127.0.0.1'" in err.value.message
    assert "ca_bundle" in err.value.hint and hits == []
