"""Read and validate the split files of ltzGLUE-style tasks (shared by encoders and the LLM harness).

Sequence rows: ``id``, ``text``, optional ``text_pair``, ``label`` (one of the task's labels).
Token rows: ``id``, ``tokens`` (list of strings), ``tags`` (BIO tags, as many as tokens; in CSV
both are JSON lists). Entity types are renamed by the task's ``merge_types`` on reading, so every
later step sees the merged tag set (ltzGLUE merges GPE into LOC).

Every bad row is named by file and position in one :class:`~luxit_ray.errors.InputError`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.errors import InputError
from luxit_ray.f1 import bio_tags, merge_types

SPLITS = ("train", "validation", "test")
_MAX_LISTED = 10


def _rows(path: Path, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not path.is_file():
        raise InputError(str(path), "", "no such file")
    suffix = path.suffix.lower()
    kind = fmt if fmt != "auto" else {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(suffix)
    if kind is None:
        raise InputError(str(path), "", f"cannot tell the format from the extension {suffix!r}; set format")
    if kind == "jsonl":
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(str(path), f"line {n}", f"invalid JSON: {exc.msg}") from None
                    yield f"line {n}", row if isinstance(row, dict) else {"_": row}
    elif kind == "csv":
        with path.open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh), start=2):
                yield f"line {n}", dict(row)
    else:
        import pyarrow.parquet as pq

        for n, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield f"row {n}", row


def _str_list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{key}: not a JSON list") from None
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(x, str) for x in value):
        raise ValueError(f"{key}: expected a non-empty list of strings")
    return list(value)


def _text(row: dict[str, Any], key: str, required: bool) -> str | None:
    value = row.get(key)
    text = str(value).strip() if value is not None else ""
    if not text and required:
        raise ValueError(f"{key}: missing or empty")
    return text or None


def load_split(task: GlueTaskConfig, split: str, max_rows: int | None = None) -> list[dict[str, Any]]:
    """The validated rows of one split of a task.

    Returns:
        sequence: ``{"id", "text", "text_pair", "label"}``; token: ``{"id", "tokens", "tags"}``
        with the tags merged.

    Raises:
        InputError: the split is not configured or the file has bad rows (all listed).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    where_cfg = getattr(task, split)
    if where_cfg is None:
        raise InputError(f"glue.tasks.{task.name}.{split}", "", "no file configured for this split")
    path = Path(where_cfg)
    allowed = set(bio_tags(task.labels))
    out: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for where, row in _rows(path, task.format):
        try:
            item_id = _text(row, "id", required=True)
            if item_id in seen:
                raise ValueError(f"id: {item_id!r} repeats ({seen[item_id]})")
            if task.kind == "sequence":
                label = _text(row, "label", required=True)
                if label not in task.labels:
                    raise ValueError(f"label: {label!r} is not one of {task.labels}")
                parsed = {"id": item_id, "text": _text(row, "text", True), "text_pair": _text(row, "text_pair", False), "label": label}
            else:
                tokens = _str_list(row.get("tokens"), "tokens")
                tags = merge_types(_str_list(row.get("tags"), "tags"), task.merge_types)
                if len(tags) != len(tokens):
                    raise ValueError(f"tags: {len(tags)} tags for {len(tokens)} tokens")
                unknown = sorted(set(tags) - allowed)
                if unknown:
                    raise ValueError(f"tags: {unknown} not in the tag set {sorted(allowed)}")
                parsed = {"id": item_id, "tokens": tokens, "tags": tags}
        except ValueError as exc:
            problems.append((where, str(exc)))
            continue
        seen[item_id] = where
        out.append(parsed)
    if problems:
        where, first = problems[0]
        rest = "; ".join(f"{w}: {r}" for w, r in problems[1:_MAX_LISTED])
        more = f" (and {len(problems) - 1} more bad row(s): {rest})" if len(problems) > 1 else ""
        raise InputError(str(path), where, first + more)
    if not out:
        raise InputError(str(path), "", "the split has no rows")
    return out[:max_rows] if max_rows else out
