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


def unwrap_ray_error(exc: BaseException) -> BaseException:
    """The LuxitError behind an exception Ray raised in the driver, else ``exc`` itself.

    Ray re-raises an actor's or task's exception as ``RayTaskError``; the original is at
    ``.cause``. Ray Data wraps UDF failures once more in ``UserCodeException`` and keeps the
    original only as text in the remote traceback, so as a last resort the last
    ``luxit_ray.errors.<Name>: <message>`` line of that text is turned back into the exception.
    Catch broadly around a stage run and ``raise unwrap_ray_error(e) from None`` when the result
    is a LuxitError: the CLI then prints its one clear line.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    texts: list[str] = []
    while todo:
        cur = todo.pop(0)
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        cause = getattr(cur, "cause", None)
        if isinstance(cause, BaseException) and type(cur).__module__.startswith("ray"):
            # Ray's wrapper may itself subclass the cause's type; the original is cleaner.
            texts.append(str(cur))
            todo.insert(0, cause)
            continue
        if isinstance(cur, LuxitError):
            return cur
        todo.extend([getattr(cur, "cause", None), cur.__cause__, cur.__context__])
    found = _luxit_error_from_text("\n".join(texts) or str(exc))
    return found if found is not None else exc


def _luxit_error_from_text(text: str) -> LuxitError | None:
    import re

    found = None
    for m in re.finditer(r"^luxit_ray\.errors\.(\w+): (.*)$", text, flags=re.MULTILINE):
        cls = globals().get(m.group(1))
        if isinstance(cls, type) and issubclass(cls, LuxitError):
            found = (cls, m.group(2))
    if found is None:
        return None
    cls, message = found
    # ConfigError/InputError take structured arguments; rebuild with the message as given.
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    return err
