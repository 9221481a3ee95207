"""Wikipedia page kinds the paper excludes: list articles, disambiguation pages, stubs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from luxit_ray.filters.base import PAGE_KIND
from luxit_ray.schema import PAGE_KIND as PAGE_KIND_COLUMN


class PageKindFilter:
    """Drops rows whose ``page_kind`` is one of ``drop_kinds``.

    Input columns: page_kind (null for non-wiki sources, which always pass).
    Reason: ``page_kind: list``.
    """

    name = PAGE_KIND
    columns = (PAGE_KIND_COLUMN,)

    def __init__(self, drop_kinds: Iterable[str]) -> None:
        self.drop_kinds = frozenset(drop_kinds)

    def __call__(self, row: dict[str, Any]) -> str | None:
        kind = row.get(PAGE_KIND_COLUMN)
        if kind and kind in self.drop_kinds:
            return f"page_kind: {kind}"
        return None
