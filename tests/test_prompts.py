"""Prompt templates: rendering, StrictUndefined, the version hash, and the SPEC requirements."""

from __future__ import annotations

import pytest

from luxit_ray.errors import ConfigError
from luxit_ray.prompts import PromptTemplate, cut_text, date_text, load_prompt, render, template_sha

SEED = {
    "language": "Luxembourgish",
    "n_pairs": 3,
    "title": "Stauséi vun der Uewersauer",
    "text": "De Stauséi läit am Nordweste vu Lëtzebuerg.\n\nHien huet vill Drénkwaasser.",
    "date": None,
    "source_type": "wikipedia",
    "wrap_output": True,
}


def _user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


def _system(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in messages if m["role"] == "system")


def test_generate_renders_system_and_user_with_sha_of_source():
    tmpl = load_prompt("generate")
    out = tmpl.render(**SEED)
    assert [m["role"] for m in out.messages] == ["system", "user"]
    assert out.name == "generate"
    assert out.sha == template_sha(tmpl.source) == tmpl.sha
    assert len(out.sha) == 16
    # The rendered text changes with the seed, the sha does not.
    other = tmpl.render(**{**SEED, "text": "En anere Text."})
    assert other.sha == out.sha and _user(other.messages) != _user(out.messages)


def test_generate_covers_the_spec_requirements():
    user = _user(render("generate", **SEED).messages)
    system = _system(render("generate", **SEED).messages)
    # the language is a variable; contact languages come from the prompt's default
    assert "fluent, natural Luxembourgish" in user
    assert "do not borrow a German or French word" in user
    assert "German or French" in system
    # clear, answerable, self-contained instructions
    assert "answerable from what the source text says" in user
    assert "Whoever answers the instruction will not see the source text" in user
    # complete, structured answers; say when information is missing
    assert "Answer completely and correctly" in user
    assert "If the information needed for a full answer is not there, say so" in user
    # summaries carry the unchanged source text
    assert "must contain the complete source text, copied word for word and unchanged" in user
    # varied task types and difficulty
    for kind in ("summary", "question", "picking out specific information", "explanation"):
        assert kind in user
    assert "Mix easy and more demanding tasks" in user
    # the number of pairs, JSON only, the source text itself
    assert "Write 3 instruction/response pairs" in user
    assert "exactly 3 objects" in user
    assert "Reply with JSON only" in user
    assert '{"pairs": [{"instruction": "...", "response": "..."}]}' in user
    assert "<source_text>\n" + SEED["text"] + "\n</source_text>" in user
    # no date: no time section
    assert "TIME" not in user and "published" not in user


def test_generate_language_and_contact_languages_are_variables():
    out = render("generate", **{**SEED, "language": "Faroese", "contact_languages": ["Danish"],
                                "language_notes": "Use the 1998 spelling."})
    user = _user(out.messages)
    assert "fluent, natural Faroese" in user and "Luxembourgish" not in user
    assert "do not borrow a Danish word" in user and "German" not in user
    assert "- Use the 1998 spelling." in user


def test_generate_renders_the_news_date_as_temporal_context():
    user = _user(render("generate", **{**SEED, "source_type": "news", "date": "2023-10-28"}).messages)
    assert "The source was published on 2023-10-28." in user
    assert "tie the statement to the publication date" in user
    assert "SOURCE TEXT (news; title: Stauséi vun der Uewersauer; published: 2023-10-28)" in user


def test_generate_bare_array_when_not_wrapped_and_singular():
    user = _user(render("generate", **{**SEED, "wrap_output": False, "n_pairs": 1}).messages)
    assert "Write 1 instruction/response pair in" in user
    assert "The JSON is an array of exactly 1 object," in user
    assert '[{"instruction": "...", "response": "..."}]' in user
    assert '"pairs"' not in user


def test_missing_variable_raises_naming_it():
    seed = dict(SEED)
    del seed["title"]
    with pytest.raises(ConfigError) as exc:
        render("generate", **seed)
    assert "'title' is undefined" in str(exc.value)
    assert "generate.jinja" in str(exc.value)


def test_sha_changes_when_the_template_changes(tmp_path):
    src = load_prompt("generate").source
    edited = src.replace("careful writer", "meticulous writer")
    assert edited != src
    a = PromptTemplate(name="generate", source=src)
    b = PromptTemplate(name="generate", source=edited)
    assert a.sha != b.sha
    # a template is also loaded by path
    p = tmp_path / "mine.jinja"
    p.write_text(edited, encoding="utf-8")
    c = PromptTemplate.load(str(p))
    assert c.name == "mine" and c.sha == b.sha
    assert "meticulous writer" in _system(c.render(**SEED).messages)


def test_judge_shows_source_when_given_and_lists_four_criteria():
    vars_ = {"language": "Luxembourgish", "instruction": "Wou läit de Stauséi?",
             "response": "Am Nordweste vu Lëtzebuerg.", "source_text": SEED["text"],
             "title": "Stauséi", "date": "2024-05-02"}
    out = render("judge", **vars_)
    user = _user(out.messages)
    assert "<source_text>\n" + SEED["text"] + "\n</source_text>" in user
    assert '("Stauséi", published 2024-05-02)' in user
    assert "<instruction>\nWou läit de Stauséi?\n</instruction>" in user
    for c in ("linguistic_quality", "factual_accuracy", "instruction_adherence", "helpfulness_relevance"):
        assert f"{c}:" in user and f'"{c}": <1-3>' in user
    assert "really German or French (or another language) instead of Luxembourgish" in user
    assert "the source text contradicts" in user
    assert "JSON object" in _system(out.messages)
    no_src = _user(render("judge", **{**vars_, "source_text": None}).messages)
    assert "<source_text>" not in no_src and "the source text contradicts" not in no_src


def test_unknown_template_and_bad_syntax(tmp_path):
    with pytest.raises(ConfigError, match="no template 'nope'"):
        load_prompt("nope")
    with pytest.raises(ConfigError, match="line 1"):
        PromptTemplate(name="bad", source="{% block user %}{{ x {% endblock %}")
    with pytest.raises(ConfigError, match="block user"):
        PromptTemplate(name="nouser", source="{% block system %}hi{% endblock %}")


def test_cut_text_prefers_paragraph_boundaries():
    text = "A" * 60 + "\n\n" + "B" * 60 + "\n\n" + "C" * 60
    cut, was_cut = cut_text(text, 130)
    assert was_cut and cut == "A" * 60 + "\n\n" + "B" * 60
    assert cut_text(text, 1000) == (text, False)
    # no paragraph in reach: a sentence end, then a space, then a hard cut
    assert cut_text("Eent zwee. Drei véier", 12) == ("Eent zwee.", True)
    assert cut_text("eent zwee drei véier", 12) == ("eent zwee", True)
    assert cut_text("x" * 50, 10) == ("x" * 10, True)


def test_date_text():
    assert date_text("2023-10-28T14:05:00+02:00") == "2023-10-28"
    assert date_text("28. Oktober 2023") == "28. Oktober 2023"
    assert date_text("") is None and date_text(None) is None


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def test_judge_layout_puts_what_requests_share_first():
    """Providers cache exact prompt prefixes: the rubric and the answer format (the same for every
    request) come before the source (shared by a seed's pairs), and the pair comes last."""
    judge = load_prompt("judge")

    def user(title: str, source: str, instruction: str) -> str:
        return judge.render(language="Lëtzebuergesch", instruction=instruction, response="Äntwert.",
                            source_text=source, title=title, date=None).messages[1]["content"]

    a1 = user("Stad", "D'Stad Lëtzebuerg ass d'Haaptstad.", "Wat ass d'Haaptstad?")
    a2 = user("Stad", "D'Stad Lëtzebuerg ass d'Haaptstad.", "Wéi heescht d'Stad?")
    b1 = user("Musel", "D'Musel ass e Floss.", "Wat ass d'Musel?")
    order = [a1.index(s) for s in ("CRITERIA", "ANSWER", "<source_text>", "<instruction>", "<response>")]
    assert order == sorted(order)
    # two seeds share everything up to the source; two pairs of one seed up to the instruction
    assert _common_prefix(a1, b1).endswith('The pair was written from the following source text ("')
    assert _common_prefix(a1, a2).endswith("<instruction>\nW")
    assert a1.endswith("<response>\nÄntwert.\n</response>")
