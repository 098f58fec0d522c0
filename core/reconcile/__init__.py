"""Reconciliation: read back the targets, compare with the intended values, file exceptions for stewards.

Public API:
    run_reconcile(config, db, systems=None, progress=None) -> ReconcileSummary
    transition(db, id, status, reason=None, actor=None)      steward status changes (audited)
    transition_many(db, ids, status, reason=None, actor=None) the same for many, all or none
    list_exceptions(db, status=..., system=..., kind=..., severity=...)
"""

from core.reconcile.discrepancies import (
                                       Observation,
                                       can_become,
                                       fingerprint,
                                       get_exception,
                                       history,
                                       list_exceptions,
                                       transition,
                                       transition_many,
                                       upsert_observations,
)
from core.reconcile.reconciler import ReconcileSummary, run_reconcile

__all__ = ["Observation", "ReconcileSummary", "can_become", "fingerprint", "get_exception", "history",
           "list_exceptions", "run_reconcile", "transition", "transition_many", "upsert_observations"]
