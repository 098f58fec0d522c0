"""Alerts reach a local webhook receiver and a local SMTP server with the run's summary, no secret."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from core import runs
from core.model import Plan, ReconException, utcnow
from core.store import upsert
from sandbox.server import Response, SandboxApp, serve
from scheduler import alerts
from scheduler.schedule_settings import AlertsConfig

pytestmark = pytest.mark.unit
HOOK_TOKEN = "tok-Zq81-hook"
SMTP_PASSWORD = "pw-Xr55-mail"


class Inbox:
    """aiosmtpd handler keeping what arrived and who logged in."""

    def __init__(self):
        self.messages: list = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), authenticator=inbox.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def hook():
    app = SandboxApp("hook")
    app.route("POST", r"/hooks/ops")(lambda req: Response.json({"ok": True}))
    with serve(app) as server:
        yield app, server.url


@pytest.fixture
def config(monkeypatch, hook, smtp):
    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    _, url = hook
    _, port = smtp
    return AlertsConfig.model_validate({
        "channels": {
            "ops": {"type": "webhook", "url": url + "/hooks/ops", "max_attempts": 3,
                    "headers": {"Authorization": "Bearer ${HOOK_TOKEN}"}},
            "mail": {"type": "smtp", "host": "127.0.0.1", "port": port, "starttls": False, "username": "alerts",
                     "password": "${SMTP_PASSWORD}", "from": "segbridge@example.com", "to": ["ops@example.com"]},
        },
        "rules": [{"when": "failure"}, {"when": "blocked_plan", "channels": ["ops"]},
                  {"when": "exceptions", "min_severity": "high", "min_count": 2, "channels": ["mail"]}],
    })


def _failed_pull(store) -> int:
    run_id = runs.start_run(store, "pull", system="sap", trigger="schedule", ruleset_hash="rs-42")
    runs.finish_run(store, run_id, "failed", counts={"read": 10, "loaded": 8, "quarantined": 2},
                    message=f"AuthError: login as sap with password {SMTP_PASSWORD} and token {HOOK_TOKEN} refused")
    return run_id


def test_failure_alert_reaches_webhook_and_smtp_without_secrets(store, config, hook, smtp):
    run_id = _failed_pull(store)
    sent = alerts.notify(config, store, run_id, utcnow() - timedelta(minutes=1), "pull:sap")
    assert [(a.reason, result) for a, result in sent] == [("failure", {"ops": "sent", "mail": "sent"})]

    app, _ = hook
    [request] = app.log
    assert request.header("authorization") == f"Bearer {HOOK_TOKEN}"  # the receiver's credential, as a header
    body = request.json()
    assert body["reason"] == "failure"
    assert body["subject"] == f"[segbridge] pull:sap: the run failed (run {run_id})"
    assert body["run"]["id"] == run_id and body["run"]["status"] == "failed"
    assert body["run"]["counts"] == {"read": 10, "loaded": 8, "quarantined": 2}
    assert body["text"].splitlines()[:2] == ["the run failed", f"pull:sap: run {run_id} failed (schedule)"]
    assert "counts: read=10, loaded=8, quarantined=2" in body["text"]
    assert "rule set: rs-42" in body["text"]
    assert "message: AuthError: login as sap with password *** and token *** refused" in body["text"]
    assert HOOK_TOKEN not in request.text and SMTP_PASSWORD not in request.text

    inbox, _ = smtp
    [(sender, rcpts, content)] = inbox.messages
    assert (sender, rcpts) == ("segbridge@example.com", ["ops@example.com"])
    assert inbox.logins == [(b"alerts", SMTP_PASSWORD.encode())]
    mail = message_from_bytes(content)
    assert mail["Subject"] == f"[segbridge] pull:sap: the run failed (run {run_id})"
    text = mail.get_payload(decode=True).decode()
    assert f"pull:sap: run {run_id} failed (schedule)" in text
    assert "counts: read=10, loaded=8, quarantined=2" in text
    assert HOOK_TOKEN not in content.decode() and SMTP_PASSWORD not in content.decode()


def test_blocked_plan_and_exception_threshold(store, config, hook, smtp):
    since = utcnow() - timedelta(seconds=5)
    plan_run = runs.start_run(store, "plan", trigger="schedule")
    runs.finish_run(store, plan_run, "ok", counts={"changes": 7})
    upsert(store, Plan, [{"id": 5, "status": "blocked", "reason": "run 3 is suspect"}])
    sent = alerts.notify(config, store, plan_run, since, "plan")
    assert [(a.reason, a.subject, r) for a, r in sent] == [
        ("blocked_plan", f"[segbridge] plan: plan(s) 5 blocked (run {plan_run})", {"ops": "sent"})]

    recon = runs.start_run(store, "reconcile", trigger="schedule")
    runs.finish_run(store, recon, "exceptions", counts={"exceptions": 3})
    rows = [{"fingerprint": f"f{i}", "kind": "value_mismatch", "severity": sev, "status": status}
            for i, (sev, status) in enumerate([("critical", "open"), ("high", "resolved"), ("low", "open")])]
    upsert(store, ReconException, rows)
    assert alerts.notify(config, store, recon, since, "reconcile") == []  # 1 open >= high, 2 needed
    upsert(store, ReconException, [{"fingerprint": "f9", "kind": "orphan", "severity": "high", "status": "open"}])
    [(alert, result)] = alerts.notify(config, store, recon, since, "reconcile")
    assert (alert.reason, result) == ("exceptions", {"mail": "sent"})
    assert alert.text.splitlines()[0] == "2 open exception(s) of severity high or higher"
    inbox, _ = smtp
    assert len(inbox.messages) == 1


def test_transient_webhook_errors_are_retried_and_broken_channels_do_not_raise(store, config, hook, smtp):
    app, _ = hook
    unavailable = app.inject(status=503, times=1, path="/hooks/ops")
    run_id = _failed_pull(store)
    [(_, result)] = alerts.notify(config, store, run_id, utcnow(), "pull:sap")
    assert result == {"ops": "sent", "mail": "sent"}
    assert unavailable.times == 0  # the 503 was served, then the retry got through
    assert len(app.log) == 1 and json.loads(app.log[0].body)["run"]["id"] == run_id

    broken = app.inject(status=500, times=5, path="/hooks/ops")
    [(_, result)] = alerts.notify(config, store, run_id, utcnow(), "pull:sap")
    assert result["mail"] == "sent"
    assert broken.times == 4  # a 500 is not transient: one attempt, no retry storm
    assert result["ops"].startswith("FatalError: POST ") and "HTTP 500" in result["ops"]
    assert HOOK_TOKEN not in result["ops"]


def test_no_alert_for_a_successful_run(store, config, hook, smtp):
    run_id = runs.start_run(store, "pull", system="sap")
    runs.finish_run(store, run_id, "ok", counts={"read": 1})
    assert alerts.notify(config, store, run_id, utcnow(), "pull:sap") == []
    assert hook[0].log == [] and smtp[0].messages == []
