"""Jobs: the `schedules:` section turned into job specs, and the run of one job.

A job has a stable id: `pull:<system>` per pulled system, else the step's name (`segment`,
`plan`, `apply`, `reconcile`). The id is also the name of the step's database lease, so a
manual `segbridge run` taking the same lease and a scheduled job never overlap.

Running a job (`execute`):
1. dependencies: each job it depends on must have succeeded last time (run history);
2. lease: held for the whole step, renewed while it runs; held elsewhere -> a `skipped` run;
3. the step callable `(config, db, *, systems, trigger, stop_event) -> StepResult`
   (core.cycle.STEPS); a step that raises leaves a `failed` run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from basics.errors import ConfigError
from core import runs
from core.cycle import STEPS
from core.lease import LeaseHeld, hold, step_lease_name
from core.model import utcnow
from core.statuses import SUCCEEDED, RunKind, RunStatus, Trigger
from scheduler.schedule_settings import JobDefaults, SchedulesConfig, add_step_name

log = logging.getLogger("segbridge.scheduler")
StepFn = Callable[..., Any]
_REGISTERED: dict[str, StepFn] = {}
_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# --------------------------------------------------------------------------- step registry


def register_step(name: str, fn: StepFn) -> None:
    """Add or replace a step callable (plug-ins, tests); core.cycle.STEPS are the defaults."""
    _REGISTERED[name] = fn
    add_step_name(name)


def step_functions() -> dict[str, StepFn]:
    """The cycle's steps overlaid with registered ones."""
    return {**STEPS, **_REGISTERED}


# --------------------------------------------------------------------------- triggers


def _dow_names(expr: str) -> str:
    """Crontab day-of-week (0/7 = Sunday) as names: APScheduler counts from Monday."""
    if expr == "*" or not any(ch.isdigit() for ch in expr):
        return expr
    days: set[int] = set()
    for part in expr.split(","):
        rng, _, step = part.partition("/")
        if rng == "*":
            lo, hi = 0, 6
        else:
            lo_s, _, hi_s = rng.partition("-")
            lo, hi = int(lo_s), int(hi_s or (6 if step else lo_s))
        days.update(d % 7 for d in range(lo, hi + 1, int(step or 1)))
    return ",".join(_DOW[d] for d in sorted(days))


def cron_trigger(expr: str, timezone: str, start_date: datetime | None = None,
                 end_date: datetime | None = None) -> CronTrigger:
    """A crontab expression (5 fields, or 6 with seconds first) in a time zone."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"cron {expr!r}: expected 5 fields (minute hour day month weekday) or 6 (seconds first)")
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                           day_of_week=_dow_names(dow), timezone=timezone, start_date=start_date, end_date=end_date)
    except ValueError as exc:
        raise ValueError(f"cron {expr!r}: {exc}") from None


def interval_of(trigger: Any, now: datetime | None = None) -> float | None:
    """Seconds between the next two fire times (None when it fires at most once more)."""
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval.total_seconds()
    now = now or utcnow()
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(microseconds=1)) if first else None
    return (second - first).total_seconds() if first and second else None


def misfire_grace(defaults: JobDefaults, interval: float | None) -> int:
    """Explicit grace, else half the interval, within 1 s .. 1 h: a late run still makes sense."""
    if defaults.misfire_grace_time is not None:
        return max(1, round(defaults.misfire_grace_time))
    return int(min(3600, max(1, (interval or 7200) / 2)))


# --------------------------------------------------------------------------- job specs


@dataclass
class JobSpec:
    """One scheduled job: what runs, when, after what, with which APScheduler options."""

    id: str
    step: str
    system: str | None
    trigger: Any | None  # None: runs when its dependencies succeed
    timezone: str
    depends_on: list[str] = field(default_factory=list)
    coalesce: bool = True
    max_instances: int = 1
    misfire_grace_time: int = 1

    def describe_trigger(self) -> str:
        return str(self.trigger) if self.trigger is not None else "after " + ", ".join(self.depends_on)


def _trigger(step: Any, tz: str) -> Any | None:
    if step.cron:
        return cron_trigger(step.cron, tz, step.start_date, step.end_date)
    if step.every_seconds:
        return IntervalTrigger(seconds=step.every_seconds, timezone=tz, start_date=step.start_date,
                               end_date=step.end_date)
    return None


def _expand_deps(deps: list[str], ids_by_step: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for dep in deps:
        step = dep.split(":", 1)[0]
        out += ids_by_step.get(step, []) if dep == step else [dep]
    return list(dict.fromkeys(out))


def build_jobs(schedules: SchedulesConfig, systems: list[str]) -> list[JobSpec]:
    """Job specs from the validated section; `systems` are the enabled systems (default for pull)."""
    ids_by_step: dict[str, list[str]] = {}
    plan: list[tuple[str, str, str | None, Any]] = []
    for name, step in schedules.steps.items():
        if not step.enabled:
            continue
        for system in (step.systems or systems) if name == RunKind.PULL else [None]:
            if name == RunKind.PULL and step.systems and system not in systems:
                raise ConfigError(f"schedules.steps.pull.systems: {system!r} is not an enabled system",
                                  hint=f"enabled systems: {', '.join(systems) or 'none'}")
            job_id = step_lease_name(name, system)
            ids_by_step.setdefault(name, []).append(job_id)
            plan.append((job_id, name, system, step))
    specs = []
    for job_id, name, system, step in plan:
        tz = step.timezone or schedules.timezone
        trig = _trigger(step, tz)
        defaults = step.defaults or schedules.defaults
        specs.append(JobSpec(job_id, name, system, trig, tz, _expand_deps(step.depends_on, ids_by_step),
                             defaults.coalesce, defaults.max_instances,
                             misfire_grace(defaults, interval_of(trig) if trig else None)))
    return specs


# --------------------------------------------------------------------------- running a job


@dataclass
class JobContext:
    """What every job run needs: the config, the store, who we are, how to stop."""

    config: Any
    db: Engine
    owner: str
    lease_ttl: float
    stop_event: threading.Event = field(default_factory=threading.Event)
    _running: set[threading.Event] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def job_stop_event(self) -> threading.Event:
        """A stop event for one job run: set on shutdown, or when its lease is lost."""
        event = threading.Event()
        with self._lock:
            self._running.add(event)
            if self.stop_event.is_set():
                event.set()
        return event

    def forget(self, event: threading.Event) -> None:
        with self._lock:
            self._running.discard(event)

    def request_stop(self) -> None:
        """Graceful shutdown: every running step finishes its current batch and returns."""
        with self._lock:
            self.stop_event.set()
            for event in self._running:
                event.set()


@dataclass
class JobOutcome:
    job_id: str
    status: RunStatus  # ok | failed | exceptions | skipped
    run_id: int | None
    message: str | None = None
    started: datetime = field(default_factory=utcnow)


def unmet_dependency(db: Engine, spec: JobSpec, *, fresh: bool = False) -> str | None:
    """Why the job may not run yet, or None. `fresh`: each dependency must have finished after
    this job's last run started (chained jobs run once per new upstream result)."""
    mine = runs.last_run(db, spec.step, spec.system)
    for dep in spec.depends_on:
        step, _, system = dep.partition(":")
        last = runs.last_run(db, step, system or None)
        if last is None or last.status not in SUCCEEDED:
            state = "has not run" if last is None else f"last run {last.id} is {last.status}"
            return f"waiting for {dep}: {state}"
        if fresh and mine is not None and (last.finished_at is None or last.finished_at <= mine.started_at):
            return f"waiting for {dep}: no new run since {spec.id} run {mine.id}"
    return None


def _result_fields(result: Any) -> tuple[int | None, RunStatus]:
    """Run id and status of what a step returned (a StepResult, or a dict from a plug-in step)."""
    if isinstance(result, dict):
        return result.get("run_id"), RunStatus(result.get("status", RunStatus.OK))
    return getattr(result, "run_id", None), RunStatus(getattr(result, "status", RunStatus.OK))


def _call_step(ctx: JobContext, spec: JobSpec, trigger: str, stop: threading.Event) -> JobOutcome:
    fn = step_functions().get(spec.step)
    if fn is None:
        raise ConfigError(f"no step {spec.step!r} is installed", hint="known: " + ", ".join(step_functions()))
    began = utcnow()
    try:
        result = fn(ctx.config, ctx.db, systems=[spec.system] if spec.system else None,
                    trigger=trigger, stop_event=stop)
    except LeaseHeld:
        raise
    except Exception as exc:  # noqa: BLE001 - any step error is a failed run, the scheduler goes on
        message = f"{type(exc).__name__}: {exc}"
        log.error("job %s failed: %s", spec.id, message)
        dangling = runs.fail_dangling(ctx.db, spec.step, spec.system, began, message)
        if dangling:
            return JobOutcome(spec.id, RunStatus.FAILED, dangling[-1], message, began)
        run_id = runs.start_run(ctx.db, spec.step, system=spec.system, trigger=trigger)
        runs.finish_run(ctx.db, run_id, RunStatus.FAILED, message=message)
        return JobOutcome(spec.id, RunStatus.FAILED, run_id, message, began)
    run_id, status = _result_fields(result)
    return JobOutcome(spec.id, status, run_id, None, began)


def execute(ctx: JobContext, spec: JobSpec, trigger: str = Trigger.SCHEDULE, *, fresh: bool = False) -> JobOutcome:
    """Run one job once: check dependencies, take the lease, run the step, record the outcome."""
    waiting = unmet_dependency(ctx.db, spec, fresh=fresh)
    if waiting:
        if fresh:  # a chain poke that is not due yet is not a trigger: nothing to record
            return JobOutcome(spec.id, RunStatus.SKIPPED, None, waiting)
        run_id = runs.record_skipped(ctx.db, spec.step, system=spec.system, trigger=trigger, message=waiting)
        return JobOutcome(spec.id, RunStatus.SKIPPED, run_id, waiting)
    stop = ctx.job_stop_event()
    try:
        with hold(ctx.db, spec.id, ctx.owner, ctx.lease_ttl, on_lost=stop):
            return _call_step(ctx, spec, trigger, stop)
    except LeaseHeld as exc:
        message = f"lease held by {exc.holder}"
        log.info("job %s skipped: %s", spec.id, message)
        run_id = runs.record_skipped(ctx.db, spec.step, system=spec.system, trigger=trigger, message=message)
        return JobOutcome(spec.id, RunStatus.SKIPPED, run_id, message)
    finally:
        ctx.forget(stop)


