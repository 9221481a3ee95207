"""Heuristic filters: predicates that return a drop reason or None, and the stages that run them.

Order followed by pipeline.py (after the sources' quarantine and news-type selection)::

    page_kind -> (boilerplate transform) -> min_length -> non_prose -> langid -> dedup

Row filters run inside ``FilterStage``; boilerplate is learned with ``learn_boilerplate`` and
removed by ``BoilerplateStage``; ``dedup`` works on the whole dataset. Preparation runs the
per-document part in one pass, ``ScreenStage`` (boilerplate -> row filters -> dedup signatures),
then ``dedup_signed`` reads only the signatures to mark the duplicates.
"""

from luxit_ray.filters.base import (
    BOILERPLATE,
    DEDUP,
    KEPT,
    LANGID,
    MIN_LENGTH,
    NON_PROSE,
    PAGE_KIND,
    RowFilter,
)
from luxit_ray.filters.boilerplate import (
    BoilerplateStage,
    LearnedBoilerplate,
    learn_boilerplate,
    learn_boilerplate_local,
    learn_boilerplate_stats,
    learn_boilerplate_stats_local,
)
from luxit_ray.filters.counts import count_drops
from luxit_ray.filters.dedup import add_signatures, dedup, dedup_signed, find_duplicates
from luxit_ray.filters.langid import LangIdFilter, default_model_path
from luxit_ray.filters.length import MinLengthFilter
from luxit_ray.filters.nonprose import NonProseFilter
from luxit_ray.filters.page_kind import PageKindFilter
from luxit_ray.filters.screen import ScreenStage
from luxit_ray.filters.stage import (
    FILTER_ORDER,
    ROW_FILTER_ORDER,
    FilterStage,
    build_row_filters,
)

__all__ = [
    "BOILERPLATE",
    "DEDUP",
    "FILTER_ORDER",
    "KEPT",
    "LANGID",
    "MIN_LENGTH",
    "NON_PROSE",
    "PAGE_KIND",
    "ROW_FILTER_ORDER",
    "BoilerplateStage",
    "FilterStage",
    "LangIdFilter",
    "LearnedBoilerplate",
    "MinLengthFilter",
    "NonProseFilter",
    "PageKindFilter",
    "RowFilter",
    "ScreenStage",
    "add_signatures",
    "build_row_filters",
    "count_drops",
    "dedup",
    "dedup_signed",
    "default_model_path",
    "find_duplicates",
    "learn_boilerplate",
    "learn_boilerplate_local",
    "learn_boilerplate_stats",
    "learn_boilerplate_stats_local",
]
