"""Minimum length of the cleaned text (the paper keeps articles of at least 750 characters)."""

from __future__ import annotations

from typing import Any

from luxit_ray.filters.base import MIN_LENGTH, text_of
from luxit_ray.schema import TEXT


class MinLengthFilter:
    """Drops rows whose stripped ``text`` has fewer than ``min_chars`` characters.

    Input columns: text. Reason: ``too_short: 412 < 750 chars``.
    Characters are Unicode code points (``len`` of the str), not bytes.
    """

    name = MIN_LENGTH
    columns = (TEXT,)

    def __init__(self, min_chars: int) -> None:
        if min_chars < 0:
            raise ValueError(f"min_chars must be >= 0, got {min_chars}")
        self.min_chars = min_chars

    def __call__(self, row: dict[str, Any]) -> str | None:
        n = len(text_of(row, TEXT).strip())
        if n < self.min_chars:
            return f"too_short: {n} < {self.min_chars} chars"
        return None
