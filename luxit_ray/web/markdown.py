"""Markdown to HTML that is safe to put in a page: model answers are untrusted text.

markdown-it's ``js-default`` preset (CommonMark) with raw HTML off: ``<script>`` or
``<img onerror=...>`` in an answer come out as visible text, and links are checked (no
``javascript:``, ``vbscript:``, ``file:`` or non-image ``data:`` URLs). Tables and strikethrough
are on, as models write them.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    return MarkdownIt("js-default", {"html": False, "linkify": False, "breaks": True}).enable(["table", "strikethrough"])


def render_markdown(text: str | None) -> str:
    """HTML for ``text`` (empty for None)."""
    return _renderer().render(text or "")
