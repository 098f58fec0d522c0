"""`run_reconcile`: read back, compare, check across systems and completeness, file exceptions.

One reconcile is one `Run` row (kind `reconcile`) whose `counts` hold the totals
(`open_<kind>` per kind) the HTML report charts over time. A system whose read-back fails is reported as a `completeness`
exception on field `read_back` (the steward sees the system was not reconciled), and its
earlier value exceptions are left as they are rather than auto-resolved.

"Remaining" exceptions are those open or acknowledged in the reconciled systems, whatever
their kind (crosswalk conflicts included): `segbridge reconcile` exits 3 while any remain.

Progress goes to an optional `basics.progress` callback under the label "reconcile: read back",
counting intended values as their system is read back; core never draws on a terminal.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from basics.errors import EXIT_EXCEPTIONS, EXIT_OK, SegbridgeError
from basics.progress import ProgressCallback, ProgressCounter
from core.model import ReconException
from core.reconcile.compare import RESULT_COLUMNS, ConnectorFactory, compare_group, read_back_group
from core.reconcile.completeness import completeness_observations
from core.reconcile.cross_system import cross_system_observations
from core.reconcile.discrepancies import Observation, UpsertResult, upsert_observations
from core.reconcile.reconcile_settings import SEVERITY_ORDER, ReconcileConfig, reconcile_config
from core.runs import recorded_run
from core.settings import SegbridgeConfig
from core.statuses import REMAINING, RunKind, RunStatus, Trigger

log = logging.getLogger("segbridge.reconcile")
_T = ReconException.__table__
COMPARE_KINDS = ["value_mismatch", "orphan", "cross_system"]


@dataclass
class ReconcileSummary:
    run_id: int
    systems: list[str]
    compared: int = 0
    matched: int = 0
    observed: int = 0
    new: int = 0
    recurring: int = 0
    reopened: int = 0
    auto_resolved: int = 0
    remaining: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_system: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_EXCEPTIONS if self.remaining else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_connector_factory(config: SegbridgeConfig) -> ConnectorFactory:
    """Open a system's connector from segbridge.yaml, the same way a pull does."""
    from core.connector_factory import connector_for

    return lambda system: connector_for(config, system)


def load_intended(config: SegbridgeConfig, db: Engine, systems: list[str] | None,
                  summary: ReconcileSummary | None = None) -> pd.DataFrame:
    """What every target should hold now, from write-back's reverse maps (empty when there is no segment run)."""
    from core.writeback.intended import intended_result, writable_systems

    writable = writable_systems(config, None)
    wanted = [s for s in (systems or writable) if s in writable]
    try:
        result = intended_result(config, db, wanted) if wanted else None
    except SegbridgeError as exc:
        if summary is not None:
            summary.skipped.append(f"value comparison: {exc.message}")
        result = None
    if result is None:
        return pd.DataFrame(columns=["system", "entity", "target_key", "field", "intended_value"])
    if summary is not None:
        summary.skipped.extend(result.skipped)
    frame = result.frame
    if "target_key" in frame and len(frame):
        frame["target_key"] = [k if isinstance(k, str) else json.dumps(k, sort_keys=True) for k in frame["target_key"]]
    return frame


def _compare_systems(intended: pd.DataFrame, connector_for: ConnectorFactory, rc: ReconcileConfig,
                     summary: ReconcileSummary, counter: ProgressCounter) -> pd.DataFrame:
    frames = [pd.DataFrame(columns=RESULT_COLUMNS)]
    for system, by_system in intended.groupby("system", sort=True):
        try:
            conn = connector_for(str(system))
            try:
                for entity, group in by_system.groupby("entity", sort=True):
                    held = read_back_group(conn, str(entity), sorted(group["target_key"].unique()))
                    frames.append(compare_group(group, held, rc.tolerances))
                    counter.advance(len(group))
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - one unreachable system must not stop the others
            summary.unreadable[str(system)] = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("cannot read back %s: %s", system, exc)
            counter.advance(len(by_system))
    return pd.concat([f for f in frames if len(f)] or frames, ignore_index=True)


def value_observations(rc: ReconcileConfig, results: pd.DataFrame) -> list[Observation]:
    """A value_mismatch per differing field; an orphan per target record the system no longer has."""
    out = []
    for row in results[results["status"] != "match"].itertuples(index=False):
        missing = row.status == "missing"
        kind, fld = ("orphan", "*") if missing else ("value_mismatch", row.field)
        out.append(Observation(kind, row.system, row.entity, row.target_key, fld,
                               expected=None if missing else row.expected, actual=row.actual,
                               severity=rc.severity_for(kind, row.system, row.entity, fld),
                               owner=rc.owner(row.system, row.entity),
                               reason=(row.note or "target record not found on read-back") if missing else None))
    # an orphan is filed once per record, not once per field
    return list({o.fingerprint: o for o in out}.values())


def _unreadable_observations(rc: ReconcileConfig, unreadable: dict[str, str]) -> list[Observation]:
    return [Observation("completeness", s, "*", "read_back", "read_back", expected="readable", actual=msg[:400],
                        severity=rc.severity_for("completeness", s, "*", "read_back"), owner=rc.owner(s, "*"),
                        reason="the system could not be read back; its values were not reconciled")
            for s, msg in unreadable.items()]


def _merge(summary: ReconcileSummary, res: UpsertResult) -> None:
    summary.new += len(res.new)
    summary.recurring += len(res.recurring)
    summary.reopened += len(res.reopened)
    summary.auto_resolved += len(res.auto_resolved)


def remaining_counts(db: Engine, systems: list[str] | None) -> tuple[int, dict[str, int], dict[str, int]]:
    """Open + acknowledged exceptions (total, by kind, by system) in the given systems."""
    stmt = (select(_T.c.kind, _T.c.system, func.count()).where(_T.c.status.in_(sorted(REMAINING)))
            .group_by(_T.c.kind, _T.c.system))
    if systems is not None:
        stmt = stmt.where(_T.c.system.in_(systems))
    by_kind: Counter = Counter()
    by_system: Counter = Counter()
    with db.connect() as conn:
        for kind, system, n in conn.execute(stmt):
            by_kind[kind] += n
            by_system[system or "-"] += n
    return sum(by_kind.values()), dict(by_kind), dict(by_system)


def alerts_for(rc: ReconcileConfig, summary: ReconcileSummary, new_severities: list[str]) -> list[str]:
    """Messages for the configured alert thresholds (the scheduler's alerting sends them)."""
    out = []
    if rc.alerts.max_open is not None and summary.remaining > rc.alerts.max_open:
        out.append(f"{summary.remaining} exceptions remain open (threshold {rc.alerts.max_open})")
    if rc.alerts.max_new is not None and summary.new > rc.alerts.max_new:
        out.append(f"{summary.new} new exceptions in run {summary.run_id} (threshold {rc.alerts.max_new})")
    floor = SEVERITY_ORDER.index(rc.alerts.min_severity)
    severe = [s for s in new_severities if SEVERITY_ORDER.index(s) >= floor]
    if severe:
        out.append(f"{len(severe)} new exception(s) of severity {rc.alerts.min_severity} or higher")
    return out


def run_counts(summary: ReconcileSummary) -> dict[str, int]:
    """Flat integer counts for the Run row (`open_<kind>` feed the report's chart over time)."""
    counts = {"exceptions": summary.remaining, "compared": summary.compared, "matched": summary.matched,
              "observed": summary.observed, "new": summary.new, "recurring": summary.recurring,
              "reopened": summary.reopened, "auto_resolved": summary.auto_resolved,
              "unreadable": len(summary.unreadable)}
    counts.update({f"open_{kind}": n for kind, n in summary.by_kind.items()})
    return counts


def _scope(config: SegbridgeConfig, systems: list[str] | None) -> list[str]:
    for name in systems or []:
        config.system(name)  # unknown names fail with a suggestion
    return list(systems) if systems else [n for n, s in config.systems.items() if s.enabled]


def run_reconcile(config: SegbridgeConfig, db: Engine, systems: list[str] | None = None,
                  progress: ProgressCallback | None = None, connector_for: ConnectorFactory | None = None,
                  trigger: str = Trigger.MANUAL, intended: pd.DataFrame | None = None) -> ReconcileSummary:
    """Reconcile the given systems (default: every enabled one) and file the differences as exceptions.

    `intended` defaults to write-back's intended values; `connector_for` to the configured connectors;
    `progress` hears "reconcile: read back" (None: silent).
    """
    rc = reconcile_config(config)
    scope = _scope(config, systems)
    with recorded_run(db, RunKind.RECONCILE, system=",".join(systems)[:64] if systems else None,
                      trigger=trigger) as outcome:
        summary = ReconcileSummary(run_id=outcome["run_id"], systems=scope)
        if intended is None:
            intended = load_intended(config, db, scope, summary)
        _reconcile(config, db, rc, summary, intended, connector_for or default_connector_factory(config),
                   progress)
        outcome.update(status=RunStatus.EXCEPTIONS if summary.remaining else RunStatus.OK,
                       counts=run_counts(summary),
                       message="; ".join(summary.skipped + summary.alerts)[:2000] or None)
    for alert in summary.alerts:
        log.warning("alert: %s", alert)
    return summary


def _reconcile(config, db, rc, summary: ReconcileSummary, intended: pd.DataFrame, connector_for,
               progress: ProgressCallback | None) -> None:
    if intended.empty and not summary.skipped:
        summary.skipped.append("value comparison: no intended values for these systems")
    if not intended.empty:
        intended = intended[intended["system"].isin(summary.systems)]
    counter = ProgressCounter(progress, "reconcile: read back", total=len(intended))
    results = _compare_systems(intended, connector_for, rc, summary, counter)
    counter.finish()
    summary.compared = len(results)
    summary.matched = int((results["status"] == "match").sum()) if len(results) else 0
    readable = [s for s in summary.systems if s not in summary.unreadable]
    compare_obs = value_observations(rc, results) + cross_system_observations(rc, results)
    completeness_obs = (completeness_observations(rc, db, config.quality.max_quarantine_share, summary.systems,
                                                   config.quality.per_entity)
                        + _unreadable_observations(rc, summary.unreadable))
    kinds = COMPARE_KINDS if not intended.empty else []
    first = upsert_observations(db, compare_obs, summary.run_id, readable, kinds, rc.auto_resolve)
    second = upsert_observations(db, completeness_obs, summary.run_id, summary.systems,
                                 ["completeness"], rc.auto_resolve)
    _merge(summary, first)
    _merge(summary, second)
    summary.observed = len(compare_obs) + len(completeness_obs)
    summary.remaining, summary.by_kind, summary.by_system = remaining_counts(db, summary.systems)
    summary.alerts = alerts_for(rc, summary, _severities(db, first.new + second.new))


def _severities(db: Engine, ids: list[int]) -> list[str]:
    if not ids:
        return []
    with db.connect() as conn:
        return [r[0] for r in conn.execute(select(_T.c.severity).where(_T.c.id.in_(ids)))]
