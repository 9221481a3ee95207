"""Stages: callable classes run by ``ds.map_batches``, one per module (generate, judge, export).

Stages never import each other; the few helpers they share live here and import nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from luxit_ray.errors import InputError
from luxit_ray.schema import missing_columns


def batch_columns(batch: pa.Table | Mapping[str, Any]) -> list[str]:
    """Column names of a batch (a pyarrow Table or a dict of columns)."""
    return list(batch.column_names) if isinstance(batch, pa.Table) else list(batch.keys())


def batch_rows(batch: pa.Table | Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """A batch as a list of row dicts (pyarrow Table, dict of lists or of numpy arrays)."""
    if isinstance(batch, pa.Table):
        return batch.to_pylist()
    cols = {k: (v.tolist() if hasattr(v, "tolist") else list(v)) for k, v in batch.items()}
    n = len(next(iter(cols.values()))) if cols else 0
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def check_columns(stage: str, batch: pa.Table | Mapping[str, Any], required: Sequence[str]) -> None:
    """Raise InputError naming the columns a stage needs but the batch lacks.

    Raises:
        InputError: one or more required columns are missing.
    """
    present = batch_columns(batch)
    missing = missing_columns(present, list(required))
    if missing:
        raise InputError(stage, "input columns", f"missing column(s) {missing}; the batch has {present}")
