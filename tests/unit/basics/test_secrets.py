"""A secret configured as ${ENV_VAR} appears in no log line, no database row, no printed error."""

import json
import logging
import subprocess
import sys

import pytest
import responses
from sqlalchemy import MetaData, select

from basics import secrets
from basics.errors import ConfigError
from basics.logging_setup import JsonFormatter, RedactionFilter
from connectors.connector_errors import AuthError
from connectors.http.client import HttpClient, HttpOptions

SECRET = "Pa55-w0rd-that-must-not-leak"


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("SB_TEST_SECRET", SECRET)
    return "${SB_TEST_SECRET}"


def test_literal_secret_in_auth_is_refused():
    with pytest.raises(ValueError, match="ENV_VAR"):
        HttpOptions(base_url="https://x", auth={"type": "basic", "username": "u", "password": SECRET})


def test_missing_env_var_names_the_variable_not_a_value(monkeypatch):
    monkeypatch.delenv("SB_NOT_SET", raising=False)
    with pytest.raises(ConfigError, match="SB_NOT_SET"):
        secrets.resolve("${SB_NOT_SET}")


@responses.activate
def test_secret_never_in_logs_or_errors(secret_env, caplog):
    responses.get("https://erp.example/api/items", status=401, body=f"bad login for password {SECRET}")
    opts = HttpOptions(base_url="https://erp.example/api", auth={"type": "basic", "username": "u",
                                                                  "password": secret_env})
    assert secret_env in opts.model_dump_json() and SECRET not in opts.model_dump_json()
    client = HttpClient(opts)
    handler = logging.StreamHandler()
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())
    lines = []
    handler.emit = lambda record: lines.append(handler.format(record)) if handler.filter(record) else None
    logging.getLogger("segbridge").addHandler(handler)
    try:
        with pytest.raises(AuthError) as err:
            client.get("items")
        logging.getLogger("segbridge.test").warning("using password %s", SECRET)
    finally:
        logging.getLogger("segbridge").removeHandler(handler)
    assert SECRET not in str(err.value) and "***" in str(err.value)
    assert lines and all(SECRET not in line for line in lines)
    assert json.loads(lines[-1])["message"] == "using password ***"
    sent = responses.calls[0].request.headers["Authorization"]
    assert sent.startswith("Basic ")  # the secret was used on the wire, only there


def test_secret_not_in_database_or_cli_output(secret_env, tmp_path):
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text("database:\n  url: sqlite:///s.db\nsystems:\n  crm:\n    kind: nosuchkind\n"
                   f"    options:\n      token: '{secret_env}'\n")
    env = {"SB_TEST_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    outputs = []
    for args in (["db", "upgrade"], ["-v", "--json-logs", "validate"], ["-vv", "validate"]):
        res = subprocess.run([sys.executable, "-m", "segbridge", *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        outputs.append(res.stdout + res.stderr)
    assert all(SECRET not in text for text in outputs)
    from core.store import open_store

    db = open_store(f"sqlite:///{tmp_path / 's.db'}")
    meta = MetaData()
    meta.reflect(db)
    with db.connect() as conn:
        dump = " ".join(str(row) for t in meta.sorted_tables for row in conn.execute(select(t)))
    assert SECRET not in dump
    assert SECRET not in (tmp_path / "s.db").read_bytes().decode("latin-1")


def test_secret_used_by_a_real_pull_is_nowhere_after_it(tmp_path):
    """A pull over HTTP with basic auth from ${ENV_VAR}: the value reaches the wire only."""
    from sandbox.generator import generate
    from sandbox.server import serve
    from sandbox.wms import build_app

    app = build_app(generate(seed=5, products=4, locations=1, customers=3, weeks=6), password=SECRET)
    with serve(app) as server:
        cfg = tmp_path / "segbridge.yaml"
        cfg.write_text("database: {url: 'sqlite:///s.db'}\nsystems:\n  wms:\n    kind: wms\n    mapping: wms.yaml\n"
                       f"    options:\n      base_url: {server.url}\n      backoff_initial: 0\n"
                       "      auth: {type: basic, username: wms_user, password: '${SB_TEST_SECRET}'}\n")
        env = {"SB_TEST_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
        outputs = []
        for args in (["-vv", "--json-logs", "pull", "wms", "--no-progress"], ["-vv", "check"]):
            res = subprocess.run([sys.executable, "-m", "segbridge", *args], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=120)
            assert res.returncode == 0, res.stderr
            outputs.append(res.stdout + res.stderr)
        app.inject(status=401, times=5, path=".*")
        res = subprocess.run([sys.executable, "-m", "segbridge", "-vv", "pull", "wms", "--no-progress"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        outputs.append(res.stdout + res.stderr)
    assert app.log and all("authorization" in r.headers for r in app.log)  # it was used on the wire
    assert all(SECRET not in text for text in outputs)
    data = b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))
    assert data and SECRET.encode() not in data
    assert b"wms" in data  # the store was written


def test_redact_masks_secret_query_values_only(monkeypatch):
    monkeypatch.setattr(secrets, "_KNOWN_SECRETS", set())  # values other tests registered (e.g. "secret") stay out
    assert secrets.redact("GET https://x/api?api_key=xyz&x=1") == "GET https://x/api?api_key=***&x=1"
    assert secrets.redact("https://x/?a=1&Access_Token=t0k#frag sig=plain") == "https://x/?a=1&Access_Token=***#frag sig=plain"
    assert secrets.redact("https://x/?client-secret=abc&apikey=def&key=g") == "https://x/?client-secret=***&apikey=***&key=***"
    kept = "https://x/?monkey=1&keys=2&api_key=${API_KEY}"  # other names and references are not secrets
    assert secrets.redact(kept) == kept


def test_literal_url_secrets_are_found_in_any_config_value():
    data = {"systems": {"crm": {"options": {"base_url": "https://x/api?api_key=hunter2",
                                            "hooks": ["https://h/?token=${T}", "https://h/?passwd=p"]}}}}
    assert list(secrets.literal_url_secrets(data)) == [
        (("systems", "crm", "options", "base_url"), "api_key"),
        (("systems", "crm", "options", "hooks", 1), "passwd")]


def test_logging_setup_redacts_urls_in_log_records():
    import io

    from basics.logging_setup import setup_logging

    names = ("segbridge", "core", "connectors", "scheduler", "sandbox")
    saved = {n: (logging.getLogger(n).handlers, logging.getLogger(n).level, logging.getLogger(n).propagate)
             for n in names}
    stream = io.StringIO()
    try:
        setup_logging(json_logs=True, stream=stream)
        logging.getLogger("connectors.http.test").warning("GET %s failed", "https://x/api?api_key=xyz&x=1")
    finally:
        for n, (handlers, level, propagate) in saved.items():
            logger = logging.getLogger(n)
            logger.handlers, logger.level, logger.propagate = handlers, level, propagate
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "GET https://x/api?api_key=***&x=1 failed"
