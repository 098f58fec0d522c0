"""10,000 CRM account updates: how many HTTP requests and how long, counted from the sandbox's log.

Salesforce through sObject Collections (200 records a request, allOrNone false) must stay within
52 requests (1 token + 50 PATCH); Bulk API 2.0 is shown for comparison. Run:
    .venv/bin/python bench/bench_crm_write.py [N]
"""

from __future__ import annotations

import os
import sys
import time

from connectors.base import WriteBatch, WriteItem
from connectors.salesforce.rest_api import SalesforceConnector
from sandbox.salesforce_standin import build_app, seed_accounts
from sandbox.server import serve

BUDGET = 52


def run(n: int, bulk_above: int | None) -> tuple[int, float, int]:
    app = build_app(accounts=seed_accounts(count=n))
    os.environ.setdefault("BENCH_SF_SECRET", "s3cret")
    with serve(app) as server:
        conn = SalesforceConnector({
            "auth": {"flow": "client_credentials", "token_url": server.url + "/services/oauth2/token",
                     "client_id": "segbridge", "client_secret": "${BENCH_SF_SECRET}"},
            "objects": {"Account": {"fields": ["Id", "Segment__c", "Service_Level__c", "SystemModstamp"]}},
            "bulk_above": bulk_above, "bulk_poll_seconds": 0.05})
        items = [WriteItem(str(i), "Account", {"Id": f"001{i:015d}"},
                           {"Segment__c": "ABCD"[i % 4], "Service_Level__c": "Gold"}) for i in range(1, n + 1)]
        start = time.perf_counter()
        outcomes = conn.write(WriteBatch(items))
        elapsed = time.perf_counter() - start
        conn.close()
    applied = sum(o.status == "applied" for o in outcomes)
    return len(app.log), elapsed, applied


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    requests_, secs, applied = run(n, bulk_above=None)
    print(f"salesforce composite/sobjects: {n} account updates, {applied} applied, "
          f"{requests_} HTTP requests (budget {BUDGET}), {secs:.2f} s")
    bulk_requests, bulk_secs, bulk_applied = run(n, bulk_above=1)
    print(f"salesforce Bulk API 2.0:       {n} account updates, {bulk_applied} applied, "
          f"{bulk_requests} HTTP requests, {bulk_secs:.2f} s")
    return 0 if requests_ <= BUDGET and applied == n and bulk_applied == n else 1


if __name__ == "__main__":
    sys.exit(main())
