"""Read and validate exam and classification-task files into :class:`EvalItem` rows.

Both kinds become the same thing: a question block with lettered options and the index of the
right one, so one harness scores exam levels and NLU tasks side by side.

Exam rows: ``id``, ``level``, ``category``, optional ``passage`` (reading text or listening
transcript), ``question``, ``choices`` (2-6; in CSV a JSON list or ``choice_a`` .. ``choice_f``
columns), ``answer`` (a letter, or an integer index counted from ``index_base``).

Task rows: ``id``, optional ``task``, ``text``, optional ``text_pair``, ``label``.

Every bad row is named by file and position (JSONL and CSV: ``line N`` of the file; Parquet:
``row N``, counted from 1) in one :class:`~luxit_ray.errors.InputError` that lists them all.
"""

from __future__ import annotations

import csv
import json
import logging
import string
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from luxit_ray.config.evaluate import ClassificationTaskConfig, ExamConfig, PromptConfig
from luxit_ray.errors import InputError

log = logging.getLogger(__name__)

LETTERS = string.ascii_uppercase
MIN_CHOICES, MAX_CHOICES = 2, 6
CHOICE_COLUMNS = [f"choice_{c}" for c in "abcdef"]
EXAM_COLUMNS = {"id", "level", "category", "passage", "question", "choices", "answer", *CHOICE_COLUMNS}
TASK_COLUMNS = {"id", "task", "text", "text_pair", "label"}
KIND_EXAM = "exam"
KIND_CLASSIFICATION = "classification"
_MAX_LISTED = 10


@dataclass(frozen=True)
class EvalItem:
    """One multiple-choice question, from an exam or a classification task.

    Attributes:
        source: exam or task name.
        kind: ``exam`` or ``classification``.
        id: the row's id (unique within its source).
        level: exam level (A1..C2) or None for tasks.
        category: exam category (vocabulary, grammar, ...) or None for tasks.
        choices: option texts (for tasks: the label names).
        answer: index of the right option.
        body: the rendered question block (passage, question, lettered options) without the
            closing instruction; every scorer and the lm-eval export start from it.
        origin: ``<file>:<line N | row N>``.
    """

    source: str
    kind: str
    id: str
    level: str | None
    category: str | None
    choices: tuple[str, ...]
    answer: int
    body: str
    origin: str

    @property
    def letters(self) -> str:
        """The valid answer letters, e.g. ``ABCD``."""
        return LETTERS[: len(self.choices)]

    @property
    def answer_letter(self) -> str:
        """The right option's letter."""
        return LETTERS[self.answer]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for Ray and JSON)."""
        d = asdict(self)
        d["choices"] = list(self.choices)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalItem:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "choices": tuple(d["choices"])})


def detect_format(path: Path, fmt: str) -> str:
    """The file format: the configured one, or from the extension."""
    if fmt != "auto":
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(str(path), "", f"cannot tell the format from the extension {suffix!r}; set format: jsonl|csv|parquet")


def read_rows(path: str | Path, fmt: str = "auto") -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(position, row)`` for each record; positions are ``line N`` or ``row N``.

    Raises:
        InputError: the file is missing or a record cannot be parsed at all.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), "", "no such file")
    kind = detect_format(p, fmt)
    if kind == "jsonl":
        with p.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(str(p), f"line {n}", f"invalid JSON: {exc.msg}") from None
                if not isinstance(row, dict):
                    raise InputError(str(p), f"line {n}", "expected a JSON object")
                yield f"line {n}", row
    elif kind == "csv":
        delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
        with p.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            start = 2  # line 1 is the header
            for row in reader:
                if None in row:
                    raise InputError(str(p), f"line {start}", f"more cells than header columns ({len(reader.fieldnames or [])})")
                yield f"line {start}", {k: v for k, v in row.items() if k is not None}
                start = reader.line_num + 1
    else:
        import pyarrow.parquet as pq

        for n, row in enumerate(pq.read_table(p).to_pylist(), start=1):
            yield f"row {n}", row


def _text(row: dict[str, Any], key: str, required: bool) -> str | None:
    """A cell as stripped text; None when empty. Raises ValueError when required and empty."""
    value = row.get(key)
    if value is None or (isinstance(value, float) and value != value):
        value = ""
    if not isinstance(value, (str, int, float)):
        raise ValueError(f"{key}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        if required:
            raise ValueError(f"{key}: missing or empty")
        return None
    return text


def _choices(row: dict[str, Any]) -> list[str]:
    raw = row.get("choices")
    if raw is not None and raw != "":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise ValueError("choices: not a JSON list of strings") from None
        if not isinstance(raw, (list, tuple)):
            raise ValueError(f"choices: expected a list, got {type(raw).__name__}")
        choices = [str(c).strip() if c is not None else "" for c in raw]
    else:
        cells = [_text(row, col, required=False) for col in CHOICE_COLUMNS]
        last = max((i for i, c in enumerate(cells) if c is not None), default=-1)
        if last < 0:
            raise ValueError("choices: missing (give `choices` or choice_a..choice_f)")
        gaps = [CHOICE_COLUMNS[i] for i in range(last + 1) if cells[i] is None]
        if gaps:
            raise ValueError(f"choices: {', '.join(gaps)} empty before a later choice")
        choices = [c for c in cells[: last + 1] if c is not None]
    if not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
        raise ValueError(f"choices: {len(choices)} given, need {MIN_CHOICES} to {MAX_CHOICES}")
    if any(not c for c in choices):
        raise ValueError("choices: an option is empty")
    if len(set(choices)) != len(choices):
        raise ValueError("choices: options repeat")
    return choices


def normalise_answer(value: Any, n_choices: int, index_base: int = 0) -> int:
    """Turn a letter (``B``, ``b``, ``(B)``, ``B)``) or an integer index into a 0-based index.

    Raises:
        ValueError: empty, unknown form, or out of range for ``n_choices``.
    """
    valid = LETTERS[:n_choices]
    if isinstance(value, bool) or value is None:
        raise ValueError("answer: missing")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        index = value - index_base
        if not 0 <= index < n_choices:
            lo = index_base
            raise ValueError(f"answer: index {value} out of range {lo}..{n_choices - 1 + lo}")
        return index
    text = str(value).strip().strip("().:").strip()
    if not text:
        raise ValueError("answer: missing or empty")
    if text.lstrip("-").isdigit():
        return normalise_answer(int(text), n_choices, index_base)
    if len(text) == 1 and text.upper() in LETTERS:
        if text.upper() not in valid:
            raise ValueError(f"answer: {text!r} is not one of {', '.join(valid)}")
        return valid.index(text.upper())
    raise ValueError(f"answer: {value!r} is neither a letter ({', '.join(valid)}) nor an index")


def render_body(
    sections: list[tuple[str, str]], question_heading: str, question: str, options_heading: str, choices: list[str]
) -> str:
    """The question block every prompt starts from: headed sections, question, lettered options."""
    parts = [f"{heading}\n{text}" for heading, text in sections]
    parts.append(f"{question_heading}\n{question}")
    options = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))
    parts.append(f"{options_heading}\n{options}")
    return "\n\n".join(parts)


def _raise_collected(path: Path, problems: list[tuple[str, str]]) -> None:
    where, first = problems[0]
    more = ""
    if len(problems) > 1:
        listed = "; ".join(f"{w}: {r}" for w, r in problems[1:_MAX_LISTED])
        extra = len(problems) - _MAX_LISTED
        more = f" (and {len(problems) - 1} more bad row(s): {listed}{'; ...' if extra > 0 else ''})"
    raise InputError(str(path), where, first + more)


def _warn_unknown(path: Path, row: dict[str, Any], known: set[str], seen: set[str]) -> None:
    unknown = sorted(set(row) - known - seen)
    if unknown:
        seen.update(unknown)
        log.warning("%s: ignoring unknown column(s) %s", path, unknown)


def load_exam(cfg: ExamConfig, prompt: PromptConfig, max_items: int | None = None) -> list[EvalItem]:
    """Read and validate an exam file.

    Raises:
        InputError: names the file and every bad row (line/row number and field).
    """
    path = Path(cfg.path)
    items: list[EvalItem] = []
    problems: list[tuple[str, str]] = []
    ids: dict[str, str] = {}
    unknown: set[str] = set()
    for where, row in read_rows(path, cfg.format):
        _warn_unknown(path, row, EXAM_COLUMNS, unknown)
        try:
            item_id = _text(row, "id", required=True)
            if item_id in ids:
                raise ValueError(f"id: {item_id!r} repeats ({ids[item_id]})")
            level = (_text(row, "level", required=True) or "").upper()
            if level not in cfg.levels:
                raise ValueError(f"level: {level!r} is not one of {', '.join(cfg.levels)}")
            category = (_text(row, "category", required=True) or "").lower()
            passage = _text(row, "passage", required=False)
            question = _text(row, "question", required=True) or ""
            choices = _choices(row)
            answer = normalise_answer(row.get("answer"), len(choices), cfg.index_base)
        except ValueError as exc:
            problems.append((where, str(exc)))
            continue
        ids[item_id] = where
        sections = [(prompt.passage_heading, passage)] if passage else []
        body = render_body(sections, prompt.question_heading, question, prompt.options_heading, choices)
        items.append(
            EvalItem(
                source=cfg.name, kind=KIND_EXAM, id=item_id, level=level, category=category,
                choices=tuple(choices), answer=answer, body=body, origin=f"{path}:{where}",
            )
        )
    if problems:
        _raise_collected(path, problems)
    if not items:
        raise InputError(str(path), "", "the exam has no rows")
    return items[:max_items] if max_items else items


def load_task(cfg: ClassificationTaskConfig, prompt: PromptConfig, max_items: int | None = None) -> list[EvalItem]:
    """Read and validate a classification-task file; the label names become the options.

    Raises:
        InputError: names the file and every bad row (line/row number and field).
    """
    path = Path(cfg.path)
    rows: list[tuple[str, dict[str, Any]]] = []
    problems: list[tuple[str, str]] = []
    ids: dict[str, str] = {}
    unknown: set[str] = set()
    for where, row in read_rows(path, cfg.format):
        _warn_unknown(path, row, TASK_COLUMNS, unknown)
        try:
            item_id = _text(row, "id", required=True)
            if item_id in ids:
                raise ValueError(f"id: {item_id!r} repeats ({ids[item_id]})")
            task = _text(row, "task", required=False)
            if task is not None and task != cfg.name:
                raise ValueError(f"task: {task!r} is not the configured task {cfg.name!r}")
            parsed = {
                "id": item_id,
                "text": _text(row, "text", required=True),
                "text_pair": _text(row, "text_pair", required=False),
                "label": _text(row, "label", required=True),
            }
        except ValueError as exc:
            problems.append((where, str(exc)))
            continue
        ids[item_id] = where
        rows.append((where, parsed))
    labels = cfg.labels
    if labels is None:
        labels = list(dict.fromkeys(r["label"] for _, r in rows))
        log.warning("task %s: no labels configured; using the %d found in %s: %s", cfg.name, len(labels), path, labels)
        if len(labels) < 2:
            problems.append(("", f"need at least 2 distinct labels, found {labels}"))
    items: list[EvalItem] = []
    for where, r in rows:
        if r["label"] not in labels:
            problems.append((where, f"label: {r['label']!r} is not one of {labels}"))
            continue
        sections = [(cfg.text_heading, r["text"])]
        if r["text_pair"]:
            sections.append((cfg.pair_heading, r["text_pair"]))
        body = render_body(sections, prompt.question_heading, cfg.question, prompt.options_heading, labels)
        items.append(
            EvalItem(
                source=cfg.name, kind=KIND_CLASSIFICATION, id=r["id"], level=None, category=None,
                choices=tuple(labels), answer=labels.index(r["label"]), body=body, origin=f"{path}:{where}",
            )
        )
    if problems:
        problems.sort(key=lambda p: _position(p[0]))
        _raise_collected(path, problems)
    if not items:
        raise InputError(str(path), "", "the task file has no rows")
    return items[:max_items] if max_items else items


def _position(where: str) -> int:
    tail = where.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def instruction_letters(n_choices: int) -> str:
    """``A, B, C, D`` for four options."""
    return ", ".join(LETTERS[:n_choices])
