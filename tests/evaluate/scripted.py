"""Scripted models for the harness tests: real :class:`Backend` subclasses, no model behind them.

They find the item a prompt asks about (its question block is in the prompt) and answer from a
script, so a test knows exactly what every scorer must report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from luxit_ray.evaluate.backends import Backend, ContinuationScore, Generation
from luxit_ray.evaluate.items import EvalItem

END = "<|end|>"


class ScriptedBackend(Backend):
    """Answers every item with ``reply(item)``; log-likelihood favours ``pick(item)``.

    Args:
        items: the items it will be asked about.
        reply: the generated text for an item.
        pick: the option index the log-likelihood scorer should prefer (default: the right one).
    """

    kind = "scripted"

    def __init__(
        self,
        items: Sequence[EvalItem],
        reply: Callable[[EvalItem], str],
        pick: Callable[[EvalItem], int] | None = None,
    ) -> None:
        self.items = list(items)
        self.reply = reply
        self.pick = pick or (lambda it: it.answer)
        self.calls = {"loglik": 0, "generate": 0}

    def _item(self, prompt: str) -> EvalItem:
        found = [it for it in self.items if it.body in prompt]
        if len(found) != 1:
            raise AssertionError(f"prompt matches {len(found)} items: {prompt[:80]!r}")
        return found[0]

    def render_prompt(self, user_message: str) -> tuple[str, bool]:
        return f"<user>{user_message}</user><assistant>", True

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        self.calls["loglik"] += len(requests)
        out = []
        for context, continuation in requests:
            item = self._item(context)
            chosen = item.choices[self.pick(item)]
            logprob = -0.1 * len(continuation) if continuation == chosen else -3.0 * len(continuation)
            out.append(ContinuationScore(logprob=logprob, n_tokens=max(1, len(continuation.split()))))
        return out

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[Generation]:
        self.calls["generate"] += len(prompts)
        out = []
        for prompt in prompts:
            text = self.reply(self._item(prompt))
            words = text.split()
            if len(words) > max_new_tokens:
                out.append(Generation(" ".join(words[:max_new_tokens]), " ".join(words[:max_new_tokens]), "length", max_new_tokens))
            else:
                out.append(Generation(text, text + END, "stop", len(words) + 1))
        return out


# Answer formats a well-behaved model might use; the parser must read all of them.
RIGHT_FORMATS = (
    "{L}",
    "{L}.",
    "**{L}**",
    "Äntwert: {L}",
    "<think>Ech liesen d'Fro nach eemol.</think>\n{L}) {T}",
    "({L})",
    "{L} {T}",
)


def right_letter(item: EvalItem, variant: int = 0) -> str:
    """The right letter in one of :data:`RIGHT_FORMATS`."""
    fmt = RIGHT_FORMATS[variant % len(RIGHT_FORMATS)]
    return fmt.format(L=item.answer_letter, T=item.choices[item.answer])


PROSE = "Dat ass eng interessant Fro, mee ech mengen, datt et drop ukënnt, wéi een et gesäit."
