"""The lm-eval export loads with lm-evaluation-harness's own task loader, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from luxit_ray.config.evaluate import EvaluateConfig
from luxit_ray.evaluate.lm_eval_export import export_lm_eval
from luxit_ray.evaluate.runner import load_items
from luxit_ray.evaluate.scorers import LOGLIK, user_message

from .conftest import TOPIC_LABELS

lm_eval_tasks = pytest.importorskip("lm_eval.tasks")


def test_export_loads_with_lm_eval_task_manager(tmp_path: Path, exam_path: Path, topic_path: Path) -> None:
    settings = EvaluateConfig(
        exam={"name": "sample", "path": str(exam_path)},
        tasks=[{"name": "topic", "path": str(topic_path), "labels": TOPIC_LABELS, "question": "Wéi en Thema?"}],
        models=[{"name": "m", "path": "unused", "group": "instruct"}],
        prompt={"loglik_instruction": "Äntwert mat der richteger Méiglechkeet."},
    )
    out = export_lm_eval(settings, tmp_path / "lm_eval")
    assert out["groups"] == ["luxit_sample"]
    assert out["entry_points"] == ["luxit_sample", "luxit_topic"]
    assert out["tasks"] == [f"luxit_sample_{lv}" for lv in ("a1", "a2", "b1", "b2", "c1", "c2")] + ["luxit_topic"]

    manager = lm_eval_tasks.TaskManager(include_path=str(tmp_path / "lm_eval"), include_defaults=False)
    loaded = manager.load(out["entry_points"])
    tasks = loaded["tasks"]
    assert sorted(tasks) == sorted(out["tasks"])
    assert loaded["group_map"]["luxit_sample"] == out["tasks"][:6]
    sizes = {name: len(list(task.test_docs())) for name, task in tasks.items()}
    assert sizes == {
        "luxit_sample_a1": 6, "luxit_sample_a2": 5, "luxit_sample_b1": 5, "luxit_sample_b2": 5,
        "luxit_sample_c1": 6, "luxit_sample_c2": 5, "luxit_topic": 20,
    }

    # The documents ask exactly what our log-likelihood scorer asks, with the same options and gold.
    items = {it.id: it for it in load_items(settings)}
    a1 = tasks["luxit_sample_a1"]
    for doc in a1.test_docs():
        item = items[doc["id"]]
        assert a1.doc_to_text(doc) == user_message(item, settings.prompt.model_dump(), LOGLIK)
        assert a1.doc_to_choice(doc) == list(item.choices)
        assert a1.doc_to_target(doc) == item.answer
    assert a1.OUTPUT_TYPE == "multiple_choice"
    doc = next(iter(a1.test_docs()))  # a1-voc-1: laang / schéin / kleng / al, gold C
    assert a1.process_results(doc, [(-5.0, False), (-6.0, False), (-4.5, False), (-4.0, False)]) == {"acc": 0.0, "acc_norm": 1.0}
    assert set(a1.aggregation()) == {"acc", "acc_norm"}

    # Scoring goes through the exported process_results / macro-F1 aggregation.
    topic = tasks["luxit_topic"]
    doc = next(iter(topic.test_docs()))  # t01, gold Politik (0)
    lls = [(-2.0, False), (-30.0, False), (-30.0, False), (-30.0, False)]
    assert topic.process_results(doc, lls) == {"acc": 1.0, "acc_norm": 1.0, "macro_f1": (0, 0)}
    lls = [(-14.0, False), (-12.0, False), (-21.0, False), (-28.0, False)]  # raw: Sport; per char: Politik (-2/char)
    assert topic.process_results(doc, lls) == {"acc": 0.0, "acc_norm": 1.0, "macro_f1": (0, 0)}
    agg = topic.aggregation()["macro_f1"]
    assert agg([(0, 0), (1, 0), (1, 1), (2, 2)]) == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)
