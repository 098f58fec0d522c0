"""Secrets are only ever `${ENV_VAR}` references, resolved at the moment of use.

Config models keep the reference text (`${SAP_PASSWORD}`), never the value, so dumping a
config, logging it or storing it cannot leak a secret. Resolved values are registered with
the redaction filter (`basics.logging_setup`) so an accidental log line shows `***` instead.

Example:
    >>> import os; os.environ["DEMO_PW"] = "s3cret"
    >>> resolve("${DEMO_PW}")
    's3cret'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from basics.errors import ConfigError

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SECRET_QUERY_PARAMS = ("api_key", "apikey", "key", "token", "access_token", "sig", "signature",
                       "password", "passwd", "secret", "client_secret")
"""Query-string parameters whose values are secrets (matched case-insensitively; `-` counts as `_`)."""
_QUERY_SECRET = re.compile(
    r"([?&](" + "|".join(p.replace("_", "[_-]") for p in SECRET_QUERY_PARAMS) + r")=)([^&#\s'\"<>]*)",
    re.IGNORECASE,
)
_KNOWN_SECRETS: set[str] = set()


def is_reference(value: str | None) -> bool:
    """True when the whole value is a single `${NAME}` reference."""
    return bool(value) and bool(_REF.fullmatch(value.strip()))


def resolve(value: str | None, *, what: str = "secret") -> str | None:
    """Replace `${NAME}` references with the environment's values; a missing variable is a ConfigError."""
    if value is None:
        return None

    def sub(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"{what} refers to environment variable {name}, which is not set",
                hint=f"export {name}=... before running segbridge (values never go in files)",
            )
        secret = os.environ[name]
        if secret:
            _KNOWN_SECRETS.add(secret)
        return secret

    return _REF.sub(sub, value)


def register(value: str | None) -> None:
    """Treat a runtime value (an OAuth token, a session id) as a secret for redaction."""
    if value:
        _KNOWN_SECRETS.add(value)


def _literal_query_value(value: str) -> bool:
    """True when a secret query parameter's value is a literal (not empty, `***` or `${NAME}`)."""
    return bool(value) and value != "***" and not is_reference(unquote(value))


def redact(text: str) -> str:
    """Replace every resolved secret value in `text` with `***`, and the value of every secret
    query parameter of a URL (`?api_key=xyz&x=1` -> `?api_key=***&x=1`)."""
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return _QUERY_SECRET.sub(lambda m: m.group(1) + "***" if _literal_query_value(m.group(3)) else m.group(0), text)


def url_secret_params(text: str) -> list[str]:
    """The secret query parameters of `text` whose values are literals, not `${ENV_VAR}` references."""
    return [m.group(2) for m in _QUERY_SECRET.finditer(text) if _literal_query_value(m.group(3))]


def literal_url_secrets(data: Any, loc: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(key path, parameter) of every config value holding a URL with a literal secret query value."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from literal_url_secrets(value, loc + (key,))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from literal_url_secrets(item, loc + (i,))
    elif isinstance(data, str):
        for param in url_secret_params(data):
            yield loc, param


def check_no_literal(value: str | None, path: str) -> str | None:
    """Refuse a literal secret in a config file: only `${ENV_VAR}` references are allowed."""
    if value is None or value == "" or is_reference(value):
        return value
    raise ValueError(f"{path} must be an ${{ENV_VAR}} reference, not a literal value (secrets never go in files)")
