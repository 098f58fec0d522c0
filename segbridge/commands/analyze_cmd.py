"""`segbridge analyze DIR --out OUT`: the whole engine offline on canonical CSV files.

Every file it writes is private to the user (0600), and the CSV files go through
`core.reports.spreadsheet.write_csv`: a text cell a spreadsheet would read as a formula (a product
id such as `=HYPERLINK(...)`) gets a leading apostrophe; numbers are left as they are.
"""

from __future__ import annotations

from pathlib import Path

import typer

from basics.errors import ConfigError, DataError
from segbridge.commands.common import out, table


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)


def _summary(result, quality: dict, notes: list[str]) -> None:
    pl = result.product_locations
    rows = [[seg, n, f"{pl.loc[pl['segment'] == seg, 'ss_value'].sum():,.0f}"]
            for seg, n in pl["segment"].value_counts().sort_index().items()]
    table("Segments (product-locations)", ["segment", "count", "safety-stock value"], rows)
    _service(result.service)
    hit = [[case, _count(d["count"]), "; ".join(d["examples"][:2])] for case, d in quality.items() if d["count"]]
    if hit:
        table("Data quality (all cases in data_quality.csv)", ["case", "count", "example"], hit)
    else:
        out.print("data quality: no line set aside, nothing changed")
    for n in notes:
        out.print(f"note: {n}")
    for w in result.warnings:
        out.print(f"[yellow]warning:[/] {w}")


def _service(service) -> None:
    """Achieved against target per demand pattern (the daily replay; per segment in service.csv)."""
    if service is None or service.empty:
        return
    sv = service[service["by"] == "pattern"]
    table("Achieved service, daily replay (per segment in service.csv)",
          ["pattern", "series", "target", "achieved", "note"],
          [[r.group, int(r.series), f"{r.target:.3f}", f"{r.achieved:.3f}", r.note or ""]
           for r in sv.itertuples()])


def _count(n) -> str:
    return f"{int(n):,}" if float(n).is_integer() else f"{n:,.3f}"


def write_data_quality(quality: dict, path: Path) -> None:
    """data_quality.csv: one row per case (zero counts included, so a clean file shows it was checked),
    its examples joined by ' | '."""
    import pandas as pd

    from core.reports.spreadsheet import write_csv

    rows = [[case, _count(d["count"]).replace(",", ""), " | ".join(d["examples"])] for case, d in quality.items()]
    write_csv(pd.DataFrame(rows, columns=["case", "count", "example"]), path)


def _run(frames, pol, opts, engine: str):
    """The engine on the frames: in this process (pandas) or on Spark (same results, docs/spark.md)."""
    from core.planning.engine import run_engine

    if engine == "pandas":
        return run_engine(frames, pol, opts)
    if engine != "spark":
        raise ConfigError(f"--engine {engine!r}: unknown engine", hint="use --engine pandas or --engine spark")
    from core.spark_engine.spark_backend import run_spark
    from core.spark_engine.spark_settings import EngineConfig, session
    from core.spark_engine.spark_store import collect_result, from_frames

    spark = session(EngineConfig(kind="spark", master="local[*]"))
    return collect_result(run_spark(spark, from_frames(spark, frames), pol, opts))


def analyze(
    folder: Path = typer.Argument(..., help="Folder of canonical CSV files (order_lines.csv, ...)"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for segments.csv, parameters.csv, report.html"),
    policy: Path = typer.Option(None, "--policy", help="Policy YAML (default: the shipped mappings/policy.yaml)"),
    bootstrap: int = typer.Option(0, "--bootstrap", help="Replay this many days resampled from each series' "
                                                         "history (0: replay the window's own days)"),
    simulate: bool = typer.Option(True, "--simulate/--no-simulate", help="Replay the parameters day by day (the simulation check)"),
    date_format: str = typer.Option(None, "--date-format",
                                    help="strptime format of every date column, e.g. %m/%d/%Y for US dates "
                                         "(default: ISO YYYY-MM-DD; the mapping's {date: {format: ...}})"),
    encoding: str = typer.Option(None, "--encoding",
                                 help="Encoding of the files, e.g. cp1252 (default: UTF-8, with or without BOM)"),
    engine: str = typer.Option("pandas", "--engine", help="pandas (one machine) or spark (local[*] unless "
                                                          "spark-submit set a master; docs/spark.md)"),
) -> None:
    """Run the whole engine offline on canonical CSV files and write segments, parameters and a report."""
    from core.planning.engine import EngineOptions
    from core.planning.policy import load_policy
    from core.reports.engine_report import write_report
    from core.reports.spreadsheet import write_csv
    from segbridge.csv_input import read_canonical_csv

    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a folder", hint="pass the folder holding order_lines.csv")
    pol = load_policy(policy)
    frames, notes = read_canonical_csv(folder, date_format, encoding)
    opts = EngineOptions(simulate=simulate, simulate_periods=bootstrap or None)
    try:
        result = _run(frames, pol, opts, engine)
    except DataError as exc:  # e.g. every order date refused: say what reading the files refused, and why
        if not notes.warnings():
            raise
        raise DataError(exc.message, hint="; ".join([*notes.warnings(), exc.hint or ""]).strip("; ")) from None
    quality = {**result.data_quality, **notes.as_dict()}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(result.segments, out_dir / "segments.csv")
    write_csv(result.parameters, out_dir / "parameters.csv")
    if result.service is not None:
        write_csv(result.service, out_dir / "service.csv")
    write_csv(result.unmatched, out_dir / "unmatched.csv")
    write_data_quality(quality, out_dir / "data_quality.csv")
    write_report(result, out_dir / "report.html", pol.classification.abc_measure)
    _summary(result, quality, notes.warnings())
    out.print(f"wrote segments.csv, parameters.csv, data_quality.csv and report.html to {out_dir}")
