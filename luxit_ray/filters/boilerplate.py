"""Boilerplate removal: lines that recur across many documents of one source.

Credits ("Foto: ..."), share prompts, agency lines and newsletter calls repeat word for word
across a news source. They are learned from the corpus itself, per source, and removed from the
text; removal is a transform, never a drop (the min_length filter runs afterwards on the cleaned
text).

A line is compared after whitespace normalisation (runs of whitespace become one space, ends
stripped); lines longer than ``max_line_chars`` are never boilerplate. A line is boilerplate for
a source when it occurs in at least ``min_docs`` documents of that source and in at least
``min_doc_fraction`` of them (each document counts a line once).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from luxit_ray.config.prepare import BoilerplateConfig
from luxit_ray.filters.base import normalise_whitespace
from luxit_ray.filters.stage import as_arrow
from luxit_ray.schema import DROP_REASON, METADATA, SOURCE, SOURCE_TYPE, TEXT, missing_columns

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger(__name__)

# Key written into the row's metadata JSON by BoilerplateStage.
REMOVED_KEY = "boilerplate_lines_removed"

# line_hash value that carries the number of documents of a source (no line hashes to it).
_DOCS = 0
_HASH = "line_hash"
_N = "n"
_LINE = "line"
_BLANK_RUNS = re.compile(r"\n{3,}")

_COUNT_SCHEMA = pa.schema([(SOURCE, pa.string()), (_HASH, pa.int64()), (_N, pa.int64())])
_LINE_SCHEMA = pa.schema([(SOURCE, pa.string()), (_HASH, pa.int64()), (_LINE, pa.string())])


def line_key(line: str, max_line_chars: int) -> str | None:
    """The normalised form under which a line is counted, or None when it cannot be boilerplate."""
    key = normalise_whitespace(line)
    if not key or len(key) > max_line_chars:
        return None
    return key


def line_hash(key: str) -> int:
    """A stable signed 64-bit hash of a normalised line (never 0, which is reserved)."""
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little", signed=True)
    return h or 1


def _candidate_keys(text: str | None, max_line_chars: int) -> set[str]:
    keys = set()
    for line in (text or "").split("\n"):
        key = line_key(line, max_line_chars)
        if key is not None:
            keys.add(key)
    return keys


def _eligible(table: pa.Table, source_types: frozenset[str]) -> Iterable[tuple[str, str | None]]:
    """(source, text) of the live rows of the wanted source types."""
    reasons = (
        table.column(DROP_REASON).to_pylist()
        if DROP_REASON in table.column_names
        else [None] * table.num_rows
    )
    for source, stype, text, reason in zip(
        table.column(SOURCE).to_pylist(),
        table.column(SOURCE_TYPE).to_pylist(),
        table.column(TEXT).to_pylist(),
        reasons,
        strict=True,
    ):
        if reason is None and stype in source_types:
            yield source, text


def count_line_hashes(batch: Any, source_types: list[str], max_line_chars: int) -> pa.Table:
    """Map step: (source, line_hash, n docs) for one batch, plus (source, 0, n docs) per source."""
    table = as_arrow(batch)
    counts: Counter[tuple[str, int]] = Counter()
    for source, text in _eligible(table, frozenset(source_types)):
        counts[(source, _DOCS)] += 1
        for key in _candidate_keys(text, max_line_chars):
            counts[(source, line_hash(key))] += 1
    if not counts:
        return _COUNT_SCHEMA.empty_table()
    keys = list(counts)
    return pa.table(
        {
            SOURCE: [k[0] for k in keys],
            _HASH: pa.array([k[1] for k in keys], pa.int64()),
            _N: pa.array(list(counts.values()), pa.int64()),
        },
        schema=_COUNT_SCHEMA,
    )


def find_lines(
    batch: Any, wanted: dict[str, list[int]], source_types: list[str], max_line_chars: int
) -> pa.Table:
    """Map step: the text of the wanted line hashes, once per (source, hash) in this batch."""
    table = as_arrow(batch)
    want = {s: set(hs) for s, hs in wanted.items()}
    found: dict[tuple[str, int], str] = {}
    for source, text in _eligible(table, frozenset(source_types)):
        hashes = want.get(source)
        if not hashes:
            continue
        for key in _candidate_keys(text, max_line_chars):
            h = line_hash(key)
            if h in hashes:
                prev = found.get((source, h))
                found[(source, h)] = key if prev is None else min(prev, key)
    if not found:
        return _LINE_SCHEMA.empty_table()
    keys = list(found)
    return pa.table(
        {
            SOURCE: [k[0] for k in keys],
            _HASH: pa.array([k[1] for k in keys], pa.int64()),
            _LINE: list(found.values()),
        },
        schema=_LINE_SCHEMA,
    )


def learn_boilerplate(ds: ray.data.Dataset, cfg: BoilerplateConfig) -> dict[str, list[str]]:
    """Learn each source's boilerplate lines from a dataset of documents.

    Two streaming passes over ``ds`` (so materialise it first if its upstream is costly), no
    shuffle:

    1. ``map_batches`` turns each batch into (source, line hash, documents) counts, which the
       driver sums as they arrive (:class:`_CountCombiner`).
    2. ``map_batches`` fetches the text of the hashes over the thresholds; the pass stops as soon
       as every one has its text, which for lines in ``min_doc_fraction`` of a source is
       usually within the first blocks of that source.

    Memory: the driver holds one 64-bit hash and count per distinct (source, short line) pair
    (about 30 bytes each: ~30 MB for a million distinct lines), never any text but the learned
    lines'. A Ray Data groupby did the same sum before; on a 2-CPU machine its shuffle cost
    more than the counting itself (37 s of the 179 s preparation of 70k documents).

    Only live rows (drop_reason null) of ``cfg.source_types`` are read.

    Returns:
        source -> its boilerplate lines (normalised), most frequent first, ties by text. Every
        source with eligible documents is a key, with an empty list when nothing recurs.
    """
    if not cfg.enabled:
        return {}
    kwargs = {"source_types": list(cfg.source_types), "max_line_chars": cfg.max_line_chars}
    names = ds.schema().names
    ds = ds.select_columns([c for c in (SOURCE, SOURCE_TYPE, TEXT, DROP_REASON) if c in names])
    combiner = _CountCombiner()
    for block in ds.map_batches(count_line_hashes, fn_kwargs=kwargs, batch_format="pyarrow").iter_batches(
        batch_size=None, batch_format="pyarrow"
    ):
        combiner.add(block)
    docs, wanted = select_hashes(combiner.result(), cfg)
    if not wanted:
        return name_lines(docs, wanted, _LINE_SCHEMA.empty_table())
    todo = {(s, h) for s, hs in wanted.items() for h in hs}
    found = []
    texts = iter(ds.map_batches(
        find_lines,
        fn_kwargs={"wanted": {s: list(hs) for s, hs in wanted.items()}, **kwargs},
        batch_format="pyarrow",
    ).iter_batches(batch_size=None, batch_format="pyarrow"))
    for block in texts:
        if block.num_rows:
            found.append(block.select(_LINE_SCHEMA.names).cast(_LINE_SCHEMA))
            todo -= set(zip(block.column(SOURCE).to_pylist(), block.column(_HASH).to_pylist(), strict=True))
        if not todo:
            break
    if hasattr(texts, "close"):  # a generator: stop the rest of the pass now
        texts.close()
    return name_lines(docs, wanted, pa.concat_tables(found) if found else _LINE_SCHEMA.empty_table())


class _CountCombiner:
    """Sums (source, line_hash, n) tables as they arrive, compacting every ``compact_rows``."""

    def __init__(self, compact_rows: int = 2_000_000) -> None:
        self.compact_rows = compact_rows
        self._tables: list[pa.Table] = []
        self._rows = 0

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._tables.append(table.select(_COUNT_SCHEMA.names).cast(_COUNT_SCHEMA))
        self._rows += table.num_rows
        if self._rows >= self.compact_rows:
            self._compact()
            # Still big after summing: the distinct lines themselves; compact less often.
            self.compact_rows = max(self.compact_rows, 2 * self._rows)

    def _compact(self) -> None:
        if len(self._tables) > 1:
            summed = pa.concat_tables(self._tables).group_by([SOURCE, _HASH]).aggregate([(_N, "sum")])
            summed = summed.rename_columns({f"{_N}_sum": _N})
            self._tables = [summed.select(_COUNT_SCHEMA.names).cast(_COUNT_SCHEMA)]
        self._rows = sum(t.num_rows for t in self._tables)

    def result(self) -> pa.Table:
        """Every (source, line_hash) with its total count."""
        self._compact()
        return self._tables[0] if self._tables else _COUNT_SCHEMA.empty_table()


def learn_boilerplate_local(table: pa.Table, cfg: BoilerplateConfig) -> dict[str, list[str]]:
    """``learn_boilerplate`` on one in-memory Arrow table, without Ray (same result)."""
    if not cfg.enabled:
        return {}
    kwargs = {"source_types": list(cfg.source_types), "max_line_chars": cfg.max_line_chars}
    docs, wanted = select_hashes(count_line_hashes(table, **kwargs), cfg)
    wanted_lists = {s: list(hs) for s, hs in wanted.items()}
    return name_lines(docs, wanted, find_lines(table, wanted_lists, **kwargs))


def select_hashes(
    counts: pa.Table, cfg: BoilerplateConfig
) -> tuple[dict[str, int], dict[str, dict[int, int]]]:
    """Apply the thresholds to corpus-wide counts (rows of ``count_line_hashes``, summed).

    Returns:
        (documents per source, source -> {boilerplate line hash: documents it occurs in}).
    """
    docs: dict[str, int] = {}
    per_hash: list[tuple[str, int, int]] = []
    for source, h, n in zip(
        counts.column(SOURCE).to_pylist(),
        counts.column(_HASH).to_pylist(),
        counts.column(_N).to_pylist(),
        strict=True,
    ):
        if h == _DOCS:
            docs[source] = n
        else:
            per_hash.append((source, h, n))
    wanted: dict[str, dict[int, int]] = {}
    for source, h, n in per_hash:
        if n >= cfg.min_docs and n >= cfg.min_doc_fraction * docs.get(source, 0):
            wanted.setdefault(source, {})[h] = n
    return docs, wanted


def name_lines(
    docs: dict[str, int], wanted: dict[str, dict[int, int]], texts: pa.Table
) -> dict[str, list[str]]:
    """Turn the selected hashes into lines (rows of ``find_lines``), most frequent first."""
    line_of: dict[tuple[str, int], str] = {}
    for source, h, line in zip(
        texts.column(SOURCE).to_pylist(),
        texts.column(_HASH).to_pylist(),
        texts.column(_LINE).to_pylist(),
        strict=True,
    ):
        prev = line_of.get((source, h))
        line_of[(source, h)] = line if prev is None else min(prev, line)
    out: dict[str, list[str]] = {source: [] for source in sorted(docs)}
    for source, hashes in wanted.items():
        found = sorted((-n, line_of[(source, h)]) for h, n in hashes.items() if (source, h) in line_of)
        out[source] = [line for _, line in found]
    for source, lines in out.items():
        log.info("boilerplate: %s: %d line(s) learned from %d docs", source, len(lines), docs[source])
    return out


def _add_to_metadata(metadata: str | None, removed: int) -> str:
    """The metadata JSON with the removed-line count added (a non-object value is kept aside)."""
    data: Any = {}
    if metadata:
        try:
            data = json.loads(metadata)
        except json.JSONDecodeError:
            data = {"metadata_raw": metadata}
    if not isinstance(data, dict):
        data = {"metadata_raw": data}
    data[REMOVED_KEY] = removed
    return json.dumps(data, ensure_ascii=False)


class BoilerplateStage:
    """Removes learned boilerplate lines from the text of live rows.

    Input columns: source, text, metadata (and drop_reason, when present). Output columns: the
    same; ``text`` loses every line whose normalised form is boilerplate for the row's source,
    blank-line runs left behind collapse to one blank line and the ends are stripped; when lines
    were removed, their number is written into the metadata JSON under
    ``boilerplate_lines_removed``. Rows of other sources, rows with nothing to remove and
    rejected rows pass through untouched. One row in, one row out.

    Attributes:
        counts: rows seen, rows changed and lines removed, for this instance.
    """

    def __init__(self, lines_by_source: dict[str, list[str]]) -> None:
        """Keep the line sets.

        Args:
            lines_by_source: the result of ``learn_boilerplate`` (source -> lines).
        """
        self.lines = {
            s: frozenset(normalise_whitespace(x) for x in ls) for s, ls in lines_by_source.items() if ls
        }
        self.counts: Counter[str] = Counter()
        self._checked = False

    def clean(self, source: str, text: str) -> tuple[str, int]:
        """Return (cleaned text, lines removed) for one document."""
        lines = self.lines.get(source)
        if not lines or not text:
            return text, 0
        kept = []
        removed = 0
        for line in text.split("\n"):
            if normalise_whitespace(line) in lines:
                removed += 1
            else:
                kept.append(line)
        if not removed:
            return text, 0
        return _BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip(), removed

    def __call__(self, batch: Any) -> pa.Table:
        table = as_arrow(batch)
        if not self._checked:
            missing = missing_columns(table.column_names, [SOURCE, TEXT, METADATA])
            if missing:
                raise ValueError(f"BoilerplateStage: batch lacks column(s) {missing}")
            self._checked = True
        if not self.lines or table.num_rows == 0:
            return table
        sources = table.column(SOURCE).to_pylist()
        texts = table.column(TEXT).to_pylist()
        metas = table.column(METADATA).to_pylist()
        reasons = (
            table.column(DROP_REASON).to_pylist()
            if DROP_REASON in table.column_names
            else [None] * table.num_rows
        )
        changed = False
        for i, source in enumerate(sources):
            self.counts["rows"] += 1
            if reasons[i] is not None or source not in self.lines or not texts[i]:
                continue
            text, removed = self.clean(source, texts[i])
            if removed:
                texts[i] = text
                metas[i] = _add_to_metadata(metas[i], removed)
                self.counts["changed"] += 1
                self.counts["lines_removed"] += removed
                changed = True
        if not changed:
            return table
        for name, values in ((TEXT, texts), (METADATA, metas)):
            i = table.column_names.index(name)
            table = table.set_column(i, name, pa.array(values, pa.string()))
        return table
