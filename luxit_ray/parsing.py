"""Turn an LLM's raw answer into validated values: reasoning apart, fences off, JSON, pydantic.

Parsing never raises on bad model output: it returns a result whose ``error_kind`` / ``error``
say what was wrong, and the stage writes that beside the raw output.

Error kinds produced here (the client adds http/timeout/length/... before parsing happens):

- ``empty``: no answer text (nothing at all, or only a reasoning block).
- ``parse``: no JSON value could be read (e.g. truncated JSON, prose only).
- ``schema``: JSON, but not the expected shape or values (wrong keys, empty strings, a score
  of 0, 4 or 2.5, ...).
- ``count``: generation only: the array parsed but holds a different number of pairs than
  asked for. The valid pairs are still kept (they are good data); the mismatch is recorded as
  an extra article-level row so it is counted, never silent.

Decisions (tested in tests/test_parsing.py):

- Reasoning: ``<think>...</think>`` blocks anywhere are cut out and returned as ``reasoning``.
  A ``</think>`` with no opening tag (chat templates that put ``<think>`` in the prompt) makes
  everything before it reasoning; an opening ``<think>`` never closed (cut off while thinking)
  makes everything after it reasoning.
- Generation output may be a bare array ``[{...}, ...]`` (prompt-only mode, as in the paper)
  or an object ``{"pairs": [...]}`` (JSON-schema / JSON-object modes need a top-level object);
  an object with exactly one array value, or a single ``{instruction, response}`` object, is
  accepted too. Extra keys inside a pair (e.g. a task type) are ignored.
- Instruction and response are stripped of surrounding whitespace; an empty one is invalid.
  One invalid element does not sink its valid siblings: it gets its own error (``schema``)
  at its index. If no element is valid the whole answer is a ``schema`` error.
- Judge scores must be whole numbers 1..3. Unambiguous spellings of a whole number are
  accepted (``3``, ``3.0``, ``"3"``): a model quoting a number has still given a clear score,
  and JSON-schema mode never produces them anyway. ``0``, ``4``, ``2.5``, ``"good"``,
  ``true`` and ``null`` are ``schema`` errors. Extra keys (e.g. an explanation) are ignored;
  a missing criterion is a ``schema`` error. ``{"scores": {...}}`` is unwrapped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from luxit_ray.schema import CRITERIA

THINK_TAGS = ("think", "thinking")
PAIRS_KEY = "pairs"

_TAGS = "|".join(THINK_TAGS)
_CLOSED = re.compile(rf"<({_TAGS})>(.*?)</\1>", re.S | re.I)
_CLOSE_ONLY = re.compile(rf"</({_TAGS})>", re.I)
_OPEN_ONLY = re.compile(rf"<({_TAGS})>", re.I)
_FENCED = re.compile(r"```[ \t]*[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.S)
_FENCE_LINE = re.compile(r"^[ \t]*```[ \t]*[A-Za-z0-9_-]*[ \t]*$", re.M)
# How many '[' / '{' positions are tried when the answer has prose around its JSON.
_MAX_JSON_STARTS = 64


# ---- models ----------------------------------------------------------------------------


class GeneratedPair(BaseModel):
    """One instruction/response pair as the generator must write it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, strict=True)

    instruction: str = Field(min_length=1, description="The user's instruction (non-empty).")
    response: str = Field(min_length=1, description="The ideal answer (non-empty).")


def _whole_number(value: Any) -> Any:
    """Accept whole numbers in their unambiguous spellings; leave everything else to fail."""
    if isinstance(value, bool):
        raise ValueError("must be an integer 1, 2 or 3, not a boolean")
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(f"must be a whole number 1, 2 or 3 (got {value})")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


Score = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=3)]


class JudgeScores(BaseModel):
    """A judge's four scores, each a whole number from 1 (poor) to 3 (excellent)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    linguistic_quality: Score = Field(description="Is it good, natural target-language text?")
    factual_accuracy: Score = Field(description="Does it agree with the source and known facts?")
    instruction_adherence: Score = Field(description="Does the response do what was asked?")
    helpfulness_relevance: Score = Field(description="Is the pair useful and on topic?")

    def as_dict(self) -> dict[str, int]:
        """``{criterion: score}`` in schema.CRITERIA order."""
        return {c: getattr(self, c) for c in CRITERIA}


assert tuple(JudgeScores.model_fields) == CRITERIA, "JudgeScores must follow schema.CRITERIA"


# ---- JSON schemas sent as structured-output constraints -------------------------------


def pairs_json_schema(n: int) -> dict[str, Any]:
    """JSON schema for ``{"pairs": [n x {instruction, response}]}``.

    A top-level object because OpenAI's strict JSON-schema mode (and its JSON-object mode)
    require one; vLLM accepts either.
    """
    pair = {
        "type": "object",
        "properties": {"instruction": {"type": "string"}, "response": {"type": "string"}},
        "required": ["instruction", "response"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {PAIRS_KEY: {"type": "array", "items": pair, "minItems": n, "maxItems": n}},
        "required": [PAIRS_KEY],
        "additionalProperties": False,
    }


def judge_json_schema() -> dict[str, Any]:
    """JSON schema for the judge's answer: the four criteria, each one of 1, 2, 3."""
    return {
        "type": "object",
        "properties": {c: {"type": "integer", "enum": [1, 2, 3]} for c in CRITERIA},
        "required": list(CRITERIA),
        "additionalProperties": False,
    }


# ---- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PairItem:
    """One element of the generated array: a valid pair, or why it is not one."""

    index: int
    pair: GeneratedPair | None = None
    error: str | None = None  # "schema: <detail>" when the element is invalid


@dataclass(frozen=True)
class ParseResult:
    """Outcome of parsing one answer.

    Attributes:
        value: Generation: list of :class:`PairItem` (empty on an answer-level error);
            judging: :class:`JudgeScores` or None.
        reasoning: Reasoning text kept apart (think blocks and/or the endpoint's field).
        answer: The answer text after removing reasoning and code fences.
        error_kind: None, or one of empty | parse | schema | count.
        error: ``"<kind>: <detail>"`` or None.
    """

    value: Any = None
    reasoning: str | None = None
    answer: str = ""
    error_kind: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error of any kind."""
        return self.error_kind is None


# ---- text clean-up ---------------------------------------------------------------------


def split_reasoning(text: str | None) -> tuple[str, str | None]:
    """Split model text into (answer, reasoning).

    Handles closed think blocks anywhere, a closing tag without an opening one (everything
    before it is reasoning) and an opening tag never closed (everything after it is reasoning).
    """
    if not text:
        return "", None
    parts: list[str] = []

    def _take(m: re.Match[str]) -> str:
        parts.append(m.group(2).strip())
        return ""

    rest = _CLOSED.sub(_take, text)
    close = _CLOSE_ONLY.search(rest)
    if close:
        parts.insert(0, rest[: close.start()].strip())
        rest = rest[close.end():]
    opened = _OPEN_ONLY.search(rest)
    if opened:
        parts.append(rest[opened.end():].strip())
        rest = rest[: opened.start()]
    reasoning = "\n\n".join(p for p in parts if p) or None
    return rest.strip(), reasoning


def join_reasoning(*texts: str | None) -> str | None:
    """Join reasoning pieces (the endpoint's field, stripped think blocks), skipping empty ones."""
    kept = [t.strip() for t in texts if t and t.strip()]
    return "\n\n".join(kept) or None


def strip_fences(text: str) -> str:
    """Remove Markdown code fences: the first fenced block whose content parses as JSON wins,
    else the first fenced block; stray fence lines (an unclosed fence) are dropped."""
    blocks = _FENCED.findall(text)
    for b in blocks:
        try:
            json.loads(b)
            return b.strip()
        except ValueError:
            continue
    if blocks:
        return blocks[0].strip()
    return _FENCE_LINE.sub("", text).strip()


def find_json(text: str) -> tuple[Any, str | None]:
    """The first JSON array or object in ``text`` (prose around it is tolerated).

    Returns:
        (value, None) on success, (None, detail) when nothing parses; the detail is the JSON
        error at the first candidate (the most informative one for truncated output).
    """
    s = text.strip()
    try:
        return json.loads(s), None
    except ValueError as exc:
        first_error = f"{exc.msg} (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else str(exc)
    decoder = json.JSONDecoder()
    starts = [m.start() for m in re.finditer(r"[\[{]", s)][:_MAX_JSON_STARTS]
    first_candidate_error = None
    # A candidate that fails hides the brackets nested in it up to where decoding gave up, so
    # truncated JSON is a parse error rather than its first complete inner object.
    blocked_until = -1
    for i in starts:
        if i < blocked_until:
            continue
        try:
            value, _ = decoder.raw_decode(s, i)
        except json.JSONDecodeError as exc:
            if first_candidate_error is None:
                first_candidate_error = f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
            blocked_until = max(blocked_until, exc.pos)
            continue
        if isinstance(value, (list, dict)):
            return value, None
    if not starts:
        return None, "no JSON array or object in the answer"
    return None, first_candidate_error or first_error


def _answer_text(content: str | None, reasoning: str | None) -> tuple[str, str | None, ParseResult | None]:
    """Common front half: reasoning apart, fences off; an ``empty`` result when nothing is left."""
    answer, thought = split_reasoning(content)
    reasoning = join_reasoning(reasoning, thought)
    if not answer:
        detail = "only reasoning, no answer" if thought else "no content"
        return "", reasoning, ParseResult(reasoning=reasoning, error_kind="empty", error=f"empty: {detail}")
    return strip_fences(answer), reasoning, None


def _fmt_validation(exc: ValidationError, prefix: str = "") -> str:
    msgs = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] not in ("missing",) and not isinstance(err.get("input"), (dict, list)):
            msg = f"{msg} (got {err.get('input')!r})"
        msgs.append(f"{prefix}{loc}: {msg}" if loc else f"{prefix}{msg}")
    return "; ".join(msgs)


def _truncate(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# ---- generation ------------------------------------------------------------------------


def _pairs_list(value: Any) -> tuple[list[Any] | None, str | None]:
    if isinstance(value, list):
        return value, None
    if isinstance(value, dict):
        if isinstance(value.get(PAIRS_KEY), list):
            return value[PAIRS_KEY], None
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(value) == 1 and len(lists) == 1:
            return lists[0], None
        if "instruction" in value and "response" in value:
            return [value], None
        return None, f"expected a JSON array of pairs or {{\"{PAIRS_KEY}\": [...]}}, got an object with keys {sorted(value)[:10]}"
    return None, f"expected a JSON array of pairs, got {type(value).__name__}"


def parse_pairs(content: str | None, expected: int, reasoning: str | None = None) -> ParseResult:
    """Parse a generation answer into pairs.

    Args:
        content: The message content as received.
        expected: Number of pairs asked for.
        reasoning: The endpoint's separate reasoning field, if any.

    Returns:
        A ParseResult whose value is a list of :class:`PairItem` (one per array element, valid
        or not). ``error_kind`` is None when every element is valid and the count matches;
        ``count`` when the count differs (the items are still there); ``empty``/``parse``/
        ``schema`` with no items when nothing usable came back.
    """
    text, reasoning, early = _answer_text(content, reasoning)
    if early is not None:
        return early
    value, detail = find_json(text)
    if detail is not None:
        return ParseResult(reasoning=reasoning, answer=text, error_kind="parse", error=f"parse: {detail}")
    items_raw, detail = _pairs_list(value)
    if items_raw is None:
        return ParseResult(reasoning=reasoning, answer=text, error_kind="schema", error=f"schema: {detail}")
    items: list[PairItem] = []
    for i, raw in enumerate(items_raw):
        if not isinstance(raw, dict):
            items.append(PairItem(i, error=f"schema: pair {i} is a {type(raw).__name__}, not an object"))
            continue
        try:
            items.append(PairItem(i, pair=GeneratedPair.model_validate(raw)))
        except ValidationError as exc:
            items.append(PairItem(i, error=f"schema: {_fmt_validation(exc, prefix=f'pair {i}: ')}"))
    valid = [it for it in items if it.pair is not None]
    if not valid:
        if not items:
            detail = "the array is empty"
        else:
            detail = f"none of the {len(items)} pairs is valid: " + "; ".join(
                _truncate(it.error.removeprefix("schema: ")) for it in items if it.error
            )
        return ParseResult(reasoning=reasoning, answer=text, error_kind="schema", error=f"schema: {detail}")
    if len(items) != expected:
        return ParseResult(
            value=items,
            reasoning=reasoning,
            answer=text,
            error_kind="count",
            error=f"count: got {len(items)} pairs, asked for {expected}",
        )
    return ParseResult(value=items, reasoning=reasoning, answer=text)


# ---- judging ---------------------------------------------------------------------------


def parse_scores(content: str | None, reasoning: str | None = None) -> ParseResult:
    """Parse a judge's answer into :class:`JudgeScores` (see the module docstring's rules)."""
    text, reasoning, early = _answer_text(content, reasoning)
    if early is not None:
        return early
    value, detail = find_json(text)
    if detail is not None:
        return ParseResult(reasoning=reasoning, answer=text, error_kind="parse", error=f"parse: {detail}")
    if isinstance(value, dict) and not set(CRITERIA) & set(value) and isinstance(value.get("scores"), dict):
        value = value["scores"]
    if not isinstance(value, dict):
        return ParseResult(
            reasoning=reasoning, answer=text, error_kind="schema",
            error=f"schema: expected a JSON object with {list(CRITERIA)}, got {type(value).__name__}",
        )
    try:
        scores = JudgeScores.model_validate(value)
    except ValidationError as exc:
        return ParseResult(reasoning=reasoning, answer=text, error_kind="schema", error=f"schema: {_fmt_validation(exc)}")
    return ParseResult(value=scores, reasoning=reasoning, answer=text)
