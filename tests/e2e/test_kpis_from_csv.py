"""Issue 20 through the store: a hand-computed fixture pulled from the canonical CSV layout, segmented,
then `segbridge kpis --compute --json` gives the hand-computed fill rate, OTIF and days of supply.

The week of Monday 2026-01-05, every line requested on Thursday 2026-01-08, products P1 (cost 2) and
P2 (cost 5) at DC1:

| line  | ordered | shipped (arrived)                               | complete | OTIF |
|-------|---------|-------------------------------------------------|----------|------|
| O1/10 | P1 10   | lines D1/1 4 (01-07) + D2/1 6 (01-09): late      | yes      | no   |
| O2/10 | P1 8    | line D3/1 5 (01-07): partial                     | no       | no   |
| O2/20 | P2 4    | line D3/2 4 (01-07)                              | yes      | yes  |
| O3/10 | P2 6    | no shipment                                      | no       | no   |
| O4/10 | P1 2    | order-level shipment S4 only (01-08)             | yes      | yes  |

fill rate by units 21 / 30 = 0.7; by lines 3 / 5 = 0.6; OTIF 2 / 5 = 0.4. Without the shipment
lines O1 and O2 would ship in full on their order-level dates (fill rate 24 / 30).
On hand: P1|DC1 30 on Friday 01-09 (value 60); P2|DC1 has no on-hand at all. COGS of the week where
a stock count stands beside it: P1's 10 + 5 + 2 shipped units x 2 = 34, so days of supply
60 / (34 / 7) = 210 / 17 and turns 34 x 365 / 7 / 60. P2's 4 shipped units (cost 20) have no on-hand
beside them and stay out; with them it would be 60 / (54 / 7).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segbridge.cli import build_app

pytestmark = pytest.mark.e2e
W1 = "2026-01-05"

FILES = {
    "products.csv": "id,name,unit_cost,unit_price\nP1,Bolt,2,4\nP2,Nut,5,9\n",
    "product_locations.csv": "product_id,location_id,unit_cost\nP1,DC1,2\nP2,DC1,5\n",
    "locations.csv": "id,name,kind\nDC1,Central,dc\n",
    "customers.csv": "id,name\nC1,Acme\n",
    "order_lines.csv": "order_id,line_no,customer_id,product_id,location_id,order_date,requested_date,quantity\n"
                       "O1,10,C1,P1,DC1,2026-01-05,2026-01-08,10\n"
                       "O2,10,C1,P1,DC1,2026-01-05,2026-01-08,8\n"
                       "O2,20,C1,P2,DC1,2026-01-05,2026-01-08,4\n"
                       "O3,10,C1,P2,DC1,2026-01-05,2026-01-08,6\n"
                       "O4,10,C1,P1,DC1,2026-01-05,2026-01-08,2\n",
    # Order-level shipments of O1 and O2 exist too: their shipment lines rule.
    "shipments.csv": "shipment_id,customer_id,order_id,location_id,ship_date,delivery_date\n"
                     "S1,C1,O1,DC1,2026-01-06,2026-01-07\nS2,C1,O2,DC1,2026-01-06,2026-01-07\n"
                     "S4,C1,O4,DC1,2026-01-07,2026-01-08\n",
    "shipment_lines.csv": "shipment_id,line_no,order_id,order_line_no,product_id,location_id,quantity,ship_date,"
                          "delivery_date\n"
                          "D1,1,O1,10,P1,DC1,4,2026-01-06,2026-01-07\n"
                          "D2,1,O1,10,P1,DC1,6,2026-01-08,2026-01-09\n"
                          "D3,1,O2,10,P1,DC1,5,2026-01-06,2026-01-07\n"
                          "D3,2,O2,20,P2,DC1,4,2026-01-06,2026-01-07\n",
    "inventory_snapshots.csv": "product_id,location_id,snapshot_date,on_hand\nP1,DC1,2026-01-09,30\n",
}


def cli(*args) -> str:
    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


@pytest.fixture
def site(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name, text in FILES.items():
        (data / name).write_text(text, encoding="utf-8")
    cfg = tmp_path / "segbridge.yaml"
    cfg.write_text(f'database: {{url: "sqlite:///{tmp_path}/store.db"}}\n'
                   f"systems:\n  files:\n    kind: csv_folder\n    mapping: canonical_csv.yaml\n"
                   f"    options: {{path: {data}}}\n", encoding="utf-8")
    cli("-c", cfg, "pull", "--no-progress")
    cli("-c", cfg, "segment")
    return cfg


def _value(rows: list[dict], kpi: str, period: str = "all") -> dict:
    [row] = [r for r in rows if (r["kpi"], r["segment"], r["period"], r["scope"]) == (kpi, "all", period, "")]
    return row


def test_kpis_from_the_store_match_the_hand_computed_fixture(site):
    rows = json.loads(cli("-c", site, "kpis", "--compute", "--json"))
    for period in (W1, "all"):
        assert _value(rows, "fill_rate_units", period)["value"] == pytest.approx(21 / 30)
        assert _value(rows, "fill_rate_lines", period)["value"] == pytest.approx(3 / 5)
        assert _value(rows, "otif", period)["value"] == pytest.approx(2 / 5)
        assert _value(rows, "days_of_supply", period)["value"] == pytest.approx(210 / 17)
        assert _value(rows, "inventory_turns", period)["value"] == pytest.approx(34 * 365 / 7 / 60)
    assert _value(rows, "inventory_value_avg", W1)["value"] == pytest.approx(60.0)
    assert _value(rows, "stockout_rate", W1)["value"] == 0.0
    assert not [r for r in rows if r["kpi"] == "days_of_supply" and (r["note"] or "").startswith("unavailable")]
