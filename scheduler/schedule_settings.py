"""The `schedules:` and `alerts:` sections of segbridge.yaml.

    schedules:
      timezone: Europe/Berlin           # default for every step
      lease_ttl_seconds: 300            # a crashed scheduler's lease frees itself after this
      defaults: {coalesce: true, max_instances: 1}   # misfire_grace_time: sized to the interval
      steps:
        pull:      {cron: "0 */4 * * *", systems: [sap, oracle]}   # jobs pull:sap, pull:oracle
        segment:   {depends_on: [pull]}          # no cron: runs after every pull succeeded
        plan:      {depends_on: [segment]}
        apply:     {depends_on: [plan]}
        reconcile: {cron: "30 6 * * *", timezone: UTC, depends_on: [apply]}

    alerts:
      channels:
        ops:  {type: webhook, url: "https://hooks.example.com/${HOOK_PATH}",
               headers: {Authorization: "Bearer ${HOOK_TOKEN}"}}
        mail: {type: smtp, host: smtp.example.com, port: 587, username: ${SMTP_USER},
               password: ${SMTP_PASSWORD}, from: segbridge@example.com, to: [ops@example.com]}
      rules:
        - {when: failure}
        - {when: blocked_plan, channels: [mail]}
        - {when: exceptions, min_severity: high}

Secrets are `${ENV_VAR}` references only; they are resolved when an alert is sent.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from basics import secrets
from basics.yaml_loader import StrictModel, register_kind, suggest
from core.settings import register_section
from core.statuses import RunKind

CYCLE_STEPS = tuple(k.value for k in (RunKind.PULL, RunKind.SEGMENT, RunKind.PLAN, RunKind.APPLY, RunKind.RECONCILE))
SEVERITIES = ("low", "medium", "high", "critical")
_EXTRA_STEPS: set[str] = set()
_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_SECRET_HEADER = re.compile(r"auth|token|key|secret|password|cookie", re.IGNORECASE)


def add_step_name(name: str) -> None:
    """Allow a step name beyond the cycle's five (a plug-in or test step)."""
    _EXTRA_STEPS.add(name)


def known_steps() -> list[str]:
    return list(CYCLE_STEPS) + sorted(_EXTRA_STEPS - set(CYCLE_STEPS))


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin or UTC)") from None
    return value


class JobDefaults(StrictModel):
    """APScheduler job defaults, set explicitly rather than left to the library."""

    coalesce: bool = Field(True, description="Run a job once when several of its fire times were missed")
    max_instances: int = Field(1, ge=1, le=1, description="One running instance per job and process")
    misfire_grace_time: float | None = Field(None, gt=0, description="Seconds a late trigger may still run; "
                                             "default: half the step's interval, 1 s to 1 h")


class StepSchedule(StrictModel):
    cron: str | None = Field(None, description="Crontab expression (5 fields, or 6 with seconds first)")
    every_seconds: float | None = Field(None, gt=0, description="Fixed interval instead of a cron expression")
    timezone: str | None = Field(None, description="IANA time zone of the cron expression")
    systems: list[str] | None = Field(None, description="pull: one job per system (default: every enabled one)")
    depends_on: list[str] = Field(default_factory=list, description="Steps (pull) or jobs (pull:sap) that must "
                                  "have succeeded; a step without cron/every_seconds runs right after them")
    start_date: datetime | None = Field(None, description="First possible fire time")
    end_date: datetime | None = Field(None, description="Last possible fire time")
    enabled: bool = True
    defaults: JobDefaults | None = Field(None, description="Overrides of schedules.defaults for this step")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str | None) -> str | None:
        if value is not None:
            from scheduler.jobs import cron_trigger

            cron_trigger(value, "UTC")
        return value

    @model_validator(mode="after")
    def _one_trigger(self) -> StepSchedule:
        if self.cron and self.every_seconds:
            raise ValueError("give either cron or every_seconds, not both")
        if not (self.cron or self.every_seconds or self.depends_on):
            raise ValueError("a step needs cron, every_seconds or depends_on")
        return self


class SchedulesConfig(StrictModel):
    """schedules: the cycle's timetable."""

    timezone: str = Field("UTC", description="Default IANA time zone of the cron expressions")
    lease_ttl_seconds: float = Field(300, ge=5, description="Lease lifetime; renewed every third of it")
    defaults: JobDefaults = Field(default_factory=JobDefaults)
    steps: dict[str, StepSchedule] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, steps: dict[str, StepSchedule]) -> dict[str, StepSchedule]:
        for name, step in steps.items():
            if name not in known_steps():
                guess = suggest(name, known_steps())
                raise ValueError(f"unknown step {name!r}" + (f"; did you mean {guess!r}?" if guess else
                                                            f"; steps: {', '.join(known_steps())}"))
            for dep in step.depends_on:
                if dep.split(":", 1)[0] not in steps:
                    raise ValueError(f"step {name!r} depends on {dep!r}, which is not scheduled")
            if step.systems is not None and name != RunKind.PULL:
                raise ValueError(f"step {name!r}: systems applies to pull only")
        return steps


# --------------------------------------------------------------------------- alerts


class WebhookChannel(StrictModel):
    type: Literal["webhook"]
    url: str = Field(description="Receiver URL; may contain ${ENV_VAR} references (e.g. a token in the path)")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers; credentials as ${ENV_VAR}")
    timeout_seconds: float = Field(10, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)

    @model_validator(mode="after")
    def _secret_headers_are_refs(self) -> WebhookChannel:
        for name, value in self.headers.items():
            if _SECRET_HEADER.search(name) and not _REF.search(value):
                raise ValueError(f"header {name} must use an ${{ENV_VAR}} reference, not a literal credential")
        return self


class SmtpChannel(StrictModel):
    type: Literal["smtp"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS before logging in")
    username: str | None = Field(None, description="Login name (literal or ${ENV_VAR})")
    password: str | None = Field(None, description="An ${ENV_VAR} reference")
    sender: str = Field(alias="from", description="From address")
    to: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(10, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)

    @field_validator("password")
    @classmethod
    def _password_is_ref(cls, value: str | None) -> str | None:
        return secrets.check_no_literal(value, "password")


Channel = Annotated[WebhookChannel | SmtpChannel, Field(discriminator="type")]


class AlertRule(StrictModel):
    when: Literal["failure", "blocked_plan", "exceptions"] = Field(
        description="failure: a run failed; blocked_plan: a plan was blocked; exceptions: open reconciliation "
                    "exceptions at or above min_severity")
    min_severity: Literal["low", "medium", "high", "critical"] = Field("high")
    min_count: int = Field(1, ge=1, description="exceptions: alert from this many open ones")
    channels: list[str] | None = Field(None, description="Channel names (default: all)")


class AlertsConfig(StrictModel):
    """alerts: where to tell people that something needs them."""

    channels: dict[str, Channel] = Field(default_factory=dict)
    rules: list[AlertRule] = Field(default_factory=lambda: [AlertRule(when="failure")])

    @model_validator(mode="after")
    def _channels_exist(self) -> AlertsConfig:
        for rule in self.rules:
            for name in rule.channels or []:
                if name not in self.channels:
                    raise ValueError(f"rule {rule.when!r} names channel {name!r}, which is not configured; "
                                     f"channels: {', '.join(self.channels) or 'none'}")
        return self


register_section("schedules", SchedulesConfig)
register_section("alerts", AlertsConfig)
register_kind("schedules", SchedulesConfig)
register_kind("alerts", AlertsConfig)
