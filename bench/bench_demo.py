"""The demo's time: wall and CPU seconds per phase of `segbridge demo`, run in a temporary folder.

    .venv/bin/python bench/bench_demo.py [--products 300] [--seed 7] [--repeat 1]

A benchmark that prints figures, not a timed test. Phases: setup (generate the world, start the
sandboxes, write the config), first pull, then the cycle's pull, segment, plan, apply, reconcile
(with the reconcile after the hand edit in SAP) and reports (reconcile and engine reports). CPU
is the process's (time.process_time): segbridge and the sandboxes, which serve from the same
process on 127.0.0.1, share it. On a shared machine the wall time depends on the load (shown),
the CPU time much less. Start-up (imports before the demo begins) is shown on its own line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

STARTED_WALL, STARTED_CPU = time.perf_counter(), time.process_time()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segbridge.commands.demo_cmd import DEFAULT_PRODUCTS, PHASES, run_demo  # noqa: E402


def one_run(products: int, seed: int) -> dict[str, tuple[float, float]]:
    """Phase -> (wall, cpu) seconds of one demo in a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        outcome = run_demo(Path(tmp) / "segbridge-demo", seed=seed, products=products)
    if outcome.failure:
        raise SystemExit(f"the demo did not complete: {outcome.failure}")
    return outcome.clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("NO_COLOR", "1")
    print(f"start-up (imports): {time.perf_counter() - STARTED_WALL:.1f} s wall, "
          f"{time.process_time() - STARTED_CPU:.1f} s CPU; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} before the run")
    for n in range(1, args.repeat + 1):
        seconds = one_run(args.products, args.seed)
        print(f"\nrun {n}: {args.products} products; load average {os.getloadavg()[0]:.1f} after")
        print(f"{'phase':<12}{'wall s':>8}{'CPU s':>8}")
        for phase in PHASES:
            wall, cpu = seconds.get(phase, (0.0, 0.0))
            print(f"{phase:<12}{wall:>8.1f}{cpu:>8.1f}")
        print(f"{'total':<12}{sum(w for w, _ in seconds.values()):>8.1f}{sum(c for _, c in seconds.values()):>8.1f}")


if __name__ == "__main__":
    main()
