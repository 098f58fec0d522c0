"""Pull throughput: records/s from the WMS sandbox (over HTTP, in another process) through the mapping
into SQLite. Target: >= 30,000 records/s for 1,000,000 records.

    .venv/bin/python bench/bench_pull.py [--records 1000000] [--page-size 5000] [--postgres URL]

With --postgres (e.g. postgresql://postgres@127.0.0.1:5432/test) the store is a fresh schema in
that database, dropped afterwards; otherwise a temporary SQLite file.

The stream is WMS picks (`allocation`), mapped to canonical order lines by a mapping written next to
the temporary store; generation and server start-up are not timed.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

MAPPING = """version: 1
system: wms
entities:
  pick:
    source: {kind: rest_stream, name: allocation}
    target: order_line
    key: [id]
    fields:
      order_id: {from: order_nbr, transforms: [required, strip]}
      line_no: {from: order_seq_nbr, transforms: [required, str]}
      product_id: {from: item_code, transforms: [required, strip]}
      location_id: {from: facility_id__code, transforms: [strip]}
      customer_id: {from: cust_nbr, transforms: [strip]}
      order_date: {from: pick_date, transforms: [required, date]}
      quantity: {from: picked_qty, transforms: [required, float]}
    quality: {non_negative: [quantity]}
"""


def serve_sandbox(products: int, queue) -> None:
    from sandbox.server import serve
    from sandbox.wms import build_app

    app = build_app(products=products, locations=3, customers=500, weeks=104, seed=1)
    server = serve(app).start()
    queue.put((server.url, len(app.data["allocation"])))
    while True:
        time.sleep(3600)


@contextmanager
def _store(postgres: str | None, tmp: str):
    """A temporary SQLite store, or a fresh PostgreSQL schema dropped afterwards."""
    from sqlalchemy import text

    from core.store import open_store

    if not postgres:
        yield open_store(f"sqlite:///{tmp}/bench.db")
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = open_store(postgres)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield open_store(postgres, connect_args={"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--postgres", metavar="URL", help="store in a fresh schema of this PostgreSQL database")
    args = parser.parse_args()
    products = max(5, round(args.records / 290))  # ~290 picks per product over 3 DCs and 104 weeks

    from core.settings import SegbridgeConfig
    from core.store import create_all
    from core.sync import pull

    queue: mp.Queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=serve_sandbox, args=(products, queue), daemon=True)
    started = time.perf_counter()
    proc.start()
    url, count = queue.get(timeout=600)
    print(f"sandbox: {count:,} picks generated and served in {time.perf_counter() - started:.1f} s at {url}")
    os.environ["BENCH_WMS_PASSWORD"] = "wms_pass"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench_wms.yaml").write_text(MAPPING)
        config = SegbridgeConfig.model_validate({"mappings_dir": tmp, "systems": {"wms": {
            "kind": "wms", "mapping": "bench_wms.yaml",
            "options": {"base_url": url, "page_size": args.page_size, "read_timeout": 300,
                        "auth": {"type": "basic", "username": "wms_user", "password": "${BENCH_WMS_PASSWORD}"}}}}})
        with _store(args.postgres, tmp) as db:
            create_all(db)
            started = time.perf_counter()
            result = pull(config, db, progress=None)[0]
            seconds = time.perf_counter() - started
    proc.terminate()
    s = result.streams[0]
    print(f"pull: status {result.status}, read {s.read:,}, loaded {s.loaded:,}, quarantined {s.quarantined:,}, "
          f"{s.batches} batches of {args.page_size}")
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(f"time: {seconds:.1f} s  throughput: {s.read / seconds:,.0f} records/s into {store} (target 30,000)")


if __name__ == "__main__":
    main()
