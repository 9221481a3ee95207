"""F1 for classification and for BIO-tagged entities (pure functions, no I/O).

A low module on purpose: encoder fine-tuning (``train/encoders.py``) and the LLM harness
(``evaluate/ner.py``) score with the same code, and neither imports the other.

Entity F1 follows seqeval (``seqeval.metrics.f1_score``): an entity counts as found only when its
type and its exact token span match a gold entity. Spans are read the way seqeval reads them:

* default mode (seqeval without ``mode="strict"``, conlleval's rules): an ``I-X`` after ``O`` or
  after another type starts an entity; a change of type ends one; ``B-X`` always starts one, so two
  adjacent entities of one type stay two.
* strict IOB2 (seqeval ``mode="strict", scheme=IOB2``): an entity is ``B-X`` and the ``I-X`` that
  follow it; an ``I-X`` without its ``B-X`` belongs to no entity.

Micro-F1 pools the true positives of all types; macro-F1 averages the per-type F1 over the types
that occur in the gold or the predicted entities (seqeval's ``average="macro"``). A precision or
recall with an empty denominator is 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Entity = tuple[str, int, int]  # (type, first token, last token), as seqeval's get_entities


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (0 where a denominator is empty)."""
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _split(tag: str) -> tuple[str, str]:
    # seqeval: the prefix is the first character, the type what follows the first '-'.
    return tag[0] if tag else "O", tag[1:].split("-", maxsplit=1)[-1] or "_"


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def entities(tags: Sequence[str], strict: bool = False) -> list[Entity]:
    """The entities of one tag sequence as ``(type, start, end)`` with ``end`` inclusive.

    Args:
        tags: BIO tags (``O``, ``B-PER``, ``I-PER``, ...).
        strict: read them as strict IOB2 (stray ``I-`` tags are no entity) instead of
            seqeval's default, lenient mode.
    """
    if strict:
        return _strict_iob2(tags)
    out: list[Entity] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, raw in enumerate([*tags, "O"]):
        tag, type_ = _split(raw)
        if _ends(prev_tag, tag, prev_type, type_):
            out.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return out


def _strict_iob2(tags: Sequence[str]) -> list[Entity]:
    out: list[Entity] = []
    i = 0
    while i < len(tags):
        tag, type_ = _split(tags[i])
        if tag != "B":
            i += 1
            continue
        end = i
        while end + 1 < len(tags) and _split(tags[end + 1]) == ("I", type_):
            end += 1
        out.append((type_, i, end))
        i = end + 1
    return out


def entity_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], strict: bool = False) -> dict[str, Any]:
    """Entity-level precision / recall / F1 over sentences, seqeval's definition.

    Args:
        gold: gold tag sequences, one per sentence.
        pred: predicted tag sequences, each as long as its gold sequence.
        strict: strict IOB2 instead of seqeval's default mode.

    Returns:
        ``{"n_sentences", "micro": {precision, recall, f1}, "macro_f1", "per_type": {type:
        {precision, recall, f1, support, predicted}}}``; ``macro_f1`` is None without entities.

    Raises:
        ValueError: a different number of sentences, or a sentence whose lengths differ.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    gold_set: set[tuple[int, str, int, int]] = set()
    pred_set: set[tuple[int, str, int, int]] = set()
    for k, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {k}: {len(g)} gold tags but {len(p)} predicted")
        gold_set.update((k, *e) for e in entities(g, strict))
        pred_set.update((k, *e) for e in entities(p, strict))
    types = sorted({e[1] for e in gold_set} | {e[1] for e in pred_set})
    per: dict[str, dict[str, float | int]] = {}
    for t in types:
        g_t = {e for e in gold_set if e[1] == t}
        p_t = {e for e in pred_set if e[1] == t}
        precision, recall, f1 = prf(len(g_t & p_t), len(p_t), len(g_t))
        per[t] = {"precision": precision, "recall": recall, "f1": f1, "support": len(g_t), "predicted": len(p_t)}
    precision, recall, f1 = prf(len(gold_set & pred_set), len(pred_set), len(gold_set))
    return {
        "n_sentences": len(gold),
        "micro": {"precision": precision, "recall": recall, "f1": f1},
        "macro_f1": sum(v["f1"] for v in per.values()) / len(per) if per else None,
        "per_type": per,
    }


def class_f1(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class scores of single-label predictions.

    ``None`` is a prediction of no class (a gold miss, no false positive). Macro-F1 averages the
    declared labels that occur as gold or prediction (scikit-learn's default).
    """
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold labels but {len(preds)} predictions")
    per: dict[str, dict[str, float | int]] = {}
    for label in labels:
        tp = sum(1 for g, p in zip(golds, preds, strict=True) if g == label and p == label)
        n_pred = sum(1 for p in preds if p == label)
        support = sum(1 for g in golds if g == label)
        precision, recall, f1 = prf(tp, n_pred, support)
        per[label] = {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": n_pred}
    active = [lab for lab in labels if per[lab]["support"] or per[lab]["predicted"]]
    n = len(golds)
    return {
        "n": n,
        "accuracy": sum(1 for g, p in zip(golds, preds, strict=True) if g == p) / n if n else None,
        "macro_f1": sum(per[lab]["f1"] for lab in active) / len(active) if active else None,
        "per_class": per,
    }


def bio_tags(types: Sequence[str]) -> list[str]:
    """The BIO tag set of some entity types: ``O`` then ``B-X``, ``I-X`` per type."""
    return ["O", *[f"{p}-{t}" for t in types for p in ("B", "I")]]


def merge_types(tags: Sequence[str], mapping: dict[str, str]) -> list[str]:
    """Rename entity types in BIO tags (``GPE`` -> ``LOC``); a type mapped to ``O`` is removed."""
    out = []
    for tag in tags:
        if tag == "O" or "-" not in tag:
            out.append(tag)
            continue
        prefix, type_ = tag.split("-", 1)
        new = mapping.get(type_, type_)
        out.append("O" if new == "O" else f"{prefix}-{new}")
    return out
