"""Boilerplate removal: lines that recur across many documents of one source.

Credits ("Foto: ..."), share prompts, agency lines and newsletter calls repeat word for word
across a news source. They are learned from the corpus itself, per source, and removed from the
text; removal is a transform, never a drop (the min_length filter runs afterwards on the cleaned
text).

A line is compared after whitespace normalisation (runs of whitespace become one space, ends
stripped); lines longer than ``max_line_chars`` are never boilerplate. Real sentences recur too
(quotes, formulaic sentences, shared leads), so the share of a source's documents a line must
occur in (each document counts a line once) depends on two things seen while counting:

- its shape: a *sentence* has at least ``sentence_min_words`` words and ends in ``. ! ? …``
  (optionally followed by a closing quote or bracket); anything else is a *fragment*;
- its place: a line is *at the edges* when, in at least ``edge_share`` of the documents holding
  it, it starts or ends within ``edge_chars`` characters of the document's start or end.

==========  ===============================  ===============================================
shape       at the edges                     elsewhere
==========  ===============================  ===============================================
fragment    ``min_doc_fraction`` (0.1%)      ``min_doc_fraction x middle_factor`` (1%)
sentence    ``sentence_doc_fraction`` (5%)   ``sentence_doc_fraction x middle_factor`` (50%)
==========  ===============================  ===============================================

and always at least ``min_docs`` documents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from luxit_ray.config.prepare import BoilerplateConfig
from luxit_ray.filters.base import normalise_whitespace
from luxit_ray.filters.stage import as_arrow
from luxit_ray.schema import DROP_REASON, METADATA, SOURCE, SOURCE_TYPE, TEXT, missing_columns

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger(__name__)

# Keys written into the row's metadata JSON by BoilerplateStage.
REMOVED_KEY = "boilerplate_lines_removed"
CHARS_KEY = "boilerplate_chars_removed"

# line_hash value whose row carries a source's totals: n = documents, edge = characters.
_DOCS = 0
_HASH = "line_hash"
_N = "n"
_EDGE = "edge"
_SENTENCE = "sentence"
_LINE = "line"
_BLANK_RUNS = re.compile(r"\n{3,}")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?…][\s\"'»«”“’)\]]*$")

_COUNT_SCHEMA = pa.schema(
    [(SOURCE, pa.string()), (_HASH, pa.int64()), (_N, pa.int64()), (_EDGE, pa.int64()), (_SENTENCE, pa.bool_())]
)
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


def is_sentence(key: str, min_words: int) -> bool:
    """True for a sentence-like line: ``min_words`` words or more, ending in . ! ? or …"""
    return bool(_SENTENCE_END.search(key)) and len(_WORD.findall(key)) >= min_words


def _candidate_keys(text: str | None, max_line_chars: int, edge_chars: int = 0) -> dict[str, bool]:
    """Each candidate line of a text -> whether one of its occurrences is at an edge."""
    text = text or ""
    tail = len(text) - edge_chars
    keys: dict[str, bool] = {}
    pos = 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        key = line_key(line, max_line_chars)
        if key is not None:
            edge = start < edge_chars or start + len(line) > tail
            keys[key] = keys.get(key, False) or edge
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


def count_line_hashes(
    batch: Any, source_types: list[str], max_line_chars: int, edge_chars: int = 0, sentence_min_words: int = 4
) -> pa.Table:
    """Map step: per (source, line_hash): documents holding the line, those holding it at an
    edge, and whether it is sentence-like; plus (source, 0): documents and characters."""
    table = as_arrow(batch)
    counts: Counter[tuple[str, int]] = Counter()
    edges: Counter[tuple[str, int]] = Counter()
    sentence: dict[tuple[str, int], bool] = {}
    for source, text in _eligible(table, frozenset(source_types)):
        counts[(source, _DOCS)] += 1
        edges[(source, _DOCS)] += len(text or "")
        for key, edge in _candidate_keys(text, max_line_chars, edge_chars).items():
            k = (source, line_hash(key))
            counts[k] += 1
            edges[k] += edge
            if k not in sentence:
                sentence[k] = is_sentence(key, sentence_min_words)
    if not counts:
        return _COUNT_SCHEMA.empty_table()
    keys = list(counts)
    return pa.table(
        {
            SOURCE: [k[0] for k in keys],
            _HASH: pa.array([k[1] for k in keys], pa.int64()),
            _N: pa.array(list(counts.values()), pa.int64()),
            _EDGE: pa.array([edges[k] for k in keys], pa.int64()),
            _SENTENCE: pa.array([sentence.get(k, False) for k in keys], pa.bool_()),
        },
        schema=_COUNT_SCHEMA,
    )


def find_lines(
    batch: Any, wanted: dict[str, list[int]], source_types: list[str], max_line_chars: int, **_: Any
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


@dataclass
class LineStats:
    """One learned line: documents holding it, the share of them with it at an edge, its shape."""

    line: str
    docs: int
    edge_share: float
    sentence: bool
    needed: float  # the share of the source's documents its shape and place required

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "docs": self.docs, "edge_share": round(self.edge_share, 3),
                "shape": "sentence" if self.sentence else "fragment", "needed_share": self.needed}


@dataclass
class LearnedBoilerplate:
    """What learning found: the lines per source, and the numbers behind them.

    Attributes:
        lines: source -> its boilerplate lines (normalised), most frequent first, ties by text.
            Every source with eligible documents is a key (an empty list when nothing recurs).
        stats: source -> LineStats of the same lines, in the same order.
        docs: source -> live documents of the cleaned source types.
        chars: source -> characters of those documents' texts (before removal).
    """

    lines: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, list[LineStats]] = field(default_factory=dict)
    docs: dict[str, int] = field(default_factory=dict)
    chars: dict[str, int] = field(default_factory=dict)

    def top(self, n: int) -> dict[str, list[dict[str, Any]]]:
        """The ``n`` most frequent learned lines per source, as plain dicts (for the manifest)."""
        return {s: [x.as_dict() for x in st[:n]] for s, st in self.stats.items()}


def _count_kwargs(cfg: BoilerplateConfig) -> dict[str, Any]:
    return {"source_types": list(cfg.source_types), "max_line_chars": cfg.max_line_chars,
            "edge_chars": cfg.edge_chars, "sentence_min_words": cfg.sentence_min_words}


def learn_boilerplate(ds: ray.data.Dataset, cfg: BoilerplateConfig) -> dict[str, list[str]]:
    """Each source's boilerplate lines (``learn_boilerplate_stats(ds, cfg).lines``)."""
    return learn_boilerplate_stats(ds, cfg).lines


def learn_boilerplate_stats(ds: ray.data.Dataset, cfg: BoilerplateConfig) -> LearnedBoilerplate:
    """Learn each source's boilerplate lines from a dataset of documents.

    Two streaming passes over ``ds`` (so materialise it first if its upstream is costly), no
    shuffle:

    1. ``map_batches`` turns each batch into (source, line hash, documents, at an edge, shape)
       counts, which the driver sums as they arrive (:class:`_CountCombiner`).
    2. ``map_batches`` fetches the text of the hashes over the thresholds; the pass stops as soon
       as every one has its text, usually within the first blocks of that source.

    Memory: the driver holds one hash and three numbers per distinct (source, short line) pair
    (about 40 bytes each: ~40 MB for a million distinct lines), never any text but the learned
    lines'. A Ray Data groupby did the same sum before; on a 2-CPU machine its shuffle cost
    more than the counting itself.

    Only live rows (drop_reason null) of ``cfg.source_types`` are read.
    """
    if not cfg.enabled:
        return LearnedBoilerplate()
    kwargs = _count_kwargs(cfg)
    names = ds.schema().names
    ds = ds.select_columns([c for c in (SOURCE, SOURCE_TYPE, TEXT, DROP_REASON) if c in names])
    combiner = _CountCombiner()
    for block in ds.map_batches(count_line_hashes, fn_kwargs=kwargs, batch_format="pyarrow").iter_batches(
        batch_size=None, batch_format="pyarrow"
    ):
        combiner.add(block)
    docs, chars, wanted = select_hashes(combiner.result(), cfg)
    if not wanted:
        return name_lines(docs, chars, wanted, _LINE_SCHEMA.empty_table())
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
    return name_lines(docs, chars, wanted, pa.concat_tables(found) if found else _LINE_SCHEMA.empty_table())


class _CountCombiner:
    """Sums count tables as they arrive, compacting every ``compact_rows``."""

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
            summed = pa.concat_tables(self._tables).group_by([SOURCE, _HASH]).aggregate(
                [(_N, "sum"), (_EDGE, "sum"), (_SENTENCE, "max")]
            )
            summed = summed.rename_columns({f"{_N}_sum": _N, f"{_EDGE}_sum": _EDGE, f"{_SENTENCE}_max": _SENTENCE})
            self._tables = [summed.select(_COUNT_SCHEMA.names).cast(_COUNT_SCHEMA)]
        self._rows = sum(t.num_rows for t in self._tables)

    def result(self) -> pa.Table:
        """Every (source, line_hash) with its totals."""
        self._compact()
        return self._tables[0] if self._tables else _COUNT_SCHEMA.empty_table()


def learn_boilerplate_local(table: pa.Table, cfg: BoilerplateConfig) -> dict[str, list[str]]:
    """``learn_boilerplate`` on one in-memory Arrow table, without Ray (same result)."""
    return learn_boilerplate_stats_local(table, cfg).lines


def learn_boilerplate_stats_local(table: pa.Table, cfg: BoilerplateConfig) -> LearnedBoilerplate:
    """``learn_boilerplate_stats`` on one in-memory Arrow table, without Ray (same result)."""
    if not cfg.enabled:
        return LearnedBoilerplate()
    kwargs = _count_kwargs(cfg)
    docs, chars, wanted = select_hashes(count_line_hashes(table, **kwargs), cfg)
    wanted_lists = {s: list(hs) for s, hs in wanted.items()}
    return name_lines(docs, chars, wanted, find_lines(table, wanted_lists, **kwargs))


def needed_share(cfg: BoilerplateConfig, sentence: bool, edge_share: float) -> float:
    """The share of a source's documents a line of this shape and place must occur in."""
    base = cfg.sentence_doc_fraction if sentence else cfg.min_doc_fraction
    return min(1.0, base if edge_share >= cfg.edge_share else base * cfg.middle_factor)


def select_hashes(
    counts: pa.Table, cfg: BoilerplateConfig
) -> tuple[dict[str, int], dict[str, int], dict[str, dict[int, tuple[int, float, bool, float]]]]:
    """Apply the thresholds to corpus-wide counts (rows of ``count_line_hashes``, summed).

    Returns:
        (documents per source, characters per source, source -> {boilerplate line hash:
        (documents, edge share, sentence-like, share needed)}).
    """
    docs: dict[str, int] = {}
    chars: dict[str, int] = {}
    per_hash: list[tuple[str, int, int, int, bool]] = []
    for source, h, n, edge, sentence in zip(
        *(counts.column(c).to_pylist() for c in (SOURCE, _HASH, _N, _EDGE, _SENTENCE)), strict=True
    ):
        if h == _DOCS:
            docs[source], chars[source] = n, edge
        elif n >= cfg.min_docs:
            per_hash.append((source, h, n, edge, bool(sentence)))
    wanted: dict[str, dict[int, tuple[int, float, bool, float]]] = {}
    for source, h, n, edge, sentence in per_hash:
        share = edge / n
        need = needed_share(cfg, sentence, share)
        if n >= need * docs.get(source, 0):
            wanted.setdefault(source, {})[h] = (n, share, sentence, need)
    return docs, chars, wanted


def name_lines(
    docs: dict[str, int],
    chars: dict[str, int],
    wanted: dict[str, dict[int, tuple[int, float, bool, float]]],
    texts: pa.Table,
) -> LearnedBoilerplate:
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
    out = LearnedBoilerplate(docs=dict(sorted(docs.items())), chars=dict(sorted(chars.items())))
    for source in sorted(docs):
        found = sorted(
            (-n, line_of[(source, h)], share, sentence, need)
            for h, (n, share, sentence, need) in wanted.get(source, {}).items()
            if (source, h) in line_of
        )
        out.stats[source] = [LineStats(line, -neg, share, sentence, need) for neg, line, share, sentence, need in found]
        out.lines[source] = [x.line for x in out.stats[source]]
        log.info("boilerplate: %s: %d line(s) learned from %d docs", source, len(out.lines[source]), docs[source])
    return out


def _add_to_metadata(metadata: str | None, removed: int, chars: int = 0) -> str:
    """The metadata JSON with the removed-line and -character counts added (a non-object value
    is kept aside)."""
    data: Any = {}
    if metadata:
        try:
            data = json.loads(metadata)
        except json.JSONDecodeError:
            data = {"metadata_raw": metadata}
    if not isinstance(data, dict):
        data = {"metadata_raw": data}
    data[REMOVED_KEY] = removed
    data[CHARS_KEY] = chars
    return json.dumps(data, ensure_ascii=False)


class BoilerplateStage:
    """Removes learned boilerplate lines from the text of live rows.

    Input columns: source, text, metadata (and drop_reason, when present). Output columns: the
    same; ``text`` loses every line whose normalised form is boilerplate for the row's source,
    blank-line runs left behind collapse to one blank line and the ends are stripped; when lines
    were removed, their number is written into the metadata JSON under
    ``boilerplate_lines_removed`` and the characters removed (whitespace included) under
    ``boilerplate_chars_removed``. Rows of other sources, rows with nothing to remove and
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
                metas[i] = _add_to_metadata(metas[i], removed, len(texts[i]) - len(text))
                texts[i] = text
                self.counts["changed"] += 1
                self.counts["lines_removed"] += removed
                changed = True
        if not changed:
            return table
        for name, values in ((TEXT, texts), (METADATA, metas)):
            i = table.column_names.index(name)
            table = table.set_column(i, name, pa.array(values, pa.string()))
        return table
