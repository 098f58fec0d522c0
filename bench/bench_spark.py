"""Benchmark of the Spark backend beside the pandas engine, and of Spark alone at growing sizes.

Order lines are generated as in bench/bench_engine.py (log-normal rates per series, 10 locations,
104 weeks) and written as Parquet in the canonical layout, so Spark reads them as on a lake. For each
size it prints seconds, the driver's peak memory (this process's and the JVM's RSS), the shuffle bytes
written (Spark's status store), and checks that both backends give the same classes where both ran.

    python bench/bench_spark.py --sizes 100000                  # quick
    python bench/bench_spark.py --sizes 1000000 --pandas        # both side by side at 1M
    python bench/bench_spark.py --sizes 250000 500000 1000000   # Spark growth, then the 50M projection
    python bench/bench_spark.py --sizes 100000 --profile        # seconds and Spark jobs per stage
    python bench/bench_spark.py --project-from a.txt b.txt      # growth over runs made separately
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_engine import generate  # noqa: E402
from core.planning.engine import EngineOptions, run_engine  # noqa: E402
from core.planning.policy import load_policy  # noqa: E402


def rss_tree_gb() -> float:
    """RSS of this process and its children (the JVM and Python workers), in GB."""
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 1e9


class Peak:
    """Samples the process tree's RSS every 0.5 s in a thread (the driver's peak)."""

    def __init__(self):
        import threading

        self.peak, self._stop = 0.0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_tree_gb())
            self._stop.wait(0.5)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak


def _status(spark, what: str) -> list[dict]:
    """A list from the REST status API of the driver's UI (stages, jobs)."""
    url = spark.sparkContext.uiWebUrl
    if not url:
        return []
    app = spark.sparkContext.applicationId
    with urllib.request.urlopen(f"{url}/api/v1/applications/{app}/{what}", timeout=30) as r:
        return json.load(r)


def shuffle_bytes(spark) -> int:
    """Shuffle bytes written by all stages so far."""
    return sum(s.get("shuffleWriteBytes", 0) for s in _status(spark, "stages"))


def _ts(text: str) -> float:
    return pd.Timestamp(text.replace("GMT", "")).timestamp()


def stage_seconds(spark, after_job: int) -> dict[str, list]:
    """Per stage label of run_spark (the job description): [wall seconds covered by its jobs (jobs that
    run at the same time counted once), number of jobs]."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for j in _status(spark, "jobs"):
        if j["jobId"] <= after_job or "completionTime" not in j:
            continue
        label = (j.get("description") or j.get("name", "?")).removeprefix("segbridge ")
        spans.setdefault(label, []).append((_ts(j["submissionTime"]), _ts(j["completionTime"])))
    out = {}
    for label, ss in spans.items():
        total, end = 0.0, float("-inf")
        for a, b in sorted(ss):
            total += max(b - max(a, end), 0.0)
            end = max(end, b)
        out[label] = [round(total, 1), len(ss)]
    return out


def last_job(spark) -> int:
    return max((j["jobId"] for j in _status(spark, "jobs")), default=-1)


def frames_for(n: int) -> dict[str, pd.DataFrame]:
    lines, pls = generate(n, 104, 20.0)[:2]
    lines = lines.assign(product_id=lines["product_id"].astype(str), location_id=lines["location_id"].astype(str))
    return {"order_lines": lines, "product_locations": pls}


SLICE = 1_000_000  # series generated and written at a time when the pandas engine does not run


def write_in_slices(n: int, folder: Path) -> int:
    """Spark-only sizes: the lines of `SLICE` series at a time straight to Parquet (all 5M series' lines
    as Python strings at once exceed this machine's 24 GB); product ids carry the slice's prefix."""
    count = 0
    for i, start in enumerate(range(0, n, SLICE)):
        lines, pls = generate(min(SLICE, n - start), 104, 20.0, seed=i)[:2]
        prefix = f"S{i}-"
        lines["product_id"] = lines["product_id"].cat.rename_categories(lambda c, p=prefix: p + c)
        pls["product_id"] = prefix + pls["product_id"]
        for name, f in (("order_lines", lines), ("product_locations", pls)):
            f = f.assign(**{c: f[c].astype(str) for c in ("product_id", "location_id")})
            f.to_parquet(_part(folder / name, i), index=False)
        count += len(lines)
        del lines, pls
    return count


def _part(path: Path, i: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path / f"part-{i:05d}.parquet"


def run_size(spark, n: int, with_pandas: bool, folder: Path) -> dict:
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_store import read_parquet

    if not with_pandas and n > SLICE:
        return _spark_only(spark, n, folder, write_in_slices(n, folder))
    frames = frames_for(n)
    out = {"product_locations": n, "order_lines": len(frames["order_lines"]),
           "buckets": int(spark.conf.get("spark.sql.shuffle.partitions"))}
    opts = EngineOptions(simulate=False)
    policy = bench_policy()
    if with_pandas:
        peak = Peak()
        t = time.perf_counter()
        ref = run_engine(frames, policy, opts)
        out |= {"pandas_s": round(time.perf_counter() - t, 1), "pandas_peak_gb": round(peak.stop(), 2)}
    for name, f in frames.items():
        _write(f, folder / name)
    del frames
    before, job0, load0 = shuffle_bytes(spark), last_job(spark), os.getloadavg()[0]
    peak = Peak()
    t = time.perf_counter()
    run = run_spark(spark, read_parquet(spark, folder), policy, opts, profile=PROFILE)
    spark.sparkContext.setJobDescription("segbridge collect segments")
    seg = run.segments.toPandas()
    out |= {"spark_s": round(time.perf_counter() - t, 1), "spark_driver_peak_gb": round(peak.stop(), 2),
            "shuffle_gb": round((shuffle_bytes(spark) - before) / 1e9, 3),
            "load_1min": [round(load0, 1), round(os.getloadavg()[0], 1)]}
    if PROFILE:
        out["stages_s_jobs"] = stage_seconds(spark, job0)
    if with_pandas:
        a = ref.segments.set_index(["entity", "entity_key", "dimension"])["value"]
        b = seg.set_index(["entity", "entity_key", "dimension"])["value"].reindex(a.index)
        out["same_classes"] = bool((a.astype(str) == b.astype(str)).all())
    return out


def _spark_only(spark, n: int, folder: Path, lines: int) -> dict:
    """A size past one process's memory: Spark reads the slices' Parquet and writes its segments as
    Parquet (a lake run), nothing collected to the driver."""
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_store import read_parquet

    before, load0 = shuffle_bytes(spark), os.getloadavg()[0]
    peak = Peak()
    t = time.perf_counter()
    run = run_spark(spark, read_parquet(spark, folder), bench_policy(), EngineOptions(simulate=False))
    run.segments.write.mode("overwrite").parquet(str(folder / "out_segments"))
    return {"product_locations": n, "order_lines": lines, "buckets": int(spark.conf.get("spark.sql.shuffle.partitions")),
            "spark_s": round(time.perf_counter() - t, 1), "spark_driver_peak_gb": round(peak.stop(), 2),
            "shuffle_gb": round((shuffle_bytes(spark) - before) / 1e9, 3),
            "load_1min": [round(load0, 1), round(os.getloadavg()[0], 1)], "segments": "written as Parquet"}


def bench_policy():
    """The shipped policy over 104 weeks with closed-form safety stock (ss_method normal), the hot path
    bench/bench_engine.py times; `--calibrate` keeps the shipped `auto` (daily calibration, far slower
    on both backends: 140 s for 20k series in pandas on the shared 2-core machine)."""
    policy = load_policy()
    policy.classification.window = 104
    if not CALIBRATE:
        policy.default.ss_method = "normal"
        for rule in policy.rules:
            rule.ss_method = "normal" if rule.ss_method == "auto" else rule.ss_method
    return policy


CALIBRATE = False
PROFILE = False


def _write(frame: pd.DataFrame, path: Path) -> None:
    """A Parquet dataset of ~1M-row files (as a lake export would hold it)."""
    path.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(frame), 1_000_000)):
        frame.iloc[start:start + 1_000_000].to_parquet(path / f"part-{i:05d}.parquet", index=False)


def project(results: list[dict], target: int = 50_000_000, hours: float = 1.0, cores_here: int = 2) -> str:
    """Time growth (log-log slope of seconds against size) and the cores for `target` series in `hours`.
    Assumptions: the work per series is what this machine measured at the largest size (its cores'
    throughput, so a pessimistic figure while other work shares them), time grows with size as fitted
    (extrapolated from the measured range), and a cluster core does what a core here does at 70 %
    efficiency (shuffles over a network, stragglers)."""
    sizes = np.array([r["product_locations"] for r in results], float)
    secs = np.array([r["spark_s"] for r in results], float)
    if len(sizes) < 2:
        return "one size only: no growth measured"
    slope, icpt = np.polyfit(np.log(sizes), np.log(secs), 1)
    per_core_s = secs[-1] * cores_here / sizes[-1]
    linear = per_core_s * target / 3600  # core-hours if time grows linearly from the largest run
    fitted = float(np.exp(icpt) * target ** slope) * cores_here / 3600
    cores = max(linear, fitted) / hours / 0.7
    return (f"time grows as size^{slope:.2f} over {sizes.min():,.0f}-{sizes.max():,.0f} series; at "
            f"{sizes[-1]:,.0f} series {per_core_s * 1e3:,.2f} core-seconds per 1,000 series -> {target / 1e6:.0f}M "
            f"needs ~{linear:,.1f} core-hours (linear) or ~{fitted:,.1f} (fitted slope): about {cores:,.0f} cores "
            f"for {hours:g} h at 70 % efficiency (e.g. {max(int(np.ceil(cores / 8)), 1)} executors x 8 cores, "
            f"4 GB per core)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--pandas", action="store_true", help="also run the pandas engine at each size")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=None,
                    help="product buckets and shuffle partitions (default: one per 50,000 series, at least 16)")
    ap.add_argument("--driver-memory", default="6g", help="JVM heap of the local driver (it runs the tasks)")
    ap.add_argument("--calibrate", action="store_true", help="keep ss_method auto (daily calibration)")
    ap.add_argument("--profile", action="store_true", help="compute each stage before the next and print "
                    "seconds and jobs per stage (slower end to end)")
    ap.add_argument("--project-from", nargs="+", metavar="FILE",
                    help="print growth and projection from the JSON lines of earlier runs (no run)")
    args = ap.parse_args()
    if args.project_from:
        rows = [json.loads(ln) for f in args.project_from for ln in Path(f).read_text().splitlines()
                if ln.startswith("{")]
        print(project(sorted(rows, key=lambda r: r["product_locations"])))
        return
    global CALIBRATE, PROFILE
    CALIBRATE, PROFILE = args.calibrate, args.profile
    from core.spark_engine.spark_settings import EngineConfig, session

    spark = session(EngineConfig(kind="spark", master=args.master, conf={
        "spark.sql.shuffle.partitions": 16, "spark.driver.memory": args.driver_memory,
        "spark.ui.enabled": True}))
    spark.sparkContext.setLogLevel("ERROR")
    results = []
    for n in args.sizes:
        parts = args.partitions or max(16, n // 50_000)
        spark.conf.set("spark.sql.shuffle.partitions", str(parts))
        with tempfile.TemporaryDirectory(prefix="bench_spark_") as tmp:
            r = run_size(spark, n, args.pandas, Path(tmp))
        results.append(r)
        print(json.dumps(r), flush=True)
    print(project(results))
    spark.stop()
    os._exit(0)


if __name__ == "__main__":
    main()
