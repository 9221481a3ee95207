"""Parse a generated answer into an option letter, or say why it is invalid.

Strict on purpose: a model that answers in prose, rambles until the token budget runs out or
names a letter that is not an option gets ``invalid`` with a reason, kept apart from a wrong
answer. That is the difference between "the model does not know" and "the model no longer
follows the format" (the collapse the paper saw after fine-tuning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
# A one-word label and a colon before the answer: "Answer:", "Äntwert:", "Réponse :".
LABEL_PREFIX = re.compile(r"^[^\W\d_]{2,20}\s*:\s*")
MARKUP = re.compile(r"[*_`#>]+")
LETTER_HEAD = re.compile(r"^[(\[]?([A-Za-z])[)\]]?(?=$|[\s.):,;\]])")
TRAILING = " \t\n.!,;:)]"

OK = "letter"
OK_TEXT = "option_text"
NO_LETTER = "no_letter"
OUT_OF_RANGE = "out_of_range"
EMPTY = "empty"
UNCLOSED_THINK = "unclosed_think"


@dataclass(frozen=True)
class ParsedAnswer:
    """The outcome of parsing one output.

    Attributes:
        index: 0-based option index, or None when invalid.
        letter: the option letter, or None when invalid.
        note: how it was read (``letter``, ``option_text``) or why it is invalid (``no_letter``,
            ``out_of_range``, ``empty``, ``unclosed_think``).
        answer_text: the output with reasoning blocks removed (what was parsed).
        reasoning: the removed reasoning text ('' when none).
    """

    index: int | None
    letter: str | None
    note: str
    answer_text: str
    reasoning: str

    @property
    def valid(self) -> bool:
        """True when an option was read."""
        return self.index is not None


def strip_reasoning(text: str) -> tuple[str, str, bool]:
    """Remove ``<think>…</think>`` blocks: ``(answer_text, reasoning, unclosed)``.

    A closing tag without an opening one (templates that open the block in the prompt) makes
    everything before it reasoning; an opening tag never closed makes everything after it
    reasoning and the answer missing (``unclosed`` is True).
    """
    reasoning: list[str] = []

    def _keep(match: re.Match[str]) -> str:
        reasoning.append(match.group(0)[len("<think>") : -len("</think>")].strip())
        return " "

    out = THINK_BLOCK.sub(_keep, text)
    close = list(THINK_CLOSE.finditer(out))
    if close:
        last = close[-1]
        reasoning.insert(0, out[: last.start()].strip())
        out = out[last.end() :]
    unclosed = False
    opened = THINK_OPEN.search(out)
    if opened:
        reasoning.append(out[opened.end() :].strip())
        out = out[: opened.start()]
        unclosed = True
    return out.strip(), "\n".join(r for r in reasoning if r), unclosed


def _clean(text: str) -> str:
    out = MARKUP.sub("", text).strip()
    out = LABEL_PREFIX.sub("", out, count=1).strip()
    return out


def _norm(text: str) -> str:
    return " ".join(text.casefold().strip(TRAILING).split())


def parse_answer(output: str, choices: list[str] | tuple[str, ...]) -> ParsedAnswer:
    """Read the chosen option from a model's output.

    Accepted: a lone letter (``B``, ``(B)``, ``**B**``, ``Answer: B.``); a capital letter
    followed by ``.``, ``)`` or ``:`` and anything (``B) sinn``); a letter followed by the
    text of that same option (``B sinn``); or exactly one option's text. Everything else is
    invalid, including prose that merely starts with a capital letter ("A good question").
    """
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[: len(choices)]
    answer_text, reasoning, unclosed = strip_reasoning(output)
    if unclosed and not answer_text:
        return ParsedAnswer(None, None, UNCLOSED_THINK, answer_text, reasoning)
    text = _clean(answer_text)
    if not text:
        return ParsedAnswer(None, None, EMPTY, answer_text, reasoning)
    head = LETTER_HEAD.match(text)
    if head:
        raw = head.group(1)
        rest = text[head.end() :]
        lone = not rest.strip(TRAILING)
        bracketed = head.group(0).endswith((")", "]")) or text.startswith(("(", "["))
        marked = bracketed or bool(re.match(r"^[.:]", rest))
        letter = raw.upper()
        if lone and (raw.isupper() or len(text.strip(TRAILING + "([")) == 1):
            return _letter(letter, letters, answer_text, reasoning)
        # Lower-case letters count only with a bracket: "a" is a word in many languages.
        if marked and (raw.isupper() or bracketed):
            return _letter(letter, letters, answer_text, reasoning)
        if raw.isupper() and letter in letters and _norm(rest).startswith(_norm(choices[letters.index(letter)])):
            return _letter(letter, letters, answer_text, reasoning)
    normed = _norm(text)
    matches = [i for i, c in enumerate(choices) if _norm(c) == normed]
    if len(matches) == 1:
        i = matches[0]
        return ParsedAnswer(i, letters[i], OK_TEXT, answer_text, reasoning)
    return ParsedAnswer(None, None, NO_LETTER, answer_text, reasoning)


def _letter(letter: str, letters: str, answer_text: str, reasoning: str) -> ParsedAnswer:
    if letter not in letters:
        return ParsedAnswer(None, None, OUT_OF_RANGE, answer_text, reasoning)
    return ParsedAnswer(letters.index(letter), letter, OK, answer_text, reasoning)
