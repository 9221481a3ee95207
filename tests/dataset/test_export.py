"""Export: kept pairs -> a loadable dataset with provenance, splits, card and an error-rate gate."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from luxit_ray import schema as S
from luxit_ray.config.export import ExportConfig
from luxit_ray.dataset.export import (
    JUDGE_SCORES,
    KEPT_INPUT_COLUMNS,
    assign_splits,
    build_export_table,
)
from luxit_ray.dataset.read import read_folder, score_bin, score_distribution
from luxit_ray.errors import ErrorRateExceeded, InputError, LuxitError
from luxit_ray.runs import RunDir
from tests.fixtures_judged import PAIRS, judged_rows, write_judged_run

EXPECTED_COLUMNS = [
    "instruction", "response", "conversations", "messages", "source_type", "pair_id", "doc_id", "source",
    "pair_index", "title", "url", "date", "generator_model", "generator_prompt_sha",
    "score_linguistic_quality", "score_factual_accuracy", "score_instruction_adherence",
    "score_helpfulness_relevance", "judge_scores",
]


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return write_judged_run(tmp_path)


def _load(files: dict[str, list[str]], cache: Path):
    import datasets

    return datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache))


def test_export_loads_with_datasets_and_conversations_round_trip(run_dir: Path, tmp_path: Path):
    from luxit_ray.dataset.export import export_run

    result = export_run(run_dir)
    assert result.rows == 14
    assert result.counts == {"train": {"chamber": 2, "lbwiki": 8, "rtl": 4}}
    assert result.articles == {"train": 7}
    data = run_dir / "export"
    assert sorted(p.name for p in data.iterdir()) == [
        "README.md", "_SUCCESS", "train-00000-of-00001.jsonl", "train-00000-of-00001.parquet"]

    ds = _load({"train": [str(data / "train-00000-of-00001.parquet")]}, tmp_path / "hf")["train"]
    assert ds.num_rows == 14
    assert ds.column_names == EXPECTED_COLUMNS
    for row in ds:
        assert row["conversations"] == [{"from": "human", "value": row["instruction"]},
                                        {"from": "gpt", "value": row["response"]}]
        assert row["messages"] == [{"role": "user", "content": row["instruction"]},
                                   {"role": "assistant", "content": row["response"]}]

    # Exactly the kept pairs, none of the rejected or judge-failed ones, in (source, doc, index) order.
    kept_ids = [r[S.PAIR_ID] for r in sorted((r for r in judged_rows() if r[S.KEEP]),
                                             key=lambda r: (r[S.SOURCE], r[S.DOC_ID], r[S.PAIR_INDEX]))]
    assert ds["pair_id"] == kept_ids
    assert "Wem gehört das Schloss Vianden heute?" not in ds["instruction"]

    # JSONL holds the same rows.
    lines = (data / "train-00000-of-00001.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == pq.read_table(data / "train-00000-of-00001.parquet").to_pylist()

    # Provenance: the Kachkéis pair whose judges differ on helpfulness (3 vs 2).
    row = next(r for r in ds if r["instruction"] == "Wéi gëtt Kachkéis traditionell giess?")
    assert (row["doc_id"], row["source"], row["source_type"], row["pair_index"]) == ("lbwiki:104", "lbwiki", "wikipedia", 2)
    assert row["url"] == "https://lb.wikipedia.org/wiki?curid=104" and row["generator_model"] == "deepseek-reasoner"
    assert row["score_helpfulness_relevance"] == 2.0 and row["score_linguistic_quality"] == 3.0
    assert [(j["judge"], j["model"], j["helpfulness_relevance"], j["error"]) for j in row["judge_scores"]] == [
        ("gpt5mini", "gpt-5-mini", 3, None), ("qwen", "Qwen/Qwen3-32B", 2, None)]
    # The pair one judge failed on keeps that judge's error next to null scores.
    row = next(r for r in ds if r["instruction"] == "Wéi laang ass de Mullerthal Trail?")
    assert row["judge_scores"][1]["error"] == "parse: no JSON object in the output"
    assert row["judge_scores"][1]["factual_accuracy"] is None

    manifest = RunDir(run_dir).manifest()
    assert manifest["steps"]["export"]["rows"] == 14
    assert (run_dir / "export" / "_SUCCESS").is_file()


def test_dataset_card_holds_counts_models_filters_scores_and_licence(run_dir: Path):
    from luxit_ray.dataset.export import export_run

    result = export_run(run_dir, ExportConfig(licence="cc-by-sa-4.0", dataset_name="luxit-test", formats=["parquet"]))
    card = result.card.read_text(encoding="utf-8")
    assert card.startswith("---\npretty_name: \"luxit-test\"\nlicense: cc-by-sa-4.0\nlanguage:\n- lb\n")
    assert "    path: train-*.parquet" in card
    # source | type | read | passed filters | seeds | judged | kept | train
    assert "| lbwiki | wikipedia | 10 | 5 | 4 | 12 | 8 | 8 |" in card
    assert "| rtl | news | 7 | 3 | 3 | 6 | 4 | 4 |" in card
    assert "| chamber | text | 2 | 1 | 1 | 3 | 2 | 2 |" in card
    assert "Kept 14 (66.7%) of 21 judged pairs." in card
    assert "| judge qwen | Qwen/Qwen3-32B | judge |" in card and "| generator | deepseek-reasoner | generate |" in card
    assert "| min_chars | 0 | 3 | 2 | 5 |" in card
    assert "| linguistic_quality | 0 (0.0%) | 10 (71.4%) | 4 (28.6%) | 2.29 | 2.00 |" in card
    assert "Pairs scored 3 on every criterion: 3 (21.4%)." in card
    assert "Licence field: `cc-by-sa-4.0`" in card
    assert sorted(p.name for p in (run_dir / "export").glob("*-*")) == ["train-00000-of-00001.parquet"]


def test_splits_keep_every_article_in_one_split_and_load(run_dir: Path, tmp_path: Path):
    from luxit_ray.dataset.export import export_run

    cfg = ExportConfig(splits={"validation_fraction": 0.3, "seed": 3}, include_messages=False, rows_per_file=5)
    result = export_run(run_dir, cfg)
    first = {p.name: p.read_bytes() for p in (run_dir / "export").glob("*.parquet")}
    assert sum(sum(v.values()) for v in result.counts.values()) == 14
    assert result.counts["validation"] and result.counts["train"]
    data = run_dir / "export"
    files = {sp: sorted(str(p) for p in data.glob(f"{sp}-*.parquet")) for sp in ("train", "validation")}
    assert len(files["train"]) == -(-sum(result.counts["train"].values()) // 5)  # rows_per_file
    ds = _load(files, tmp_path / "hf")
    train_docs, val_docs = set(ds["train"]["doc_id"]), set(ds["validation"]["doc_id"])
    assert train_docs and val_docs and not (train_docs & val_docs)
    assert set(ds["train"]["split"]) == {"train"} and set(ds["validation"]["split"]) == {"validation"}
    assert "messages" not in ds["train"].column_names
    # Same seed, same files.
    export_run(run_dir, cfg)
    assert {p.name: p.read_bytes() for p in data.glob("*.parquet")} == first


def test_assign_splits_groups_articles_and_approaches_the_target():
    # 20 articles of one source with 1..4 pairs each (50 pairs), plus a one-article source.
    docs, sources = [], []
    for i in range(20):
        docs += [f"wiki:{i}"] * (1 + i % 4)
        sources += ["wiki"] * (1 + i % 4)
    docs += ["solo:1"] * 3
    sources += ["solo"] * 3
    labels = assign_splits(docs, sources, fraction=0.2, seed=11)
    by_doc: dict[str, set[str]] = {}
    for d, lab in zip(docs, labels, strict=True):
        by_doc.setdefault(d, set()).add(lab)
    assert all(len(v) == 1 for v in by_doc.values())
    val = Counter(s for s, lab in zip(sources, labels, strict=True) if lab == "validation")
    assert val["wiki"] == 10  # round(0.2 * 50), reachable exactly with articles of 1-4 pairs
    assert val["solo"] == 0  # a source's only article stays in train
    # Input order does not matter: the same articles land in the same split.
    order = list(reversed(range(len(docs))))
    shuffled = assign_splits([docs[i] for i in order], [sources[i] for i in order], fraction=0.2, seed=11)
    assert {docs[i]: lab for i, lab in zip(order, shuffled, strict=True)} == dict(zip(docs, labels, strict=True))
    assert labels != assign_splits(docs, sources, fraction=0.2, seed=12)
    assert set(assign_splits(docs, sources, fraction=0.0, seed=11)) == {"train"}


def test_error_rate_over_the_limit_fails_the_export(tmp_path: Path):
    from luxit_ray.dataset.export import export_run

    run = write_judged_run(tmp_path / "a", generate_max_error_rate=0.1)
    with pytest.raises(ErrorRateExceeded) as err:
        export_run(run)
    assert "generate: 1 of 8 seeds failed (12.5%), limit generate.max_error_rate=10.0%" in str(err.value)
    assert not (run / "export").exists()

    run = write_judged_run(tmp_path / "b", judge_max_error_rate=0.04)
    with pytest.raises(ErrorRateExceeded, match=r"judge: 1 of 21 pairs failed \(4\.8%\)"):
        export_run(run)

    # Without the manifest's counts the rates come from the data (same numbers).
    run = write_judged_run(tmp_path / "c", generate_max_error_rate=0.1)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    del manifest["steps"]["generate"], manifest["steps"]["judge"]
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ErrorRateExceeded, match=r"generate: 1 of 8 seeds failed"):
        export_run(run)


def test_nothing_kept_or_not_judged_is_a_clear_error(run_dir: Path):
    from luxit_ray.dataset.export import export_run

    for f in (run_dir / "kept").glob("*.parquet"):
        f.unlink()
    with pytest.raises(LuxitError, match="no kept pairs to export"):
        export_run(run_dir)
    (run_dir / "kept" / "_SUCCESS").unlink()
    with pytest.raises(LuxitError, match=r"has not finished judging \(no kept/_SUCCESS\)"):
        export_run(run_dir)


def test_reader_casts_null_typed_parts_to_the_contract(run_dir: Path):
    # The fixture writes per-file inferred types: the first part of kept/ holds only Wikipedia
    # rows, whose dates are all null.
    kinds = {pq.read_schema(p).field("date").type for p in (run_dir / "kept").glob("*.parquet")}
    assert kinds == {pa.null(), pa.string()}
    table = read_folder(run_dir / "kept", KEPT_INPUT_COLUMNS)
    assert table.schema.field("date").type == pa.string() and table.num_rows == 14
    assert sorted(Counter(table.column("date").to_pylist()).items(), key=str) == [
        ("2019-12-05", 2), ("2023-09-11", 2), ("2024-03-12", 2), (None, 8)]


def test_a_bad_kept_row_is_named():
    rows = [r for r in judged_rows() if r[S.KEEP]][:3]
    bad = dict(rows[1], **{S.KEEP: False})
    table = pa.Table.from_pylist([rows[0], bad, rows[2]], schema=S.JUDGED_SCHEMA).select(KEPT_INPUT_COLUMNS)
    with pytest.raises(InputError, match=rf"kept:pair {bad[S.PAIR_ID]}, column keep: expected true, got False"):
        build_export_table(table, ExportConfig())
    dup = pa.Table.from_pylist([rows[0], rows[0]], schema=S.JUDGED_SCHEMA).select(KEPT_INPUT_COLUMNS)
    with pytest.raises(InputError, match="pair_id occurs twice"):
        build_export_table(dup, ExportConfig())
    broken = dict(rows[0], **{S.JUDGEMENTS: "[{"})
    table = pa.Table.from_pylist([broken], schema=S.JUDGED_SCHEMA).select(KEPT_INPUT_COLUMNS)
    with pytest.raises(InputError, match="column judgements: invalid JSON"):
        build_export_table(table, ExportConfig())


def test_judge_scores_struct_and_fractional_bins():
    table = build_export_table(
        pa.Table.from_pylist([r for r in judged_rows() if r[S.KEEP]], schema=S.JUDGED_SCHEMA).select(KEPT_INPUT_COLUMNS),
        ExportConfig(include_judgements=True),
    )
    assert table.column_names[-1] == S.JUDGEMENTS
    assert len(table.column(JUDGE_SCORES)[0].as_py()) == 2
    assert [score_bin(x) for x in (1.0, 1.5, 1.99, 2.0, 2.5, 3.0)] == [1, 1, 1, 2, 2, 3]
    d = score_distribution([1.5, 2.5, 3.0, None, 2.0])
    assert d["n"] == 4 and d["counts"] == {"1": 1, "2": 2, "3": 1}
    assert d["mean"] == pytest.approx(2.25) and d["median"] == pytest.approx(2.25)
    assert len(PAIRS) == 21
