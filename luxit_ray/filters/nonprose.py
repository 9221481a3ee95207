"""Drops texts that are not running prose: results tables, schedules, listings, live tickers.

Two kinds of evidence, checked in this order:

1. a title keyword (whole word, case-insensitive) such as ``Resultater`` or ``Live-Ticker``;
2. the line structure, once a text has at least ``min_lines`` non-empty lines: many lines that
   open with a clock time (``14:05``, ``14h05``: a ticker), many short lines (a table or a
   listing), or a high share of digits among the non-space characters (scores, timetables).
"""

from __future__ import annotations

import re
from typing import Any

from luxit_ray.config.prepare import NonProseConfig
from luxit_ray.filters.base import NON_PROSE, text_of
from luxit_ray.schema import SOURCE_TYPE, TEXT, TITLE

# A line opening with a 24-hour clock time: "14:05", "9h30", "08.15 Auer" is not matched on
# purpose (a decimal number at the start of a line is common in prose lists of figures).
TIME_LINE = re.compile(r"^(?:[01]?\d|2[0-3])(?::|h)[0-5]\d(?!\d)")

# NonProseConfig has no field for the ticker rule yet: share of lines opening with a time above
# which a text counts as a ticker.


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


class NonProseFilter:
    """Drops non-prose texts of the configured source types.

    Input columns: source_type, title, text. Reasons:
    ``non_prose: title keyword 'Resultater'``, ``non_prose: 45% lines start with a time``,
    ``non_prose: 72% short lines``, ``non_prose: 31% digits``.
    """

    name = NON_PROSE
    columns = (SOURCE_TYPE, TITLE, TEXT)

    def __init__(self, cfg: NonProseConfig) -> None:
        self.cfg = cfg
        self.source_types = frozenset(cfg.source_types)
        self.max_time_line_share = cfg.max_time_line_share
        keywords = sorted({k.strip() for k in cfg.keywords if k.strip()}, key=len, reverse=True)
        # Longest first, so "Live-Ticker" wins over "Ticker" in the reason.
        self._by_fold = {k.casefold(): k for k in keywords}
        self._keyword_re = (
            re.compile(
                r"(?<!\w)(?:" + "|".join(re.escape(k) for k in keywords) + r")(?!\w)", re.IGNORECASE
            )
            if keywords
            else None
        )

    def title_keyword(self, title: str) -> str | None:
        """The configured keyword found in a title (as configured), or None."""
        if self._keyword_re is None:
            return None
        m = self._keyword_re.search(title)
        if m is None:
            return None
        return self._by_fold.get(m.group(0).casefold(), m.group(0))

    def structure_reason(self, text: str) -> str | None:
        """A drop reason from the line structure of a text, or None."""
        cfg = self.cfg
        lines = [ln.strip() for ln in text.splitlines()]
        lines = [ln for ln in lines if ln]
        if len(lines) < cfg.min_lines:
            return None
        n = len(lines)
        timed = sum(1 for ln in lines if TIME_LINE.match(ln)) / n
        if timed > self.max_time_line_share:
            return f"non_prose: {_pct(timed)} lines start with a time"
        short = sum(1 for ln in lines if len(ln) < cfg.short_line_chars) / n
        if short > cfg.max_short_line_share:
            return f"non_prose: {_pct(short)} short lines"
        chars = "".join("".join(ln.split()) for ln in lines)
        if chars:
            digits = sum(map(str.isdigit, chars)) / len(chars)  # map() in C: 3x a generator
            if digits > cfg.max_digit_share:
                return f"non_prose: {_pct(digits)} digits"
        return None

    def __call__(self, row: dict[str, Any]) -> str | None:
        if row.get(SOURCE_TYPE) not in self.source_types:
            return None
        keyword = self.title_keyword(text_of(row, TITLE))
        if keyword is not None:
            return f"non_prose: title keyword '{keyword}'"
        return self.structure_reason(text_of(row, TEXT))
