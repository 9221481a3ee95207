"""The headline acceptability task built from a run's news seeds, and `luxit build-headlines`."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luxit_ray.cli import main
from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.errors import LuxitError
from luxit_ray.evaluate.headlines import build_headline_task, make_examples, split_sizes
from luxit_ray.glue_data import load_split
from luxit_ray.schema import DOCUMENT_SCHEMA


def _doc(i: int, title: str | None, source_type: str = "news", text: str | None = "Text") -> dict:
    return {"doc_id": f"rtl:{i:03d}", "source": "rtl", "source_type": source_type, "title": title,
            "text": None if text is None else f"{text} {i}", "date": None, "url": None, "page_kind": None,
            "metadata": None, "origin": f"f:{i}"}


def _run(tmp_path, n=10):
    run = tmp_path / "run"
    (run / "seeds").mkdir(parents=True)
    docs = [_doc(i, f"Titel {i}") for i in range(n)]
    docs += [_doc(100, "Titel 3"), _doc(101, "Titel 4"),  # exact duplicate titles: dropped
             _doc(102, "Wiki", source_type="wikipedia"), _doc(103, None), _doc(104, "Leer", text="  ")]
    docs[-1]["text"] = "  "
    pq.write_table(pa.Table.from_pylist(docs[:7], schema=DOCUMENT_SCHEMA), run / "seeds" / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(docs[7:], schema=DOCUMENT_SCHEMA), run / "seeds" / "part-1.parquet")
    return run


def test_half_swapped_duplicates_removed_fixed_seed(tmp_path):
    task = build_headline_task(_run(tmp_path), tmp_path / "out", seed=3)
    assert task.counts == {"articles": 12, "duplicate_titles": 2, "examples": 10, "correct": 5, "incorrect": 5,
                           "seed": 3, "splits": {"train": 7, "validation": 1, "test": 2}}
    rows = [json.loads(x) for s in ("train", "validation", "test")
            for x in (tmp_path / "out" / f"headlines-{s}.jsonl").read_text().splitlines()]
    prov = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "out" / "headlines-provenance.jsonl").read_text().splitlines()}
    assert len(rows) == 10 and len({r["id"] for r in rows}) == 10
    assert sorted(r["text"] for r in rows) == sorted(f"Titel {i}" for i in range(10))  # every title once
    for r in rows:
        p = prov[r["id"]]
        own = r["text_pair"] == f"Text {int(p['doc_id'][4:])}"
        assert own
        if r["label"] == "correct":
            assert p["headline_doc_id"] == p["doc_id"] and r["text"] == f"Titel {int(p['doc_id'][4:])}"
        else:
            assert p["headline_doc_id"] != p["doc_id"] and r["text"] != f"Titel {int(p['doc_id'][4:])}"
    # Same seed, same task; another seed, another draw.
    again = build_headline_task(_run(tmp_path / "b"), tmp_path / "out2", seed=3)
    assert (tmp_path / "out2" / "headlines-test.jsonl").read_text() == (tmp_path / "out" / "headlines-test.jsonl").read_text()
    assert again.counts == task.counts
    other, _ = make_examples([{"doc_id": f"d{i}", "title": f"T{i}", "text": f"X{i}"} for i in range(10)], seed=4)
    first, _ = make_examples([{"doc_id": f"d{i}", "title": f"T{i}", "text": f"X{i}"} for i in range(10)], seed=3)
    assert [e["text"] for e in other] != [e["text"] for e in first]


def test_the_harness_reads_the_task(tmp_path):
    build_headline_task(_run(tmp_path), tmp_path / "out", seed=0)
    task = GlueTaskConfig(name="headlines", kind="sequence", train=str(tmp_path / "out" / "headlines-train.jsonl"),
                          test=str(tmp_path / "out" / "headlines-test.jsonl"), labels=["correct", "incorrect"], description="d")
    assert len(load_split(task, "train")) == 7
    assert {r["label"] for r in load_split(task, "test")} <= {"correct", "incorrect"}


def test_split_sizes_and_too_few_articles():
    assert split_sizes(29, (0.7, 0.1, 0.2)) == {"train": 20, "validation": 2, "test": 7}
    assert split_sizes(10, (0, 0, 1)) == {"train": 0, "validation": 0, "test": 10}
    with pytest.raises(LuxitError, match="at least 4"):
        make_examples([{"doc_id": "a", "title": "T", "text": "X"}] * 5, seed=0)


def test_cli_builds_the_task(tmp_path, capsys):
    run = _run(tmp_path)
    assert main(["build-headlines", str(run), "--seed", "1", "--max-examples", "8", "--fractions", "0", "0", "1"]) == 0
    out = run / "glue" / "headlines"
    assert len((out / "headlines-test.jsonl").read_text().splitlines()) == 8
    assert not (out / "headlines-train.jsonl").exists()
    assert json.loads((out / "headlines.json").read_text())["splits"] == {"train": 0, "validation": 0, "test": 8}
    assert "headlines-test.jsonl" in capsys.readouterr().out.replace("\n", "")  # rich wraps long paths
