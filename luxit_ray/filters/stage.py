"""FilterStage: applies the row filters, in their fixed order, to a batch of documents.

Run it with Ray Data on Arrow batches::

    ds.map_batches(
        FilterStage,
        fn_constructor_kwargs={"filters_cfg": cfg.filters.model_dump(mode="json")},
        batch_format="pyarrow",
        concurrency=1,
        num_cpus=0.5,
        udf_modifying_row_count=False,
    )

Arrow is the chosen batch format: the stage reads a few string columns and replaces two, so the
other columns (the text above all) pass through without a pandas round trip.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from luxit_ray.config.prepare import FiltersConfig
from luxit_ray.filters.base import (
    BOILERPLATE,
    DEDUP,
    LANGID,
    MIN_LENGTH,
    NON_PROSE,
    PAGE_KIND,
    RowFilter,
)
from luxit_ray.filters.langid import LangIdFilter
from luxit_ray.filters.length import MinLengthFilter
from luxit_ray.filters.nonprose import NonProseFilter
from luxit_ray.filters.page_kind import PageKindFilter
from luxit_ray.schema import DROP_FILTER, DROP_REASON, missing_columns

log = logging.getLogger(__name__)

# The order pipeline.py follows. Before these, the sources quarantine bad input and drop
# unwanted news types; boilerplate is a text transform (it drops nothing) and dedup works on the
# whole dataset, so both run outside FilterStage.
FILTER_ORDER: tuple[str, ...] = (PAGE_KIND, BOILERPLATE, MIN_LENGTH, NON_PROSE, LANGID, DEDUP)

# The row filters FilterStage can run, in their order.
ROW_FILTER_ORDER: tuple[str, ...] = (PAGE_KIND, MIN_LENGTH, NON_PROSE, LANGID)


def build_row_filters(
    filters_cfg: FiltersConfig, names: Sequence[str] | None = None
) -> list[RowFilter]:
    """The enabled row filters in the fixed order page_kind -> min_length -> non_prose -> langid.

    Args:
        filters_cfg: the ``filters`` section of the job config.
        names: run only these filters (still in the fixed order); None runs all of them.

    Raises:
        ValueError: ``names`` holds a name that is not a row filter.
    """
    wanted = ROW_FILTER_ORDER if names is None else tuple(names)
    unknown = [n for n in wanted if n not in ROW_FILTER_ORDER]
    if unknown:
        raise ValueError(f"unknown row filter(s) {unknown}; known: {list(ROW_FILTER_ORDER)}")
    out: list[RowFilter] = []
    for name in ROW_FILTER_ORDER:
        if name not in wanted:
            continue
        if name == PAGE_KIND and filters_cfg.drop_page_kinds:
            out.append(PageKindFilter(filters_cfg.drop_page_kinds))
        elif name == MIN_LENGTH:
            out.append(MinLengthFilter(filters_cfg.min_chars))
        elif name == NON_PROSE and filters_cfg.nonprose.enabled:
            out.append(NonProseFilter(filters_cfg.nonprose))
        elif name == LANGID and filters_cfg.langid.enabled:
            out.append(LangIdFilter(filters_cfg.langid))
    return out


def as_arrow(batch: Any) -> pa.Table:
    """An Arrow table from a pyarrow, pandas or dict-of-columns batch."""
    if isinstance(batch, pa.Table):
        return batch
    if isinstance(batch, dict):
        return pa.table(batch)
    return pa.Table.from_pandas(batch, preserve_index=False)


def with_drop_columns(table: pa.Table) -> pa.Table:
    """Add null drop_filter / drop_reason columns when a batch lacks them (typed as strings:
    an all-null column read from pandas would otherwise be of the null type)."""
    for name in (DROP_FILTER, DROP_REASON):
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
        elif table.schema.field(name).type != pa.string():
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(i).cast(pa.string()))
    return table


def set_string_column(table: pa.Table, name: str, values: list[str | None]) -> pa.Table:
    """Replace a column by a string array built from ``values``."""
    return table.set_column(table.column_names.index(name), name, pa.array(values, pa.string()))


class FilterStage:
    """Applies row filters to live rows and records the first rejection.

    Input columns: those the filters read (source_type, title, text, page_kind), plus
    drop_filter / drop_reason when present (added as nulls otherwise). Output columns: the input
    columns, with drop_filter / drop_reason set on rows a filter rejected. Rows already rejected
    (drop_reason not null) pass through untouched. One row in, one row out.

    A filter that raises on a row rejects it with ``error: <type>: <message>`` under its own
    name, so the row shows up in the rejects and the counts instead of killing the job.

    Attributes:
        counts: rows seen, rows newly dropped per filter, and rows kept, for this instance.
    """

    def __init__(self, filters_cfg: dict[str, Any], names: Sequence[str] | None = None) -> None:
        """Build the filters once per actor.

        Args:
            filters_cfg: ``FiltersConfig.model_dump()`` (a plain dict pickles cheaply).
            names: run only these row filters; None runs all enabled ones.
        """
        self.filters = build_row_filters(FiltersConfig.model_validate(filters_cfg), names)
        self.read_columns = sorted({c for f in self.filters for c in f.columns})
        self.counts: Counter[str] = Counter()
        self._checked = False

    def __call__(self, batch: Any) -> pa.Table:
        table = with_drop_columns(as_arrow(batch))
        if not self._checked:
            missing = missing_columns(table.column_names, self.read_columns)
            if missing:
                names = [f.name for f in self.filters]
                raise ValueError(f"FilterStage {names}: batch lacks column(s) {missing}")
            self._checked = True
        if not self.filters or table.num_rows == 0:
            return table
        rows = table.select(self.read_columns).to_pylist()
        drop_filter = table.column(DROP_FILTER).to_pylist()
        drop_reason = table.column(DROP_REASON).to_pylist()
        changed = False
        for i, row in enumerate(rows):
            self.counts["rows"] += 1
            if drop_reason[i] is not None:
                continue
            for f in self.filters:
                try:
                    reason = f(row)
                except Exception as exc:  # recorded on the row, see the class docstring
                    log.warning("filter %s failed on a row: %s: %s", f.name, type(exc).__name__, exc)
                    reason = f"error: {type(exc).__name__}: {exc}"
                if reason is not None:
                    drop_filter[i] = f.name
                    drop_reason[i] = reason
                    self.counts[f.name] += 1
                    changed = True
                    break
            else:
                self.counts["kept"] += 1
        if not changed:
            return table
        table = set_string_column(table, DROP_FILTER, drop_filter)
        return set_string_column(table, DROP_REASON, drop_reason)
