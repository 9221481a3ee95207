"""Output parsing: reasoning apart, fences off, JSON located, pydantic validation, error kinds."""

from __future__ import annotations

import json

import pytest

from luxit_ray.parsing import (
    GeneratedPair,
    find_json,
    judge_json_schema,
    pairs_json_schema,
    parse_pairs,
    parse_scores,
    split_reasoning,
    strip_fences,
)

P = [
    {"instruction": "Wou läit de Stauséi?", "response": "Am Nordweste vu Lëtzebuerg."},
    {"instruction": "Wat liwwert de Séi?", "response": "Drénkwaasser fir d'Land."},
    {"instruction": "Résuméiert den Text.", "response": "De Séi ass wichteg."},
]
SCORES = {"linguistic_quality": 3, "factual_accuracy": 2, "instruction_adherence": 3, "helpfulness_relevance": 1}


def _pairs(result):
    return [(it.index, it.pair.instruction, it.pair.response) if it.pair else (it.index, it.error) for it in result.value]


# ---- reasoning and fences ---------------------------------------------------------------


def test_split_reasoning_variants():
    assert split_reasoning("<think>plan</think>\n[1]") == ("[1]", "plan")
    assert split_reasoning("<THINK>a</THINK>x<think>b</think>y") == ("xy", "a\n\nb")
    # closing tag only: the opening one was part of the prompt template
    assert split_reasoning("I consider it.\n</think>\n{}") == ("{}", "I consider it.")
    # unclosed leading block: cut off while thinking
    assert split_reasoning("<think>still thinking about") == ("", "still thinking about")
    assert split_reasoning("[1] <thinking>later") == ("[1]", "later")
    assert split_reasoning(None) == ("", None)
    assert split_reasoning("  plain  ") == ("plain", None)


def test_strip_fences():
    assert strip_fences("```json\n[1, 2]\n```") == "[1, 2]"
    assert strip_fences("Here:\n```\n{\"a\": 1}\n```\nDone.") == '{"a": 1}'
    # the first fenced block that parses wins
    assert strip_fences("```\nnot json\n```\n```json\n[3]\n```") == "[3]"
    # an unclosed fence (cut-off output) loses its fence line
    assert strip_fences("```json\n[1, 2") == "[1, 2"


def test_find_json_tolerates_prose_but_not_truncation():
    assert find_json('Sure! [{"a": 1}] Hope it helps.') == ([{"a": 1}], None)
    assert find_json('Note [see below]: {"a": 1}') == ({"a": 1}, None)
    value, err = find_json('[{"instruction": "a", "response": "b"}, {"instr')
    assert value is None and err.startswith("Unterminated string")
    assert find_json("no json here") == (None, "no JSON array or object in the answer")


# ---- generation ---------------------------------------------------------------------------


def test_bare_array_with_think_block_and_fence():
    raw = "<think>Dräi Froen iwwer de Séi.</think>\n```json\n" + json.dumps(P, ensure_ascii=False) + "\n```"
    r = parse_pairs(raw, 3)
    assert r.ok and r.error is None
    assert r.reasoning == "Dräi Froen iwwer de Séi."
    assert _pairs(r) == [(i, p["instruction"], p["response"]) for i, p in enumerate(P)]


def test_wrapped_object_and_separate_reasoning_field():
    r = parse_pairs(json.dumps({"pairs": P}), 3, reasoning="from the API field")
    assert r.ok and len(r.value) == 3 and r.reasoning == "from the API field"
    # both sources of reasoning are kept
    r2 = parse_pairs("<think>inline</think>" + json.dumps({"pairs": P}), 3, reasoning="field")
    assert r2.reasoning == "field\n\ninline"


@pytest.mark.parametrize("value", [{"items": P}, P[0]])
def test_other_unambiguous_shapes(value):
    r = parse_pairs(json.dumps(value), len(value["items"]) if "items" in value else 1)
    assert r.ok and r.value[0].pair.instruction == P[0]["instruction"]


def test_whitespace_is_stripped_and_extra_keys_ignored():
    r = parse_pairs(json.dumps([{"instruction": "  Fro?\n", "response": " Äntwert. ", "type": "qa"}]), 1)
    assert r.ok and r.value[0].pair == GeneratedPair(instruction="Fro?", response="Äntwert.")


def test_one_invalid_element_keeps_its_siblings():
    bad = [P[0], {"instruction": "Fro", "response": "   "}, P[2]]
    r = parse_pairs(json.dumps(bad), 3)
    assert r.ok  # the count matches; the bad element carries its own error
    assert _pairs(r) == [
        (0, P[0]["instruction"], P[0]["response"]),
        (1, "schema: pair 1: response: String should have at least 1 character (got '   ')"),
        (2, P[2]["instruction"], P[2]["response"]),
    ]


def test_wrong_count_keeps_pairs_and_records_count():
    r = parse_pairs(json.dumps(P[:2]), 3)
    assert r.error_kind == "count" and r.error == "count: got 2 pairs, asked for 3"
    assert [it.index for it in r.value] == [0, 1] and all(it.pair for it in r.value)
    r4 = parse_pairs(json.dumps(P + [P[0]]), 3)
    assert r4.error == "count: got 4 pairs, asked for 3" and len(r4.value) == 4


@pytest.mark.parametrize(
    ("raw", "kind", "error"),
    [
        (None, "empty", "empty: no content"),
        ("   ", "empty", "empty: no content"),
        ("<think>only thoughts</think>", "empty", "empty: only reasoning, no answer"),
        ('[{"instruction": "a", "response": "b"}, {"instruction": "c", "resp', "parse",
         "parse: Unterminated string starting at (line 1, column 62)"),
        ("Ech hunn dräi Froen geschriwwen.", "parse", "parse: no JSON array or object in the answer"),
        ('{"questions": "a", "answers": "b"}', "schema",
         "schema: expected a JSON array of pairs or {\"pairs\": [...]}, got an object with keys ['answers', 'questions']"),
        ('"just a string"', "schema", "schema: expected a JSON array of pairs, got str"),
        ("[]", "schema", "schema: the array is empty"),
        ('[{"instruction": "a", "response": 5}, "text"]', "schema",
         "schema: none of the 2 pairs is valid: pair 0: response: Input should be a valid string (got 5); "
         "pair 1 is a str, not an object"),
        ('[{"instruction": "", "response": "b"}]', "schema",
         "schema: none of the 1 pairs is valid: pair 0: instruction: String should have at least 1 character (got '')"),
        ('[{"prompt": "a", "answer": "b"}]', "schema",
         "schema: none of the 1 pairs is valid: pair 0: instruction: Field required; pair 0: response: Field required"),
    ],
)
def test_generation_errors(raw, kind, error):
    r = parse_pairs(raw, 3)
    assert (r.error_kind, r.error) == (kind, error)
    assert not r.value


# ---- judging ------------------------------------------------------------------------------


def test_scores_plain_fenced_wrapped_with_reasoning():
    assert parse_scores(json.dumps(SCORES)).value.as_dict() == SCORES
    r = parse_scores("<think>The grammar is fine.</think>```json\n" + json.dumps(SCORES) + "\n```")
    assert r.ok and r.value.as_dict() == SCORES and r.reasoning == "The grammar is fine."
    assert parse_scores(json.dumps({"scores": SCORES})).value.as_dict() == SCORES
    # extra keys (an explanation) are ignored
    assert parse_scores(json.dumps({**SCORES, "explanation": "ok"})).ok


def test_scores_accept_unambiguous_whole_numbers():
    r = parse_scores(json.dumps({**SCORES, "linguistic_quality": "3", "factual_accuracy": 2.0}))
    assert r.ok and r.value.as_dict() == SCORES


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("factual_accuracy", 0, "factual_accuracy: Input should be greater than or equal to 1 (got 0)"),
        ("factual_accuracy", 4, "factual_accuracy: Input should be less than or equal to 3 (got 4)"),
        ("factual_accuracy", 2.5, "factual_accuracy: Value error, must be a whole number 1, 2 or 3 (got 2.5)"),
        ("factual_accuracy", "good", "factual_accuracy: Input should be a valid integer (got 'good')"),
        ("factual_accuracy", True, "factual_accuracy: Value error, must be an integer 1, 2 or 3, not a boolean"),
        ("factual_accuracy", None, "factual_accuracy: Input should be a valid integer (got None)"),
    ],
)
def test_scores_schema_errors(field, value, message):
    r = parse_scores(json.dumps({**SCORES, field: value}))
    assert r.error_kind == "schema" and r.value is None
    assert r.error.startswith("schema: " + message)


def test_scores_missing_criterion_and_not_an_object():
    r = parse_scores(json.dumps({k: v for k, v in SCORES.items() if k != "helpfulness_relevance"}))
    assert r.error == "schema: helpfulness_relevance: Field required"
    r = parse_scores("[3, 2, 3, 1]")
    assert r.error.startswith("schema: expected a JSON object with ['linguistic_quality'")
    assert parse_scores("").error_kind == "empty"
    assert parse_scores('{"linguistic_quality": 3,').error_kind == "parse"


def test_json_schemas_match_what_is_parsed():
    s = pairs_json_schema(3)
    assert s["type"] == "object" and s["required"] == ["pairs"]
    arr = s["properties"]["pairs"]
    assert (arr["minItems"], arr["maxItems"]) == (3, 3)
    assert arr["items"]["required"] == ["instruction", "response"]
    j = judge_json_schema()
    assert j["required"] == list(SCORES) and j["properties"]["factual_accuracy"]["enum"] == [1, 2, 3]
    assert j["additionalProperties"] is False
