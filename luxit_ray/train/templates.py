"""Label masks and the pre-training template check, built on :mod:`luxit_ray.chat_templates`.

The template families, prompt rendering and stop tokens live in ``luxit_ray.chat_templates`` so
that evaluation reads them without importing training; they are re-exported here for the
training code. This module adds what only training needs: the pad-token choice, the label masks
and the check that refuses a template which would not teach the model to stop.

Label masks are not derived from any template-specific pattern. Each conversation is rendered
prefix by prefix with the tokenizer's own template: the text up to an assistant turn with the
generation prompt, then the text including that turn. What the second adds to the first is exactly
what the model must produce at inference time; those tokens (up to and including the end-of-turn
token) are the labels, everything else is ``-100``. Each piece is tokenised on its own, the way a
served model sees a prompt and then generates. Families whose turns stay open (GLM-4) get their
end-of-turn token appended after the last answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from luxit_ray.chat_templates import (  # noqa: F401  (re-exported for training code and tests)
    FAMILIES,
    LLAMA3_DATE_STRING,
    ROLES,
    SETUP_FILE,
    TemplateFamily,
    chat_kwargs,
    generation_prompt_ids,
    get_family,
    prepare_messages,
    read_training_setup,
    render_generation_prompt,
    render_text,
    stop_token_ids,
    stop_tokens,
    token_id,
    train_setup,
)
from luxit_ray.errors import LuxitError

log = logging.getLogger(__name__)

IGNORE_INDEX = -100


class TemplateError(LuxitError):
    """A tokenizer/template would not teach the model to stop (or cannot be rendered as we need)."""

    def __init__(self, family: str, problems: Sequence[str], model: str | None = None) -> None:
        self.family = family
        self.problems = list(problems)
        self.model = model
        who = f"{model} ({family} template)" if model else f"{family} template"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{who} refused before training, {len(self.problems)} problem(s):\n{lines}")


# A short Luxembourgish exchange used by the pre-training check (written for this project).
PROBE_MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "Du bass en hëllefsbereeten Assistent."},
    {"role": "user", "content": "Wat ass d'Haaptstad vu Lëtzebuerg?"},
    {"role": "assistant", "content": "D'Haaptstad ass d'Stad Lëtzebuerg."},
    {"role": "user", "content": "A wéi vill Awunner huet d'Land ongeféier?"},
    {"role": "assistant", "content": "D'Land huet ongeféier 670.000 Awunner."},
]


def choose_pad_token(tokenizer: Any, family: str, requested: str | None = "auto") -> str | None:
    """Set the tokenizer's pad token as a recipe asks and return it.

    ``auto`` keeps the tokenizer's pad unless it is missing or is the end-of-turn token, and then
    takes the family's first candidate present in the vocabulary. ``None`` changes nothing. Any
    other string must be a single vocabulary token.

    Raises:
        LuxitError: the requested token is not in the vocabulary, or ``auto`` finds no safe pad.
    """
    fam = get_family(family)
    if requested is None:
        return tokenizer.pad_token
    if requested != "auto":
        if token_id(tokenizer, requested) is None:
            raise LuxitError(f"pad_token {requested!r} is not a token of this tokenizer")
        tokenizer.pad_token = requested
        return requested
    eot = fam.end_of_turn
    current = tokenizer.pad_token
    if current is not None and current != eot:
        return current
    for cand in fam.pad_candidates:
        if cand != eot and token_id(tokenizer, cand) is not None:
            log.info("pad token %r -> %r (%s: the pad must not be the end-of-turn token %r)", current, cand, fam.name, eot)
            tokenizer.pad_token = cand
            return cand
    raise LuxitError(
        f"pad_token auto: the tokenizer's pad {current!r} is missing or equals the end-of-turn token {eot!r}, and "
        f"none of the {fam.name} candidates {list(fam.pad_candidates)} exists; set train.models.N.pad_token"
    )


@dataclass
class EncodedChat:
    """One training example: token ids and labels (``-100`` where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]
    assistant_spans: list[tuple[int, int]] = field(default_factory=list)  # [start, end) in tokens, eot included

    def __len__(self) -> int:
        return len(self.input_ids)


def _pieces_for(
    tokenizer: Any, msgs: list[dict[str, str]], kwargs: dict[str, Any], fam: TemplateFamily
) -> list[list[tuple[str, bool]]]:
    """Split a conversation into (text, trainable) pieces, one list per example.

    Templates that render earlier turns the same way whatever follows (most) give one example with
    every assistant turn trained. Templates that rewrite history (Qwen3 drops old reasoning) give
    one example per assistant turn, each rendered exactly as inference would see it.
    """
    assistant_at = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    if not assistant_at:
        raise ValueError("the conversation has no assistant turn")
    turns: list[tuple[str, str]] = []  # (prompt text, prompt + assistant turn text)
    for i in assistant_at:
        if i == 0:
            raise ValueError("the conversation starts with an assistant turn")
        prompt = render_text(tokenizer, msgs[:i], True, kwargs)
        full = render_text(tokenizer, msgs[: i + 1], False, kwargs)
        if not full.startswith(prompt):
            raise TemplateError(
                fam.name,
                [
                    "the rendered conversation does not start with its own generation prompt "
                    f"(kwargs {kwargs}): prompt ends {prompt[-40:]!r}, turn renders as {full[len(prompt) - 40:][:80]!r}; "
                    "training and inference would disagree on what the model writes"
                ],
            )
        turns.append((prompt, full))
    stable = all(turns[k + 1][0].startswith(turns[k][1]) for k in range(len(turns) - 1))
    if stable:
        pieces: list[tuple[str, bool]] = []
        consumed = ""
        for prompt, full in turns:
            pieces.append((prompt[len(consumed):], False))
            pieces.append((full[len(prompt):], True))
            consumed = full
        return [pieces]
    return [[(prompt, False), (full[len(prompt):], True)] for prompt, full in turns]


def encode_chat(
    tokenizer: Any,
    messages: Sequence[dict[str, Any]],
    family: str | TemplateFamily,
    thinking: bool = False,
) -> list[EncodedChat]:
    """Tokenise a conversation with its chat template and mask everything but the assistant turns.

    Args:
        tokenizer: The model's tokenizer (chat template set).
        messages: role/content dicts; at least one assistant turn, not first.
        family: Template family name.
        thinking: Qwen3's thinking mode.

    Returns:
        One example for prefix-stable templates, else one per assistant turn.

    Raises:
        ValueError: the conversation itself is malformed (bad role, no assistant turn).
        TemplateError: the template/tokenizer cannot produce a label span that ends with the
            end-of-turn token.
    """
    fam = get_family(family)
    msgs = prepare_messages(messages, fam)
    kwargs = chat_kwargs(fam, thinking)
    eot_id = token_id(tokenizer, fam.end_of_turn)
    if eot_id is None:
        raise TemplateError(fam.name, [f"the end-of-turn token {fam.end_of_turn!r} is not in the vocabulary"])
    out = []
    for raw_pieces in _pieces_for(tokenizer, msgs, kwargs, fam):
        pieces = list(raw_pieces)
        ids: list[int] = []
        labels: list[int] = []
        spans: list[tuple[int, int]] = []
        for k, (text, trainable) in enumerate(pieces):
            if not text:
                continue
            piece = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if not trainable:
                ids += piece
                labels += [IGNORE_INDEX] * len(piece)
                continue
            if fam.append_end_of_turn:
                # The template leaves the turn open. When the next turn opens with the end-of-turn
                # token (GLM-4's <|user|>), that token is the answer's last label; after the last
                # answer it is appended.
                nxt = pieces[k + 1][0] if k + 1 < len(pieces) else ""
                if nxt.startswith(fam.end_of_turn):
                    pieces[k + 1] = (nxt[len(fam.end_of_turn):], pieces[k + 1][1])
                if piece and piece[-1] == eot_id:
                    head, tail = piece, []
                else:
                    head, tail = piece + [eot_id], []
            else:
                if eot_id not in piece:
                    raise TemplateError(
                        fam.name,
                        [f"an assistant turn renders as {text[-60:]!r}: it is not closed by {fam.end_of_turn!r}, "
                         "so the model would never learn to stop"],
                    )
                cut = len(piece) - piece[::-1].index(eot_id)
                # Text after the end-of-turn token (a newline) is template glue, never generated.
                head, tail = piece[:cut], piece[cut:]
            start = len(ids)
            ids += head
            labels += head
            spans.append((start, len(ids)))
            ids += tail
            labels += [IGNORE_INDEX] * len(tail)
        out.append(EncodedChat(ids, labels, spans))
    return out


@dataclass
class TemplateReport:
    """What the pre-training check saw (kept beside the adapter and in the results)."""

    family: str
    thinking: bool
    end_of_turn: str
    end_of_turn_id: int
    pad_token: str | None
    pad_token_id: int | None
    stop_tokens: list[str]
    example_tokens: int
    label_tokens: int
    rendered: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def check_template(
    tokenizer: Any,
    family: str,
    thinking: bool = False,
    messages: Sequence[dict[str, Any]] | None = None,
    model: str | None = None,
) -> TemplateReport:
    """Refuse a tokenizer/template whose rendered example would not teach the model to stop.

    Renders a two-turn Luxembourgish probe (with a system message) and checks that:
    the end-of-turn token is one vocabulary entry; the pad token exists and is not the
    end-of-turn token (a collator that masks padding would mask it: Llama-3's pad = eos trap)
    and never appears among the labels; every assistant span's labels end with the end-of-turn
    token and hold the answer text; no prompt text is labelled; the family's prefix tokens start
    the example exactly once (GLM-4's ``[gMASK]<sop>`` doubled is refused); and, for families with a
    thinking switch, that the generation prompt and the trained turn agree on it.

    Raises:
        TemplateError: listing every problem found.
    """
    fam = get_family(family)
    problems: list[str] = []
    notes: list[str] = []
    probe = list(messages) if messages is not None else PROBE_MESSAGES
    if thinking and not fam.thinking:
        problems.append(f"thinking=True but the {fam.name} family has no thinking switch")
        thinking = False
    eot_id = token_id(tokenizer, fam.end_of_turn)
    if eot_id is None:
        raise TemplateError(fam.name, [f"the end-of-turn token {fam.end_of_turn!r} is not in the vocabulary"], model)
    if len(tokenizer(fam.end_of_turn, add_special_tokens=False)["input_ids"]) != 1:
        problems.append(f"{fam.end_of_turn!r} is not tokenised as one special token")
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError(fam.name, ["the tokenizer has no chat template"], model)
    pad, pad_id = tokenizer.pad_token, tokenizer.pad_token_id
    if pad_id is None:
        problems.append("the tokenizer has no pad token (set pad_token: auto or a token)")
    elif pad_id == eot_id:
        problems.append(
            f"the pad token {pad!r} is the end-of-turn token {fam.end_of_turn!r} (pad = eos): masking padding "
            "would mask every end-of-turn label and the model would never learn to stop; use pad_token: auto "
            f"or one of {list(fam.pad_candidates)}"
        )
    try:
        examples = encode_chat(tokenizer, probe, fam, thinking)
    except TemplateError as exc:
        raise TemplateError(fam.name, problems + exc.problems, model) from None
    rendered = render_text(tokenizer, prepare_messages(probe, fam), False, chat_kwargs(fam, thinking))
    answers = [m["content"] for m in probe if m["role"] == "assistant"]
    prompts = [m["content"] for m in probe if m["role"] in ("user", "system")]
    label_total = 0
    for n, ex in enumerate(examples):
        label_ids = [t for t in ex.labels if t != IGNORE_INDEX]
        label_total += len(label_ids)
        if not label_ids:
            problems.append(f"example {n}: no label tokens at all")
            continue
        if label_ids[-1] != eot_id:
            problems.append(
                f"example {n}: the last label is {tokenizer.convert_ids_to_tokens(label_ids[-1])!r}, not the "
                f"end-of-turn token {fam.end_of_turn!r}"
            )
        for _start, e in ex.assistant_spans:
            if ex.labels[e - 1] != eot_id:
                problems.append(f"example {n}: an assistant span does not end with {fam.end_of_turn!r}")
        if pad_id is not None and pad_id in label_ids:
            problems.append(f"example {n}: the pad token {pad!r} is among the labels and would be masked")
        label_text = tokenizer.decode(label_ids, skip_special_tokens=False)
        expected = answers if len(examples) == 1 else [answers[n]]
        for a in expected:
            if a.strip() not in label_text:
                problems.append(f"example {n}: the answer {a[:40]!r} is not inside the labels")
        for p in prompts:
            if p.strip() and p.strip() in label_text:
                problems.append(f"example {n}: prompt text {p[:40]!r} is labelled")
        for tok in fam.prefix_tokens:
            tid = token_id(tokenizer, tok)
            if tid is None:
                problems.append(f"the prefix token {tok!r} is not in the vocabulary")
                continue
            count = ex.input_ids.count(tid)
            if count == 0:
                problems.append(f"example {n}: the template does not render the prefix token {tok!r}")
            elif count > 1:
                problems.append(f"example {n}: the prefix token {tok!r} appears {count} times (doubled prefix)")
        want = [token_id(tokenizer, t) for t in fam.prefix_tokens]
        if want and None not in want and all(ex.input_ids.count(t) == 1 for t in want):
            if ex.input_ids[: len(want)] != want:
                problems.append(f"example {n}: the example does not start with {''.join(fam.prefix_tokens)!r}")
        # Segment-wise tokenisation must spell the text the template rendered (minus what we append).
        if len(examples) == 1:
            back = tokenizer.decode(ex.input_ids, skip_special_tokens=False)
            expected = rendered
            if fam.append_end_of_turn and not rendered.endswith(fam.end_of_turn):
                expected = rendered + fam.end_of_turn
            if back != expected:
                notes.append("the separately tokenised pieces do not decode to the rendered text exactly")
    if fam.thinking:
        gen = render_generation_prompt(tokenizer, probe[:2], fam.name, thinking)
        if not thinking and "<think>" in rendered and "<think>" not in gen:
            problems.append("thinking off: the trained turns carry a <think> block the generation prompt lacks")
        notes.append(f"thinking={'on' if thinking else 'off'}: evaluation must render with the same value")
    if problems:
        raise TemplateError(fam.name, problems, model)
    return TemplateReport(
        family=fam.name,
        thinking=thinking,
        end_of_turn=fam.end_of_turn,
        end_of_turn_id=eot_id,
        pad_token=pad,
        pad_token_id=pad_id,
        stop_tokens=stop_tokens(tokenizer, fam.name),
        example_tokens=sum(len(e) for e in examples),
        label_tokens=label_total,
        rendered=rendered,
        notes=notes,
    )
