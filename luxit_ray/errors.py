"""The few exception types the CLI turns into one clear red line.

Anything that is not a LuxitError is a bug and keeps its traceback.
"""

from __future__ import annotations


class LuxitError(Exception):
    """A problem the user can fix (bad config, bad input, bad credentials)."""


class ConfigError(LuxitError):
    """The job configuration is invalid; the message lists every problem with its key path."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")

    def __reduce__(self):
        # Ray pickles exceptions raised in tasks; rebuild from our fields, not from str(self).
        return (type(self), (self.problems, self.source))


class InputError(LuxitError):
    """Bad input data: names the file and the position (line, byte offset, row, field)."""

    def __init__(self, path: str, where: str, reason: str) -> None:
        self.path = path
        self.where = where
        self.reason = reason
        loc = f"{path}:{where}" if where else path
        super().__init__(f"{loc}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.where, self.reason))


class AuthError(LuxitError):
    """An endpoint refused our credentials (401/403): the whole job stops at once."""


class EndpointError(LuxitError):
    """An endpoint is unusable for the whole job (unreachable, wrong model name, ...)."""


class ErrorRateExceeded(LuxitError):
    """A stage's share of failed rows passed the configured limit."""
