"""Label masks and the pre-training check, per template family, on small local tokenizers."""

from __future__ import annotations

import pytest

from luxit_ray.errors import LuxitError
from luxit_ray.train import templates as T
from tests.train.chat_tokenizers import (
    GEMMA3_BROKEN_TEMPLATE,
    GLM4_DOUBLED_TEMPLATE,
    make_tokenizer,
)

FAMILIES = ["llama3", "gemma3", "qwen3", "glm4", "chatml"]

ONE_TURN = [
    {"role": "system", "content": "Du bass en hëllefsbereeten Assistent."},
    {"role": "user", "content": "Wéi heescht de Floss laanscht Réimech?"},
    {"role": "assistant", "content": "Dat ass d'Musel."},
]


def _ready(family: str, **kw):
    tok = make_tokenizer(family, **kw)
    T.choose_pad_token(tok, family, "auto")
    return tok


def _label_text(tok, ex: T.EncodedChat) -> str:
    return tok.decode([t for t in ex.labels if t != T.IGNORE_INDEX], skip_special_tokens=False)


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_cover_only_the_answer_and_end_with_end_of_turn(family):
    tok = _ready(family)
    [ex] = T.encode_chat(tok, ONE_TURN, family)
    eot = tok.convert_tokens_to_ids(T.FAMILIES[family].end_of_turn)
    labelled = [i for i, t in enumerate(ex.labels) if t != T.IGNORE_INDEX]
    # One contiguous span, at the end of the prompt, whose last label is the end-of-turn id.
    assert labelled == list(range(labelled[0], labelled[-1] + 1))
    assert ex.labels[labelled[-1]] == eot
    assert ex.assistant_spans == [(labelled[0], labelled[-1] + 1)]
    # Labelled positions carry the input token itself (the model shifts them).
    assert all(ex.labels[i] == ex.input_ids[i] for i in labelled)
    # The prompt part decodes to exactly the generation prompt the evaluator will send.
    prompt_ids = T.generation_prompt_ids(tok, ONE_TURN[:2], family)
    assert ex.input_ids[: labelled[0]] == prompt_ids
    expected = {
        "llama3": "Dat ass d'Musel.<|eot_id|>",
        "gemma3": "Dat ass d'Musel.<end_of_turn>",
        "qwen3": "Dat ass d'Musel.<|im_end|>",
        "glm4": "\nDat ass d'Musel.<|user|>",
        "chatml": "Dat ass d'Musel.<|im_end|>",
    }[family]
    assert _label_text(tok, ex) == expected


@pytest.mark.parametrize("family", FAMILIES)
def test_two_turns_train_both_answers(family):
    tok = _ready(family)
    exs = T.encode_chat(tok, T.PROBE_MESSAGES, family)
    eot = tok.convert_tokens_to_ids(T.FAMILIES[family].end_of_turn)
    if family == "qwen3":
        # Qwen3 renders history differently from the last turn: one example per assistant turn.
        assert len(exs) == 2
        assert [len(e.assistant_spans) for e in exs] == [1, 1]
    else:
        assert len(exs) == 1
        assert len(exs[0].assistant_spans) == 2
    for ex in exs:
        for _start, end in ex.assistant_spans:
            assert ex.labels[end - 1] == eot
    texts = "".join(_label_text(tok, e) for e in exs)
    assert "D'Haaptstad ass d'Stad Lëtzebuerg." in texts and "670.000 Awunner." in texts
    assert "Wat ass d'Haaptstad" not in texts and "hëllefsbereeten" not in texts


def test_trailing_newline_after_end_of_turn_is_not_labelled():
    tok = _ready("chatml")
    [ex] = T.encode_chat(tok, ONE_TURN, "chatml")
    newline = tok("\n", add_special_tokens=False)["input_ids"]
    assert ex.input_ids[-len(newline):] == newline
    assert ex.labels[-1] == T.IGNORE_INDEX
    assert ex.labels[-2] == tok.convert_tokens_to_ids("<|im_end|>")


def test_gemma_system_text_goes_into_the_first_user_turn():
    tok = _ready("gemma3")
    # The Gemma-style template raises on a system role; we never hand it one.
    text = T.render_generation_prompt(tok, ONE_TURN[:2], "gemma3")
    assert text == (
        "<bos><start_of_turn>user\nDu bass en hëllefsbereeten Assistent.\n\n"
        "Wéi heescht de Floss laanscht Réimech?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert T.stop_tokens(tok, "gemma3") == ["<end_of_turn>", "<eos>"]


def test_qwen3_thinking_mode_changes_prompt_and_labels():
    tok = _ready("qwen3")
    off = T.render_generation_prompt(tok, ONE_TURN[:2], "qwen3", thinking=False)
    on = T.render_generation_prompt(tok, ONE_TURN[:2], "qwen3", thinking=True)
    assert off.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert on.endswith("<|im_start|>assistant\n")
    [ex_off] = T.encode_chat(tok, ONE_TURN, "qwen3", thinking=False)
    [ex_on] = T.encode_chat(tok, ONE_TURN, "qwen3", thinking=True)
    # Off: the empty think block is part of the prompt; on: the model is taught to write it.
    assert _label_text(tok, ex_off) == "Dat ass d'Musel.<|im_end|>"
    assert _label_text(tok, ex_on) == "<think>\n\n</think>\n\nDat ass d'Musel.<|im_end|>"
    assert T.check_template(tok, "qwen3", thinking=True).thinking is True


def test_glm4_prefix_once_and_user_token_ends_the_turn():
    tok = _ready("glm4")
    [ex] = T.encode_chat(tok, ONE_TURN, "glm4")
    gmask, sop, user = tok.convert_tokens_to_ids(["[gMASK]", "<sop>", "<|user|>"])
    assert ex.input_ids[:2] == [gmask, sop]
    assert ex.input_ids.count(gmask) == 1 and ex.input_ids.count(sop) == 1
    assert ex.input_ids[-1] == ex.labels[-1] == user
    ids = T.generation_prompt_ids(tok, ONE_TURN[:2], "glm4")
    assert ids.count(gmask) == 1


def test_glm4_multi_turn_labels_the_rendered_user_token_once():
    # The template renders <|user|> right after an answer: it is that answer's last label, never
    # doubled, and <|endoftext|> (never rendered between turns) is never trained.
    tok = _ready("glm4")
    [ex] = T.encode_chat(tok, T.PROBE_MESSAGES, "glm4")
    user, eos = tok.convert_tokens_to_ids(["<|user|>", "<|endoftext|>"])
    rendered = tok.apply_chat_template(T.prepare_messages(T.PROBE_MESSAGES, "glm4"), tokenize=False)
    assert tok.decode(ex.input_ids, skip_special_tokens=False) == rendered + "<|user|>"
    assert ex.input_ids.count(user) == 3 and eos not in ex.input_ids  # two user turns + the appended one
    assert [ex.labels[e - 1] for _, e in ex.assistant_spans] == [user, user]
    assert [tok.decode(ex.input_ids[a:e]) for a, e in ex.assistant_spans] == [
        "\nD'Haaptstad ass d'Stad Lëtzebuerg.<|user|>",
        "\nD'Land huet ongeféier 670.000 Awunner.<|user|>",
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_check_passes_for_each_family_with_auto_pad(family):
    tok = _ready(family)
    report = T.check_template(tok, family)
    assert report.end_of_turn == T.FAMILIES[family].end_of_turn
    assert report.pad_token_id != report.end_of_turn_id
    assert report.stop_tokens[0] == report.end_of_turn
    assert report.label_tokens > 0
    if family == "qwen3":
        assert report.notes == ["thinking=off: evaluation must render with the same value"]
    else:
        assert report.notes == []


def test_check_rejects_llama_pad_equal_to_eos():
    tok = make_tokenizer("llama3", pad_token="<|eot_id|>")
    with pytest.raises(T.TemplateError) as err:
        T.check_template(tok, "llama3", model="llama-3.2-1b")
    msg = str(err.value)
    assert "llama-3.2-1b" in msg
    assert "pad token '<|eot_id|>' is the end-of-turn token" in msg
    assert "among the labels" in msg


def test_auto_pad_fixes_what_the_check_refuses():
    tok = make_tokenizer("llama3", pad_token="<|eot_id|>")
    assert T.choose_pad_token(tok, "llama3", "auto") == "<|finetune_right_pad_id|>"
    T.check_template(tok, "llama3")
    glm = make_tokenizer("glm4")  # ships pad = <|endoftext|>: safe, <|user|> ends the turn
    assert T.choose_pad_token(glm, "glm4", "auto") == "<|endoftext|>"
    chatml = make_tokenizer("chatml")  # SmolLM2-style pad = eos = <|im_end|>
    assert T.choose_pad_token(chatml, "chatml", "auto") == "<|endoftext|>"
    kept = make_tokenizer("qwen3")
    assert T.choose_pad_token(kept, "qwen3", None) == "<|endoftext|>"
    with pytest.raises(LuxitError, match="not a token"):
        T.choose_pad_token(make_tokenizer("qwen3"), "qwen3", "<nope>")


def test_check_rejects_gemma_turn_closed_by_eos():
    tok = _ready("gemma3", template=GEMMA3_BROKEN_TEMPLATE)
    with pytest.raises(T.TemplateError, match="not closed by '<end_of_turn>'"):
        T.check_template(tok, "gemma3")


def test_check_rejects_doubled_glm_prefix():
    tok = _ready("glm4", template=GLM4_DOUBLED_TEMPLATE)
    with pytest.raises(T.TemplateError) as err:
        T.check_template(tok, "glm4")
    assert "'[gMASK]' appears 3 times (doubled prefix)" in str(err.value)


def test_check_rejects_missing_end_of_turn_token():
    # A Llama-style template on a tokenizer that lacks <|eot_id|>: the family cannot stop.
    tok = make_tokenizer("chatml", template=make_tokenizer("llama3").chat_template)
    with pytest.raises(T.TemplateError, match="not in the vocabulary"):
        T.check_template(tok, "llama3")


def test_check_rejects_thinking_on_a_family_without_it():
    tok = _ready("llama3")
    with pytest.raises(T.TemplateError, match="no thinking switch"):
        T.check_template(tok, "llama3", thinking=True)


def test_bad_conversations_raise_value_errors():
    tok = _ready("chatml")
    with pytest.raises(ValueError, match="no assistant turn"):
        T.encode_chat(tok, ONE_TURN[:2], "chatml")
    with pytest.raises(ValueError, match="unknown role"):
        T.encode_chat(tok, [{"role": "bot", "content": "x"}], "chatml")
    with pytest.raises(LuxitError, match="unknown chat-template family"):
        T.get_family("mistral")


def test_smollm2_real_tokenizer_passes_after_auto_pad():
    from transformers import AutoTokenizer

    from luxit_ray.models import smollm2_dir

    tok = AutoTokenizer.from_pretrained(smollm2_dir())
    assert tok.pad_token == "<|im_end|>"  # as shipped: pad = eos = end-of-turn
    with pytest.raises(T.TemplateError, match="pad = eos"):
        T.check_template(tok, "chatml")
    assert T.choose_pad_token(tok, "chatml") == "<|endoftext|>"
    report = T.check_template(tok, "chatml")
    assert report.end_of_turn_id == 2 and report.pad_token_id == 0
    assert report.notes == []
