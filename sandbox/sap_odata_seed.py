"""Seed data for the SAP OData sandbox: canonical frames (sandbox.generator) in SAP's shapes.

Values are stored as SAP serialises them in OData V2 JSON: Edm.Decimal as strings with the
property's scale, Edm.DateTime as `/Date(ms)/`, Edm.DateTimeOffset as `/Date(ms+0000)/`, customer
numbers ALPHA-converted as A_Customer returns them (numeric ids padded to 10: '0000100234'; the
sandbox pads on load, see `sap_odata.ALPHA_FIELDS`), other keys as generated, delivery priority
two digits. Without a dataset a small fixed world is built so the sandbox always has data.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

Entities = dict[str, list[dict[str, Any]]]


def odata_date(value: Any) -> str | None:
    """Edm.DateTime: a calendar date as `/Date(ms)/` at UTC midnight."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    day = value.date() if isinstance(value, datetime) else value
    ms = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    return f"/Date({ms})/"


def odata_timestamp(value: datetime) -> str:
    """Edm.DateTimeOffset: `/Date(ms+0000)/`."""
    when = value if value.tzinfo else value.replace(tzinfo=UTC)
    return f"/Date({int(when.timestamp() * 1000)}+0000)/"


def dec(value: Any, scale: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = 0
    return format(Decimal(str(value)).quantize(Decimal(1).scaleb(-scale)), "f")


def text(value: Any, width: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    out = str(value)
    return out[:width] if width else out


def _products(ds) -> Entities:
    product, plant, planning = [], [], []
    for p in ds.products.itertuples(index=False):
        created = p.created_on or date(2020, 1, 1)
        product.append({"Product": p.id, "ProductType": text(p.category, 4), "ProductGroup": text(p.product_group, 9),
                        "BaseUnit": text(p.base_uom, 3), "NetWeight": dec(p.weight_kg), "WeightUnit": "KG",
                        "CreationDate": odata_date(created), "LastChangeDate": odata_date(created),
                        "LastChangeDateTime": odata_timestamp(datetime(created.year, created.month, created.day,
                                                                       12, tzinfo=UTC)),
                        "CrossPlantStatus": "" if text(p.status) in ("", "ACTIVE") else "01",
                        "IsMarkedForDeletion": False})
    units = {p["Product"]: p["BaseUnit"] for p in product}
    for pl in ds.product_locations.itertuples(index=False):
        common = {"Product": pl.product_id, "Plant": text(pl.location_id, 4), "ABCIndicator": text(pl.current_abc, 1),
                  "MRPType": text(pl.current_mrp_type, 2), "MinimumLotSizeQuantity": dec(pl.moq),
                  "BaseUnit": units.get(pl.product_id, "EA")}
        plant.append({**common, "MRPResponsible": "001", "ProcurementType": "F"})
        lead = pl.lead_time_days if pl.lead_time_days == pl.lead_time_days else 0
        planning.append({**common, "MRPResponsible": "001", "LotSizingProcedure": text(pl.current_lot_sizing, 2),
                         "SafetyStockQuantity": dec(pl.current_safety_stock),
                         "ReorderThresholdQuantity": dec(pl.current_reorder_point),
                         "MaximumStockQuantity": dec(pl.current_max_qty),
                         "LotSizeRoundingQuantity": dec(pl.order_multiple),
                         "PlannedDeliveryDurationInDays": dec(round(lead or 0), 0),
                         "SrvcLvl": dec(pl.current_service_level, 1)})
    return {"A_Product": product, "A_ProductPlant": plant, "A_ProductSupplyPlanning": planning}


def _customers(ds) -> Entities:
    customers = [{"Customer": c.id, "CustomerName": text(c.name, 80), "CustomerFullName": text(c.name, 220),
                  "Industry": text(c.industry, 4), "CustomerClassification": text(c.current_classification, 2),
                  "CustomerAccountGroup": "KUNA"} for c in ds.customers.itertuples(index=False)]
    areas = []
    for a in ds.customer_sales_areas.itertuples(index=False):
        priority = text(a.current_delivery_priority)
        areas.append({"Customer": a.customer_id, "SalesOrganization": text(a.sales_org, 4),
                      "DistributionChannel": text(a.distribution_channel, 2), "Division": text(a.division, 2),
                      "CustomerGroup": text(a.customer_group, 2), "Currency": text(a.currency, 5),
                      "CustomerABCClassification": text(a.current_abc, 2),
                      "DeliveryPriority": priority.zfill(2) if priority.isdigit() else priority,
                      "ShippingCondition": text(a.current_shipping_condition, 2),
                      "AdditionalCustomerGroup1": text(getattr(a, "current_customer_group_1", ""), 3),
                      "AdditionalCustomerGroup2": text(getattr(a, "current_customer_group_2", ""), 3)})
    return {"A_Customer": customers, "A_CustomerSalesArea": areas}


def _orders(ds) -> Entities:
    headers: dict[str, dict[str, Any]] = {}
    items = []
    for line in ds.order_lines.itertuples(index=False):
        changed = line.changed_at.to_pydatetime() if hasattr(line.changed_at, "to_pydatetime") else line.changed_at
        head = headers.setdefault(line.order_id, {
            "SalesOrder": line.order_id, "SalesOrderType": "OR", "SalesOrganization": text(line.sales_org, 4),
            "DistributionChannel": "10", "OrganizationDivision": "00", "SoldToParty": text(line.customer_id, 10),
            "SalesOrderDate": odata_date(line.order_date), "CreationDate": odata_date(line.order_date),
            "RequestedDeliveryDate": odata_date(line.requested_date), "TransactionCurrency": text(line.currency, 5),
            "LastChangeDateTime": odata_timestamp(changed or datetime(2024, 1, 1, tzinfo=UTC)),
            "TotalNetAmount": Decimal(0), "ShippingCondition": "01", "DeliveryBlockReason": ""})
        head["TotalNetAmount"] += Decimal(dec(line.net_value))
        items.append({"SalesOrder": line.order_id, "SalesOrderItem": text(line.line_no, 6),
                      "Material": line.product_id, "RequestedQuantity": dec(line.quantity),
                      "RequestedQuantityUnit": text(line.uom, 3), "NetAmount": dec(line.net_value),
                      "TransactionCurrency": text(line.currency, 5), "ProductionPlant": text(line.location_id, 4),
                      "SalesDocumentRjcnReason": "01" if line.rejected else "", "DeliveryPriority": "02"})
    for head in headers.values():
        head["TotalNetAmount"] = dec(head["TotalNetAmount"])
    return {"A_SalesOrder": list(headers.values()), "A_SalesOrderItem": items}


def from_dataset(ds) -> dict[str, Entities]:
    """Service -> entity set -> rows, from a `sandbox.generator.Dataset`."""
    return {"API_PRODUCT_SRV": _products(ds), "API_BUSINESS_PARTNER": _customers(ds),
            "API_SALES_ORDER_SRV": _orders(ds)}


def fallback() -> dict[str, Entities]:
    """A small fixed world (used when no dataset is given and the generator is unavailable)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    products = [{"Product": f"TG{n:02d}", "ProductType": "FERT", "BaseUnit": "EA", "CreationDate": odata_date(start),
                 "LastChangeDateTime": odata_timestamp(start + timedelta(days=n))} for n in range(1, 11)]
    planning = [{"Product": f"TG{n:02d}", "Plant": plant, "ABCIndicator": "ABC"[n % 3], "MRPType": "PD",
                 "LotSizingProcedure": "EX", "SafetyStockQuantity": dec(n * 10), "ReorderThresholdQuantity": dec(n * 20),
                 "MaximumStockQuantity": dec(n * 100), "LotSizeRoundingQuantity": dec(5), "BaseUnit": "EA"}
                for n in range(1, 11) for plant in ("1010", "1020")]
    customers = [{"Customer": f"1710000{n}", "CustomerName": f"Customer {n}", "CustomerClassification": "B"}
                 for n in range(1, 6)]
    areas = [{"Customer": c["Customer"], "SalesOrganization": "1710", "DistributionChannel": "10", "Division": "00",
              "CustomerABCClassification": "B", "DeliveryPriority": "02", "ShippingCondition": "01"} for c in customers]
    orders = [{"SalesOrder": str(1000 + n), "SalesOrderType": "OR", "SalesOrganization": "1710",
               "SoldToParty": customers[n % 5]["Customer"], "SalesOrderDate": odata_date(start + timedelta(days=n)),
               "LastChangeDateTime": odata_timestamp(start + timedelta(days=n, hours=3))} for n in range(10)]
    items = [{"SalesOrder": o["SalesOrder"], "SalesOrderItem": "10", "Material": f"TG{n + 1:02d}",
              "RequestedQuantity": dec(n + 1), "RequestedQuantityUnit": "EA", "ProductionPlant": "1010"}
             for n, o in enumerate(orders)]
    return {"API_PRODUCT_SRV": {"A_Product": products, "A_ProductPlant": [dict(p) for p in planning],
                                "A_ProductSupplyPlanning": planning},
            "API_BUSINESS_PARTNER": {"A_Customer": customers, "A_CustomerSalesArea": areas},
            "API_SALES_ORDER_SRV": {"A_SalesOrder": orders, "A_SalesOrderItem": items}}
