"""`segbridge runs release RUN --reason TEXT [--by NAME]`: a steward unblocks a suspect run (audited)."""

from __future__ import annotations

import getpass

import typer

from segbridge.commands.common import config_of, out, store_of


def register_release(runs_app: typer.Typer) -> None:
    """Add `release` to the `runs` sub-app."""
    runs_app.command("release")(release)


def release(
    ctx: typer.Context,
    run: int = typer.Argument(..., help="Id of the suspect run"),
    reason: str = typer.Option(..., "--reason", help="Why the data is fine to write back (kept in the audit log)"),
    by: str = typer.Option(None, "--by", help="Steward's name (default: the OS user)"),
) -> None:
    """Release a run marked suspect by its data-quality threshold, so write-back may use it."""
    from core.quality import release_run

    engine = store_of(config_of(ctx))
    steward = by or getpass.getuser()
    release_run(engine, run, steward, reason)
    out.print(f"run {run} released by {steward}: {reason}")
