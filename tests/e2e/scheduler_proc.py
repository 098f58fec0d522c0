"""A scheduler process for the e2e tests: the test steps, then the real `segbridge ...` CLI."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sched_steps import register_all  # noqa: E402

from segbridge.cli import main  # noqa: E402

if __name__ == "__main__":
    register_all()
    main(sys.argv[1:])
