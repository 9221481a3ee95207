"""Encoder fine-tuning on ltzGLUE-style tasks: class-balanced weights, sub-word labels, and a
3-seed sweep of a tiny random-init BERT (tokenizer built here) on Ray Train."""

from __future__ import annotations

import json
import statistics

import pytest

from luxit_ray.config import job_from_dict
from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.train.encoders import (
    aggregate,
    class_balanced_weights,
    encode,
    label_counts,
    mean_std,
    resolve_model_path,
    run_encoders,
    word_predictions,
)
from tests.train.tiny_encoder import build_tiny_encoder

NER = GlueTaskConfig(name="ner", kind="token", test="x", labels=["PER", "LOC"], description="d")


def test_class_balanced_weights_effective_number():
    # (1 - b) / (1 - b^n): n=100 -> 0.0157736, n=10 -> 0.1045830; scaled to sum to 2 (classes present).
    w = class_balanced_weights([100, 10, 0], 0.99)
    assert w == [pytest.approx(0.262116, abs=1e-6), pytest.approx(1.737884, abs=1e-6), 0.0]
    assert class_balanced_weights([5, 5], 0.99) == [1.0, 1.0]
    assert label_counts(NER, [{"tags": ["O", "B-PER", "I-PER"]}, {"tags": ["B-LOC", "O"]}]) == [2, 1, 1, 1, 0]


def test_mean_and_sample_std():
    assert mean_std([0.5, 0.7, 0.9]) == (pytest.approx(0.7), pytest.approx(0.2))
    assert mean_std([0.4]) == (0.4, 0.0)
    assert mean_std([]) == (None, None)
    trials = [{"model": "m", "task": "t", "seed": s, "status": st, "val_macro_f1": v, "test_macro_f1": v,
               "val_micro_f1": None, "test_micro_f1": None} for s, st, v in ((0, "done", 0.5), (1, "done", 0.7), (2, "failed", None))]
    row = aggregate(trials, ["m"], ["t"])[0]
    assert (row["seeds"], row["failed"], row["test_macro_f1"]) == ([0, 1], 1, pytest.approx(0.6))
    assert row["test_macro_f1_std"] == pytest.approx(statistics.stdev([0.5, 0.7]))


def test_first_subword_carries_the_word_label(tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_tiny_encoder(tmp_path / "enc"))
    enc = encode(tok, NER, [{"tokens": ["De", "Marks", "zu", "Esch"], "tags": ["O", "B-PER", "O", "B-LOC"]}], 32)[0]
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "de", "mark", "##s", "zu", "esch", "[SEP]"]
    assert enc["labels"] == [-100, 0, 1, -100, 0, 3, -100]
    space = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert word_predictions([None, 0, 1, 1, None], [0, 0, 1, 2, 0], 3, space) == ["O", "B-PER", "O"]  # word 2 cut off
    assert resolve_model_path("enc", str(tmp_path)) == str(tmp_path / "enc")
    assert resolve_model_path("org/model", str(tmp_path)) == "org/model"


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


@pytest.mark.memory_gib(6)  # peak 7.4 GiB of the machine, 5.2 above the suite's baseline
def test_three_seeds_on_ray_train(ray_local, tmp_path):
    enc = build_tiny_encoder(tmp_path / "enc")
    seq = [{"id": str(i), "text": "et ass gutt" if i % 4 == 0 else "et ass schlecht", "label": "pos" if i % 4 == 0 else "neg"}
           for i in range(12)]
    tok = [{"id": str(i), "tokens": ["de", "mark", "zu", "esch"], "tags": ["O", "B-PER", "O", "B-LOC"]} for i in range(6)]
    cfg = job_from_dict({
        "run": {"name": "enc", "output_dir": str(tmp_path / "runs"), "run_id": "r1"},
        "glue": {
            "tasks": [
                {"name": "sa", "kind": "sequence", "train": _write(tmp_path / "sa.jsonl", seq), "test": str(tmp_path / "sa.jsonl"),
                 "validation": str(tmp_path / "sa.jsonl"), "labels": ["pos", "neg"], "description": "d", "class_balanced": True},
                {"name": "ner", "kind": "token", "train": _write(tmp_path / "ner.jsonl", tok), "test": str(tmp_path / "ner.jsonl"),
                 "labels": ["PER", "LOC"], "description": "d"},
            ],
            "encoders": {"models": [{"name": "tiny", "path": str(enc)}], "seeds": [0, 1, 2], "max_steps": 2,
                         "batch_size": 4, "learning_rate": 1e-3, "max_length": 16},
        },
    })
    summary = run_encoders(cfg)
    trials = summary["trials"]
    assert summary["failed"] == [] and len(trials) == 6
    assert sorted((t["task"], t["seed"]) for t in trials) == [("ner", 0), ("ner", 1), ("ner", 2), ("sa", 0), ("sa", 1), ("sa", 2)]
    assert all(t["steps"] == 2 for t in trials)
    sa = [t for t in trials if t["task"] == "sa"]
    assert len({t["first_loss"] for t in sa}) == 3  # each seed starts its own head
    out = tmp_path / "runs" / "r1" / "glue" / "encoders"
    doc = json.loads((out / "results.json").read_text())
    # 3 pos, 9 neg: weights (1-b)/(1-b^n) scaled to sum to 2.
    raw = [(1 - 0.99) / (1 - 0.99**3), (1 - 0.99) / (1 - 0.99**9)]
    assert doc["class_weights"]["sa"] == pytest.approx([2 * r / sum(raw) for r in raw])
    assert doc["class_weights"]["ner"] is None
    for row in doc["rows"]:
        mine = [t for t in trials if t["task"] == row["task"]]
        assert row["seeds"] == [0, 1, 2]
        assert row["test_macro_f1"] == pytest.approx(statistics.fmean(t["test_macro_f1"] for t in mine))
        assert row["test_macro_f1_std"] == pytest.approx(statistics.stdev(t["test_macro_f1"] for t in mine))
    ner_row = next(r for r in doc["rows"] if r["task"] == "ner")
    assert ner_row["val_macro_f1"] is None and ner_row["test_micro_f1"] is not None
    assert "Mean and sample standard deviation over seeds [0, 1, 2]" in (out / "results.md").read_text()
    assert len((out / "trials.jsonl").read_text().splitlines()) == 6
