"""Write a generated Dataset as the canonical CSV layout (mappings/canonical_csv.yaml) into a folder.

Example:
    >>> write_canonical_csv(generate(products=10), "drop/")          # doctest: +SKIP
    {'order_lines': PosixPath('drop/order_lines.csv'), ...}
"""

from __future__ import annotations

from pathlib import Path

from sandbox.generator import Dataset

# Dataset attribute -> file name of the canonical CSV layout.
FILES = {"products": "products.csv", "locations": "locations.csv", "product_locations": "product_locations.csv",
         "customers": "customers.csv", "customer_sales_areas": "customer_sales_areas.csv",
         "suppliers": "suppliers.csv", "order_lines": "order_lines.csv", "shipments": "shipments.csv",
         "receipts": "receipts.csv"}


def write_canonical_csv(ds: Dataset, folder: str | Path, only: list[str] | None = None,
                        excel: bool = False) -> dict[str, Path]:
    """One file per entity (ISO dates, dot decimals, true/false); `excel=True` writes .xlsx instead."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for attr, name in FILES.items():
        if only and attr not in only:
            continue
        frame = getattr(ds, attr).copy()
        for col in frame.columns:
            if frame[col].dtype == bool:
                frame[col] = frame[col].map({True: "true", False: "false"})
        path = folder / (name.replace(".csv", ".xlsx") if excel else name)
        tmp = path.with_name("." + path.name + ".tmp")  # write then rename: a reader never sees half a file
        if excel:
            frame.to_excel(tmp, index=False, engine="openpyxl")
        else:
            frame.to_csv(tmp, index=False)
        tmp.replace(path)
        written[attr] = path
    return written
