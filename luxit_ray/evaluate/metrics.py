"""Accuracy, invalid rates and F1 from per-sample records (pure functions, no I/O).

Conventions: accuracy is correct / all items, so an invalid output counts against it exactly
like a wrong one, and the invalid rate is reported beside it. For F1, an invalid output is a
missed gold label (a false negative) and a prediction of no class (no false positive).
Macro-F1 averages the classes that occur as gold or prediction (scikit-learn's default);
precision or recall with an empty denominator is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from luxit_ray.evaluate.scorers import CORRECT, INVALID, WRONG

OVERALL = "overall"


def counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Outcome counts: ``n``, ``correct``, ``wrong``, ``invalid``."""
    out = {"n": 0, CORRECT: 0, WRONG: 0, INVALID: 0}
    for r in records:
        out["n"] += 1
        out[r["outcome"]] += 1
    return out


def accuracy(records: Iterable[dict[str, Any]]) -> float | None:
    """Correct over all records (None when there are none)."""
    c = counts(records)
    return c[CORRECT] / c["n"] if c["n"] else None


def invalid_rate(records: Iterable[dict[str, Any]]) -> float | None:
    """Invalid over all records (None when there are none)."""
    c = counts(records)
    return c[INVALID] / c["n"] if c["n"] else None


def by_key(records: Sequence[dict[str, Any]], key: str, values: Sequence[str], metric=accuracy) -> dict[str, float | None]:
    """``metric`` per value of ``key`` (in the given order) plus ``overall``."""
    out: dict[str, float | None] = {v: metric([r for r in records if r[key] == v]) for v in values}
    out[OVERALL] = metric(records)
    return out


def per_class_f1(golds: Sequence[str], preds: Sequence[str | None], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, invalid rate and per-class precision / recall / F1 / support
    (:func:`luxit_ray.f1.class_f1`, the one home of the formula, plus the invalid rate).

    Args:
        golds: gold labels.
        preds: predicted labels, None for an invalid output.
        labels: the declared label set (its order is the report's order).
    """
    from luxit_ray.f1 import class_f1

    out = class_f1(golds, preds, labels)
    n = out["n"]
    return {"n": n, "accuracy": out["accuracy"], "macro_f1": out["macro_f1"],
            "invalid_rate": sum(1 for p in preds if p is None) / n if n else None, "per_class": out["per_class"]}


def classification_metrics(records: Sequence[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """:func:`per_class_f1` over one model's records of one task and scorer."""
    golds = [labels[r["answer_index"]] for r in records]
    preds = [labels[r["predicted_index"]] if r["predicted_index"] is not None else None for r in records]
    return per_class_f1(golds, preds, labels)
