"""Parse an LLM's answer to an ltzGLUE-style prompt into a label or a tag list, or say why not.

An answer is malformed when it has no JSON (``no_json``), no usable ``output`` (``no_output``),
a label outside the label set (``unknown_label``), a tag outside the tag set (``unknown_tag``), the
wrong number of tags (``wrong_length``), nothing after reasoning (``empty``) or an unclosed
reasoning block (``unclosed_think``). A bare label with no JSON around it is accepted
(``label_text``): the content is right, only the wrapping is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from luxit_ray.evaluate.parse import strip_reasoning

FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
OK_JSON = "json"
OK_LABEL_TEXT = "label_text"


@dataclass(frozen=True)
class GlueParsed:
    """A parsed answer: ``value`` (a label or a list of tags) or a ``malformed`` reason."""

    value: str | list[str] | None
    note: str
    answer_text: str

    @property
    def malformed(self) -> bool:
        return self.value is None


def _json_value(text: str) -> tuple[bool, Any]:
    """The first JSON object or list in ``text``: ``(found, value)``."""
    text = FENCE.sub("", text.strip())
    try:
        return True, json.loads(text)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return True, decoder.raw_decode(text[i:])[0]
            except json.JSONDecodeError:
                continue
    return False, None


def _output(value: Any) -> Any:
    if isinstance(value, dict):
        for key in ("output", "label", "tags", "ner_tags"):
            if key in value:
                return value[key]
        return None
    return value


def parse_label(output: str, labels: list[str]) -> GlueParsed:
    """Read one label (exact, then case-insensitive) from the answer."""
    answer, _, unclosed = strip_reasoning(output)
    if unclosed and not answer:
        return GlueParsed(None, "unclosed_think", answer)
    if not answer:
        return GlueParsed(None, "empty", answer)
    found, value = _json_value(answer)
    note = OK_JSON
    if not found:
        value, note = answer.strip().strip('."\'`*'), OK_LABEL_TEXT
    value = _output(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, (int, bool)):
        value = str(int(value))
    if not isinstance(value, str):
        return GlueParsed(None, "no_output" if found else "no_json", answer)
    label = _match(value.strip(), labels)
    if label is None:
        return GlueParsed(None, "unknown_label" if found else "no_json", answer)
    return GlueParsed(label, note, answer)


def _match(value: str, allowed: list[str]) -> str | None:
    if value in allowed:
        return value
    folded = [a for a in allowed if a.casefold() == value.casefold()]
    return folded[0] if len(folded) == 1 else None


def parse_tags(output: str, n_tokens: int, tags: list[str], merge: dict[str, str] | None = None) -> GlueParsed:
    """Read a list of exactly ``n_tokens`` tags from the set ``tags`` (types merged first)."""
    from luxit_ray.f1 import merge_types

    answer, _, unclosed = strip_reasoning(output)
    if unclosed and not answer:
        return GlueParsed(None, "unclosed_think", answer)
    if not answer:
        return GlueParsed(None, "empty", answer)
    found, value = _json_value(answer)
    if not found:
        return GlueParsed(None, "no_json", answer)
    value = _output(value)
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        return GlueParsed(None, "no_output", answer)
    if len(value) != n_tokens:
        return GlueParsed(None, "wrong_length", answer)
    read = [_match(t.strip(), tags) for t in value]
    if merge and any(r is None for r in read):
        merged = merge_types([t.strip().upper() for t in value], merge)
        read = [_match(t, tags) for t in merged]
    if any(r is None for r in read):
        return GlueParsed(None, "unknown_tag", answer)
    return GlueParsed([r for r in read if r is not None], OK_JSON, answer)
