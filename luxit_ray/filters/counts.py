"""Per-filter, per-source row counts for the manifest and the summary table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from luxit_ray.filters.base import KEPT
from luxit_ray.filters.stage import as_arrow
from luxit_ray.schema import DROP_FILTER, SOURCE

if TYPE_CHECKING:
    import ray.data

_COUNT = "n"


def _label_kept(batch: Any) -> pa.Table:
    """(drop_filter, source) of a batch, with live rows labelled ``kept``."""
    table = as_arrow(batch)
    filt = (
        table.column(DROP_FILTER).cast(pa.string())
        if DROP_FILTER in table.column_names
        else pa.nulls(table.num_rows, pa.string())
    )
    return pa.table(
        {DROP_FILTER: pc.fill_null(filt, KEPT), SOURCE: table.column(SOURCE).cast(pa.string())}
    )


def _count_batch(batch: Any) -> pa.Table:
    """Map step: rows per (drop_filter, source) in one batch."""
    grouped = _label_kept(batch).group_by([DROP_FILTER, SOURCE]).aggregate([([], "count_all")])
    return grouped.rename_columns({"count_all": _COUNT}).select([DROP_FILTER, SOURCE, _COUNT])


def _nest(table: pa.Table) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for filt, source, n in zip(
        table.column(DROP_FILTER).to_pylist(),
        table.column(SOURCE).to_pylist(),
        table.column(_COUNT).to_pylist(),
        strict=True,
    ):
        out.setdefault(filt, {})[source] = int(n)
    return {f: dict(sorted(by_source.items())) for f, by_source in sorted(out.items())}


def count_drops(data: ray.data.Dataset | pa.Table) -> dict[str, dict[str, int]]:
    """Rows per drop_filter and source: ``{"min_length": {"rtl": 12}, "kept": {"rtl": 80}}``.

    Live rows (drop_filter null) are counted under ``"kept"``. A Ray dataset is counted per
    batch by ``map_batches``, then summed with ``groupby([drop_filter, source])``; an Arrow
    table (or a batch) is counted locally.
    """
    if isinstance(data, pa.Table) or not hasattr(data, "groupby"):
        return _nest(_count_batch(data))
    from ray.data.aggregate import Sum

    # After per-batch counting only (filter, source) pairs remain: one partition is plenty.
    grouped = (
        data.map_batches(_count_batch, batch_format="pyarrow")
        .groupby([DROP_FILTER, SOURCE], num_partitions=1)
        .aggregate(Sum(_COUNT, alias_name=_COUNT))
    )
    rows = grouped.take_all()
    if not rows:
        return {}
    return _nest(pa.Table.from_pylist(rows))
