"""Seed rows for the fake RFC backend, in ECC's internal format (ALPHA-padded keys, YYYYMMDD dates).

From a `sandbox.generator.Dataset` when given, else a small fixed world with numeric material
and customer numbers, so ALPHA padding is exercised.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = 0
    return format(Decimal(str(value)).quantize(Decimal("0.001")), "f")


def _alpha(value: Any, length: int) -> str:
    text = str(value)
    return text.zfill(length) if text.isdigit() else text.upper()


def _date(value: Any) -> str:
    return value.strftime("%Y%m%d") if value is not None and hasattr(value, "strftime") else "00000000"


def _marc(matnr: str, plant: str, abc: str, mrp: str, lot: str, ss: Any, rop: Any, rnd: Any, moq: Any,
          mx: Any, lead: Any) -> dict[str, str]:
    return {"MATNR": matnr, "WERKS": plant, "MAABC": abc or "", "DISMM": mrp or "", "DISLS": lot or "",
            "EISBE": _num(ss), "MINBE": _num(rop), "BSTRF": _num(rnd), "BSTMI": _num(moq), "MABST": _num(mx),
            "PLIFZ": str(int(lead or 0)), "DISPO": "001", "BESKZ": "F", "ZZNOTE": f"note for {matnr}/{plant}, O'Neil"}


def seed_tables(dataset: Any = None) -> dict[str, list[dict[str, str]]]:
    if dataset is None:
        return _fallback()
    mara = [{"MATNR": _alpha(p.id, 18), "MTART": str(p.category or "")[:4], "MATKL": str(p.product_group or "")[:9],
             "MEINS": str(p.base_uom or "EA"), "ERSDA": _date(p.created_on), "LAEDA": _date(p.created_on),
             "NTGEW": _num(p.weight_kg), "GEWEI": "KG"} for p in dataset.products.itertuples(index=False)]
    marc = [_marc(_alpha(r.product_id, 18), str(r.location_id)[:4], r.current_abc, r.current_mrp_type,
                  r.current_lot_sizing, r.current_safety_stock, r.current_reorder_point, r.order_multiple, r.moq,
                  r.current_max_qty, r.lead_time_days if r.lead_time_days == r.lead_time_days else 0)
            for r in dataset.product_locations.itertuples(index=False)]
    kna1 = [{"KUNNR": _alpha(c.id, 10), "NAME1": str(c.name)[:35], "LAND1": str(c.country or ""),
             "KUKLA": str(c.current_classification or ""), "ERDAT": "20200101"}
            for c in dataset.customers.itertuples(index=False)]
    knvv = [{"KUNNR": _alpha(a.customer_id, 10), "VKORG": a.sales_org, "VTWEG": a.distribution_channel,
             "SPART": a.division, "KDGRP": str(a.customer_group or ""), "WAERS": str(a.currency or ""),
             "KLABC": str(a.current_abc or ""), "LPRIO": str(a.current_delivery_priority or "").zfill(2),
             "VSBED": str(a.current_shipping_condition or "")} for a in dataset.customer_sales_areas.itertuples(index=False)]
    return {"MARA": mara, "MARC": marc, "KNA1": kna1, "KNVV": knvv}


def _fallback() -> dict[str, list[dict[str, str]]]:
    mara, marc = [], []
    for n in range(1, 13):
        matnr = _alpha(str(1000 + n), 18)
        mara.append({"MATNR": matnr, "MTART": "FERT", "MATKL": "PUMPS", "MEINS": "EA", "ERSDA": "20230101",
                     "LAEDA": f"202401{n:02d}", "NTGEW": _num(n / 2), "GEWEI": "KG"})
        for plant in ("1000", "2000"):
            marc.append(_marc(matnr, plant, "ABC"[n % 3], "PD", "EX", n * 10, n * 20, 5, 10, n * 100, 7))
    kna1 = [{"KUNNR": _alpha(str(100 + n), 10), "NAME1": f"Customer {n}", "LAND1": "DE", "KUKLA": "B",
             "ERDAT": f"202301{n:02d}"} for n in range(1, 6)]
    knvv = [{"KUNNR": k["KUNNR"], "VKORG": "1000", "VTWEG": "10", "SPART": "00", "KLABC": "B", "LPRIO": "02",
             "VSBED": "01"} for k in kna1]
    return {"MARA": mara, "MARC": marc, "KNA1": kna1, "KNVV": knvv}
