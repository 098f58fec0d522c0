"""connectors.salesforce.login: each OAuth flow posts the exact form to the token URL, keeps the
session, and turns a refused login into an AuthError with Salesforce's reason."""

from __future__ import annotations

from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from basics import secrets
from connectors.connector_errors import AuthError
from connectors.http.client import HttpClient, HttpOptions
from connectors.salesforce.login import JWT_GRANT, SalesforceAuth, SessionProvider

pytestmark = pytest.mark.unit
TOKEN_URL = "https://acme.my.salesforce.test/services/oauth2/token"
INSTANCE = "https://acme.my.salesforce.test"


def _provider(**auth) -> SessionProvider:
    config = SalesforceAuth.model_validate({"token_url": TOKEN_URL, "client_id": "3MVG-app", **auth})
    return SessionProvider(config, HttpClient(HttpOptions(base_url=INSTANCE, max_attempts=1)))


def _form(call) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


@responses.activate
def test_client_credentials_form_and_lazy_session(monkeypatch):
    monkeypatch.setenv("T_SF_SECRET", "sf-secret-1")
    responses.post(TOKEN_URL, json={"access_token": "00D!tok1", "instance_url": INSTANCE})
    provider = _provider(flow="client_credentials", client_secret="${T_SF_SECRET}")
    assert provider.logins == 0 and len(responses.calls) == 0
    assert provider.headers() == {"Authorization": "Bearer 00D!tok1"}
    assert provider.headers() == {"Authorization": "Bearer 00D!tok1"}
    assert provider.logins == 1 and provider.instance_url == INSTANCE
    assert _form(responses.calls[0]) == {"grant_type": ["client_credentials"], "client_id": ["3MVG-app"],
                                         "client_secret": ["sf-secret-1"]}
    assert "00D!tok1" not in secrets.redact("session 00D!tok1 opened")  # the session id is redacted like a secret


@responses.activate
def test_password_flow_and_refresh_logs_in_again(monkeypatch):
    monkeypatch.setenv("T_SF_SECRET", "sf-secret-2")
    monkeypatch.setenv("T_SF_PASSWORD", "pw+token")
    responses.post(TOKEN_URL, json={"access_token": "tok-a", "instance_url": INSTANCE})
    responses.post(TOKEN_URL, json={"access_token": "tok-b", "instance_url": INSTANCE})
    provider = _provider(flow="password", client_secret="${T_SF_SECRET}", username="int@acme.test",
                         password="${T_SF_PASSWORD}")
    provider.refresh()
    provider.refresh()
    assert provider.token == "tok-b" and provider.logins == 2
    assert _form(responses.calls[0]) == {"grant_type": ["password"], "client_id": ["3MVG-app"],
                                         "client_secret": ["sf-secret-2"], "username": ["int@acme.test"],
                                         "password": ["pw+token"]}


@responses.activate
def test_jwt_flow_signs_a_fresh_assertion(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    (tmp_path / "sf.pem").write_text(pem, encoding="utf-8")
    responses.post(TOKEN_URL, json={"access_token": "tok-jwt", "instance_url": INSTANCE})
    provider = _provider(flow="jwt", username="int@acme.test", private_key_file=str(tmp_path / "sf.pem"),
                         audience="https://test.salesforce.com")
    provider.refresh()
    form = _form(responses.calls[0])
    assert form["grant_type"] == [JWT_GRANT]
    claims = jwt.decode(form["assertion"][0], key.public_key(), algorithms=["RS256"],
                        audience="https://test.salesforce.com")
    assert (claims["iss"], claims["sub"]) == ("3MVG-app", "int@acme.test")
    assert provider.token == "tok-jwt"


def test_jwt_without_a_key_is_an_auth_error():
    with pytest.raises(AuthError, match="needs private_key"):
        _provider(flow="jwt", username="int@acme.test").refresh()


@responses.activate
def test_a_refused_login_says_why_without_the_secret(monkeypatch):
    monkeypatch.setenv("T_SF_SECRET", "sf-secret-3")
    responses.post(TOKEN_URL, status=400, json={"error": "invalid_grant",
                                                "error_description": "authentication failure"})
    provider = _provider(flow="client_credentials", client_secret="${T_SF_SECRET}")
    with pytest.raises(AuthError) as err:
        provider.headers()
    assert err.value.message == "Salesforce refused the client_credentials login: authentication failure"
    assert "sf-secret-3" not in str(err.value) and provider.token is None
    responses.replace(responses.POST, TOKEN_URL, status=401, body="<html>no</html>")
    with pytest.raises(AuthError, match="login: HTTP 401"):
        provider.refresh()


@pytest.mark.parametrize("field", ["client_secret", "password", "private_key"])
def test_literal_secrets_are_refused(field):
    with pytest.raises(ValidationError, match="reference"):
        SalesforceAuth.model_validate({"flow": "password", "token_url": TOKEN_URL, "client_id": "x",
                                       field: "literal"})
