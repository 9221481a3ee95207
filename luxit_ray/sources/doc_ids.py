"""Doc ids must be unique: the check of the parsed documents before any filter runs.

A record without a native id gets its file and position as id (``position_id``), so only
NATIVE ids can repeat: the same ``article_id`` twice in a news export, the same page id in two
dump files. Deduplication keys its decisions by doc id, so a repeat is bad input, handled by
``run.on_bad_input`` right after reading (not after every filter has run):

- ``fail``: one InputError naming the later copy's file and position, the id, and where the
  first copy was read;
- ``quarantine``: every later copy becomes a ``drop_filter="input"`` row whose reason says the
  same; the first copy (in file order) goes on.

Only rows still live after reading are compared; rows the reader already set aside (bad input,
excluded news types, redirects, other namespaces) may share an id with anything.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from luxit_ray.errors import InputError
from luxit_ray.schema import DOC_ID, DROP_FILTER, DROP_REASON, ORIGIN
from luxit_ray.sources.common import INPUT_FILTER, origin_sort_key


def repeated_ids(table: pa.Table) -> list[tuple[str, str, str]]:
    """``(doc_id, origin of a later copy, origin of the first copy)`` for every repeat.

    Args:
        table: at least the doc_id, origin and drop_filter columns of the documents.

    Returns:
        one tuple per later copy, in (file, position) order of the later copies.
    """
    live = table.filter(pc.is_null(table.column(DROP_FILTER))) if DROP_FILTER in table.column_names else table
    ids = live.column(DOC_ID)
    counts = pc.value_counts(ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    if len(repeated) == 0:
        return []
    rows = live.filter(pc.is_in(ids, value_set=repeated)).select([DOC_ID, ORIGIN]).to_pylist()
    rows.sort(key=lambda r: origin_sort_key(r[ORIGIN]))
    first: dict[str, str] = {}
    out = []
    for r in rows:
        kept = first.setdefault(r[DOC_ID], r[ORIGIN])
        if kept != r[ORIGIN]:
            out.append((r[DOC_ID], r[ORIGIN], kept))
    out.sort(key=lambda t: origin_sort_key(t[1]))
    return out


def check_doc_ids(table: pa.Table, policy: str) -> pa.Table:
    """Apply ``on_bad_input`` to repeated native doc ids.

    Args:
        table: the doc_id, origin and drop_filter columns of every parsed document.
        policy: ``"fail"`` or ``"quarantine"``.

    Returns:
        (origin, drop_reason) of the rows to quarantine (empty when no id repeats).

    Raises:
        InputError: fail mode and some doc id repeats (names the first repeat, and how many).
    """
    repeats = repeated_ids(table)
    out_schema = pa.schema([(ORIGIN, pa.string()), (DROP_REASON, pa.string())])
    if not repeats:
        return out_schema.empty_table()
    reasons = [f"{later}: doc_id {doc_id!r} occurs more than once (first at {first})"
               for doc_id, later, first in repeats]
    if policy == "fail":
        doc_id, later, first = repeats[0]
        label, _, where = later.rpartition(":")
        raise InputError(label, where, (
            f"doc_id {doc_id!r} occurs more than once (first at {first}); {len(repeats)} repeated id(s) in all "
            "(run.on_bad_input=quarantine sets the later copies aside)"))
    return pa.table({ORIGIN: [r[1] for r in repeats], DROP_REASON: reasons}, schema=out_schema)


def quarantine_at(batch: Any, drops: Any) -> pa.Table:
    """Map step: rows whose origin is in ``drops`` become ``drop_filter="input"`` rows.

    Args:
        batch: a pyarrow batch of documents (REJECT_SCHEMA columns).
        drops: the table ``check_doc_ids`` returned (or an ObjectRef of it).
    """
    import ray

    if isinstance(drops, ray.ObjectRef):
        drops = ray.get(drops)
    table = batch if isinstance(batch, pa.Table) else pa.table(batch)
    if table.num_rows == 0 or drops.num_rows == 0:
        return table
    pos = pc.index_in(table.column(ORIGIN), value_set=drops.column(ORIGIN))
    hit = pc.and_(pc.is_valid(pos), pc.is_null(table.column(DROP_FILTER)))
    if not pc.any(hit).as_py():
        return table
    new_reason = pc.if_else(hit, pc.take(drops.column(DROP_REASON), pos), table.column(DROP_REASON))
    new_filter = pc.if_else(hit, pa.scalar(INPUT_FILTER, pa.string()), table.column(DROP_FILTER))
    table = table.set_column(table.column_names.index(DROP_REASON), DROP_REASON, new_reason)
    return table.set_column(table.column_names.index(DROP_FILTER), DROP_FILTER, new_filter)
