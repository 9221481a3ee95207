"""Classification metrics on the topic sample, checked against values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from luxit_ray.config.evaluate import ClassificationTaskConfig, PromptConfig
from luxit_ray.evaluate.items import load_task
from luxit_ray.evaluate.metrics import by_key, classification_metrics, counts, per_class_f1
from luxit_ray.evaluate.scorers import score_generative

from .conftest import TOPIC_LABELS
from .scripted import ScriptedBackend

# The scripted model's replies that differ from the gold label (everything else is answered right):
#   t01 Politik    -> "D" (Wirtschaft)
#   t06 Sport      -> "A" (Politik)
#   t11 Kultur     -> prose (invalid)
#   t16 Wirtschaft -> "Politik" (the label's text, read as A)
#   t17 Wirtschaft -> "A) Politik"
MISTAKES = {"t01": "D", "t06": "A", "t11": "Ech weess et net.", "t16": "Politik", "t17": "A) Politik"}

# By hand:
#   Politik:    gold 5, predicted 7 (t02-t05, t06, t16, t17), TP 4: P 4/7, R 4/5, F1 = 2PR/(P+R) = 2/3
#   Sport:      gold 5, predicted 4, TP 4: P 1, R 4/5, F1 8/9
#   Kultur:     gold 5, predicted 4, TP 4 (t11 invalid: a miss, no prediction): P 1, R 4/5, F1 8/9
#   Wirtschaft: gold 5, predicted 4 (t18-t20, t01), TP 3: P 3/4, R 3/5, F1 2/3
#   macro-F1 = (2/3 + 8/9 + 8/9 + 2/3) / 4 = 7/9; accuracy 15/20; invalid 1/20
EXPECTED = {
    "Politik": (4 / 7, 4 / 5, 2 / 3, 5, 7),
    "Sport": (1.0, 4 / 5, 8 / 9, 5, 4),
    "Kultur": (1.0, 4 / 5, 8 / 9, 5, 4),
    "Wirtschaft": (3 / 4, 3 / 5, 2 / 3, 5, 4),
}


def test_topic_per_class_and_macro_f1(topic_path: Path) -> None:
    cfg = ClassificationTaskConfig(name="topic", path=str(topic_path), labels=TOPIC_LABELS)
    items = load_task(cfg, PromptConfig())
    model = ScriptedBackend(items, reply=lambda it: MISTAKES.get(it.id, it.answer_letter))
    records = score_generative(model, items, PromptConfig().model_dump())
    assert counts(records) == {"n": 20, "correct": 15, "wrong": 4, "invalid": 1}
    m = classification_metrics(records, TOPIC_LABELS)
    assert m["n"] == 20
    assert m["accuracy"] == pytest.approx(15 / 20)
    assert m["invalid_rate"] == pytest.approx(1 / 20)
    assert m["macro_f1"] == pytest.approx(7 / 9)
    for label, (p, r, f1, support, predicted) in EXPECTED.items():
        got = m["per_class"][label]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f1))
        assert (got["support"], got["predicted"]) == (support, predicted)


def test_macro_f1_skips_classes_never_seen() -> None:
    m = per_class_f1(["jo", "jo", "nee"], ["jo", None, "jo"], ["jo", "nee", "vläicht"])
    # jo: P 1/2, R 1/2, F1 1/2; nee: support 1, no prediction, F1 0; vläicht: neither gold nor predicted.
    assert m["per_class"]["vläicht"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0, "predicted": 0}
    assert m["macro_f1"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["invalid_rate"] == pytest.approx(1 / 3)


def test_by_key_includes_overall() -> None:
    recs = [
        {"level": "A1", "outcome": "correct"},
        {"level": "A1", "outcome": "invalid"},
        {"level": "B1", "outcome": "wrong"},
    ]
    assert by_key(recs, "level", ["A1", "A2", "B1"]) == {"A1": 0.5, "A2": None, "B1": 0.0, "overall": 1 / 3}
