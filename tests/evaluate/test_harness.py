"""The harness end to end with scripted models: scores, invalid outputs, sample logs, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from luxit_ray.config.evaluate import ExamConfig, PromptConfig
from luxit_ray.errors import ConfigError
from luxit_ray.evaluate.items import load_exam
from luxit_ray.evaluate.runner import load_items, run_evaluate
from luxit_ray.evaluate.scorers import score_generative, score_loglik

from .conftest import LEVELS, TOPIC_LABELS, make_job
from .scripted import PROSE, ScriptedBackend, right_letter

PROMPT = PromptConfig(generative_instruction="Äntwert just mam Buschtaf ({letters}).").model_dump()


@pytest.fixture(scope="module")
def exam_items(exam_path: Path):
    return load_exam(ExamConfig(path=str(exam_path)), PromptConfig())


def test_right_letter_model_scores_100(exam_items) -> None:
    model = ScriptedBackend(exam_items, reply=lambda it: right_letter(it, exam_items.index(it)))
    gen = score_generative(model, exam_items, PROMPT, max_new_tokens=16)
    assert [r["outcome"] for r in gen] == ["correct"] * 32
    assert {r["parse_note"] for r in gen} == {"letter"}
    ll = score_loglik(model, exam_items, PROMPT, "char")
    assert [r["outcome"] for r in ll] == ["correct"] * 32
    assert model.calls == {"loglik": sum(len(it.choices) for it in exam_items), "generate": 32}
    first = gen[0]
    assert first["prompt"].endswith("Äntwert just mam Buschtaf (A, B, C, D).</user><assistant>")
    assert gen[4]["prompt"].endswith("(A, B, C).</user><assistant>")  # the 3-option item
    think = gen[4]  # variant 4 answers after a reasoning block
    assert think["reasoning"] == "Ech liesen d'Fro nach eemol."
    assert (think["predicted"], think["answer"]) == ("B", "B")


def test_prose_model_is_invalid_not_wrong(exam_items) -> None:
    model = ScriptedBackend(exam_items, reply=lambda it: PROSE)
    gen = score_generative(model, exam_items, PROMPT, max_new_tokens=64)
    assert [r["outcome"] for r in gen] == ["invalid"] * 32
    assert {(r["predicted"], r["parse_note"], r["finish_reason"]) for r in gen} == {(None, "no_letter", "stop")}
    assert gen[0]["raw_output"] == PROSE + "<|end|>"
    # Out of tokens mid-sentence: still invalid, and the log says the budget ran out.
    cut = score_generative(model, exam_items[:2], PROMPT, max_new_tokens=4)
    assert [(r["outcome"], r["parse_note"], r["finish_reason"]) for r in cut] == [("invalid", "no_letter+length", "length")] * 2
    # The same model knows the answers: the log-likelihood scorer is immune to its formatting.
    ll = score_loglik(model, exam_items, PROMPT, "char")
    assert [r["outcome"] for r in ll] == ["correct"] * 32


def test_wrong_letters_are_wrong(exam_items) -> None:
    model = ScriptedBackend(
        exam_items,
        reply=lambda it: "ABCD"[(it.answer + 1) % len(it.choices)],
        pick=lambda it: (it.answer + 1) % len(it.choices),
    )
    gen = score_generative(model, exam_items, PROMPT)
    ll = score_loglik(model, exam_items, PROMPT, "none")
    assert [r["outcome"] for r in gen] == ["wrong"] * 32
    assert [r["outcome"] for r in ll] == ["wrong"] * 32
    assert ll[0]["choice_scores"] == ll[0]["choice_logprobs"]  # length_norm none


def _factory(items):
    """Scripted models by spec name: an instruct model that is always right, a fine-tuned one that
    rambles on B2 and above and answers A on the rest, a base model that knows only A1."""

    def reply_ft(it):
        if it.kind == "exam" and it.level in ("B2", "C1", "C2"):
            return PROSE
        return "A"

    def build(spec, settings):
        if spec["name"] == "instruct":
            return ScriptedBackend(items, reply=lambda it: it.answer_letter)
        if spec["name"] == "tuned":
            return ScriptedBackend(items, reply=reply_ft, pick=lambda it: 0)
        return ScriptedBackend(
            items,
            reply=lambda it: it.answer_letter if it.level == "A1" else "Keng Ahnung.",
            pick=lambda it: it.answer if it.level == "A1" else (it.answer + 1) % len(it.choices),
        )

    return build


def test_run_evaluate_writes_table4_layout(tmp_path: Path, exam_path: Path, topic_path: Path) -> None:
    models = [
        {"name": "tuned", "path": "unused", "group": "fine-tuned", "compare_to": "instruct"},
        {"name": "instruct", "path": "unused", "group": "instruct"},
        {"name": "base", "path": "unused", "group": "base"},
    ]
    cfg = make_job(
        tmp_path, models,
        exam={"name": "sample", "path": str(exam_path)},
        tasks=[{"name": "topic", "path": str(topic_path), "labels": TOPIC_LABELS}],
    )
    items = load_items(cfg.evaluate)
    summary = run_evaluate(cfg, backend_factory=_factory(items))
    out = tmp_path / "runs" / "eval-test" / "evaluation"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report == summary["report"]
    assert [m["name"] for m in report["models"]] == ["base", "instruct", "tuned"]  # grouped base/instruct/fine-tuned
    exam = report["exam"]
    assert exam["levels"] == LEVELS
    assert exam["items_per_level"] == {"A1": 6, "A2": 5, "B1": 5, "B2": 5, "C1": 6, "C2": 5}
    gen, ll = exam["accuracy"]["generative"], exam["accuracy"]["loglik"]
    assert gen["instruct"] == {**dict.fromkeys(LEVELS, 1.0), "overall": 1.0}
    assert gen["base"] == {"A1": 1.0, "A2": 0.0, "B1": 0.0, "B2": 0.0, "C1": 0.0, "C2": 0.0, "overall": 6 / 32}
    # tuned answers "A": right on a1-rea-1, a2-gra-2, b1-voc-1 and b1-lis-1, invalid on B2 and above.
    assert gen["tuned"] == {"A1": 1 / 6, "A2": 1 / 5, "B1": 2 / 5, "B2": 0.0, "C1": 0.0, "C2": 0.0, "overall": 4 / 32}
    assert exam["invalid_rate"]["generative"]["tuned"] == {
        "A1": 0.0, "A2": 0.0, "B1": 0.0, "B2": 1.0, "C1": 1.0, "C2": 1.0, "overall": 16 / 32,
    }
    assert exam["invalid_rate"]["generative"]["base"]["overall"] == 26 / 32
    assert exam["outcomes"]["generative"]["tuned"] == {"n": 32, "correct": 4, "wrong": 12, "invalid": 16}
    # Log-likelihood: tuned always picks option A (8 of 32 answers are A), never invalid.
    assert ll["tuned"]["overall"] == 8 / 32
    assert exam["invalid_rate"]["loglik"]["tuned"]["overall"] == 0.0
    assert exam["deltas"]["generative"]["tuned"] == {
        "compare_to": "instruct", "A1": 1 / 6 - 1, "A2": 1 / 5 - 1, "B1": 2 / 5 - 1, "B2": -1.0, "C1": -1.0, "C2": -1.0,
        "overall": 4 / 32 - 1,
    }
    assert exam["category_accuracy"]["generative"]["instruct"] == {
        "vocabulary": 1.0, "grammar": 1.0, "reading": 1.0, "listening": 1.0, "overall": 1.0,
    }
    topic = report["tasks"]["topic"]["results"]["generative"]
    assert topic["instruct"]["macro_f1"] == 1.0
    assert topic["tuned"]["per_class"]["Politik"] == {"precision": 0.25, "recall": 1.0, "f1": 0.4, "support": 5, "predicted": 20}

    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| Model | A1 | A2 | B1 | B2 | C1 | C2 | Overall |" in md
    table = md.split("### Accuracy by level, generative scorer (%)")[1].split("###")[0]
    assert [line for line in table.strip().splitlines()[2:]] == [
        "| **Base models** |  |  |  |  |  |  |  |",
        "| base | 100.0 | 0.0 | 0.0 | 0.0 | 0.0 | 0.0 | 18.8 |",
        "| **Instruct models** |  |  |  |  |  |  |  |",
        "| instruct | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 | 100.0 |",
        "| **Fine-tuned models** |  |  |  |  |  |  |  |",
        "| tuned | 16.7 | 20.0 | 40.0 | 0.0 | 0.0 | 0.0 | 12.5 |",
    ]
    assert "| tuned − instruct | -83.3 | -80.0 | -60.0 | -100.0 | -100.0 | -100.0 | -87.5 |" in md
    png = out / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    samples = [json.loads(x) for x in (out / "samples" / "tuned.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(samples) == 2 * (32 + 20)
    b2 = next(s for s in samples if s["scorer"] == "generative" and s["item_id"] == "b2-gra-1")
    assert (b2["model"], b2["group"], b2["raw_output"], b2["predicted"], b2["parse_note"], b2["outcome"]) == (
        "tuned", "fine-tuned", PROSE + "<|end|>", None, "no_letter", "invalid"
    )
    assert "Wann ech méi Zäit hätt" in b2["prompt"]

    tables = summary["tables"]
    gen_table = tables["Exam sample: accuracy %, generative scorer"]
    assert gen_table["columns"] == ["group", "model", *LEVELS, "overall", "invalid %"]
    assert gen_table["rows"][2] == ["fine-tuned", "tuned", 16.7, 20.0, 40.0, 0.0, 0.0, 0.0, 12.5, 50.0]
    manifest = json.loads((tmp_path / "runs" / "eval-test" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["steps"]["evaluation"]["outcomes"]["generative"] == {"correct": 52 + 6 + 4 + 5, "wrong": 12 + 15, "invalid": 26 + 20 + 16}


def test_rerun_reuses_finished_models(tmp_path: Path, exam_path: Path) -> None:
    models = [{"name": "instruct", "path": "unused", "group": "instruct"}]
    cfg = make_job(tmp_path, models, exam={"path": str(exam_path)}, max_items=4, scorers=["generative"], chart=False)
    items = load_items(cfg.evaluate)
    built = []

    def factory(spec, settings):
        built.append(spec["name"])
        return ScriptedBackend(items, reply=lambda it: it.answer_letter)

    first = run_evaluate(cfg, backend_factory=factory)
    second = run_evaluate(cfg, backend_factory=factory)
    assert built == ["instruct"]
    assert first["report"] == second["report"]
    cfg.evaluate.max_new_tokens = 3  # changes what the samples mean: evaluated again
    run_evaluate(cfg, backend_factory=factory)
    assert built == ["instruct", "instruct"]


def test_config_problems_are_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_job(
            tmp_path,
            [
                {"name": "a", "path": "x", "group": "instruct", "compare_to": "zz"},
                {"name": "a", "path": "x", "group": "chat"},
            ],
        )
    text = str(err.value)
    assert "evaluate.models.1.group: Input should be 'base', 'instruct' or 'fine-tuned'" in text
    with pytest.raises(ConfigError) as err:
        make_job(tmp_path, [{"name": "a", "path": "x", "group": "instruct", "compare_to": "zz"}, {"name": "a", "path": "x", "group": "base"}])
    text = str(err.value)
    assert "give an exam, tasks, or both" in text
    assert "models: names must be unique (repeated: ['a'])" in text
    assert "models.0.compare_to: 'zz' is not another model's name" in text


def test_shipped_job_files_validate() -> None:
    from luxit_ray.config import load_job

    root = Path(__file__).resolve().parents[2]
    smoke = load_job(root / "jobs" / "eval-smoke.yaml")
    assert [m.name for m in smoke.evaluate.models] == ["smollm2", "smollm2-lora"]
    full = load_job(root / "jobs" / "eval.yaml", ["evaluate.max_items=10"])
    assert full.evaluate.max_items == 10
    assert {m.group for m in full.evaluate.models} == {"base", "instruct", "fine-tuned"}
    for path in ("eval.yaml", "eval-smoke.yaml"):
        assert (root / "jobs" / path).read_text(encoding="utf-8").startswith("# luxit evaluate jobs/")
