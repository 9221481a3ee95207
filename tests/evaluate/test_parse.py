"""Reading an option letter out of generated text; everything unreadable is invalid with a reason."""

from __future__ import annotations

import pytest

from luxit_ray.evaluate.parse import parse_answer, strip_reasoning

CHOICES = ("Kanner", "Kands", "Kinder", "Kannen")


@pytest.mark.parametrize(
    ("output", "letter", "note"),
    [
        ("A", "A", "letter"),
        (" B\n", "B", "letter"),
        ("C.", "C", "letter"),
        ("(D)", "D", "letter"),
        ("**B**", "B", "letter"),
        ("Äntwert: C", "C", "letter"),
        ("Answer: D.", "D", "letter"),
        ("B) Kands", "B", "letter"),
        ("b)", "B", "letter"),
        ("c", "C", "letter"),
        ("A Kanner", "A", "letter"),
        ("C: Kinder, well et de Pluriel ass.", "C", "letter"),
        ("Kannen", "D", "option_text"),
        ("kanner.", "A", "option_text"),
        ("<think>De Pluriel vu Kand ass Kanner, also A.</think>\nA", "A", "letter"),
        ("<think>\nHmm.\n</think>\n\n**Äntwert: B**", "B", "letter"),
        ("Iwwerleeung ... </think> D", "D", "letter"),
    ],
)
def test_valid_answers(output: str, letter: str, note: str) -> None:
    parsed = parse_answer(output, CHOICES)
    assert (parsed.letter, parsed.index, parsed.note) == (letter, "ABCD".index(letter), note)


@pytest.mark.parametrize(
    ("output", "note"),
    [
        ("Dat ass eng gutt Fro, mee ech weess et net.", "no_letter"),
        ("A good question. The plural is Kanner.", "no_letter"),
        ("a Lëtzebuerg seet een Kanner", "no_letter"),
        ("I think it is A", "no_letter"),
        ("E", "out_of_range"),
        ("F)", "out_of_range"),
        ("", "empty"),
        ("   \n", "empty"),
        ("<think>De Pluriel vu Kand ass", "unclosed_think"),
        ("<think>laang Iwwerleeung</think>", "empty"),
        ("B D", "no_letter"),
        ("Kand", "no_letter"),
    ],
)
def test_invalid_answers(output: str, note: str) -> None:
    parsed = parse_answer(output, CHOICES)
    assert (parsed.letter, parsed.index, parsed.note, parsed.valid) == (None, None, note, False)


def test_letters_limited_to_the_options() -> None:
    assert parse_answer("C", ("Richteg", "Falsch", "Dat steet net am Text")).index == 2
    assert parse_answer("D", ("Richteg", "Falsch", "Dat steet net am Text")).note == "out_of_range"


def test_strip_reasoning_keeps_the_reasoning() -> None:
    answer, reasoning, unclosed = strip_reasoning("<think>eent</think>B<think>zwee</think>")
    assert (answer, reasoning, unclosed) == ("B", "eent\nzwee", False)
    answer, reasoning, unclosed = strip_reasoning("viru</think>C")
    assert (answer, reasoning, unclosed) == ("C", "viru", False)
    answer, reasoning, unclosed = strip_reasoning("A <think>ni zou")
    assert (answer, reasoning, unclosed) == ("A", "ni zou", True)
