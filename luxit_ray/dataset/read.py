"""Readers and score statistics that the dataset export, the review and the report share.

``parquet_files`` and ``read_folder`` read a step's Parquet folder cast to its contract schema;
``score_bin``, ``score_distribution`` and ``all_top_count`` summarise judge (or human) scores the
same way everywhere (a fractional aggregate counts in the bin of its integer part).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from luxit_ray import schema as S
from luxit_ray.errors import InputError


def parquet_files(folder: Path) -> list[Path]:
    """The data files of a Parquet folder written by Ray Data (markers and hidden files skipped)."""
    if not folder.is_dir():
        return []
    out = []
    for p in folder.rglob("*.parquet"):
        rel = p.relative_to(folder).parts
        if not any(part.startswith(("_", ".")) for part in rel):
            out.append(p)
    return sorted(out)


def read_folder(folder: Path, columns: Sequence[str], schema: pa.Schema = S.JUDGED_SCHEMA) -> pa.Table:
    """Read ``columns`` of every Parquet file under ``folder`` into one table typed by ``schema``.

    Ray Data writes one file per block, and a block whose column is all null may carry the
    ``null`` type; each file is cast to the contract's types before the files are joined.

    Args:
        folder: a step's output folder (may be missing: an empty table is returned).
        columns: column names, all present in ``schema``.
        schema: the contract schema the columns are taken from.

    Raises:
        InputError: a file lacks one of ``columns`` or cannot be cast.
    """
    target = pa.schema([schema.field(c).with_nullable(True) for c in columns])
    tables = []
    for path in parquet_files(folder):
        have = pq.read_schema(path).names
        missing = S.missing_columns(have, list(columns))
        if missing:
            raise InputError(str(path), "", f"missing column(s) {missing}")
        table = pq.read_table(path, columns=list(columns))
        try:
            tables.append(table.select(list(columns)).cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(str(path), "", f"cannot read as {target}: {exc}") from None
    if not tables:
        return target.empty_table()
    return pa.concat_tables(tables)


def score_bin(value: float) -> int:
    """The 1/2/3 bin of an aggregate score: its integer part, so 2.5 (a mean) counts as 2.

    With the paper's keep rule (every score >= 2) the score-1 bin is exactly the failing scores.
    """
    return int(min(3, max(1, math.floor(value + 1e-9))))


def score_distribution(values: Iterable[float | None]) -> dict[str, Any]:
    """Counts, shares, mean and median of one criterion's scores (nulls ignored).

    Returns:
        {"n", "counts": {"1","2","3"}, "shares": {"1","2","3"}, "mean", "median"}; mean and
        median are None when there are no scores.
    """
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    counts = Counter(score_bin(v) for v in vals)
    n = len(vals)
    return {
        "n": n,
        "counts": {str(k): counts.get(k, 0) for k in (1, 2, 3)},
        "shares": {str(k): (counts.get(k, 0) / n if n else None) for k in (1, 2, 3)},
        "mean": statistics.fmean(vals) if n else None,
        "median": statistics.median(vals) if n else None,
    }


def all_top_count(rows: Sequence[dict[str, float | None]]) -> int:
    """Rows whose every criterion scored 3 (the paper's "all perfect" count)."""
    return sum(1 for r in rows if all(r.get(c) is not None and r[c] >= 3 for c in S.CRITERIA))
