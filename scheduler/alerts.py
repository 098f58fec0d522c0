"""Alerts: tell people when a run failed, a plan was blocked, or exceptions need them.

Rules (`alerts.rules`) are checked after every job: `failure` (the run failed),
`blocked_plan` (a plan made by this plan run is blocked), `exceptions` (after reconcile: open
exceptions at or above a severity). Each alert goes to its channels: a webhook (JSON POST
through the shared HTTP client, so retries and redaction are the connectors' ones) and SMTP
email (smtplib, STARTTLS, retried with tenacity). Credentials are `${ENV_VAR}` references,
resolved only when sending; every text is passed through `basics.secrets.redact`, so a secret
that leaked into a run's message never leaves the process. Sending never raises: a broken
channel is logged and the scheduler goes on.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from basics import secrets
from core.model import Plan, ReconException
from core.runs import RunInfo, get_run, totals
from core.statuses import ExceptionStatus, PlanStatus, RunKind, RunStatus
from scheduler.schedule_settings import SEVERITIES, AlertRule, AlertsConfig, SmtpChannel, WebhookChannel

log = logging.getLogger("segbridge.alerts")


@dataclass
class Alert:
    """What happened, with the run's summary; `text` is already redacted."""

    reason: str  # failure | blocked_plan | exceptions
    subject: str
    text: str
    run: dict[str, Any] = field(default_factory=dict)
    channels: list[str] | None = None

    def payload(self) -> dict[str, Any]:
        """The webhook body: the summary and the run's fields, nothing else."""
        return {"source": "segbridge", "reason": self.reason, "subject": self.subject, "text": self.text,
                "run": self.run}


def run_summary(run: RunInfo, job_id: str | None = None) -> str:
    """A few lines a person can act on: which step, what status, counts, message."""
    name = job_id or (f"{run.kind}:{run.system}" if run.system else run.kind)
    counts = ", ".join(f"{k}={v}" for k, v in totals(run.counts).items()) or "none"
    lines = [f"{name}: run {run.id} {run.status} ({run.trigger})",
             f"started {run.started_at:%Y-%m-%d %H:%M:%S}, finished "
             + (f"{run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "-"),
             f"counts: {counts}"]
    if run.ruleset_hash:
        lines.append(f"rule set: {run.ruleset_hash}")
    if run.message:
        lines.append(f"message: {run.message}")
    return secrets.redact("\n".join(lines))


def _run_fields(run: RunInfo) -> dict[str, Any]:
    return {"id": run.id, "kind": run.kind, "system": run.system, "status": run.status, "trigger": run.trigger,
            "started_at": run.started_at.isoformat(), "counts": run.counts,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "ruleset_hash": run.ruleset_hash, "message": secrets.redact(run.message) if run.message else None}


def _blocked_plans(db: Engine, since: datetime) -> list[int]:
    table = Plan.__table__
    stmt = select(table.c.id).where(table.c.status == PlanStatus.BLOCKED, table.c.created_at >= since)
    with db.connect() as conn:
        return [r.id for r in conn.execute(stmt)]


def open_exceptions(db: Engine, min_severity: str) -> int:
    """Open reconciliation exceptions at or above a severity."""
    table = ReconException.__table__
    wanted = list(SEVERITIES[SEVERITIES.index(min_severity):])
    stmt = select(func.count()).select_from(table).where(table.c.status == ExceptionStatus.OPEN,
                                                             table.c.severity.in_(wanted))
    with db.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _rule_fires(db: Engine, rule: AlertRule, run: RunInfo, since: datetime) -> str | None:
    """The extra line of an alert when `rule` fires for this run, else None."""
    if rule.when == "failure" and run.status == RunStatus.FAILED:
        return "the run failed"
    if rule.when == "blocked_plan" and run.kind == RunKind.PLAN and run.status != RunStatus.SKIPPED:
        blocked = _blocked_plans(db, since)
        return f"plan(s) {', '.join(map(str, blocked))} blocked" if blocked else None
    if rule.when == "exceptions" and run.kind == RunKind.RECONCILE and run.status != RunStatus.SKIPPED:
        count = open_exceptions(db, rule.min_severity)
        return f"{count} open exception(s) of severity {rule.min_severity} or higher" if count >= rule.min_count \
            else None
    return None


def alerts_for(config: AlertsConfig, db: Engine, run_id: int, since: datetime,
               job_id: str | None = None) -> list[Alert]:
    """The alerts a finished run raises under the configured rules."""
    run = get_run(db, run_id)
    out = []
    for rule in config.rules:
        why = _rule_fires(db, rule, run, since)
        if why:
            name = job_id or run.kind
            subject = secrets.redact(f"[segbridge] {name}: {why} (run {run.id})")
            out.append(Alert(rule.when, subject, f"{why}\n{run_summary(run, job_id)}", _run_fields(run),
                             rule.channels))
    return out


# --------------------------------------------------------------------------- senders


def send_webhook(channel: WebhookChannel, alert: Alert) -> None:
    """POST the alert as JSON; retried on transient errors by the shared HTTP client."""
    from connectors.http.client import HttpClient, HttpOptions

    url = secrets.resolve(channel.url, what="webhook url")
    headers = {k: secrets.resolve(v, what=f"webhook header {k}") for k, v in channel.headers.items()}
    options = HttpOptions(base_url=url, headers=headers, max_attempts=channel.max_attempts,
                          connect_timeout=channel.timeout_seconds, read_timeout=channel.timeout_seconds,
                          backoff_initial=0.2, backoff_max=5)
    client = HttpClient(options)
    try:
        client.post(url, json=alert.payload())
    finally:
        client.close()


def _smtp_transient(exc: BaseException) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, ConnectionError,
                            TimeoutError))


def _email(channel: SmtpChannel, alert: Alert) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg.set_content(alert.text + "\n")
    return msg


def _smtp_once(channel: SmtpChannel, msg: EmailMessage) -> None:
    with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_seconds) as smtp:
        smtp.ehlo()
        if channel.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if channel.username:
            smtp.login(secrets.resolve(channel.username, what="smtp username") or "",
                       secrets.resolve(channel.password, what="smtp password") or "")
        smtp.send_message(msg)


def send_email(channel: SmtpChannel, alert: Alert) -> None:
    """Send the alert by SMTP; transient failures (4xx, dropped connections) are retried."""
    msg = _email(channel, alert)
    retrying = Retrying(stop=stop_after_attempt(channel.max_attempts), reraise=True,
                        wait=wait_exponential(multiplier=0.2, max=5), retry=retry_if_exception(_smtp_transient))
    retrying(_smtp_once, channel, msg)


def deliver(config: AlertsConfig, alert: Alert) -> dict[str, str]:
    """Send to the alert's channels (all when none named); channel -> 'sent' or the redacted error."""
    results = {}
    for name in alert.channels or list(config.channels):
        channel = config.channels[name]
        try:
            (send_webhook if isinstance(channel, WebhookChannel) else send_email)(channel, alert)
            results[name] = "sent"
        except Exception as exc:  # noqa: BLE001 - an alert channel must never stop the scheduler
            results[name] = secrets.redact(f"{type(exc).__name__}: {exc}")
            log.warning("alert channel %s failed: %s", name, results[name])
    return results


def _prime_secrets(config: AlertsConfig) -> None:
    """Resolve the channels' references now, so redaction knows their values before any text is built."""
    for channel in config.channels.values():
        refs = [channel.url, *channel.headers.values()] if isinstance(channel, WebhookChannel) \
            else [channel.username, channel.password]
        for ref in refs:
            try:
                secrets.resolve(ref)
            except Exception:  # noqa: BLE001 - a missing variable is reported when that channel sends
                pass


def notify(config: AlertsConfig, db: Engine, run_id: int | None, since: datetime,
           job_id: str | None = None) -> list[tuple[Alert, dict[str, str]]]:
    """Check the rules for a finished run and deliver what fires (never raises)."""
    if run_id is None or not config.channels:
        return []
    _prime_secrets(config)
    try:
        alerts = alerts_for(config, db, run_id, since, job_id)
    except Exception:  # noqa: BLE001 - a broken rule check must not stop the scheduler
        log.exception("alert rules could not be checked for run %s", run_id)
        return []
    return [(alert, deliver(config, alert)) for alert in alerts]
