"""`segbridge segments export`: a segment run's classes per entity, for planners to review in a spreadsheet.

    segbridge segments export [--run N] --out FILE.csv|FILE.xlsx [--format csv|xlsx]
"""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import export_run_file

segments_app = typer.Typer(help="Review a segment run's classes", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(segments_app, name="segments")


@segments_app.command("export")
def export(
    ctx: typer.Context,
    run: int = typer.Option(None, "--run", help="Segment run id (default: the latest successful one)"),
    out_file: Path = typer.Option(..., "--out", help="File to write: .csv or .xlsx"),
    fmt: str = typer.Option(None, "--format", help="csv | xlsx (default: from the file's suffix)"),
) -> None:
    """Every classified product-location, product and customer with its classes, the previous run's
    segment and whether it changed."""
    export_run_file(ctx, "segments", run, out_file, fmt)
