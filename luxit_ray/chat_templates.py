"""Chat-template families: the one home both training and evaluation read.

A model only learns to stop if the token that closes its assistant turns is part of the loss, and
it is only asked the way it was tuned if evaluation renders prompts exactly as training did. This
module holds what both sides need and nothing that imports either of them: the families
(end-of-turn token, stop tokens, prefix tokens, system role, thinking switch, pad candidates,
pinned template variables), message normalisation, generation-prompt rendering, stop tokens, and
the ``luxit_train.json`` record training leaves beside an adapter. Label masking and the
pre-training check live in ``luxit_ray.train.templates``; evaluation's model set-up in
``luxit_ray.evaluate.chat``. Both import from here, never from each other.

The families differ in exactly the places that matter:

- **llama3**: turns close with ``<|eot_id|>``; the tokenizer ships no pad token and the common
  fix "pad = eos" makes a collator that masks padding mask ``<|eot_id|>`` too.
- **gemma3**: no system role (the system text goes into the first user turn), turns close with
  ``<end_of_turn>`` (not ``<eos>``), generation stops on either; fp16 overflows.
- **qwen3**: ChatML (``<|im_end|>``) with a thinking switch: the template renders an empty
  ``<think></think>`` block when thinking is off, so training and evaluation must agree on it.
- **glm4** (GLM-4-0414): every rendering starts with ``[gMASK]<sop>`` exactly once, and assistant
  turns have no closing token of their own: the template renders ``<|assistant|>\n{answer}`` and
  the next turn's ``<|user|>`` follows directly. So ``<|user|>`` is the end of turn: it is what the
  template renders after every answer but the last, what the model's generation config stops on
  first (eos ids 151329 ``<|endoftext|>``, 151336 ``<|user|>``, 151338 ``<|observation|>``), and what
  THUDM's own fine-tuning script appends to every training conversation. ``<|endoftext|>`` is never
  rendered between turns.
- **chatml**: plain ChatML (SmolLM2 and others), turns close with ``<|im_end|>``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxit_ray.errors import LuxitError

ROLES = ("system", "user", "assistant")

# Written by training beside every adapter (and copied by merging) so evaluation can ask the model
# in the format it was tuned on.
SETUP_FILE = "luxit_train.json"

# Llama-3.2's template stamps "Today Date: <strftime_now>" into every system turn: a fixed date keeps
# training and evaluation prompts identical and a render that crosses midnight consistent. It is
# the template's own fallback date (Llama-3.1's template always uses it).
LLAMA3_DATE_STRING = "26 Jul 2024"


@dataclass(frozen=True)
class TemplateFamily:
    """What a template family needs from training and evaluation.

    Attributes:
        name: Family name used in configs.
        end_of_turn: The token that closes an assistant turn; it must end every label span.
        append_end_of_turn: The template leaves assistant turns open; we append ``end_of_turn``.
        stop_tokens: Tokens that end generation (``end_of_turn`` first).
        prefix_tokens: Special tokens every rendering starts with, exactly once.
        system_role: Whether the template has a system role (else it is merged into the first user turn).
        thinking: Whether the template has an ``enable_thinking`` switch.
        pad_candidates: Safe padding tokens, in order of preference, for ``pad_token: auto``.
        template_vars: Variables every rendering passes to the template (Llama-3's pinned date).
    """

    name: str
    end_of_turn: str
    append_end_of_turn: bool = False
    stop_tokens: tuple[str, ...] = ()
    prefix_tokens: tuple[str, ...] = ()
    system_role: bool = True
    thinking: bool = False
    pad_candidates: tuple[str, ...] = ()
    template_vars: tuple[tuple[str, str], ...] = ()


FAMILIES: dict[str, TemplateFamily] = {
    "llama3": TemplateFamily(
        name="llama3",
        end_of_turn="<|eot_id|>",
        stop_tokens=("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"),
        prefix_tokens=("<|begin_of_text|>",),
        pad_candidates=("<|finetune_right_pad_id|>", "<|reserved_special_token_0|>", "<|reserved_special_token_2|>"),
        template_vars=(("date_string", LLAMA3_DATE_STRING),),
    ),
    "gemma3": TemplateFamily(
        name="gemma3",
        end_of_turn="<end_of_turn>",
        stop_tokens=("<end_of_turn>", "<eos>"),
        prefix_tokens=("<bos>",),
        system_role=False,
        pad_candidates=("<pad>",),
    ),
    "qwen3": TemplateFamily(
        name="qwen3",
        end_of_turn="<|im_end|>",
        stop_tokens=("<|im_end|>", "<|endoftext|>"),
        thinking=True,
        pad_candidates=("<|endoftext|>", "<|fim_pad|>"),
    ),
    "glm4": TemplateFamily(
        name="glm4",
        end_of_turn="<|user|>",
        append_end_of_turn=True,
        stop_tokens=("<|user|>", "<|endoftext|>", "<|observation|>"),
        prefix_tokens=("[gMASK]", "<sop>"),
        pad_candidates=("<|endoftext|>", "[MASK]", "<eop>", "[sMASK]"),
    ),
    "chatml": TemplateFamily(
        name="chatml",
        end_of_turn="<|im_end|>",
        stop_tokens=("<|im_end|>",),
        pad_candidates=("<|endoftext|>", "<|pad|>", "<pad>", "<|fim_pad|>"),
    ),
}

def get_family(family: str | TemplateFamily) -> TemplateFamily:
    """The :class:`TemplateFamily` of a name (a family passes through).

    Raises:
        LuxitError: unknown family name.
    """
    if isinstance(family, TemplateFamily):
        return family
    try:
        return FAMILIES[family]
    except KeyError:
        raise LuxitError(f"unknown chat-template family {family!r}; known: {sorted(FAMILIES)}") from None


def token_id(tokenizer: Any, token: str) -> int | None:
    """The id of a token that exists as one vocabulary entry, else None (never the unk id)."""
    vocab = tokenizer.get_vocab()
    if token in vocab:
        return int(vocab[token])
    return None


def prepare_messages(messages: Sequence[dict[str, Any]], family: str | TemplateFamily) -> list[dict[str, str]]:
    """Normalise a conversation for a family: plain role/content dicts; system merged where unsupported.

    Raises:
        ValueError: an unknown role or a non-string content.
    """
    fam = get_family(family)
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise ValueError(f"message {i}: unknown role {role!r} (expected one of {ROLES})")
        if not isinstance(content, str):
            raise ValueError(f"message {i}: content must be a string")
        out.append({"role": role, "content": content})
    if fam.system_role:
        return out
    system = [m["content"] for m in out if m["role"] == "system"]
    rest = [dict(m) for m in out if m["role"] != "system"]
    if system:
        first_user = next((m for m in rest if m["role"] == "user"), None)
        if first_user is None:
            raise ValueError(f"{fam.name} has no system role and the conversation has no user turn to carry it")
        first_user["content"] = "\n\n".join(system) + "\n\n" + first_user["content"]
    return rest


def chat_kwargs(family: str | TemplateFamily, thinking: bool = False) -> dict[str, Any]:
    """Extra template variables for a family (Qwen3's ``enable_thinking``, Llama-3's pinned date)."""
    fam = get_family(family)
    out: dict[str, Any] = dict(fam.template_vars)
    if fam.thinking:
        out["enable_thinking"] = bool(thinking)
    elif thinking:
        raise LuxitError(f"the {fam.name} family has no thinking switch")
    return out


def render_text(tokenizer: Any, messages: list[dict[str, str]], gen: bool, kwargs: dict[str, Any]) -> str:
    """The tokenizer's own template applied to prepared messages, as text (``gen``: add the generation prompt).

    Raises:
        LuxitError: the tokenizer returned something other than a string.
    """
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=gen, **kwargs
    )
    if not isinstance(text, str):
        raise LuxitError("apply_chat_template(tokenize=False) did not return a string")
    return text


def render_generation_prompt(
    tokenizer: Any, messages: Sequence[dict[str, Any]], family: str, thinking: bool = False
) -> str:
    """The prompt text a model continues to answer ``messages``, as training rendered it.

    The text already holds the family's prefix tokens (``<|begin_of_text|>``, ``<bos>``,
    ``[gMASK]<sop>``): tokenise it with ``add_special_tokens=False`` (or use
    :func:`generation_prompt_ids`), otherwise they appear twice.

    Args:
        tokenizer: The model's tokenizer (with its chat template).
        messages: role/content dicts ending with a user turn.
        family: Template family name.
        thinking: Qwen3's thinking mode; must equal the value the adapter was trained with.
    """
    fam = get_family(family)
    msgs = prepare_messages(messages, fam)
    return render_text(tokenizer, msgs, True, chat_kwargs(fam, thinking))


def generation_prompt_ids(
    tokenizer: Any, messages: Sequence[dict[str, Any]], family: str, thinking: bool = False
) -> list[int]:
    """Token ids of :func:`render_generation_prompt` (prefix tokens once, never doubled)."""
    text = render_generation_prompt(tokenizer, messages, family, thinking)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])



def read_training_setup(*folders: str | Path | None) -> dict[str, Any]:
    """The first ``luxit_train.json`` found in the given folders, in order ({} when none).

    It holds the template set-up an adapter (or a merged model) was trained with: ``family``,
    ``thinking``, ``system_prompt``, ``pad_token``, ``stop_tokens``, ``base_model``...
    """
    for folder in folders:
        if folder and (Path(folder) / SETUP_FILE).is_file():
            return json.loads((Path(folder) / SETUP_FILE).read_text(encoding="utf-8"))
    return {}


def train_setup(adapter_dir: str | Path) -> dict[str, Any] | None:
    """The ``luxit_train.json`` record of one folder, None when it has none."""
    return read_training_setup(adapter_dir) or None


def stop_tokens(tokenizer: Any, family: str) -> list[str]:
    """The family's stop tokens that exist in this tokenizer, end-of-turn first."""
    fam = get_family(family)
    return [t for t in fam.stop_tokens if token_id(tokenizer, t) is not None]


def stop_token_ids(tokenizer: Any, family: str) -> list[int]:
    """Ids of :func:`stop_tokens`."""
    return [int(token_id(tokenizer, t)) for t in stop_tokens(tokenizer, family)]

