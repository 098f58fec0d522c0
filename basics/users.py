"""Who is acting: the OS user of this process, named the same way wherever segbridge records a person.

Approvals must name the authenticated user, not a name typed on the command line, so a plan's
maker and approver can be told apart (four eyes). The CLI and the scheduler act as the OS user
running them; a web app passes its logged-in user explicitly as `actor` instead.
"""

from __future__ import annotations

import getpass
import os


def current_user() -> str:
    """The login name of the process's effective user (`pwd`), else what `getpass` finds, else 'unknown'.

    The effective uid is used because that is the account whose rights the process has; `getpass`
    reads environment variables (LOGNAME, USER) a caller can set, so it is only the fallback where
    there is no password database (Windows, a container without an entry for the uid).
    """
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        pass
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getpass raises OSError or KeyError depending on the platform
        return "unknown"


def actor_or_current(actor: str | None) -> str:
    """`actor` when a caller (a web app) passes its authenticated user, else the OS user."""
    name = (actor or "").strip()
    return name or current_user()
