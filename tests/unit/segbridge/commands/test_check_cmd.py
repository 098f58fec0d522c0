"""`segbridge check`: a system at an address that refuses connections fails at once, naming it."""

from __future__ import annotations

import socket

import pytest
import requests
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.unit


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_wrong_port_fails_check_at_once_with_the_address_tried(tmp_path, monkeypatch):
    port = _closed_port()
    sent = []
    real_request = requests.Session.request

    def counted(self, method, url, *args, **kwargs):
        sent.append(url)
        return real_request(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", counted)
    monkeypatch.setenv("SAP_PASSWORD", "secret-value")
    monkeypatch.setenv("COLUMNS", "250")  # the message column unwrapped
    (tmp_path / "segbridge.yaml").write_text(
        f"database: {{url: 'sqlite:///{tmp_path}/s.db'}}\nsystems:\n  sap:\n    kind: sap_odata\n"
        f"    mapping: sap_s4.yaml\n    options:\n      base_url: http://127.0.0.1:{port}\n"
        "      auth: {type: basic, username: SEGBRIDGE, password: '${SAP_PASSWORD}'}\n")
    res = CliRunner().invoke(build_app(), ["-c", str(tmp_path / "segbridge.yaml"), "check"])
    assert res.exit_code == 1, res.output
    assert f"connection refused by 127.0.0.1:{port}" in res.output
    assert len(sent) == 1, sent  # one attempt: no retries before the answer
