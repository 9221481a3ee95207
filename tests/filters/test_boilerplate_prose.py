"""Boilerplate learning spares real sentences that recur, and still removes real boilerplate.

The corpus: 1,500 long Luxembourgish news articles (~1,000 characters) built from real
sentences that recur a lot: 40 body sentences (each in ~20% of the articles), 60 leads (each
the first line of ~1.7% of the articles), plus three real boilerplate lines at the end (a photo
credit, an agency line, a share prompt). Every sentence was written for this test.

Before the fix (one share, 0.1%, for every line) the body sentences were learned as boilerplate
and the articles fell under 750 characters; the rule by place and shape keeps them.
"""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from luxit_ray.config.prepare import BoilerplateConfig
from luxit_ray.filters import BoilerplateStage, MinLengthFilter
from luxit_ray.filters.boilerplate import is_sentence, learn_boilerplate_stats_local
from luxit_ray.schema import REJECT_SCHEMA
from tests.filters.texts import doc

SUBJECTS = [
    "De Gemengerot vun Esch-Uelzecht", "D'Regierung", "De Mobilitéitsminister", "D'Policeinspektioun vu Réiden",
    "D'Gewerkschaft vum Personal", "De Schäffenrot vun Diekrech", "D'Direktioun vum Lycée", "D'Associatioun vun de Wënzer",
    "De Stater Buergermeeschter", "D'Chamber",
]
PREDICATES = [
    "huet e Méindeg den Owend decidéiert, datt d'Projet nach eng Kéier iwwerschafft gëtt.",
    "wëll d'nächst Joer däitlech méi Suen an d'Renovatioun vun de Schoulgebaier investéieren.",
    "huet op enger Pressekonferenz erkläert, datt d'Verhandlunge bis Enn vum Mount dauere wäerten.",
    "mécht sech Suergen, well d'Käschte fir d'Energie an de leschte Méint staark geklomme sinn.",
]
LEAD_TAILS = [
    "Dat ass e Mëttwoch bei enger Versammlung am Kulturzenter bekannt ginn.",
    "Eng Decisioun soll awer eréischt no der Summervakanz falen.",
    "Déi éischt Reaktioune vun de Bierger ware gemëscht.",
    "D'Oppositioun freet elo méi Transparenz beim Budget.",
    "Ee Sprecher huet dat op Nofro vun eiser Redaktioun confirméiert.",
    "Dat geet aus enger Äntwert op eng parlamentaresch Fro ervir.",
]
PHOTO = "Foto: RTL Archiv"
AGENCY = "(mat AFP)"
SHARE = "Deelt dësen Artikel mat Äre Frënn op de soziale Netzwierker."
MIN_CHARS = 750


def corpus(n_docs: int = 1500, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    body = [f"{s} {p}" for s in SUBJECTS for p in PREDICATES]  # 40 sentences
    leads = [f"{s} {t}" for s in SUBJECTS for t in LEAD_TAILS]  # 60 sentences
    rows = []
    for i in range(n_docs):
        lines = [rng.choice(leads), *rng.sample(body, 8)]
        tail = [x for x, p in ((PHOTO, 0.6), (AGENCY, 0.3), (SHARE, 0.4)) if rng.random() < p]
        rows.append(doc(f"rtl:{i:05d}", "\n\n".join(lines) + ("\n\n" + "\n".join(tail) if tail else "")))
    return rows


def kept_and_left(cfg: BoilerplateConfig) -> tuple[int, int, int, list[str]]:
    """(long articles before, long after cleaning, boilerplate lines left, learned lines)."""
    table = pa.Table.from_pylist(corpus(), schema=REJECT_SCHEMA)
    learned = learn_boilerplate_stats_local(table, cfg)
    cleaned = BoilerplateStage(learned.lines)(table).column("text").to_pylist()
    before = sum(1 for t in table.column("text").to_pylist() if len(t) >= MIN_CHARS)
    too_short = MinLengthFilter(MIN_CHARS)
    after = sum(1 for t in cleaned if too_short({"text": t}) is None)
    left = sum(1 for t in cleaned for line in t.split("\n") if line in (PHOTO, AGENCY, SHARE))
    return before, after, left, learned.lines["rtl"]


def test_default_rule_keeps_prose_and_removes_the_boilerplate():
    before, after, left, lines = kept_and_left(BoilerplateConfig())
    assert before == 1500
    assert after == 1500  # >= 99% required; all kept
    assert left == 0  # every photo credit, agency line and share prompt removed
    assert sorted(lines) == sorted([PHOTO, AGENCY, SHARE])


def test_the_old_single_share_rule_removed_the_prose():
    # One share for every line wherever it sits, as before the fix: the sentences go too.
    old = BoilerplateConfig(sentence_doc_fraction=0.001, middle_factor=1.0)
    before, after, left, lines = kept_and_left(old)
    assert (before, left) == (1500, 0)
    assert after == 0 and len(lines) == 3 + 40 + 60


def test_learned_lines_carry_counts_place_and_shape():
    table = pa.Table.from_pylist(corpus(), schema=REJECT_SCHEMA)
    learned = learn_boilerplate_stats_local(table, BoilerplateConfig())
    top = learned.top(2)["rtl"]
    assert [t["line"] for t in top] == [PHOTO, SHARE]
    assert top[0]["shape"] == "fragment" and top[0]["edge_share"] == 1.0 and top[0]["needed_share"] == 0.001
    assert top[1]["shape"] == "sentence" and top[1]["needed_share"] == 0.05
    assert learned.docs == {"rtl": 1500}
    assert learned.chars["rtl"] == sum(len(t) for t in table.column("text").to_pylist())


@pytest.mark.parametrize(("line", "sentence"), [
    (PHOTO, False), (AGENCY, False), (SHARE, True), ("Lies och:", False),
    ("De Minister sot: « Mir maachen dat. »", True), ("Wat elo?", False),
])
def test_sentence_shape(line, sentence):
    assert is_sentence(line, 4) is sentence
