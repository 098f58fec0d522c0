"""Every status word segbridge stores, as `StrEnum`s: one place says what each value means.

The values are the strings the database and the JSON exports have always held, so a member
compares equal to its old string (`RunStatus.OK == "ok"`), writes as that string and reads back
as it. Code compares and writes members, never bare strings, so a typo is a NameError at import
instead of a silent never-true comparison.

The write outcome a connector reports (`OutcomeStatus`) lives in `connectors.base`, one floor
down, because connectors return it; it is re-exported here so core finds every status in one place.

Example:
    >>> RunStatus("ok") is RunStatus.OK, RunStatus.OK == "ok", f"{PlanStatus.NEEDS_APPROVAL}"
    (True, True, 'needs_approval')
"""

from __future__ import annotations

from enum import StrEnum

from connectors.base import OutcomeStatus

__all__ = ["ChangeState", "ExceptionStatus", "OutcomeStatus", "PlanStatus", "RunKind", "RunStatus", "Trigger"]


class RunStatus(StrEnum):
    """Where a `Run` row stands (`run.status`)."""

    RUNNING = "running"
    """Started and not finished yet (or its process died; `runs.fail_dangling` cleans those up)."""
    OK = "ok"
    """Finished and did everything it set out to do."""
    FAILED = "failed"
    """Finished with an error, or with rejected/failed write-back items."""
    EXCEPTIONS = "exceptions"
    """A reconcile (or a cycle ending in one) finished, but steward exceptions remain open."""
    SKIPPED = "skipped"
    """A trigger that did not run: lease held elsewhere, a dependency not met, nothing to apply."""
    STOPPED = "stopped"
    """Ended early on a stop request with its state kept; the next run resumes from there."""
    INTERRUPTED = "interrupted"
    """Its process died (killed, crashed, host lost) while it ran; found by its lease on the next start."""

    @property
    def finished(self) -> bool:
        """A final status a run may be finished with (everything but running and skipped)."""
        return self in FINISHED

    @property
    def succeeded(self) -> bool:
        """Counts as success for dependants (exceptions are data for stewards, not a failed step)."""
        return self in SUCCEEDED


FINISHED = frozenset({RunStatus.OK, RunStatus.FAILED, RunStatus.EXCEPTIONS, RunStatus.STOPPED,
                      RunStatus.INTERRUPTED})
SUCCEEDED = frozenset({RunStatus.OK, RunStatus.EXCEPTIONS})


class Trigger(StrEnum):
    """Who started a run (`run.trigger`)."""

    MANUAL = "manual"
    """A person on the command line (`segbridge pull`, `segbridge schedule run-now`, ...)."""
    SCHEDULE = "schedule"
    """The scheduler's timetable or a chained job."""
    DEMO = "demo"
    """`segbridge demo`, against the sandboxes."""


class RunKind(StrEnum):
    """The steps core records runs of (`run.kind`); a plug-in step registered with the scheduler
    may record its own name, so `run.kind` stays a plain string column."""

    PULL = "pull"
    """Read one system into the store."""
    SEGMENT = "segment"
    """Segment and compute parameters from the store."""
    PLAN = "plan"
    """Compute a write-back plan."""
    APPLY = "apply"
    """Send a plan's changes through the outbox."""
    RECONCILE = "reconcile"
    """Read back, compare and file steward exceptions."""
    CYCLE = "cycle"
    """The whole pull -> segment -> plan -> apply -> reconcile cycle (its steps are runs of their own)."""


class PlanStatus(StrEnum):
    """Where a write-back plan stands (`plan.status`)."""

    DRAFT = "draft"
    """The column default; a saved plan always gets one of the statuses below."""
    READY = "ready"
    """Passed the guardrails; may be applied."""
    NEEDS_APPROVAL = "needs_approval"
    """A guardrail tripped; a person must `segbridge approve` it first."""
    APPROVED = "approved"
    """Approved by a person (who and why are on the plan and in the audit log); may be applied."""
    BLOCKED = "blocked"
    """Derived from a suspect run; cannot be applied or approved until the run is released."""
    APPLYING = "applying"
    """An apply started and some changes are still pending or sent; rerunning apply finishes it."""
    PARTIAL = "partial"
    """Every change is final, but some were rejected or failed."""
    APPLIED = "applied"
    """Every change was applied."""


APPLICABLE = frozenset({PlanStatus.READY, PlanStatus.APPROVED, PlanStatus.APPLYING, PlanStatus.PARTIAL})


class ChangeState(StrEnum):
    """Where one planned change stands in the outbox (`planned_change.state`)."""

    PENDING = "pending"
    """Waiting to be sent (again, after a retriable error or an unverified interrupted send)."""
    SENT = "sent"
    """Marked before the request went out; no answer recorded yet (verified by read-back on restart)."""
    APPLIED = "applied"
    """The target system accepted it, or read-back shows it holds the intended value."""
    REJECTED = "rejected"
    """The target system refused it (its message is kept); never resent."""
    FAILED = "failed"
    """Gave up after `writeback.max_attempts` retriable errors or unverified sends."""
    CONFLICT = "conflict"
    """Not written: the system's value changed since the plan read it (a person's edit wins); filed
    as a steward exception with both values. Never resent; a new plan diffs against the new value."""


class ExceptionStatus(StrEnum):
    """Where a steward exception stands (`recon_exception.status`)."""

    OPEN = "open"
    """Observed and nobody has looked at it yet (or it recurred after being resolved)."""
    ACKNOWLEDGED = "acknowledged"
    """A steward has seen it and is on it."""
    RESOLVED = "resolved"
    """Fixed (by a steward with a reason, or auto-resolved when a run no longer observes it)."""
    WAIVED = "waived"
    """Accepted as it is by a steward (with a reason); recurrences only count."""


REMAINING = frozenset({ExceptionStatus.OPEN, ExceptionStatus.ACKNOWLEDGED})
