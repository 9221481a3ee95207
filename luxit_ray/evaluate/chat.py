"""Chat formatting for evaluation: the exact template set-up training used.

The template families (end-of-turn tokens, thinking switches, families without a system role)
live in :mod:`luxit_ray.chat_templates`, below both training and evaluation; this module never
imports ``luxit_ray.train``. Whenever the model's family is known its
``render_generation_prompt`` / ``stop_tokens`` are used, so a model is asked in exactly the format
it was tuned on (a mismatch is what made fine-tuned models ramble in the paper). The family and
the thinking switch come from the config, else from the ``luxit_train.json`` that training leaves
beside an adapter (or a merged model). A model whose family stays unknown falls back to the
tokenizer's own chat template.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxit_ray import chat_templates
from luxit_ray.chat_templates import SETUP_FILE, read_training_setup

__all__ = [
    "SETUP_FILE",
    "ChatSetup",
    "detect_family",
    "effective_thinking",
    "has_chat_template",
    "read_training_setup",
    "render_generation_prompt",
    "render_user_prompt",
    "resolve_setup",
    "stop_token_ids",
]

log = logging.getLogger(__name__)

# Tokens that end an assistant turn in the families we know; used when no family is known.
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|endoftext|>", "<|user|>", "<|end|>")


@dataclass(frozen=True)
class ChatSetup:
    """How one model is prompted.

    Attributes:
        family: template family (llama3, gemma3, qwen3, glm4, chatml) or None (tokenizer's template).
        thinking: thinking switch for families that have one.
        tokenizer_dir: folder to load the tokenizer from (the adapter's, when training saved one).
        source: where the family came from (config, luxit_train.json, tokenizer, unknown).
        system_prompt: the system message training put before every conversation (from
            ``luxit_train.json``); evaluation asks with the same one.
    """

    family: str | None
    thinking: bool
    tokenizer_dir: str
    source: str
    system_prompt: str | None = None


def detect_family(tokenizer: Any, model_path: str | Path) -> str | None:
    """Guess the template family from the tokenizer's special tokens and the model type."""
    vocab = tokenizer.get_vocab()
    template = getattr(tokenizer, "chat_template", None) or ""
    if not isinstance(template, str):
        template = json.dumps(template)
    try:
        model_type = json.loads((Path(model_path) / "config.json").read_text(encoding="utf-8")).get("model_type", "")
    except (OSError, ValueError):
        model_type = ""
    if "<|eot_id|>" in vocab and "<|eot_id|>" in template:
        return "llama3"
    if "<end_of_turn>" in vocab and "<end_of_turn>" in template:
        return "gemma3"
    if "[gMASK]" in vocab and ("[gMASK]" in template or model_type.startswith("glm")):
        return "glm4"
    if "<|im_end|>" in vocab and "<|im_end|>" in template:
        return "qwen3" if model_type.startswith("qwen3") else "chatml"
    return None


def has_chat_template(tokenizer: Any) -> bool:
    """True when the tokenizer carries a chat template (base models often do not)."""
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_setup(
    model_path: str | Path, adapter: str | Path | None, family: str | None, thinking: bool | None, default_thinking: bool
) -> ChatSetup:
    """Family, thinking switch and tokenizer folder for one model (config wins over training's record)."""
    trained = read_training_setup(adapter, model_path)
    tok_dir = str(adapter) if adapter and (Path(adapter) / "tokenizer_config.json").is_file() else str(model_path)
    if thinking is None:
        thinking = bool(trained["thinking"]) if "thinking" in trained else default_thinking
    elif "thinking" in trained and bool(trained["thinking"]) != thinking:
        log.warning(
            "%s: evaluating with thinking=%s but it was trained with thinking=%s", adapter or model_path, thinking, trained["thinking"]
        )
    system = trained.get("system_prompt")
    if family:
        return ChatSetup(family, thinking, tok_dir, "config", system)
    if trained.get("family"):
        return ChatSetup(trained["family"], thinking, tok_dir, SETUP_FILE, system)
    return ChatSetup(None, thinking, tok_dir, "unknown", system)


def effective_thinking(family: str | None, thinking: bool) -> bool:
    """The thinking switch a family can honour: families without one always render with it off."""
    if not thinking or family is None:
        return thinking
    if not chat_templates.get_family(family).thinking:
        log.warning("thinking requested but the %s template has no thinking switch: rendering without it", family)
        return False
    return True


def render_generation_prompt(tokenizer: Any, messages: list[dict[str, str]], family: str | None, thinking: bool = False) -> str:
    """The prompt text up to where the assistant's answer begins."""
    if family is not None:
        return chat_templates.render_generation_prompt(tokenizer, messages, family, thinking=thinking)
    extra = {"enable_thinking": thinking} if thinking else {}
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)


def stop_token_ids(tokenizer: Any, family: str | None) -> list[int]:
    """Token ids that end the assistant's turn (generation stops at any of them)."""
    if family is not None:
        found = chat_templates.stop_tokens(tokenizer, family)
        ids = [tokenizer.convert_tokens_to_ids(t) if isinstance(t, str) else int(t) for t in found]
        return sorted({i for i in ids if i is not None and i >= 0})
    ids_set: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids_set.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for tok in END_OF_TURN_TOKENS:
        if tok in vocab:
            ids_set.add(int(vocab[tok]))
    return sorted(ids_set)


def render_user_prompt(
    tokenizer: Any,
    user_message: str,
    family: str | None,
    thinking: bool,
    answer_prefix: str,
    system_prompt: str | None = None,
) -> tuple[str, bool]:
    """One user turn ready for the answer: ``(prompt, used_chat_template)``.

    With a chat template, ``system_prompt`` (the one training used) opens the conversation, so
    the model is asked exactly as it was tuned. Without a chat template (base models) the prompt
    is the message, a blank line and ``answer_prefix``; the answer then follows after a space.
    """
    if has_chat_template(tokenizer):
        messages = [{"role": "user", "content": user_message}]
        if system_prompt:
            messages.insert(0, {"role": "system", "content": system_prompt})
        return render_generation_prompt(tokenizer, messages, family, thinking=thinking), True
    return f"{user_message}\n\n{answer_prefix}", False
