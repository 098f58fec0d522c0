"""`segbridge analyze DIR --out OUT`: the whole engine offline on canonical CSV files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from basics.errors import ConfigError, DataError
from segbridge.commands.common import out, table

CSV_FILES = {"order_lines": "order_lines.csv", "products": "products.csv",
             "product_locations": "product_locations.csv", "customers": "customers.csv",
             "shipments": "shipments.csv", "receipts": "receipts.csv"}
DATE_COLS = ["order_date", "requested_date", "promised_date", "receipt_date", "ship_date", "delivery_date"]
KEY_COLS = ["id", "product_id", "location_id", "customer_id", "order_id", "line_no", "po_id", "shipment_id"]


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)


def read_canonical_csv(folder: Path) -> dict[str, pd.DataFrame]:
    """The canonical CSV files of a folder (order_lines.csv required; columns as in docs/engine.md)."""
    if not (folder / CSV_FILES["order_lines"]).exists():
        raise ConfigError(f"{folder}: no order_lines.csv",
                          hint="analyze needs DIR/order_lines.csv (and optionally products.csv, "
                               "product_locations.csv, customers.csv, shipments.csv, receipts.csv)")
    frames = {}
    for name, file in CSV_FILES.items():
        path = folder / file
        if not path.exists():
            continue
        head = pd.read_csv(path, nrows=0).columns
        df = pd.read_csv(path, dtype={c: str for c in KEY_COLS if c in head}, low_memory=False)
        for c in DATE_COLS:
            if c in df:
                try:
                    df[c] = pd.to_datetime(df[c], format="mixed")
                except (ValueError, TypeError) as exc:
                    raise DataError(f"{path}: column {c!r} has a value that is not a date ({exc})",
                                    hint="use ISO dates, YYYY-MM-DD") from None
        frames[name] = df
    return frames


def _summary(result) -> None:
    pl = result.product_locations
    rows = [[seg, n, f"{pl.loc[pl['segment'] == seg, 'ss_value'].sum():,.0f}"]
            for seg, n in pl["segment"].value_counts().sort_index().items()]
    table("Segments (product-locations)", ["segment", "count", "safety-stock value"], rows)
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {w}")


def analyze(
    folder: Path = typer.Argument(..., help="Folder of canonical CSV files (order_lines.csv, ...)"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for segments.csv, parameters.csv, report.html"),
    policy: Path = typer.Option(None, "--policy", help="Policy YAML (default: the shipped mappings/policy.yaml)"),
    bootstrap: int = typer.Option(0, "--bootstrap", help="Simulate this many bootstrapped periods (0: replay)"),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Run the simulation check"),
) -> None:
    """Run the whole engine offline on canonical CSV files and write segments, parameters and a report."""
    from core.planning.engine import EngineOptions, run_engine
    from core.planning.policy import load_policy
    from core.reports.engine_report import write_report

    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder", hint="pass the folder holding order_lines.csv")
    pol = load_policy(policy)
    frames = read_canonical_csv(folder)
    result = run_engine(frames, pol, EngineOptions(simulate=simulate, simulate_periods=bootstrap or None))
    out_dir.mkdir(parents=True, exist_ok=True)
    result.segments.to_csv(out_dir / "segments.csv", index=False)
    result.parameters.to_csv(out_dir / "parameters.csv", index=False)
    if result.service is not None:
        result.service.to_csv(out_dir / "service.csv", index=False)
    result.unmatched.to_csv(out_dir / "unmatched.csv", index=False)
    write_report(result, out_dir / "report.html", pol.classification.abc_measure)
    _summary(result)
    out.print(f"wrote segments.csv, parameters.csv and report.html to {out_dir}")
