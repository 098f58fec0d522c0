"""The `segbridge` command line: a thin shell over core/, connectors/ and scheduler/.

Each top-level verb lives in its own module, `segbridge/commands/<verb>_cmd.py`, which adds it
(and, for a group, its subcommands) through `register(app)`; `COMMAND_MODULES` lists them in the
order they appear in --help. Every module is imported at start (typer needs the signatures), so a
command module imports only typer, rich, basics.errors and segbridge.commands.common at its top and
everything heavier (pandas, SQLAlchemy, core.*, connectors.*) inside its functions: `--help` and
`--version` then start in a few tenths of a second (tests/unit/segbridge/test_cli.py, bench/bench_cli.py).

Exit codes: 0 ok, 1 failed, 2 bad usage or configuration, 3 finished but left exceptions
for stewards.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from basics.errors import EXIT_FAILED, EXIT_USAGE, SegbridgeError
from segbridge import __version__
from segbridge.commands import (
    analyze_cmd,
    apply_cmd,
    approve_cmd,
    check_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    exceptions_cmd,
    init_cmd,
    kpis_cmd,
    parameters_cmd,
    plan_cmd,
    plans_cmd,
    pull_cmd,
    quarantine_cmd,
    reconcile_cmd,
    run_cmd,
    runs_cmd,
    sandbox_cmd,
    schedule_cmd,
    segment_cmd,
    segments_cmd,
    serve_cmd,
    users_cmd,
    validate_cmd,
)

console = Console(stderr=True)
log = logging.getLogger("segbridge.cli")

app = typer.Typer(name="segbridge", no_args_is_help=True, add_completion=False,
                  help="Pull, segment, parameterise, write back and reconcile supply-chain data.")

# One module per top-level verb, in the order the verbs appear in --help.
COMMAND_MODULES = [init_cmd, validate_cmd, db_cmd, config_cmd, check_cmd, pull_cmd, quarantine_cmd,
                   segment_cmd, segments_cmd, parameters_cmd, analyze_cmd, plan_cmd, approve_cmd, apply_cmd,
                   plans_cmd, reconcile_cmd, exceptions_cmd, kpis_cmd,
                   run_cmd, runs_cmd, schedule_cmd, sandbox_cmd, demo_cmd, serve_cmd, users_cmd]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"segbridge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path = typer.Option(Path("segbridge.yaml"), "--config", "-c", envvar="SEGBRIDGE_CONFIG",
                                help="Configuration file"),
    json_logs: bool = typer.Option(False, "--json-logs", help="Machine-readable JSON log lines"),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More detail (-vv for debug)"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version"),
) -> None:
    from basics.logging_setup import setup_logging

    setup_logging(json_logs=json_logs, verbose=verbose)
    ctx.obj = {"config_path": config, "json_logs": json_logs, "verbose": verbose}


_built = False


def build_app() -> typer.Typer:
    """Register every command module's verbs on `app` (once)."""
    global _built
    if not _built:
        for module in COMMAND_MODULES:
            module.register(app)
        _built = True
    return app


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turning SegbridgeError into a message and an exit code."""
    build_app()
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc:  # typer.Exit(n) comes back as a return value here
            sys.exit(rc)
    except SegbridgeError as exc:
        from basics.secrets import redact

        console.print(f"[bold red]error:[/] {escape(redact(exc.message))}", highlight=False, soft_wrap=True)
        if exc.hint:
            console.print(f"  [yellow]hint:[/] {escape(redact(exc.hint))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors (typer vendors click, so match by shape)
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code or EXIT_USAGE)
        raise
