"""Entity-level F1 (luxit_ray.f1) against hand-counted values and against seqeval itself."""

from __future__ import annotations

import random

import pytest

from luxit_ray.f1 import bio_tags, class_f1, entities, entity_f1, merge_types


def test_entities_in_default_mode_follow_seqeval():
    # I- without B- starts an entity; a type change ends one; B- splits adjacent same-type entities.
    assert entities(["I-PER", "I-PER", "O"]) == [("PER", 0, 1)]
    assert entities(["B-PER", "I-LOC", "O"]) == [("PER", 0, 0), ("LOC", 1, 1)]
    assert entities(["B-LOC", "B-LOC", "I-LOC"]) == [("LOC", 0, 0), ("LOC", 1, 2)]
    assert entities(["O", "I-ORG", "B-ORG"]) == [("ORG", 1, 1), ("ORG", 2, 2)]
    assert entities(["B-MISC"]) == [("MISC", 0, 0)]
    assert entities(["O", "O"]) == []


def test_entities_in_strict_iob2_drop_stray_inside_tags():
    assert entities(["I-PER", "I-PER", "O"], strict=True) == []
    assert entities(["B-PER", "I-LOC", "O"], strict=True) == [("PER", 0, 0)]
    assert entities(["B-LOC", "B-LOC", "I-LOC"], strict=True) == [("LOC", 0, 0), ("LOC", 1, 2)]
    assert entities(["O", "I-ORG", "B-ORG", "I-ORG"], strict=True) == [("ORG", 2, 3)]


GOLD = [["O", "B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "O", "B-LOC", "B-LOC"]]
PRED = [["O", "B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG", "O", "B-LOC", "I-LOC"]]


def test_exact_span_and_type_with_micro_and_macro():
    m = entity_f1(GOLD, PRED)
    # gold: PER(1-2), LOC(4) | ORG(0-1), LOC(3), LOC(4): 5 entities.
    # pred: PER(1-1), LOC(4) | ORG(0-1), LOC(3-4): 4 entities; right: LOC(4), ORG(0-1) = 2.
    assert m["micro"] == {"precision": 0.5, "recall": 0.4, "f1": pytest.approx(4 / 9)}
    assert m["per_type"]["LOC"] == {"precision": 0.5, "recall": pytest.approx(1 / 3), "f1": pytest.approx(0.4), "support": 3, "predicted": 2}
    assert m["per_type"]["ORG"]["f1"] == 1.0
    assert m["per_type"]["PER"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((0.4 + 1.0 + 0.0) / 3)


def test_macro_counts_types_only_predicted():
    m = entity_f1([["B-PER", "O"]], [["B-PER", "B-MISC"]])
    assert sorted(m["per_type"]) == ["MISC", "PER"]
    assert m["macro_f1"] == 0.5
    assert m["micro"]["precision"] == 0.5 and m["micro"]["recall"] == 1.0


def test_lengths_must_match():
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        entity_f1([["O", "O"]], [["O"]])


def _random_tags(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]) for _ in range(n)]


@pytest.mark.parametrize("strict", [False, True])
def test_same_as_seqeval_on_known_and_random_cases(strict):
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.scheme import IOB2

    kw = {"mode": "strict", "scheme": IOB2} if strict else {}
    rng = random.Random(7)
    cases = [(GOLD, PRED), ([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]),
             ([["B-LOC", "B-LOC"]], [["B-LOC", "I-LOC"]]), ([["B-PER", "I-LOC"]], [["B-PER", "O"]])]
    for _ in range(40):
        lengths = [rng.randint(1, 9) for _ in range(4)]
        cases.append(([_random_tags(rng, n) for n in lengths], [_random_tags(rng, n) for n in lengths]))
    for gold, pred in cases:
        ours = entity_f1(gold, pred, strict=strict)
        assert ours["micro"]["f1"] == pytest.approx(seqeval.f1_score(gold, pred, **kw))
        assert ours["micro"]["precision"] == pytest.approx(seqeval.precision_score(gold, pred, **kw))
        assert ours["micro"]["recall"] == pytest.approx(seqeval.recall_score(gold, pred, **kw))
        if ours["macro_f1"] is not None:
            assert ours["macro_f1"] == pytest.approx(seqeval.f1_score(gold, pred, average="macro", **kw))


def test_class_f1_and_tag_helpers():
    m = class_f1(["a", "a", "b", "c"], ["a", "b", "b", None], ["a", "b", "c"])
    assert m["accuracy"] == 0.5
    assert m["per_class"]["a"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["c"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx(4 / 9)
    assert bio_tags(["PER", "LOC"]) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert merge_types(["B-GPE", "I-GPE", "B-DATE", "O", "B-PER"], {"GPE": "LOC", "DATE": "O"}) == ["B-LOC", "I-LOC", "O", "O", "B-PER"]
