"""Prompted LLMs on ltzGLUE-style tasks: prompts with the label set, JSON parsing, malformed
answers counted and scored both ways, the report and `luxit evaluate-glue` on a scripted model."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from luxit_ray.config import job_from_dict
from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.evaluate.backends import Backend, Generation
from luxit_ray.evaluate.glue_parse import parse_label, parse_tags
from luxit_ray.evaluate.glue_prompt import user_message
from luxit_ray.evaluate.glue_runner import run_glue_llm
from luxit_ray.evaluate.glue_scores import score_task

NER = GlueTaskConfig(name="ner", kind="token", test="x", labels=["PER", "ORG", "LOC", "MISC"],
                     merge_types={"GPE": "LOC"}, description="Tag the named entities.")
SA = GlueTaskConfig(name="sa", kind="sequence", test="x", labels=["positive", "neutral", "negative"], description="Sentiment.")
TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def test_prompt_lists_the_label_set_and_the_tokens():
    msg = user_message(NER, {"tokens": ["De", "Mark", "Cavendish"]}, "RULES")
    assert msg.startswith("RULES\n\nTASK: ner\n\nDESCRIPTION: Tag the named entities.")
    assert "Allowed tags: O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC, I-MISC" in msg
    assert 'Tokens (3): ["De", "Mark", "Cavendish"]' in msg
    assert "exactly 3 tags" in msg
    msg = user_message(SA, {"text": "Et war gutt.", "text_pair": None}, "R")
    assert "Allowed labels: positive, neutral, negative" in msg and "Text:\nEt war gutt." in msg


@pytest.mark.parametrize(("output", "value", "note"), [
    ('{"output": "positive"}', "positive", "json"),
    ('```json\n{"task": "sa", "output": "Negative"}\n```', "negative", "json"),
    ("<think>hmm</think>neutral", "neutral", "label_text"),
    ('Here you go: {"output": "neutral"} done', "neutral", "json"),
    ('{"output": "happy"}', None, "unknown_label"),
    ('{"answer": "positive"}', None, "no_output"),
    ("I think it is positive", None, "no_json"),
    ("<think>never closed", None, "unclosed_think"),
    ("", None, "empty"),
])
def test_parse_label(output, value, note):
    p = parse_label(output, ["positive", "neutral", "negative"])
    assert (p.value, p.note) == (value, note)


@pytest.mark.parametrize(("output", "value", "note"), [
    ('{"output": ["O", "B-PER", "I-PER"]}', ["O", "B-PER", "I-PER"], "json"),
    ('["o", "b-per", "i-per"]', ["O", "B-PER", "I-PER"], "json"),
    ('{"output": ["O", "B-GPE", "I-GPE"]}', ["O", "B-LOC", "I-LOC"], "json"),
    ('{"output": ["O", "B-PER"]}', None, "wrong_length"),
    ('{"output": ["O", "B-PERSON", "O"]}', None, "unknown_tag"),
    ('{"output": "O B-PER I-PER"}', None, "no_output"),
    ("O B-PER I-PER", None, "no_json"),
])
def test_parse_tags(output, value, note):
    p = parse_tags(output, 3, TAGS, {"GPE": "LOC"})
    assert (p.value, p.note) == (value, note)


def _rec(gold, predicted, note="json"):
    return {"gold": gold, "predicted": predicted, "note": note}


def test_malformed_answers_are_dropped_or_scored_as_wrong():
    records = [
        _rec(["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
        _rec(["B-LOC", "O", "B-ORG"], ["B-LOC", "O", "O"]),
        _rec(["B-PER", "O", "B-LOC"], None, "wrong_length"),
    ]
    s = score_task(NER, records)
    assert (s["n"], s["malformed"], s["malformed_notes"]) == (3, 1, {"wrong_length": 1})
    assert s["malformed_rate"] == pytest.approx(1 / 3)
    # drop: 3 gold entities (PER, LOC, ORG), 2 predicted, both right.
    assert s["drop"]["n"] == 2
    assert s["drop"]["micro_f1"] == pytest.approx(0.8)
    assert s["drop"]["macro_f1"] == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    # wrong: the malformed sentence's 2 gold entities are missed: 2 right of 5 gold, 2 predicted.
    assert s["wrong"]["n"] == 3
    assert s["wrong"]["micro_f1"] == pytest.approx(2 * 1.0 * 0.4 / 1.4)
    assert s["wrong"]["per_label"]["PER"]["recall"] == 0.5
    assert s["wrong"]["per_label"]["LOC"]["recall"] == 0.5

    seq = score_task(SA, [_rec("positive", "positive"), _rec("negative", "positive"), _rec("neutral", None, "no_json")])
    assert seq["drop"]["accuracy"] == 0.5 and seq["wrong"]["accuracy"] == pytest.approx(1 / 3)
    assert seq["drop"]["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)
    assert seq["wrong"]["macro_f1"] == pytest.approx((2 / 3 + 0.0 + 0.0) / 3)


class TaggingModel(Backend):
    """Answers from a script keyed by a substring of the prompt."""

    kind = "scripted"

    def __init__(self, script: dict[str, str]) -> None:
        self.script = script

    def render_prompt(self, user_message: str) -> tuple[str, bool]:
        return f"<u>{user_message}</u>", True

    def loglikelihood(self, requests):  # pragma: no cover - not used
        raise AssertionError

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[Generation]:
        out = []
        for p in prompts:
            reply = next(v for k, v in self.script.items() if k in p)
            out.append(Generation(reply, reply, "stop", 5))
        return out


def test_evaluate_glue_writes_both_policies(tmp_path):
    ner = tmp_path / "ner.jsonl"
    ner.write_text("\n".join(json.dumps(r) for r in [
        {"id": "1", "tokens": ["De", "Mark", "Cavendish"], "tags": ["O", "B-PER", "I-PER"]},
        {"id": "2", "tokens": ["An", "Esch", "."], "tags": ["O", "B-GPE", "O"]},
        {"id": "3", "tokens": ["RTL", "bericht", "."], "tags": ["B-ORG", "O", "O"]},
    ]) + "\n")
    cfg = job_from_dict({
        "run": {"name": "g", "output_dir": str(tmp_path / "runs"), "run_id": "r1"},
        "glue": {"tasks": [{"name": "ner", "kind": "token", "test": str(ner), "labels": ["PER", "ORG", "LOC", "MISC"],
                            "merge_types": {"GPE": "LOC"}, "description": "NER"}],
                 "llm": {"models": [{"name": "m", "path": "unused", "group": "instruct"}], "malformed": "drop"}},
    })
    script = {'"Mark"': '{"output": ["O", "B-PER", "I-PER"]}', '"Esch"': '{"output": ["O", "B-LOC", "O"]}',
              '"RTL"': "B-ORG O O"}
    summary = run_glue_llm(cfg, backend_factory=lambda spec, settings: TaggingModel(script))
    row = summary["report"]["rows"][0]
    assert (row["n"], row["malformed"], row["malformed_notes"]) == (3, 1, {"no_json": 1})
    assert row["macro_f1"] == row["drop"]["macro_f1"] == 1.0
    assert row["drop"]["micro_f1"] == 1.0
    assert row["wrong"]["micro_f1"] == pytest.approx(0.8)
    assert row["wrong"]["macro_f1"] == pytest.approx(2 / 3)
    out = tmp_path / "runs" / "r1" / "glue" / "llm"
    samples = [json.loads(x) for x in (out / "samples" / "m.jsonl").read_text().splitlines()]
    assert [s["predicted"] for s in samples] == [["O", "B-PER", "I-PER"], ["O", "B-LOC", "O"], None]
    assert samples[1]["gold"] == ["O", "B-LOC", "O"]  # GPE merged into LOC on reading
    md = (out / "report.md").read_text()
    assert "left out before scoring" in md and "m / ner: {'no_json': 1}" in md
    assert summary["tables"]["ltzGLUE-style tasks (prompted LLMs)"]["rows"][0][:4] == ["m", "ner", 3, 1]
