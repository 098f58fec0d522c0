"""Reconciliation: read back the targets, compare with the intended values, file exceptions for stewards.

Public API:
    run_reconcile(config, db, systems=None, progress=None) -> ReconcileSummary
    transition(db, id, status, reason=None, actor=None)      steward status changes (audited)
    list_exceptions(db, status=..., system=..., kind=..., severity=...)
"""

from core.reconcile.discrepancies import (
                                       Observation,
                                       fingerprint,
                                       get_exception,
                                       history,
                                       list_exceptions,
                                       transition,
                                       upsert_observations,
)
from core.reconcile.reconciler import ReconcileSummary, run_reconcile

__all__ = ["Observation", "ReconcileSummary", "fingerprint", "get_exception", "history", "list_exceptions",
           "run_reconcile", "transition", "upsert_observations"]
