"""Benchmark: how long `segbridge --help` and `--version` take to start, and what they import.

Each command runs as a fresh process (the console script next to this Python, else
`python -m segbridge`) `--runs` times; prints the best and the median wall time, and the
import time of `segbridge.cli` from `python -X importtime` (cumulative microseconds of the
top-level import) with the five slowest modules it imports directly. The target is under 0.5 s on a
laptop: the command modules keep pandas, SQLAlchemy, core and the connectors out of their
top-level imports (tests/unit/segbridge/test_cli.py checks that behaviour, not the time).

    .venv/bin/python bench/bench_cli.py [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path


def command() -> list[str]:
    """The installed console script when there is one (what users type), else `python -m segbridge`."""
    script = Path(sys.executable).with_name("segbridge")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "segbridge"]


def wall_times(args: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command() + args, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return times


def import_profile() -> tuple[int, list[tuple[int, str]]]:
    """Cumulative µs of `import segbridge.cli` and the slowest modules it imports directly."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", "import segbridge.cli"],
                         capture_output=True, text=True, check=True)
    rows = [re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line) for line in res.stderr.splitlines()]
    rows = [(int(m.group(1)), len(m.group(2)), m.group(3)) for m in rows if m]
    total = next((us for us, _, name in rows if name == "segbridge.cli"), 0)
    top = sorted(((us, name) for us, depth, name in rows if depth == 3), reverse=True)[:5]
    return total, top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"command: {' '.join(command())}")
    for args in (["--help"], ["--version"]):
        times = wall_times(args, runs)
        print(f"segbridge {args[0]:<10} best {min(times):.3f} s  median {statistics.median(times):.3f} s  "
              f"({runs} runs)")
    total, top = import_profile()
    print(f"import segbridge.cli: {total / 1e6:.3f} s; slowest: "
          + ", ".join(f"{name} {us / 1e6:.3f} s" for us, name in top))


if __name__ == "__main__":
    main()
