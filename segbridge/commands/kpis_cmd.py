"""`segbridge kpis`: the KPIs of a segment run per segment and period (docs/kpis.md), computed with
`--compute`, shown as a table, CSV or JSON, or drawn as the HTML dashboard with `--report`."""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import (
    CSV_OPTION,
    JSON_OPTION,
    OUT_OPTION,
    Col,
    config_of,
    out,
    show_rows,
    store_of,
)


def register(app: typer.Typer) -> None:
    app.command("kpis")(kpis)


def _num(value) -> str:
    if value is None or value != value:  # NaN
        return "-"
    return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.0f}"


COLUMNS = [Col("run_id", "run", wrap=False, constant=True), Col("kpi", wrap=False),
           Col("segment", wrap=False, constant=True), Col("period", wrap=False, constant=True),
           Col("scope", drop=1, min_width=12), Col("value", wrap=False, show=_num),
           Col("numerator", drop=4, wrap=False, show=_num), Col("denominator", drop=5, wrap=False, show=_num),
           Col("note", drop=3, min_width=10)]


def kpis(
    ctx: typer.Context,
    compute: bool = typer.Option(False, "--compute", help="Compute the run's KPIs first (replaces its stored rows)"),
    run: int = typer.Option(None, "--run", help="Segment run (default: the latest; with --compute the latest "
                                                 "segment run, else the latest with KPIs)"),
    segment: str = typer.Option(None, "--segment", help="Only this segment (A-X, customer:strategic, all, ...)"),
    period: str = typer.Option(None, "--period", help="Only this period: its start date (2026-03-02) or all"),
    kpi: str = typer.Option(None, "--kpi", help="Only this KPI (fill_rate_units, otif, policy_adherence, ...)"),
    by: str = typer.Option("week", "--by", help="With --compute: week | month periods"),
    report: Path = typer.Option(None, "--report", help="Write the HTML dashboard to this file"),
    as_json: bool = JSON_OPTION,
    as_csv: bool = CSV_OPTION,
    out_file: Path = OUT_OPTION,
) -> None:
    """Segment KPIs: fill rate, OTIF, inventory, customer profit, stability, adherence, data quality."""
    from basics.errors import ConfigError
    from core.kpis.kpi_rows import PERIODS
    from core.kpis.kpi_store import compute_and_save, read_kpis

    if by not in PERIODS:
        raise ConfigError(f"--by must be one of {', '.join(PERIODS)}, not {by!r}", hint="use --by week or --by month")
    cfg = config_of(ctx)
    db = store_of(cfg)
    if compute:
        run, n = compute_and_save(db, run, cfg, by)
        if not (as_json or as_csv):
            out.print(f"computed {n:,} KPI rows for segment run {run}", highlight=False)
    if report is not None:
        from core.reports.kpi_dashboard import write_dashboard

        path = write_dashboard(db, report, run_id=run)
        out.print(f"wrote the KPI dashboard to {path.resolve()}", highlight=False, soft_wrap=True)
        if not (as_json or as_csv):
            return
    frame = read_kpis(db, run, segment=segment, period=period, kpi=kpi)
    rows = [{k: (None if v != v else v) for k, v in r.items()} for r in frame.to_dict("records")]
    show_rows(rows, COLUMNS, title="KPIs", as_json=as_json, as_csv=as_csv, out_file=out_file,
              empty="no KPI rows match: compute them with `segbridge kpis --compute`, or loosen the filters")
