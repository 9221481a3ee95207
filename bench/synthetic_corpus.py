"""Synthetic corpora at the paper's scale for benchmarks: RTL-style news JSONL and an lbwiki-style
MediaWiki dump, built from Luxembourgish sentence parts combined at random.

Every article is distinct (random combinations of ~10 of several hundred sentence variants plus
numbers and names), long enough to pass the length filter, and Luxembourgish enough for
fastText; a small share are German, short or duplicated so every filter has work to do.
"""

from __future__ import annotations

import bz2
import json
import random
from pathlib import Path
from xml.sax.saxutils import escape

SUBJECTS = [
    "D'Regierung", "De Schäffeconseil", "D'Gemeng Esch", "De Minister", "D'Chamber",
    "D'Police", "De Verband", "D'Uni Lëtzebuerg", "De Stater Buergermeeschter", "D'Associatioun",
    "De CFL-Direkter", "D'Léierpersonal", "D'Baueren aus dem Éislek", "De Comité", "D'Pompjeeën",
]
VERBS = [
    "huet e Mëttwoch matgedeelt, datt", "huet op enger Pressekonferenz erkläert, datt",
    "wëll an den nächste Méint drop oppassen, datt", "mécht sech Suergen, well",
    "huet virgeschloen, datt", "ass der Meenung, datt", "huet bestätegt, datt",
]
CLAUSES = [
    "d'Präisser fir Wunnengen nach ëmmer an d'Luucht ginn",
    "de Busverkéier am Norde vum Land besser soll ginn",
    "vill jonk Leit sech eng Plaz an der Stad net méi leeschte kënnen",
    "d'Schoule méi Sue fir d'Digitaliséierung kréien",
    "d'Waasser vun der Sauer dëst Joer méi propper ass wéi virun zéng Joer",
    "d'Zuel vun den Awunner weider wiisst",
    "d'Aarbechten um neie Stadion virum Wanter fäerdeg solle sinn",
    "de Budget fir d'Gesondheet erëm eropgesat gëtt",
    "d'Bauere wéinst dem dréchene Summer manner Fudder hunn",
    "d'Fräiwëlleg bei de Pompjeeën dréngend gebraucht ginn",
    "d'Stroossen am Wanter besser gestreet musse ginn",
    "d'Leit méi dacks mam Vëlo op d'Aarbecht fuere sollen",
]
EXTRAS = [
    "Dat huet een Expert vis-à-vis vun eiser Redaktioun gesot.",
    "Et gëtt awer nach keng definitiv Decisioun.",
    "D'Oppositioun kritiséiert dës Approche scharf.",
    "Eng Etude vum Statec weist, datt dat net nei ass.",
    "Bis ewell hunn nach net all Gemengen hir Meenung gesot.",
    "D'Diskussioun geet an der nächster Sitzung weider.",
    "Vill Bierger hu sech iwwer d'Situatioun beschwéiert.",
    "Am Ufank vum Joer war d'Lag nach anescht.",
]
GERMAN = (
    "Die Regierung hat am Mittwoch mitgeteilt, dass die Preise für Wohnungen weiter steigen. "
    "Viele junge Menschen können sich eine Wohnung in der Stadt nicht mehr leisten. "
)
PLACES = ["Esch-Uelzecht", "Ettelbréck", "Dikrech", "Wolz", "Déifferdeng", "Réimech", "Gréiwemaacher",
          "Miersch", "Clierf", "Veianen", "Stroossen", "Bartreng"]


def sentence(rng: random.Random) -> str:
    return (
        f"{rng.choice(SUBJECTS)} vu(n) {rng.choice(PLACES)} {rng.choice(VERBS)} "
        f"{rng.choice(CLAUSES)}, an dat schonn zënter {rng.randint(2, 40)} Joer."
    )


def article(rng: random.Random, n_sent: int) -> str:
    paras = []
    for _ in range(max(2, n_sent // 4)):
        paras.append(" ".join(sentence(rng) if rng.random() < 0.7 else rng.choice(EXTRAS) for _ in range(4)))
    return "\n\n".join(paras)


def write_news(path: Path, n: int, seed: int = 0) -> Path:
    """RTL-style JSON lines: ~1% German, ~3% short, ~1% exact duplicates, ~5% comments."""
    rng = random.Random(seed)
    last = ""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            r = rng.random()
            kind = "comment" if r < 0.05 else "news"
            if r < 0.06:
                text = sentence(rng)
            elif r < 0.07:
                text = GERMAN * 8
            elif r < 0.08 and last:
                text = last
            else:
                text = article(rng, rng.randint(10, 20))
            last = text
            row = {
                "category_name": rng.choice(["Lëtzebuerg", "International", "Sport", "Kultur"]),
                "category_id": rng.randint(1, 9), "article_id": 1_000_000 + i, "type": kind,
                "public_date": f"20{rng.randint(10, 24):02d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 12:00:00",
                "title": f"{rng.choice(SUBJECTS)} a(n) {rng.choice(PLACES)}", "header": sentence(rng),
                "text": text + "\n\nFoto: Archiv", "tags": ["lëtzebuerg"], "text_id": i, "lang_id": "lb",
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def write_news_files(
    folder: Path, n_files: int, per_file: int, seed: int = 0, id_column: bool = True, dup_share: float = 0.02
) -> list[Path]:
    """Several news JSONL files whose records repeat earlier ones exactly (syndication).

    With probability ``dup_share`` a record is an exact copy of a random earlier record of any
    file (same header, text and type), so copies fall within a file, across files and across
    read blocks. Without ``id_column`` the records have no ``article_id`` (like the paper's RTL
    fields), so the readers give them ids from file and position.
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "_all.jsonl"
    write_news(tmp, n_files * per_file, seed)
    records = [json.loads(line) for line in tmp.read_text(encoding="utf-8").splitlines()]
    tmp.unlink()
    for i, rec in enumerate(records):
        if i and rng.random() < dup_share:
            src = records[rng.randrange(i)]
            records[i] = {**rec, **{k: src[k] for k in ("type", "header", "text", "title")}}
        if not id_column:
            records[i].pop("article_id", None)
    paths = []
    for f in range(n_files):
        path = folder / f"news-{f:02d}.jsonl"
        chunk = records[f * per_file : (f + 1) * per_file]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk), encoding="utf-8")
        paths.append(path)
    return paths


WIKITEXT = """{{{{Infobox Uertschaft
| Numm = {title}
| Awunner = {pop}
}}}}
'''{title}''' ass eng Uertschaft an der [[Gemeng {place}|Gemeng {place}]] am [[Lëtzebuerg|Grand-Duché]].<ref>{{{{Internetquell|url=https://example.lu/{i}}}}}</ref>

== Geschicht ==
{body1}

== Geographie ==
{body2}

[[Fichier:{title}.jpg|thumb|Eng Vue op {title}]]
[[Kategorie:Uertschaft zu Lëtzebuerg]]
"""


def write_wiki(path: Path, n: int, seed: int = 0) -> Path:
    """An lbwiki-style pages-articles dump (bz2): ~2% redirects, ~2% lists, ~1% disambiguation."""
    rng = random.Random(seed)
    with bz2.open(path, "wt", encoding="utf-8") as f:
        f.write('<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" xml:lang="lb">\n')
        f.write("<siteinfo><sitename>Wikipedia</sitename><dbname>lbwiki</dbname><namespaces>"
                '<namespace key="0" case="first-letter" /><namespace key="14" case="first-letter">Kategorie</namespace>'
                "</namespaces></siteinfo>\n")
        for i in range(n):
            title = f"{rng.choice(PLACES)} {i}"
            r = rng.random()
            if r < 0.02:
                text = f"#VIRULEEDUNG [[{rng.choice(PLACES)}]]"
            elif r < 0.04:
                title = f"Lëscht vun de Gemengen {i}"
                text = "\n".join(f"* [[{p}]]" for p in PLACES) + "\n" + article(rng, 8)
            elif r < 0.05:
                text = "{{Homonymie}}\n" + "\n".join(f"* [[{p} (Uertschaft)]]" for p in PLACES[:4])
            else:
                text = WIKITEXT.format(title=title, place=rng.choice(PLACES), pop=rng.randint(100, 9000),
                                       i=i, body1=article(rng, 8), body2=article(rng, 6))
            f.write(f"<page><title>{escape(title)}</title><ns>0</ns><id>{i + 1}</id><revision><id>{i + 100000}</id>"
                    f"<timestamp>2025-08-01T00:00:00Z</timestamp><text xml:space=\"preserve\">{escape(text)}</text>"
                    "</revision></page>\n")
        f.write("</mediawiki>\n")
    return path
