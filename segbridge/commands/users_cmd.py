"""`segbridge users add|list|set-role|disable|enable|password|token`: the web app's local users.

    segbridge users add NAME --role ROLE      asks for the password (or --password-stdin)
    segbridge users set-role NAME ROLE
    segbridge users disable NAME | enable NAME
    segbridge users password NAME             asks for a new password
    segbridge users token NAME [--label L]    prints a new API token once

Roles: viewer, planner, steward, approver, admin (`core.accounts.PERMISSIONS` says what each may do).
Changes are audited with the OS user who made them.
"""

from __future__ import annotations

import sys

import typer

from segbridge.commands.common import Col, config_of, out, show_rows, store_of

users_app = typer.Typer(help="Users of the web app and API", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def add(ctx: typer.Context, name: str = typer.Argument(...),
        role: str = typer.Option(..., "--role", help="viewer, planner, steward, approver or admin"),
        password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin"),
        no_password: bool = typer.Option(False, "--no-password", help="API tokens only, no login")) -> None:
    """Add a user with a role (the password is stored as an argon2 hash)."""
    from basics.users import current_user
    from core.accounts import add_user

    password = None if no_password else _password(password_stdin)
    user = add_user(store_of(config_of(ctx)), name, role, password, current_user())
    out.print(f"user {user.name} added as {user.role}")


@users_app.command("list")
def list_cmd(ctx: typer.Context) -> None:
    """Every user with role and whether active."""
    from core.accounts import list_users

    rows = [{"name": u.name, "role": u.role, "active": u.active, "created": f"{u.created_at:%Y-%m-%d}"}
            for u in list_users(store_of(config_of(ctx)))]
    show_rows(rows, [Col("name"), Col("role"), Col("active"), Col("created")], title=f"{len(rows)} user(s)",
              empty="no users: add one with `segbridge users add NAME --role admin`")


@users_app.command("set-role")
def set_role_cmd(ctx: typer.Context, name: str = typer.Argument(...), role: str = typer.Argument(...)) -> None:
    """Change a user's role."""
    from basics.users import current_user
    from core.accounts import set_role

    user = set_role(store_of(config_of(ctx)), name, role, current_user())
    out.print(f"user {user.name} is now {user.role}")


@users_app.command("disable")
def disable(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Disable a user (logged out everywhere; tokens stop working)."""
    from basics.users import current_user
    from core.accounts import set_active

    set_active(store_of(config_of(ctx)), name, False, current_user())
    out.print(f"user {name} disabled")


@users_app.command("enable")
def enable(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Enable a disabled user again."""
    from basics.users import current_user
    from core.accounts import set_active

    set_active(store_of(config_of(ctx)), name, True, current_user())
    out.print(f"user {name} enabled")


@users_app.command("password")
def password(ctx: typer.Context, name: str = typer.Argument(...),
             password_stdin: bool = typer.Option(False, "--password-stdin")) -> None:
    """Set a user's password."""
    from basics.users import current_user
    from core.accounts import set_password

    set_password(store_of(config_of(ctx)), name, _password(password_stdin), current_user())
    out.print(f"password of {name} set")


@users_app.command("token")
def token(ctx: typer.Context, name: str = typer.Argument(...), label: str = typer.Option(None, "--label")) -> None:
    """Make an API token for a user (printed once; send it as `Authorization: Bearer TOKEN`)."""
    from basics.users import current_user
    from core.accounts import new_token

    value = new_token(store_of(config_of(ctx)), name, label, current_user())
    out.print(f"API token for {name} (shown once, keep it secret):")
    print(value)
