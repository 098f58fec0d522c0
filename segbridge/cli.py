"""The `segbridge` command line: a thin shell over core/, connectors/ and scheduler/.

Each area adds its commands from `segbridge/commands/<area>.py` through `register(app)`.
Verbs whose issue has not landed yet answer plainly that they are not available (exit 2).

Exit codes: 0 ok, 1 failed, 2 bad usage or configuration, 3 finished but left exceptions
for stewards.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from basics.errors import EXIT_FAILED, EXIT_USAGE, NotAvailableError, SegbridgeError
from segbridge import __version__

console = Console(stderr=True)
log = logging.getLogger("segbridge.cli")

app = typer.Typer(name="segbridge", no_args_is_help=True, add_completion=False,
                  help="Pull, segment, parameterise, write back and reconcile supply-chain data.")

# Area modules, in the order their commands appear in --help. A module that is missing is skipped.
COMMAND_MODULES = ["basics", "connectors_cmds", "engine", "writeback", "reconcile", "runs",
                   "scheduler_cmds", "sandbox_cmds", "demo"]
# Every verb the CLI promises; those no module registered answer "not available yet".
PLANNED_VERBS = {
    "check": "Check that each configured system is reachable and its credentials work",
    "pull": "Read systems incrementally into the store through the mapping files",
    "segment": "Segment products and customers and compute their parameters from the store",
    "analyze": "Run the engine offline on canonical CSV files",
    "plan": "Compute the write-back plan: what would change in each system",
    "approve": "Approve a plan that needs approval",
    "apply": "Apply a plan in batches, exactly once",
    "reconcile": "Read back what systems hold and file exceptions",
    "run": "Run the whole cycle once",
    "exceptions": "Work through reconciliation exceptions",
    "runs": "Run history",
    "schedule": "Run the cycle on a timetable",
    "sandbox": "Start stand-in servers of the external systems",
    "demo": "Run the whole cycle against the sandboxes on generated data",
}


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


def _registered_names(typer_app: typer.Typer) -> set[str]:
    names = {c.name or (c.callback.__name__.replace("_", "-") if c.callback else "") for c in
             typer_app.registered_commands}
    names |= {g.name for g in typer_app.registered_groups if g.name}
    return names


def _not_available(verb: str, help_text: str):
    def command(args: list[str] = typer.Argument(None, hidden=True)) -> None:
        raise NotAvailableError(f"`segbridge {verb}` is not available yet in this version",
                                hint="see README.md for the commands that work today")

    command.__doc__ = f"{help_text} (not available yet)."
    return command


_built = False


def build_app() -> typer.Typer:
    """Register every area's commands once, then stubs for verbs not landed yet."""
    global _built
    if _built:
        return app
    _built = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"segbridge.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"segbridge.commands.{name}":
                continue
            raise
        module.register(app)
    present = _registered_names(app)
    for verb, help_text in PLANNED_VERBS.items():
        if verb not in present:
            app.command(verb, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
                _not_available(verb, help_text))
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
