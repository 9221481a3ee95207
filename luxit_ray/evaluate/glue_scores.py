"""Scores of prompted LLMs on ltzGLUE-style tasks, under both treatments of malformed outputs.

* ``drop``: malformed answers are left out before scoring, as ltzGLUE does ("discarded prior to
  evaluation"); the score is over the valid answers only, so it must be read beside the
  malformed count.
* ``wrong``: a malformed answer counts as a miss: no label (sequence) or all ``O`` (token), so
  every gold entity of that sentence is missed.

Both are always computed; the config's ``malformed`` picks the headline one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.f1 import class_f1, entity_f1

POLICIES = ("drop", "wrong")


def _metrics(task: GlueTaskConfig, records: Sequence[dict[str, Any]], strict: bool) -> dict[str, Any]:
    if task.kind == "sequence":
        m = class_f1([r["gold"] for r in records], [r["predicted"] for r in records], task.labels)
        return {"n": m["n"], "macro_f1": m["macro_f1"], "micro_f1": None, "accuracy": m["accuracy"], "per_label": m["per_class"]}
    golds = [r["gold"] for r in records]
    preds = [r["predicted"] if r["predicted"] is not None else ["O"] * len(r["gold"]) for r in records]
    m = entity_f1(golds, preds, strict=strict)
    return {"n": m["n_sentences"], "macro_f1": m["macro_f1"], "micro_f1": m["micro"]["f1"], "accuracy": None, "per_label": m["per_type"]}


def score_task(task: GlueTaskConfig, records: Sequence[dict[str, Any]], strict: bool = False) -> dict[str, Any]:
    """Malformed counts and the metrics under both policies for one model's records of one task.

    Args:
        task: the task.
        records: per-row records with ``gold``, ``predicted`` (None when malformed) and ``note``.
        strict: token tasks: strict IOB2 spans.

    Returns:
        ``{"n", "malformed", "malformed_rate", "malformed_notes": {note: count}, "drop": {...},
        "wrong": {...}}``, each policy with ``n``, ``macro_f1``, ``micro_f1`` (token tasks),
        ``accuracy`` (sequence tasks) and ``per_label``.
    """
    bad = [r for r in records if r["predicted"] is None]
    notes: dict[str, int] = {}
    for r in bad:
        notes[r["note"]] = notes.get(r["note"], 0) + 1
    n = len(records)
    return {
        "n": n,
        "malformed": len(bad),
        "malformed_rate": len(bad) / n if n else None,
        "malformed_notes": dict(sorted(notes.items())),
        "drop": _metrics(task, [r for r in records if r["predicted"] is not None], strict),
        "wrong": _metrics(task, records, strict),
    }
