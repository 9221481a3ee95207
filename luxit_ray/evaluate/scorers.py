"""The two scorers. Each turns items into one per-sample record per item.

* ``loglik``: the options' texts are scored as the answer to the chat-formatted question; the
  highest length-normalised log-probability wins. Immune to formatting: a model that no longer
  follows instructions still gets a fair reading of what it knows.
* ``generative``: the model answers freely (greedy, a small token budget) after an instruction
  to reply with one letter; the answer is parsed after removing reasoning blocks. Outputs with
  no parsable letter are ``invalid``, counted apart from ``wrong``.

Record keys (every record has all of them; None where a scorer does not fill one):
``scorer, source, kind, item_id, level, category, n_choices, answer, answer_index, prompt,
chat_template, predicted, predicted_index, outcome, choice_logprobs, choice_tokens,
choice_scores, raw_output, output_text, reasoning, parse_note, finish_reason, n_tokens``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from luxit_ray.evaluate.backends import Backend
from luxit_ray.evaluate.items import LETTERS, EvalItem, instruction_letters
from luxit_ray.evaluate.parse import parse_answer

log = logging.getLogger(__name__)

LOGLIK = "loglik"
GENERATIVE = "generative"
SCORERS = (LOGLIK, GENERATIVE)
CORRECT = "correct"
WRONG = "wrong"
INVALID = "invalid"
OUTCOMES = (CORRECT, WRONG, INVALID)

RECORD_KEYS = (
    "scorer", "source", "kind", "item_id", "level", "category", "n_choices", "answer", "answer_index",
    "prompt", "chat_template", "predicted", "predicted_index", "outcome", "choice_logprobs",
    "choice_tokens", "choice_scores", "raw_output", "output_text", "reasoning", "parse_note",
    "finish_reason", "n_tokens",
)


def user_message(item: EvalItem, prompt: dict[str, Any], scorer: str) -> str:
    """The user turn: the item's question block and the scorer's closing instruction."""
    if scorer == GENERATIVE:
        instruction = prompt["generative_instruction"].replace("{letters}", instruction_letters(len(item.choices)))
    else:
        instruction = prompt["loglik_instruction"]
    return f"{item.body}\n\n{instruction}"


def _record(item: EvalItem, scorer: str, prompt: str, chat_template: bool) -> dict[str, Any]:
    rec: dict[str, Any] = dict.fromkeys(RECORD_KEYS)
    rec.update(
        scorer=scorer, source=item.source, kind=item.kind, item_id=item.id, level=item.level,
        category=item.category, n_choices=len(item.choices), answer=item.answer_letter,
        answer_index=item.answer, prompt=prompt, chat_template=chat_template,
    )
    return rec


def normalise(logprob: float, n_tokens: int, choice: str, length_norm: str) -> float:
    """Length-normalised score: per character of the option text, per token, or raw."""
    if length_norm == "char":
        return logprob / max(1, len(choice))
    if length_norm == "token":
        return logprob / max(1, n_tokens)
    return logprob


def score_loglik(backend: Backend, items: Sequence[EvalItem], prompt: dict[str, Any], length_norm: str = "char") -> list[dict[str, Any]]:
    """Pick each item's option with the highest normalised log-likelihood (first on ties)."""
    rendered = [backend.render_prompt(user_message(it, prompt, LOGLIK)) for it in items]
    requests: list[tuple[str, str]] = []
    for it, (text, chat_template) in zip(items, rendered, strict=True):
        # Without a chat template the prompt ends with "Answer:" and the option follows a space.
        sep = "" if chat_template else " "
        requests.extend((text, sep + c) for c in it.choices)
    scores = backend.loglikelihood(requests)
    if len(scores) != len(requests):
        raise RuntimeError(f"backend returned {len(scores)} scores for {len(requests)} requests")
    records, k = [], 0
    for it, (text, chat_template) in zip(items, rendered, strict=True):
        mine = scores[k : k + len(it.choices)]
        k += len(it.choices)
        normed = [normalise(s.logprob, s.n_tokens, c, length_norm) for s, c in zip(mine, it.choices, strict=True)]
        rec = _record(it, LOGLIK, text, chat_template)
        if any(math.isnan(x) for x in normed):
            rec.update(outcome=INVALID, parse_note="nan_logprob")
        else:
            best = max(range(len(normed)), key=lambda i: (normed[i], -i))
            rec.update(
                predicted=LETTERS[best], predicted_index=best,
                outcome=CORRECT if best == it.answer else WRONG,
            )
        rec.update(
            choice_logprobs=[s.logprob for s in mine], choice_tokens=[s.n_tokens for s in mine],
            choice_scores=normed,
        )
        records.append(rec)
    return records


def score_generative(backend: Backend, items: Sequence[EvalItem], prompt: dict[str, Any], max_new_tokens: int = 16) -> list[dict[str, Any]]:
    """Ask for one letter, decode greedily, parse; no parsable letter means ``invalid``."""
    rendered = [backend.render_prompt(user_message(it, prompt, GENERATIVE)) for it in items]
    gens = backend.generate([text for text, _ in rendered], max_new_tokens)
    if len(gens) != len(items):
        raise RuntimeError(f"backend returned {len(gens)} generations for {len(items)} prompts")
    records = []
    for it, (text, chat_template), gen in zip(items, rendered, gens, strict=True):
        parsed = parse_answer(gen.text, it.choices)
        rec = _record(it, GENERATIVE, text, chat_template)
        if parsed.valid:
            outcome = CORRECT if parsed.index == it.answer else WRONG
        else:
            outcome = INVALID
        note = parsed.note
        if not parsed.valid and gen.finish_reason == "length":
            note = f"{note}+length"
        rec.update(
            predicted=parsed.letter, predicted_index=parsed.index, outcome=outcome,
            raw_output=gen.raw, output_text=gen.text, reasoning=parsed.reasoning or None,
            parse_note=note, finish_reason=gen.finish_reason, n_tokens=gen.n_tokens,
        )
        records.append(rec)
    return records


def evaluate_items(backend: Backend, items: Sequence[EvalItem], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Run every configured scorer over the items.

    Args:
        backend: the model.
        items: exam and task items.
        settings: the evaluate config dump (``scorers``, ``prompt``, ``length_norm``, ``max_new_tokens``).
    """
    records: list[dict[str, Any]] = []
    for scorer in settings["scorers"]:
        if scorer == LOGLIK:
            records.extend(score_loglik(backend, items, settings["prompt"], settings["length_norm"]))
        elif scorer == GENERATIVE:
            records.extend(score_generative(backend, items, settings["prompt"], settings["max_new_tokens"]))
        else:
            raise ValueError(f"unknown scorer {scorer!r}")
        log.info("scored %d items with %s on %s", len(items), scorer, backend.kind)
    return records
