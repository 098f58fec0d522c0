"""`segbridge reconcile` that SIGKILLs itself right after its N-th filing of exceptions (SB_KILL_AT=N).

The kill points of the e2e test: after the value comparison's exceptions are committed (1), after
the completeness ones (2, i.e. just before the run is finished). Nothing else is changed.
"""

from __future__ import annotations

import os
import signal
import sys

from core.reconcile import reconciler
from segbridge.cli import main

KILL_AT = int(os.environ.get("SB_KILL_AT", "0"))
_calls = [0]
_upsert = reconciler.upsert_observations


def _upsert_then_die(*args, **kwargs):
    result = _upsert(*args, **kwargs)
    _calls[0] += 1
    if _calls[0] == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


if __name__ == "__main__":
    reconciler.upsert_observations = _upsert_then_die
    main(sys.argv[1:])
