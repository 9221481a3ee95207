"""Exact and near-duplicate removal over the whole corpus.

Exact duplicates share the hash of their normalised text (Unicode NFKC, case-folded, whitespace
collapsed). Near duplicates are found with MinHash (datasketch) over word shingles and LSH
banding, then checked: a candidate counts only when the signatures agree on at least
``threshold`` of their positions (the MinHash estimate of the Jaccard similarity).

The result does not depend on block order: documents are resolved in ascending ``doc_id`` order
and each one is compared with the documents kept before it, so among duplicates the smallest
``doc_id`` is kept and every dropped document names a kept one::

    duplicate: exact of lbwiki:1234
    near_duplicate: ~0.87 of rtl:2001

Near duplicates are not chained: if A~B and B~C but not A~C, B goes (as a copy of A) and C stays.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
import zlib
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from luxit_ray.config.prepare import DedupConfig
from luxit_ray.errors import InputError
from luxit_ray.filters.base import DEDUP
from luxit_ray.filters.stage import as_arrow, with_drop_columns
from luxit_ray.schema import DOC_ID, DROP_FILTER, DROP_REASON, TEXT

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger(__name__)

EXACT_KEY = "exact_key"
SIGNATURE = "signature"
MINHASH_SEED = 1  # fixed so every worker draws the same permutations
LSH_WEIGHTS = (0.1, 0.9)  # (false positive, false negative) weights of the band choice
_WORD = re.compile(r"\w+")
_SHINGLE_PRIME = np.uint64(1_000_003)


def normalise_text(text: str) -> str:
    """The form compared for exact duplicates: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def shingle_hashes(norm_text: str, shingle_words: int) -> np.ndarray:
    """Distinct 32-bit hashes of the word n-grams of a normalised text.

    Each word is hashed once (CRC-32); a shingle's hash is a polynomial over its words' hashes,
    computed for all windows at once with numpy, so no shingle string is ever built. A text with
    fewer words than ``shingle_words`` is one shingle of all its words; no words, no shingles.
    """
    words = _WORD.findall(norm_text)
    if not words:
        return np.zeros(0, dtype=np.uint32)
    # map() in C rather than a generator: a third less time for this, the hottest loop of dedup.
    word_h = np.fromiter(map(zlib.crc32, map(str.encode, words)), dtype=np.uint64, count=len(words))
    k = min(shingle_words, len(words))
    n = len(words) - k + 1
    h = np.zeros(n, dtype=np.uint64)
    for j in range(k):
        h = h * _SHINGLE_PRIME + word_h[j : j + n]  # wraps modulo 2**64 on purpose
    folded = (h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    return np.unique(folded.astype(np.uint32))


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for this threshold.

    Every candidate is checked against its signature afterwards, so a false positive costs one
    vector comparison while a false negative keeps a duplicate: the choice weighs misses 9:1
    (at threshold 0.8 and 128 permutations: 14 bands of 9 rows, which finds a pair of
    similarity 0.8 with probability 0.87, 0.85 with 0.97, and 0.9 with > 0.99).
    """
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    return lsh.b, lsh.r


def signature_schema(num_perm: int) -> pa.Schema:
    """Columns of the signature table: doc id, exact hash, MinHash values as packed uint32."""
    return pa.schema(
        [
            (DOC_ID, pa.string()),
            (EXACT_KEY, pa.binary(16)),
            (SIGNATURE, pa.binary(4 * num_perm)),
        ]
    )


# Shingle hashes permuted at once per chunk: a (num_perm x chunk) uint32 matrix, 2 MiB at 128
# permutations, small enough to stay in cache (the fastest of 1k-16k measured here).
_MINHASH_CHUNK = 4096
_FMIX_SHIFTS = (np.uint32(16), np.uint32(13), np.uint32(16))
_FMIX_MULTS = (np.uint32(0x85EBCA6B), np.uint32(0xC2B2AE35))
_EMPTY_MIN = np.uint32(0xFFFFFFFF)


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's (a, b) permutation parameters for ``num_perm`` and MINHASH_SEED."""
    from datasketch import MinHash

    mh = MinHash(num_perm=num_perm, seed=MINHASH_SEED)
    if getattr(mh, "scheme", None) != "affine32":  # minhash_matrix reproduces this scheme only
        raise RuntimeError(f"datasketch's MinHash scheme is {getattr(mh, 'scheme', 'legacy')!r}, expected 'affine32'")
    a, b = mh.permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, element-wise (uint32 products wrap on purpose)."""
    s1, s2, s3 = _FMIX_SHIFTS
    m1, m2 = _FMIX_MULTS
    h = h ^ (h >> s1)
    h = h * m1
    h = h ^ (h >> s2)
    h = h * m2
    return h ^ (h >> s3)


def minhash_matrix(sets: list[np.ndarray], num_perm: int, chunk: int = _MINHASH_CHUNK) -> np.ndarray:
    """MinHash signatures of many shingle sets at once, as an (n, num_perm) uint32 array.

    The values are those of ``datasketch.MinHash(num_perm, seed=MINHASH_SEED, hashfunc=int)``
    updated with each set (its "affine32" scheme: every value is mixed with MurmurHash3's
    finaliser, then permuted as ``a * h + b`` modulo 2**32), so signatures stay comparable with
    datasketch's. Instead of one MinHash object per document, all shingles of the batch are
    permuted together, ``chunk`` at a time, and reduced per document with
    ``np.minimum.reduceat``; a document may span chunks. An empty set gets datasketch's empty
    signature (every value 2**32 - 1).
    """
    a, b = _permutations(num_perm)
    out = np.full((len(sets), num_perm), _EMPTY_MIN, dtype=np.uint32)
    docs = np.array([i for i, s in enumerate(sets) if s.size], dtype=np.int64)
    if docs.size == 0:
        return out
    flat = _fmix32(np.concatenate([sets[i] for i in docs]).astype(np.uint32, copy=False))
    sizes = np.array([sets[i].size for i in docs], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ends = starts + sizes
    for lo in range(0, flat.size, chunk):
        hi = min(lo + chunk, flat.size)
        # Documents with shingles in [lo, hi): their segments, clipped to the chunk.
        first = int(np.searchsorted(ends, lo, side="right"))
        last = int(np.searchsorted(starts, hi, side="left"))
        seg = np.maximum(starts[first:last], lo) - lo
        # (num_perm, chunk): reducing along the contiguous axis is ~4x faster than across it.
        permuted = a[:, None] * flat[None, lo:hi] + b[:, None]
        mins = np.minimum.reduceat(permuted, seg, axis=1).T
        rows = docs[first:last]
        out[rows] = np.minimum(out[rows], mins)
    return out


def compute_signatures(
    batch: Any, num_perm: int, shingle_words: int, exact: bool = True, near: bool = True
) -> pa.Table:
    """Map step: doc_id, exact hash and MinHash signature of the live rows of a batch.

    Rejected rows (drop_reason set) produce no output. The signature is null when near
    deduplication is off or the text has no words; the exact key is null when exact is off.
    """
    table = with_drop_columns(as_arrow(batch))
    schema = signature_schema(num_perm)
    live = pc.is_null(table.column(DROP_REASON))
    table = table.select([DOC_ID, TEXT]).filter(live)
    if table.num_rows == 0:
        return schema.empty_table()
    keys, sigs = _keys_and_signatures(table.column(TEXT).to_pylist(), num_perm, shingle_words, exact, near)
    return pa.table({DOC_ID: table.column(DOC_ID), EXACT_KEY: keys, SIGNATURE: sigs}, schema=schema)


def add_signatures(
    batch: Any, num_perm: int, shingle_words: int, exact: bool = True, near: bool = True
) -> pa.Table:
    """Map step: the batch with EXACT_KEY and SIGNATURE columns (null on rejected rows).

    Lets the signatures be computed in the same pass as the row filters, so deduplication reads
    only these small columns (see :func:`dedup_signed`) instead of every text again.
    """
    table = with_drop_columns(as_arrow(batch))
    schema = signature_schema(num_perm)
    live = pc.is_null(table.column(DROP_REASON)).to_numpy(zero_copy_only=False)
    texts = table.column(TEXT).to_pylist()
    idx = np.nonzero(live)[0]
    keys_live, sigs_live = _keys_and_signatures([texts[i] for i in idx], num_perm, shingle_words, exact, near)
    keys: list[bytes | None] = [None] * table.num_rows
    sigs: list[bytes | None] = [None] * table.num_rows
    for j, i in enumerate(idx):
        keys[i] = keys_live[j]
        sigs[i] = sigs_live[j]
    table = table.drop_columns([c for c in (EXACT_KEY, SIGNATURE) if c in table.column_names])
    table = table.append_column(schema.field(EXACT_KEY), pa.array(keys, pa.binary(16)))
    return table.append_column(schema.field(SIGNATURE), pa.array(sigs, pa.binary(4 * num_perm)))


def _keys_and_signatures(
    texts: list[str | None], num_perm: int, shingle_words: int, exact: bool, near: bool
) -> tuple[list[bytes | None], list[bytes | None]]:
    """Exact keys and packed MinHash signatures of some texts (None where not computed)."""
    if not (exact or near):  # ScreenStage signs every batch, even with dedup switched off
        return [None] * len(texts), [None] * len(texts)
    keys: list[bytes | None] = []
    sets: list[np.ndarray] = []
    for text in texts:
        norm = normalise_text(text or "")
        keys.append(hashlib.blake2b(norm.encode("utf-8"), digest_size=16).digest() if exact else None)
        sets.append(shingle_hashes(norm, shingle_words) if near else np.zeros(0, np.uint32))
    sigs: list[bytes | None] = [None] * len(sets)
    if near:
        matrix = minhash_matrix(sets, num_perm)
        for i, s in enumerate(sets):
            if s.size:
                sigs[i] = matrix[i].tobytes()
    return keys, sigs


def _signature_matrix(column: pa.ChunkedArray | pa.Array, num_perm: int) -> np.ndarray:
    """The packed signatures of a fixed-size binary column as an (n, num_perm) uint32 array."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if n == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    width = 4 * num_perm
    data = arr.buffers()[1]
    flat = np.frombuffer(data, dtype=np.uint8, count=n * width, offset=arr.offset * width)
    return flat.view(np.uint32).reshape(n, num_perm)


def _bands(sig: np.ndarray, bands: int, rows: int) -> list[list[np.ndarray]]:
    """For each band, the buckets (ascending document indices) that hold two or more documents."""
    out = []
    for b in range(bands):
        block = np.ascontiguousarray(sig[:, b * rows : (b + 1) * rows])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * rows))).ravel()
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
        shared = np.nonzero(counts[inverse] >= 2)[0]
        if shared.size == 0:
            out.append([])
            continue
        order = shared[np.argsort(inverse[shared], kind="stable")]
        cuts = np.nonzero(np.diff(inverse[order]))[0] + 1
        out.append(np.split(order, cuts))
    return out


def find_duplicates(signatures: pa.Table, cfg: DedupConfig) -> dict[str, str]:
    """Resolve duplicates from a signature table (see ``compute_signatures``).

    Memory: O(number of documents x signature size): the signature table and one reordered
    copy of its (n, num_perm) uint32 matrix, plus the doc ids; for 385k documents at 128
    permutations about 2 x 200 MB (measured: 385k documents resolved in ~9 s of CPU).

    Returns:
        doc_id -> drop reason, for every document that is a duplicate of a kept one.

    Raises:
        InputError: a doc_id occurs more than once (ids must be unique to resolve duplicates).
    """
    if signatures.num_rows == 0:
        return {}
    order = pc.sort_indices(signatures.column(DOC_ID)).to_numpy()
    doc_ids: list[str] = signatures.column(DOC_ID).take(order).to_pylist()
    repeated = [a for a, b in zip(doc_ids, doc_ids[1:], strict=False) if a == b]
    if repeated:
        raise InputError(
            "<documents>", DOC_ID, f"{len(repeated)} doc_id(s) occur more than once, e.g. {repeated[0]!r}"
        )
    drops: dict[str, str] = {}
    near_ok = np.ones(len(doc_ids), dtype=bool)
    if cfg.exact:
        first: dict[bytes, str] = {}
        for i, key in enumerate(signatures.column(EXACT_KEY).take(order).to_pylist()):
            if key is None:
                continue
            kept = first.setdefault(key, doc_ids[i])
            if kept != doc_ids[i]:
                drops[doc_ids[i]] = f"duplicate: exact of {kept}"
                near_ok[i] = False
    if cfg.near:
        # One copy of the signatures, in doc_id order, of the documents still in the running.
        sig_col = signatures.column(SIGNATURE).combine_chunks()
        near_ok &= ~sig_col.is_null().to_numpy(zero_copy_only=False)[order]
        index = np.nonzero(near_ok)[0]
        sig = _signature_matrix(sig_col, cfg.num_perm)[order[index]] if index.size > 1 else None
        near = _near_duplicates(sig, cfg) if sig is not None else {}
        for j, (k, sim) in near.items():
            drops[doc_ids[index[j]]] = f"near_duplicate: ~{sim:.2f} of {doc_ids[index[k]]}"
    return drops


def _near_duplicates(sig: np.ndarray, cfg: DedupConfig) -> dict[int, tuple[int, float]]:
    """Greedy resolution in row order: duplicate row -> (kept row, estimated similarity)."""
    n_bands, rows = lsh_params(cfg.threshold, cfg.num_perm)
    buckets_of: dict[int, list[np.ndarray]] = {}
    for buckets in _bands(sig, n_bands, rows):
        for members in buckets:
            for m in members[1:]:  # the first member of a bucket has nobody before it
                buckets_of.setdefault(int(m), []).append(members)
    kept = np.ones(len(sig), dtype=bool)
    out: dict[int, tuple[int, float]] = {}
    for d in sorted(buckets_of):
        before = [members[: np.searchsorted(members, d)] for members in buckets_of[d]]
        cands = np.unique(np.concatenate(before))
        cands = cands[kept[cands]]
        if cands.size == 0:
            continue
        sims = (sig[cands] == sig[d]).mean(axis=1)
        best = int(np.argmax(sims))  # first maximum: the smallest doc_id among the best
        if sims[best] >= cfg.threshold:
            kept[d] = False
            out[d] = (int(cands[best]), float(sims[best]))
    return out


def apply_drops(batch: Any, drops: Any) -> pa.Table:
    """Map step: set drop_filter / drop_reason on live rows whose doc_id is in ``drops``."""
    import ray

    if isinstance(drops, ray.ObjectRef):
        drops = ray.get(drops)
    table = with_drop_columns(as_arrow(batch))
    if table.num_rows == 0 or drops.num_rows == 0:
        return table
    pos = pc.index_in(table.column(DOC_ID), value_set=drops.column(DOC_ID))
    hit = pc.and_(pc.is_valid(pos), pc.is_null(table.column(DROP_REASON)))
    if not pc.any(hit).as_py():
        return table
    reasons = pc.take(drops.column(DROP_REASON), pos)
    new_reason = pc.if_else(hit, reasons, table.column(DROP_REASON))
    new_filter = pc.if_else(hit, pa.scalar(DEDUP, pa.string()), table.column(DROP_FILTER))
    table = table.set_column(table.column_names.index(DROP_REASON), DROP_REASON, new_reason)
    return table.set_column(table.column_names.index(DROP_FILTER), DROP_FILTER, new_filter)


def dedup(ds: ray.data.Dataset, cfg: DedupConfig) -> ray.data.Dataset:
    """Mark exact and near duplicates among the live rows of a dataset.

    Signatures are computed in parallel (``map_batches``) and gathered on the driver, where
    duplicates are resolved (``find_duplicates``: memory O(documents x num_perm x 4 bytes)); the
    returned dataset is ``ds`` plus a lazy ``map_batches`` that sets drop_filter="dedup" and
    drop_reason on the duplicates. ``ds`` is therefore executed twice: materialise it first if
    its upstream is costly. Rejected rows pass through untouched.

    Returns:
        the same rows, duplicates marked.
    """
    if not (cfg.exact or cfg.near):
        return ds
    sig_ds = ds.map_batches(
        compute_signatures,
        fn_kwargs={
            "num_perm": cfg.num_perm,
            "shingle_words": cfg.shingle_words,
            "exact": cfg.exact,
            "near": cfg.near,
        },
        batch_format="pyarrow",
    )
    return _mark(ds, _gather(sig_ds, cfg.num_perm), cfg)


def dedup_signed(ds: ray.data.Dataset, cfg: DedupConfig) -> ray.data.Dataset:
    """``dedup`` for a dataset that carries its signatures (``add_signatures``, ``ScreenStage``).

    Only the doc_id, drop_reason and signature columns are read to find the duplicates (with
    Parquet, the texts are not read at all); the returned dataset is ``ds`` without the signature
    columns, duplicates marked.

    Raises:
        ValueError: ``ds`` has no exact_key / signature columns.
    """
    names = ds.schema().names
    missing = [c for c in (EXACT_KEY, SIGNATURE) if c not in names]
    if missing:
        raise ValueError(f"dedup_signed: the dataset lacks column(s) {missing}; run add_signatures first")
    rest = ds.drop_columns([EXACT_KEY, SIGNATURE])
    if not (cfg.exact or cfg.near):
        return rest
    sig_ds = ds.select_columns([DOC_ID, DROP_REASON, EXACT_KEY, SIGNATURE]).map_batches(
        _live_signatures, batch_format="pyarrow"
    )
    return _mark(rest, _gather(sig_ds, cfg.num_perm), cfg)


def _live_signatures(batch: pa.Table) -> pa.Table:
    """Map step: the signature columns of the live rows of a batch."""
    return batch.filter(pc.is_null(batch.column(DROP_REASON))).select([DOC_ID, EXACT_KEY, SIGNATURE])


def _gather(sig_ds: ray.data.Dataset, num_perm: int) -> pa.Table:
    """Every signature row on the driver, as one table."""
    import ray

    schema = signature_schema(num_perm)
    tables = [t for t in ray.get(sig_ds.to_arrow_refs()) if t.num_rows]
    return pa.concat_tables([t.cast(schema) for t in tables]) if tables else schema.empty_table()


def _mark(ds: ray.data.Dataset, signatures: pa.Table, cfg: DedupConfig) -> ray.data.Dataset:
    """``ds`` with drop_filter/drop_reason set on the duplicates found among ``signatures``."""
    import ray

    drops = find_duplicates(signatures, cfg)
    n_exact = sum(1 for r in drops.values() if r.startswith("duplicate:"))
    log.info(
        "dedup: %d live docs, %d exact and %d near duplicates",
        signatures.num_rows, n_exact, len(drops) - n_exact,
    )
    if not drops:
        return ds
    ids = sorted(drops)
    table = pa.table(
        {DOC_ID: pa.array(ids, pa.string()), DROP_REASON: pa.array([drops[i] for i in ids], pa.string())}
    )
    return ds.map_batches(
        apply_drops,
        fn_kwargs={"drops": ray.put(table)},
        batch_format="pyarrow",
        udf_modifying_row_count=False,
    )
