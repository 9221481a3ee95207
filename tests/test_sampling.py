"""Seeded per-source quota sampling."""

from __future__ import annotations

import pyarrow as pa

from luxit_ray.sampling import draw, keep_ids, rank


def test_quota_draw_is_deterministic_and_independent_of_input_order():
    ids = {"wiki": [f"wiki:{i}" for i in range(100)], "rtl": [f"rtl:{i}" for i in range(50)]}
    a = draw(ids, {"wiki": 10, "rtl": "all"}, seed=42)
    b = draw({k: list(reversed(v)) for k, v in ids.items()}, {"wiki": 10, "rtl": "all"}, seed=42)
    assert a == b
    assert len(a["wiki"]) == 10 and len(a["rtl"]) == 50
    assert a["wiki"] == sorted(ids["wiki"], key=lambda d: rank(42, d))[:10]


def test_other_seed_gives_another_draw_and_growing_a_quota_only_adds():
    ids = {"wiki": [f"wiki:{i}" for i in range(200)]}
    small = draw(ids, {"wiki": 20}, seed=1)["wiki"]
    large = draw(ids, {"wiki": 40}, seed=1)["wiki"]
    other = draw(ids, {"wiki": 20}, seed=2)["wiki"]
    assert large[:20] == small
    assert set(other) != set(small)


def test_source_without_quota_keeps_everything_and_quota_above_size_keeps_all():
    ids = {"a": ["a:1", "a:2"], "b": ["b:1"]}
    out = draw(ids, {"a": 5}, seed=0)
    assert sorted(out["a"]) == ["a:1", "a:2"] and out["b"] == ["b:1"]


def test_keep_ids_filters_a_batch():
    batch = pa.table({"doc_id": ["x:1", "x:2", "x:3"], "text": ["a", "b", "c"]})
    out = keep_ids(batch, pa.array(["x:3", "x:1"]))
    assert out.column("doc_id").to_pylist() == ["x:1", "x:3"]
    assert out.column("text").to_pylist() == ["a", "c"]


def test_keep_ids_reads_the_ids_from_the_object_store(ray_local):
    batch = pa.table({"doc_id": ["x:1", "x:2", "x:3"]})
    ref = ray_local.put(pa.array(["x:2"]))
    assert keep_ids(batch, ref).column("doc_id").to_pylist() == ["x:2"]
