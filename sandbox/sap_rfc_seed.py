"""Seed rows for the fake RFC backend, in ECC's internal format (ALPHA-padded keys, YYYYMMDD dates).

From a `sandbox.generator.Dataset` when given, else a small fixed world with numeric material
and customer numbers, so ALPHA padding is exercised.

Documents get ECC's numeric number ranges: sales order SO00000007 is VBAK/VBAP VBELN 0000000007,
shipment SH00000003 is delivery (LIKP/LIPS) 0080000003 referencing its order (VGBEL/VGPOS), PO
PO00000005 is EKKO/EKPO/EKET/EKBE EBELN 4500000005 item 00010. Every third PO item has two schedule
lines (EKET, the later one stored first) and every second has an invoice (EKBE VGABE '2') besides
its goods receipt (VGABE '1'), so readers must pick the first schedule line and filter the history.
"""

from __future__ import annotations

import math
from datetime import date
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
    return {"MARA": mara, "MARC": marc, "KNA1": kna1, "KNVV": knvv, **_sales(dataset), **_purchasing(dataset)}


def _doc(value: Any, base: int) -> str:
    """SO00000007 -> 10-digit document number base + 7."""
    return str(base + int(str(value)[2:])).zfill(10)


def _sales(ds: Any) -> dict[str, list[dict[str, str]]]:
    areas = {a.customer_id: a for a in ds.customer_sales_areas.itertuples(index=False)}
    vbak, vbap, lines_of = {}, [], {}
    for r in ds.order_lines.itertuples(index=False):
        vbeln, posnr = _doc(r.order_id, 0), str(r.line_no).zfill(6)
        head = vbak.setdefault(vbeln, {
            "VBELN": vbeln, "ERDAT": _date(r.order_date), "AEDAT": "00000000", "AUDAT": _date(r.order_date),
            "AUART": "TA", "VKORG": str(r.sales_org), "VTWEG": "10", "SPART": "00", "KUNNR": _alpha(r.customer_id, 10),
            "VDATU": _date(r.requested_date), "NETWR": Decimal(0), "WAERK": str(r.currency)})
        head["NETWR"] += Decimal(str(r.net_value))
        vbap.append({"VBELN": vbeln, "POSNR": posnr, "MATNR": _alpha(r.product_id, 18), "WERKS": str(r.location_id)[:4],
                     "PSTYV": "TAN", "KWMENG": _num(r.quantity), "VRKME": str(r.uom), "MEINS": str(r.uom),
                     "NETWR": _num(r.net_value), "WAERK": str(r.currency), "ABGRU": "02" if r.rejected else "",
                     "ERDAT": _date(r.order_date), "AEDAT": "00000000"})
        if not r.rejected:
            lines_of.setdefault(str(r.order_id), []).append(vbap[-1])
    for head in vbak.values():
        head["NETWR"] = _num(head["NETWR"])
    likp, lips = [], []
    for s in ds.shipments.itertuples(index=False):
        vbeln = _doc(s.shipment_id, 80_000_000)
        area = areas.get(s.customer_id)
        likp.append({"VBELN": vbeln, "ERDAT": _date(s.ship_date), "AEDAT": "00000000", "VSTEL": str(s.location_id)[:4],
                     "KUNNR": _alpha(s.customer_id, 10),
                     "VSBED": str(area.current_shipping_condition) if area is not None else "01",
                     "LFDAT": _date(s.delivery_date), "WADAT_IST": _date(s.ship_date), "BTGEW": _num(s.weight_kg),
                     "GEWEI": "KG"})
        for n, item in enumerate(lines_of.get(str(s.order_id), []), start=1):
            lips.append({"VBELN": vbeln, "POSNR": str(n * 10).zfill(6), "MATNR": item["MATNR"], "WERKS": item["WERKS"],
                         "LFIMG": item["KWMENG"], "VRKME": item["VRKME"], "VGBEL": item["VBELN"],
                         "VGPOS": item["POSNR"], "ERDAT": _date(s.ship_date), "AEDAT": "00000000"})
    return {"VBAK": list(vbak.values()), "VBAP": vbap, "LIKP": likp, "LIPS": lips}


def _purchasing(ds: Any) -> dict[str, list[dict[str, str]]]:
    ekko, ekpo, eket, ekbe = [], [], [], []
    for n, r in enumerate(ds.receipts.itertuples(index=False), start=1):
        ebeln, ebelp, qty = _doc(r.po_id, 4_500_000_000), str(r.line_no).zfill(5), Decimal(str(r.quantity))
        matnr, plant = _alpha(r.product_id, 18), str(r.location_id)[:4]
        ekko.append({"EBELN": ebeln, "BUKRS": "1010", "BSTYP": "F", "BSART": "NB", "AEDAT": _date(r.order_date),
                     "LIFNR": _alpha(r.supplier_id, 10), "EKORG": "1010", "WAERS": "EUR", "BEDAT": _date(r.order_date)})
        ekpo.append({"EBELN": ebeln, "EBELP": ebelp, "MATNR": matnr, "WERKS": plant, "MENGE": _num(qty), "MEINS": "EA",
                     "AEDAT": _date(r.order_date)})
        first = {"EBELN": ebeln, "EBELP": ebelp, "ETENR": "0001", "EINDT": _date(r.promised_date)}
        if n % 3 == 0:  # a split schedule: the second line a week later; stored first (no order in RFC reads)
            later = r.promised_date.toordinal() + 7
            eket.append({"EBELN": ebeln, "EBELP": ebelp, "ETENR": "0002", "EINDT": _date(date.fromordinal(later)),
                         "MENGE": _num(qty / 2), "WEMNG": "0.000"})
            eket.append({**first, "MENGE": _num(qty - qty / 2), "WEMNG": _num(qty)})
        else:
            eket.append({**first, "MENGE": _num(qty), "WEMNG": _num(qty)})
        year = str(r.receipt_date.year)
        ekbe.append({"EBELN": ebeln, "EBELP": ebelp, "ZEKKN": "00", "VGABE": "1", "GJAHR": year,
                     "BELNR": str(5_000_000_000 + n), "BUZEI": "0001", "BEWTP": "E", "BWART": "101",
                     "BUDAT": _date(r.receipt_date), "MENGE": _num(qty), "SHKZG": "S", "MATNR": matnr, "WERKS": plant,
                     "CPUDT": _date(r.receipt_date)})
        if n % 2 == 0:  # the supplier's invoice (IR) in the PO history: not a receipt
            ekbe.append({**ekbe[-1], "VGABE": "2", "BELNR": str(5_100_000_000 + n), "BEWTP": "Q", "BWART": ""})
    return {"EKKO": ekko, "EKPO": ekpo, "EKET": eket, "EKBE": ekbe}


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
