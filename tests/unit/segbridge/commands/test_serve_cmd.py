"""`segbridge serve`: starts the web app on the store; the login page answers, pages need a login."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _first_answer(url: str) -> tuple[int, str]:
    """Wait for the condition "the port answers" (uvicorn opens it right after the announcement)."""
    deadline, tick = time.monotonic() + 60, threading.Event()
    while True:
        try:
            return _get(url)
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            tick.wait(0.05)


def test_serve_answers_on_its_port(tmp_path):
    (tmp_path / "segbridge.yaml").write_text(f"database: {{url: 'sqlite:///{tmp_path / 's.db'}'}}\n")
    port = _free_port()
    script = Path(sys.executable).with_name("segbridge")
    proc = subprocess.Popen([str(script), "-c", str(tmp_path / "segbridge.yaml"), "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # waits for the announcement
        assert "no users yet" in lines[0] and f"http://127.0.0.1:{port}/" in lines[1]
        status, body = _first_answer(f"http://127.0.0.1:{port}/login")
        assert status == 200 and 'name="csrf_token"' in body
        assert _get(f"http://127.0.0.1:{port}/api/v1/me")[0] == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
