"""Seed sampling by per-source quotas with a fixed seed.

Each document gets a rank ``sha256(f"{seed}:{doc_id}")``; a source with quota k keeps its k
lowest-ranked documents. The draw therefore depends only on the seed and the set of doc ids, not
on block order, partitioning or the number of workers, and growing a quota only adds documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from luxit_ray import schema


def rank(seed: int, doc_id: str) -> int:
    """The document's position in the seeded random order (lower = drawn first)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()[:8], "big")


def draw(ids_by_source: Mapping[str, Iterable[str]], quotas: Mapping[str, int | str], seed: int) -> dict[str, list[str]]:
    """Doc ids drawn per source; a source without a quota (or with "all") keeps every id.

    Returns:
        source -> drawn doc ids, in rank order.
    """
    out: dict[str, list[str]] = {}
    for source, ids in ids_by_source.items():
        ordered = sorted(ids, key=lambda d: rank(seed, d))
        quota = quotas.get(source, "all")
        out[source] = ordered if quota == "all" else ordered[: int(quota)]
    return out


def keep_ids(batch: pa.Table, keep: Any) -> pa.Table:
    """Map step: the rows of a batch whose doc_id is in ``keep``.

    Args:
        batch: Arrow rows with a doc_id column.
        keep: the drawn doc ids as a pyarrow string array, or a Ray ObjectRef to one (put once in
            the object store, so each task reads it from shared memory instead of its arguments).
    """
    if not isinstance(keep, (pa.Array, pa.ChunkedArray)):
        import ray

        keep = ray.get(keep)
    return batch.filter(pc.is_in(batch[schema.DOC_ID], value_set=keep))
