"""The scheduler process: one foreground APScheduler 3.x BlockingScheduler.

Its jobs are rebuilt from segbridge.yaml at every start under stable ids (`pull:sap`,
`segment`, ...), in memory: APScheduler's job stores cannot be shared between processes, so
coordination between processes goes through the database leases instead (`core.lease`).

A trigger that does not run is still recorded, as a `skipped` run with the reason: the lease
is held elsewhere, a dependency has not succeeded, the previous run in this process is still
going (max_instances), or the trigger was missed beyond its grace time. A job without a
timetable of its own runs right after the jobs it depends on succeed.

SIGTERM / SIGINT: every running step gets its stop event set (it finishes the current batch
and persists its state), no new job starts, the leases are released, the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import Engine

from basics.errors import ConfigError
from core import runs
from core.lease import default_owner, release_all
from core.model import utcnow
from core.statuses import SUCCEEDED, RunStatus, Trigger
from scheduler import alerts
from scheduler.jobs import JobContext, JobOutcome, JobSpec, build_jobs, execute
from scheduler.schedule_settings import AlertsConfig, SchedulesConfig

log = logging.getLogger("segbridge.scheduler")


def enabled_systems(config) -> list[str]:
    return [name for name, system in config.systems.items() if system.enabled]


class SchedulerApp:
    """The jobs of one segbridge.yaml, runnable on a timetable (`start`) or one at a time (`run_now`)."""

    def __init__(self, config, db: Engine, owner: str | None = None):
        self.config = config
        self.db = db
        self.schedules: SchedulesConfig = config.section("schedules", SchedulesConfig)
        self.alerts: AlertsConfig = config.section("alerts", AlertsConfig)
        self.specs: dict[str, JobSpec] = {s.id: s for s in build_jobs(self.schedules, enabled_systems(config))}
        self.ctx = JobContext(config, db, owner or default_owner(), self.schedules.lease_ttl_seconds)
        self.scheduler: BlockingScheduler | None = None
        self._active = 0
        self._idle = threading.Condition()

    # ------------------------------------------------------------------ one job

    def spec(self, job_id: str) -> JobSpec:
        if job_id not in self.specs:
            from basics.yaml_loader import suggest

            guess = suggest(job_id, list(self.specs))
            raise ConfigError(f"no scheduled job {job_id!r}; jobs: {', '.join(self.specs) or 'none'}",
                              hint=f"did you mean {guess!r}?" if guess else "see `segbridge schedule list`")
        return self.specs[job_id]

    def run_now(self, job_id: str, trigger: str = Trigger.MANUAL) -> JobOutcome:
        """Run one job once in this thread, with its lease, run record and alerts."""
        return self._run(self.spec(job_id), trigger, fresh=False)

    def _run(self, spec: JobSpec, trigger: str, fresh: bool) -> JobOutcome:
        with self._idle:
            self._active += 1
        try:
            outcome = execute(self.ctx, spec, trigger, fresh=fresh)
            if outcome.status != RunStatus.SKIPPED or outcome.run_id is not None:
                log.info("job %s: %s (run %s)", spec.id, outcome.status, outcome.run_id)
            alerts.notify(self.alerts, self.db, outcome.run_id, outcome.started, spec.id)
            if outcome.status in SUCCEEDED:
                self._poke_dependants(spec.id)
            return outcome
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _fire(self, job_id: str, chained: bool = False) -> None:
        """APScheduler's entry point for every trigger."""
        self._run(self.specs[job_id], Trigger.SCHEDULE, fresh=chained)

    def _poke_dependants(self, job_id: str) -> None:
        """Start the chained jobs waiting on `job_id` (they check all their dependencies themselves)."""
        if self.scheduler is None or self.scheduler.state != STATE_RUNNING or self.ctx.stop_event.is_set():
            return
        for spec in self.specs.values():
            if spec.trigger is None and job_id in spec.depends_on:
                self.scheduler.add_job(self._fire, "date", run_date=datetime.now(ZoneInfo(spec.timezone)),
                                       args=[spec.id, True], id=spec.id, name=spec.id, replace_existing=True,
                                       misfire_grace_time=spec.misfire_grace_time, coalesce=spec.coalesce,
                                       max_instances=spec.max_instances)

    # ------------------------------------------------------------------ the timetable

    def build(self) -> BlockingScheduler:
        """A BlockingScheduler with one job per timed spec and explicit job defaults."""
        defaults = self.schedules.defaults
        scheduler = BlockingScheduler(
            timezone=ZoneInfo(self.schedules.timezone),
            executors={"default": ThreadPoolExecutor(max_workers=max(4, len(self.specs) + 1))},
            job_defaults={"coalesce": defaults.coalesce, "max_instances": defaults.max_instances,
                          "misfire_grace_time": defaults.misfire_grace_time or 60})
        for spec in self.specs.values():
            if spec.trigger is not None:
                scheduler.add_job(self._fire, spec.trigger, args=[spec.id], id=spec.id, name=spec.id,
                                  replace_existing=True, coalesce=spec.coalesce, max_instances=spec.max_instances,
                                  misfire_grace_time=spec.misfire_grace_time)
        scheduler.add_listener(self._on_not_run, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.scheduler = scheduler
        return scheduler

    def _on_not_run(self, event: JobSubmissionEvent | JobExecutionEvent) -> None:
        """Record triggers APScheduler dropped, so the history accounts for every one."""
        spec = self.specs.get(event.job_id)
        if spec is None:
            return
        if event.code == EVENT_JOB_MAX_INSTANCES:
            times, why = event.scheduled_run_times, "previous run still running in this process"
        else:
            times, why = [event.scheduled_run_time], "trigger missed by more than its grace time"
        for when in times:
            runs.record_skipped(self.db, spec.step, system=spec.system, trigger=Trigger.SCHEDULE,
                                message=f"{why} (due {when:%Y-%m-%d %H:%M:%S %Z})")

    def next_fire_times(self, now: datetime | None = None) -> list[tuple[JobSpec, datetime | None]]:
        """Each job with its next fire time (None for chained jobs and finished timetables)."""
        now = now or utcnow()
        return [(spec, spec.trigger.get_next_fire_time(None, now) if spec.trigger is not None else None)
                for spec in self.specs.values()]

    def start(self) -> None:
        """Run in the foreground until SIGTERM/SIGINT (or `stop()`); returns after a clean shutdown."""
        scheduler = self.scheduler or self.build()
        previous = self._install_signals()
        log.info("scheduler %s starting with jobs: %s", self.ctx.owner, ", ".join(self.specs))
        try:
            scheduler.start()
        finally:
            self._wait_idle()
            released = release_all(self.db, self.ctx.owner)
            log.info("scheduler stopped; %d lease(s) released", released)
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def stop(self, reason: str = "stop requested") -> None:
        """Graceful shutdown: stop events to running steps, no new jobs."""
        if self.ctx.stop_event.is_set():
            return
        log.warning("%s: finishing the current batch, then stopping", reason)
        self.ctx.request_stop()
        if self.scheduler is not None and self.scheduler.state == STATE_RUNNING:
            self.scheduler.shutdown(wait=False)  # wait=True here would hold the job store lock

    def _wait_idle(self, timeout: float | None = None) -> None:
        limit = timeout or self.schedules.lease_ttl_seconds
        deadline = utcnow() + timedelta(seconds=limit)
        with self._idle:
            while self._active and utcnow() < deadline:
                self._idle.wait(0.5)

    def _install_signals(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda num, _frame: self.stop(signal.Signals(num).name))
        return previous
