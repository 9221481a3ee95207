"""Exact and near duplicates: signatures and resolution directly, then dedup on a real local Ray."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash

from luxit_ray.config.prepare import DedupConfig
from luxit_ray.errors import InputError
from luxit_ray.filters import add_signatures, count_drops, dedup, dedup_signed, find_duplicates
from luxit_ray.filters.dedup import (
    MINHASH_SEED,
    compute_signatures,
    lsh_params,
    minhash_matrix,
    normalise_text,
    shingle_hashes,
)
from luxit_ray.schema import REJECT_SCHEMA
from tests.filters.texts import DE_POOL, FR_POOL, LB_POOL, LB_TRAIN, doc

# LB_TRAIN with one word changed: a near duplicate.
LB_TRAIN_EDIT = LB_TRAIN.replace("Mëttwoch", "Donneschdeg")

EXPECTED = {
    "rtl:000": "bad: quarantined",  # rejected before dedup: neither kept nor compared
    "rtl:001": None,
    "rtl:002": None,
    "rtl:003": "duplicate: exact of rtl:001",
    "rtl:004": None,
    "rtl:005": None,
    "rtl:010": "near_duplicate: ~0.91 of rtl:002",
    "wort:001": "duplicate: exact of rtl:001",
}


def _rows() -> list[dict]:
    return [
        doc("rtl:003", LB_POOL),
        doc("rtl:010", LB_TRAIN_EDIT),
        doc("wort:001", LB_POOL.upper().replace(" ", "  \n"), source="wort"),
        doc("rtl:004", DE_POOL),
        doc("rtl:002", LB_TRAIN),
        doc("rtl:005", FR_POOL),
        doc("rtl:001", "  " + LB_POOL + "\n"),
        doc("rtl:000", LB_POOL, drop_filter="quarantine", drop_reason="bad: quarantined"),
    ]


def _cfg(**kw) -> DedupConfig:
    return DedupConfig(**kw)


def test_normalisation_and_shingles():
    assert normalise_text("  Ｄ'Stad\n\tLËTZEBUERG  ") == "d'stad lëtzebuerg"
    assert shingle_hashes("a b c", 5).size == 1
    assert shingle_hashes("a b c d", 2).size == 3
    assert shingle_hashes("a b a b a b", 2).size == 2  # "a b" and "b a" differ
    assert set(shingle_hashes("a b c d", 2)) & set(shingle_hashes("d c b a", 2)) == set()
    assert shingle_hashes("-- !", 5).size == 0
    assert lsh_params(0.8, 128) == (14, 9)


def test_signatures_skip_rejected_rows():
    batch = pa.Table.from_pylist(_rows(), schema=REJECT_SCHEMA)
    sig = compute_signatures(batch, num_perm=64, shingle_words=5)
    assert sig.num_rows == 7
    assert "rtl:000" not in sig.column("doc_id").to_pylist()
    assert sig.schema.field("signature").type == pa.binary(256)
    off = compute_signatures(batch, num_perm=64, shingle_words=5, near=False)
    assert off.column("signature").null_count == 7


def test_find_duplicates_keeps_smallest_doc_id_in_any_order():
    rows = _rows()
    cfg = _cfg()
    expected = {k: v for k, v in EXPECTED.items() if v and not v.startswith("bad")}
    for seed in range(3):
        random.Random(seed).shuffle(rows)
        batches = [pa.Table.from_pylist(rows[i : i + 3], schema=REJECT_SCHEMA) for i in range(0, 8, 3)]
        sigs = pa.concat_tables(compute_signatures(b, cfg.num_perm, cfg.shingle_words) for b in batches)
        assert find_duplicates(sigs, cfg) == expected


def test_find_duplicates_exact_only_near_only_and_threshold():
    sigs = compute_signatures(pa.Table.from_pylist(_rows(), schema=REJECT_SCHEMA), 128, 5)
    exact_only = find_duplicates(sigs, _cfg(near=False))
    assert exact_only == {"rtl:003": "duplicate: exact of rtl:001", "wort:001": "duplicate: exact of rtl:001"}
    near_only = find_duplicates(sigs, _cfg(exact=False))
    assert near_only == {
        "rtl:003": "near_duplicate: ~1.00 of rtl:001",
        "rtl:010": "near_duplicate: ~0.91 of rtl:002",
        "wort:001": "near_duplicate: ~1.00 of rtl:001",
    }
    assert "rtl:010" not in find_duplicates(sigs, DedupConfig(threshold=0.95))


def _edit(words: list[str], positions: range) -> list[str]:
    return [f"{w}x" if i in positions else w for i, w in enumerate(words)]


def test_near_duplicates_are_compared_with_kept_documents_only():
    # B is close to A and to C, but C is not close to A: once B goes (as a copy of A), C stays.
    a = (LB_POOL + " " + LB_TRAIN).split()
    b = _edit(a, range(20, 200, 70))
    c = _edit(b, range(50, 200, 70))
    rows = [doc("n:a", " ".join(a)), doc("n:b", " ".join(b)), doc("n:c", " ".join(c))]
    sigs = compute_signatures(pa.Table.from_pylist(rows, schema=REJECT_SCHEMA), 128, 5)
    # Estimated similarities: a~b 0.86, b~c 0.82, a~c 0.70.
    assert find_duplicates(sigs, DedupConfig(exact=False)) == {"n:b": "near_duplicate: ~0.86 of n:a"}
    # Without a, b is kept and c goes as its copy.
    assert find_duplicates(sigs.slice(1), DedupConfig(exact=False)) == {"n:c": "near_duplicate: ~0.82 of n:b"}


def test_find_duplicates_rejects_repeated_doc_ids():
    rows = [doc("rtl:1", LB_POOL), doc("rtl:1", DE_POOL)]
    sigs = compute_signatures(pa.Table.from_pylist(rows, schema=REJECT_SCHEMA), 64, 5)
    with pytest.raises(InputError, match="1 doc_id\\(s\\) occur more than once, e.g. 'rtl:1'"):
        find_duplicates(sigs, _cfg())


def test_dedup_on_ray_marks_duplicates_and_counts(ray_local):
    ds = ray_local.data.from_arrow(pa.Table.from_pylist(_rows(), schema=REJECT_SCHEMA)).repartition(3)
    out = dedup(ds, _cfg()).materialize()
    rows = out.take_all()
    assert len(rows) == 8
    got = {r["doc_id"]: r["drop_reason"] for r in rows}
    assert got == EXPECTED
    filters = {r["doc_id"]: r["drop_filter"] for r in rows}
    assert filters["rtl:003"] == filters["rtl:010"] == filters["wort:001"] == "dedup"
    assert filters["rtl:000"] == "quarantine"
    assert count_drops(out) == {
        "dedup": {"rtl": 2, "wort": 1},
        "kept": {"rtl": 4},
        "quarantine": {"rtl": 1},
    }
    assert dedup(ds, DedupConfig(exact=False, near=False)) is ds


@pytest.mark.parametrize("chunk", [7, 100, 4096])
def test_minhash_matrix_equals_datasketch(chunk):
    # Batched permutations give datasketch's own values, whatever the chunking (a document
    # may span several chunks) and for empty sets.
    rng = np.random.default_rng(3)
    sets = [
        np.unique(rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32))
        for n in (0, 1, 5, 300, 9000, 0, 2, 1000)
    ]
    got = minhash_matrix(sets, 64, chunk=chunk)
    want = MinHash.bulk([s.tolist() for s in sets], num_perm=64, seed=MINHASH_SEED, hashfunc=int)
    assert got.shape == (8, 64) and got.dtype == np.uint32
    for row, mh in zip(got, want, strict=True):
        assert np.array_equal(row, np.asarray(mh.hashvalues, dtype=np.uint32))
    assert (got[0] == 2**32 - 1).all()


def test_add_signatures_keeps_every_row_and_matches_compute_signatures():
    batch = pa.Table.from_pylist(_rows(), schema=REJECT_SCHEMA)
    out = add_signatures(batch, num_perm=64, shingle_words=5)
    assert out.num_rows == 8
    assert out.column_names == [*REJECT_SCHEMA.names, "exact_key", "signature"]
    assert out.drop_columns(["exact_key", "signature"]).equals(batch)
    by_id = dict(zip(out.column("doc_id").to_pylist(), out.column("signature").to_pylist(), strict=True))
    assert by_id["rtl:000"] is None  # rejected: not signed
    sigs = compute_signatures(batch, num_perm=64, shingle_words=5)
    for d, sig in zip(sigs.column("doc_id").to_pylist(), sigs.column("signature").to_pylist(), strict=True):
        assert by_id[d] == sig
    # Dedup switched off: the columns are there, all null.
    off = add_signatures(batch, num_perm=64, shingle_words=5, exact=False, near=False)
    assert off.num_rows == 8
    assert off.column("exact_key").null_count == off.column("signature").null_count == 8
    # Signing twice replaces the columns instead of adding more.
    again = add_signatures(out, num_perm=64, shingle_words=5)
    assert again.column_names == out.column_names


def test_dedup_signed_reads_the_signatures_and_drops_them(ray_local):
    signed = add_signatures(pa.Table.from_pylist(_rows(), schema=REJECT_SCHEMA), 128, 5)
    ds = ray_local.data.from_arrow(signed).repartition(3)
    out = dedup_signed(ds, _cfg()).materialize()
    assert out.schema().names == REJECT_SCHEMA.names
    assert {r["doc_id"]: r["drop_reason"] for r in out.take_all()} == EXPECTED
    off = dedup_signed(ds, DedupConfig(exact=False, near=False))
    assert off.schema().names == REJECT_SCHEMA.names and off.count() == 8
    plain = ray_local.data.from_arrow(pa.Table.from_pylist(_rows(), schema=REJECT_SCHEMA))
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['exact_key', 'signature'\]"):
        dedup_signed(plain, _cfg())
