"""Errors that reach users: each carries a hint saying what to fix and the CLI exit code.

Exit codes (documented in README): 0 ok, 1 failed, 2 bad usage or configuration,
3 finished but left exceptions for stewards.

Example:
    >>> raise ConfigError("segbridge.yaml:4: unknown key 'databse'", hint="did you mean 'database'?")
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_EXCEPTIONS = 3


class SegbridgeError(Exception):
    """Base of every error segbridge reports to a user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(SegbridgeError):
    """Bad configuration or usage: the user must change a file or a flag."""

    exit_code = EXIT_USAGE


class DataError(SegbridgeError):
    """Input data that cannot be processed as a whole (single bad records are quarantined instead)."""


class BlockedError(SegbridgeError):
    """A step refused to proceed (suspect run, unapproved plan, lease held)."""


class StaleError(SegbridgeError):
    """An update based on a version of a record that someone else changed since (reload, then act)."""
