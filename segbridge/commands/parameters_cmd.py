"""`segbridge parameters export`: a segment run's planning parameters next to the values in the source
system and in the previous run, for planners to review in a spreadsheet before write-back.

    segbridge parameters export [--run N] --out FILE.csv|FILE.xlsx [--format csv|xlsx]
"""

from __future__ import annotations

from pathlib import Path

import typer

from segbridge.commands.common import export_run_file

parameters_app = typer.Typer(help="Review a segment run's planning parameters", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(parameters_app, name="parameters")


@parameters_app.command("export")
def export(
    ctx: typer.Context,
    run: int = typer.Option(None, "--run", help="Segment run id (default: the latest successful one)"),
    out_file: Path = typer.Option(..., "--out", help="File to write: .csv or .xlsx"),
    fmt: str = typer.Option(None, "--format", help="csv | xlsx (default: from the file's suffix)"),
) -> None:
    """One row per product-location: classes, policy rule and method, achieved service, and for each
    parameter the current (source system), previous-run and new value with the change."""
    export_run_file(ctx, "parameters", run, out_file, fmt)
