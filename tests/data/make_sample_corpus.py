"""Write the bundled sample corpus and the bad-input fixtures (deterministic: same bytes every run).

Run from anywhere: ``.venv/bin/python tests/data/make_sample_corpus.py``. It writes, next to
this file:

- ``lbwiki-sample-pages-articles.xml.bz2``: an lbwiki-format MediaWiki export;
- ``rtl-sample.jsonl``: RTL-style news rows;
- ``generic-sample.jsonl`` and ``generic-sample.parquet``: a corpus with other field names;
- ``bad/``: broken files for the bad-input tests.

README.md in this folder lists every page and row with the fate the pipeline should give it.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sample_news_rows as news  # noqa: E402
import sample_wiki_pages as wiki  # noqa: E402

SITEINFO = """  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>lbwiki</dbname>
    <base>https://lb.wikipedia.org/wiki/Haapts%C3%A4it</base>
    <generator>MediaWiki 1.43.0-wmf.2</generator>
    <case>first-letter</case>
    <namespaces>
      <namespace key="-2" case="first-letter">Media</namespace>
      <namespace key="-1" case="first-letter">Spezial</namespace>
      <namespace key="0" case="first-letter" />
      <namespace key="1" case="first-letter">Diskussioun</namespace>
      <namespace key="2" case="first-letter">Benotzer</namespace>
      <namespace key="3" case="first-letter">Benotzer Diskussioun</namespace>
      <namespace key="4" case="first-letter">Wikipedia</namespace>
      <namespace key="6" case="first-letter">Fichier</namespace>
      <namespace key="8" case="first-letter">MediaWiki</namespace>
      <namespace key="10" case="first-letter">Schabloun</namespace>
      <namespace key="12" case="first-letter">Hëllef</namespace>
      <namespace key="14" case="first-letter">Kategorie</namespace>
      <namespace key="828" case="first-letter">Modul</namespace>
    </namespaces>
  </siteinfo>
"""

HEADER = (
    '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://www.mediawiki.org/xml/export-0.11/ '
    'http://www.mediawiki.org/xml/export-0.11.xsd" version="0.11" xml:lang="lb">\n' + SITEINFO
)
FOOTER = "</mediawiki>\n"


def page_xml(page: dict, index: int) -> str:
    """One ``<page>`` element in the MediaWiki export format."""
    text = page["text"]
    sha1 = hashlib.sha1(text.encode("utf-8")).hexdigest()
    revid = 9_000_000 + page["id"] * 10
    ts = f"2024-{(index % 12) + 1:02d}-{(index % 27) + 1:02d}T{(index * 7) % 24:02d}:{(index * 13) % 60:02d}:00Z"
    redirect = f"    <redirect title={quoteattr(page['redirect'])} />\n" if page.get("redirect") else ""
    return (
        "  <page>\n"
        f"    <title>{escape(page['title'])}</title>\n"
        f"    <ns>{page['ns']}</ns>\n"
        f"    <id>{page['id']}</id>\n"
        f"{redirect}"
        "    <revision>\n"
        f"      <id>{revid}</id>\n"
        f"      <parentid>{revid - 3}</parentid>\n"
        f"      <timestamp>{ts}</timestamp>\n"
        "      <contributor>\n"
        "        <username>Beispill-Benotzer</username>\n"
        "        <id>4242</id>\n"
        "      </contributor>\n"
        "      <comment>Text verbessert</comment>\n"
        "      <model>wikitext</model>\n"
        "      <format>text/x-wiki</format>\n"
        f'      <text bytes="{len(text.encode("utf-8"))}" sha1="{sha1}" xml:space="preserve">{escape(text)}</text>\n'
        f"      <sha1>{sha1}</sha1>\n"
        "    </revision>\n"
        "  </page>\n"
    )


def dump_chunks(pages: list[dict], per_stream: int) -> list[str]:
    """The dump's XML split into chunks of ``per_stream`` pages (one bz2 stream each)."""
    xml_pages = [page_xml(p, i) for i, p in enumerate(pages)]
    chunks = []
    for start in range(0, len(xml_pages), per_stream):
        chunks.append("".join(xml_pages[start : start + per_stream]))
    chunks[0] = HEADER + chunks[0]
    chunks[-1] = chunks[-1] + FOOTER
    return chunks


def multistream(chunks: list[str]) -> tuple[bytes, list[int]]:
    """Concatenated bz2 streams (like Wikimedia's multistream dumps) and each stream's start offset."""
    out, starts = b"", []
    for chunk in chunks:
        starts.append(len(out))
        out += bz2.compress(chunk.encode("utf-8"), compresslevel=9)
    return out, starts


def write_wiki(out: Path) -> None:
    """The sample dump (one bz2 stream) and the broken dumps under bad/."""
    full = "".join(dump_chunks(wiki.PAGES, len(wiki.PAGES)))
    (out / "lbwiki-sample-pages-articles.xml.bz2").write_bytes(bz2.compress(full.encode("utf-8"), 9))

    # Four streams of 8 pages; cut in the middle of the third: the first 16 pages decode.
    data, starts = multistream(dump_chunks(wiki.PAGES, 8))
    cut = starts[2] + (starts[3] - starts[2]) // 2
    (out / "bad" / "lbwiki-truncated.xml.bz2").write_bytes(data[:cut])

    # Same four streams, with bytes in the middle of the third stream overwritten.
    mid = starts[2] + (starts[3] - starts[2]) // 2
    corrupt = data[:mid] + b"\x00" * 64 + data[mid + 64 :]
    (out / "bad" / "lbwiki-corrupt.xml.bz2").write_bytes(corrupt)

    # Valid bz2, invalid XML: the second page's <title> is never closed.
    pages = [page_xml(wiki.PAGES[i], i) for i in (0, 1, 2)]
    pages[1] = pages[1].replace("</title>", "", 1)
    broken = HEADER + "".join(pages) + FOOTER
    (out / "bad" / "lbwiki-broken-xml.xml.bz2").write_bytes(bz2.compress(broken.encode("utf-8"), 9))


def news_date(i: int) -> str:
    """A deterministic RTL-style public_date ("YYYY-MM-DD HH:MM:SS")."""
    return f"2023-{(i % 12) + 1:02d}-{(i * 5) % 28 + 1:02d} {(6 + i) % 24:02d}:{(i * 17) % 60:02d}:{(i * 31) % 60:02d}"


def news_rows() -> list[dict]:
    """Every row of rtl-sample.jsonl, in file order (README.md numbers them from line 1)."""
    rows: list[dict] = []

    def add(category: str, cat_id: int, title: str, header: str, text: str, tags: list[str],
            kind: str = "news", lang: str = "lb") -> None:
        i = len(rows)
        rows.append({
            "category_name": category,
            "category_id": cat_id,
            "article_id": 2_100_001 + i,
            "type": kind,
            "public_date": news_date(i),
            "title": title,
            "header": header,
            "text": text,
            "tags": tags,
            "text_id": 5_000_100 + i,
            "lang_id": lang,
        })

    def body(text: str, lines: list[str]) -> str:
        return text + "".join(f"\n\n{line}" for line in lines)

    for cat, cat_id, title, header, text, tags, boiler in news.ARTICLES:
        add(cat, cat_id, title, header, body(text, boiler), tags)

    cat, cat_id, title, header, text, tags, boiler = news.ARTICLES[news.NEAR_DUP_OF]
    for old, new in news.NEAR_DUP_EDITS:
        assert old in text, old
        text = text.replace(old, new)
    add(cat, cat_id, title + " (aktualiséiert)", header, body(text, boiler), tags)

    cat, cat_id, title, header, text, tags, boiler = news.ARTICLES[news.EXACT_DUP_OF]
    add(cat, cat_id, title, header, body(text, boiler), tags)

    for title, header, text in news.GERMAN:
        add("International", 6, title, header, text, ["Luxemburg"], lang="de")
    for title, header, text in news.FRENCH:
        add("International", 7, title, header, text, ["Luxembourg"], lang="fr")
    for title, header, text in news.SHORT:
        add("Lëtzebuerg", 1, title, header, text, ["Kuerz"])
    for cat, cat_id, title, header, text in news.NONPROSE:
        add(cat, cat_id, title, header, text, ["Iwwerbléck"])
    for text in news.COMMENTS:
        add("Lëtzebuerg", 1, "", "", text, [], kind="comment")
    return rows


def write_news(out: Path) -> None:
    """rtl-sample.jsonl and the bad news fixtures."""
    rows = news_rows()
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    (out / "rtl-sample.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")

    good = rows[:2]
    base = {k: v for k, v in rows[2].items()}
    bad_lines: list[bytes] = [
        json.dumps(good[0], ensure_ascii=False).encode("utf-8"),                          # 1 ok
        json.dumps(good[1], ensure_ascii=False).replace(', "type":', ' "type":', 1).encode("utf-8"),  # 2 malformed
        json.dumps({k: v for k, v in base.items() if k != "text"}, ensure_ascii=False).encode(),  # 3 no text
        json.dumps({**base, "article_id": 2_199_004, "text": 42}).encode("utf-8"),      # 4 number
        json.dumps({**base, "article_id": 2_199_005, "title": "Invalid \x00"}, ensure_ascii=False)
        .encode("utf-8").replace(b"Invalid \\u0000", b"Invalid \xff\xfe"),              # 5 bad UTF-8
        json.dumps({**base, "article_id": 2_199_006, "text": "   "}, ensure_ascii=False).encode(),  # 6 empty
        json.dumps([1, 2, 3]).encode(),                                                   # 7 not an object
        json.dumps({**rows[3]}, ensure_ascii=False).encode("utf-8"),                      # 8 ok
    ]
    (out / "bad" / "rtl-bad.jsonl").write_bytes(b"\n".join(bad_lines) + b"\n")

    array = [rows[0], {k: v for k, v in rows[1].items() if k != "text"}, {**rows[3], "text": ["a", "b"]}]
    (out / "bad" / "rtl-bad-array.json").write_text(json.dumps(array, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "bad" / "rtl-malformed-array.json").write_text(
        json.dumps(rows[:2], ensure_ascii=False, indent=1)[:-30], encoding="utf-8"
    )


GENERIC_JSONL = [
    {
        "uid": "lit-0001",
        "headline": "De Gaart vun der Bomi",
        "body": (
            "All Summer si mir bei d'Bomi an d'Éislek gefuer. Hiert Haus stoung um Enn vum Duerf, do wou d'Strooss an e Feldwee iwwergeet, an hannert dem Haus louch e Gaart, dee fir eis Kanner esou grouss war wéi eng ganz Welt.\n\n"
            "Moies fréi, wann nach den Dau op dem Gras louch, ass d'Bomi mat hirem Kuerf erausgaang, fir Bounen, Zalot a Muerten ze plécken. Mir sinn hannendru gelaf a sollten hir hëllefen, mä meeschtens hu mir méi Äerdbieren giess, wéi mir an de Kuerf geluecht hunn. Si huet eis ni dofir geschannt.\n\n"
            "Owes souz si op der Bänk virun der Dier an huet eis Geschichte vu fréier verzielt: vum Krich, vum Wanter, wou de Schnéi bis un d'Fënstere stoung, a vun hirem Papp, deen all Dag zu Fouss bei d'Schifermin goung. Mir hunn nogelauschtert, bis et donkel gouf an d'Mamm eis an d'Bett geruff huet.\n\n"
            "Haut ass d'Haus verkaf, an am Gaart stinn nei Garagen. Mä all Kéier, wann ech frësch Bounen richen, sinn ech nees do."
        ),
        "published": "2019-05-04",
        "link": "https://example.lu/literatur/gaart",
        "author": "Anonym",
    },
    {
        "uid": "chd-2023-0417",
        "headline": "Chamberdebatt iwwer d'Klimagesetz",
        "body": (
            "Här President, dir Dammen an Hären Deputéiert, mir diskutéieren haut e Gesetz, dat fir d'Zukunft vun eise Kanner wichteg ass. D'Klimaännerung ass keng Fro méi vu muer: mir gesinn hir Folgen all Joer, mat Dréchent, Héichwaasser a Stierm, déi eis Bauere, eis Gemengen an eis Betriber vill Suen kaschten.\n\n"
            "Dëse Gesetzprojet setzt kloer Ziler fir all Secteur fest: fir den Transport, fir d'Gebaier, fir d'Landwirtschaft an fir d'Industrie. All Joer muss d'Regierung der Chamber e Bericht virleeën, an deem si weist, wou mir stinn a wat nach muss gemaach ginn. Dat ass eng Fro vun Transparenz a vu Responsabilitéit.\n\n"
            "Ech weess, datt vill Leit sech Suerge maachen, datt dës Mesuren hinnen ze vill kaschten. Dofir gesäit d'Gesetz och Hëllefe fir d'Stéit vir, déi net vill verdéngen, fir datt si hiert Haus isoléiere kënnen oder eng nei Heizung kréien. Keen dierf op der Strooss bleiwen.\n\n"
            "Meng Fraktioun wäert dem Projet zoustëmmen, an ech fuerderen all d'Kolleegen op, dat och ze maachen. Ech soen Iech Merci fir Är Opmierksamkeet."
        ),
        "published": "2023-04-17",
        "link": "https://example.lu/chamber/2023-0417",
        "author": "Deputéierten",
    },
    {
        "uid": "lit-0002",
        "headline": "Kuerz Notiz",
        "body": "E kuerze Rapport vun der Sëtzung vum Gemengerot, deen net méi wéi e puer Sätz laang ass.",
        "published": "2021-11-02",
        "link": "https://example.lu/notiz",
        "author": "Anonym",
    },
]

GENERIC_PARQUET = [
    {
        "uid": "pq-0001",
        "headline": "Eng Rees mam Zuch an den Norden",
        "body": (
            "De Zuch verléisst d'Gare vun der Stad Lëtzebuerg all hallef Stonn Richtung Norden. Ee vun de schéinsten Trajete vum Land féiert vun der Haaptstad laanscht d'Uelzecht bis op Ettelbréck an dann duerch d'Dall vun der Sauer a vun der Clierf bis op Tréischbaach un der belscher Grenz.\n\n"
            "Hannert Miersch gëtt d'Landschaft ëmmer méi gréng, an d'Bierger kommen ëmmer méi no un d'Schinnen. Bei Kautebaach fiert den Zuch duerch e laangen Tunnel, an duerno gesäit een op der lénker Säit d'Ruine vu Bourscheid uewen um Fiels.\n\n"
            "Vill Leit notzen dës Linn all Dag fir op d'Aarbecht oder an d'Schoul. De Weekend sëtzen awer och vill Wanderer am Zuch, déi an engem vun de klengen Dierfer ausklammen a vun do aus op engem vun de markéierte Weeër duerch d'Bëscher vum Éislek ginn.\n\n"
            "Wien d'Zäit huet, sollt op d'mannst eemol déi ganz Streck bis op Tréischbaach fueren an d'Landschaft duerch d'Fënster genéissen."
        ),
        "published": "2022-08-19",
        "link": "https://example.lu/reesen/zuch",
        "author": "Redaktioun",
    },
    {
        "uid": "pq-0002",
        "headline": "Kuerz Meldung",
        "body": "D'Bibliothéik vun der Gemeng bleift e Samschdeg zou.",
        "published": "2022-09-01",
        "link": "https://example.lu/meldung",
        "author": "Redaktioun",
    },
]


def write_generic(out: Path) -> None:
    """The generic corpus (JSONL + Parquet) and its bad variants."""
    (out / "generic-sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in GENERIC_JSONL), encoding="utf-8"
    )
    pq.write_table(pa.Table.from_pylist(GENERIC_PARQUET), out / "generic-sample.parquet", compression="zstd")

    bad = [
        GENERIC_JSONL[0],
        {k: v for k, v in GENERIC_JSONL[1].items() if k != "body"},
        {**GENERIC_JSONL[2], "body": ["net", "en", "Text"]},
    ]
    (out / "bad" / "generic-bad.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bad), encoding="utf-8"
    )
    table = pa.table({
        "uid": ["pq-b1", "pq-b2", "pq-b3"],
        "headline": ["Gutt", "Keen Text", "Eidel"],
        "body": [GENERIC_PARQUET[0]["body"], None, ""],
        "published": ["2022-08-19", "2022-08-20", "2022-08-21"],
    })
    pq.write_table(table, out / "bad" / "generic-bad.parquet", compression="zstd")


def main() -> None:
    """Write every file; the output is identical on every run."""
    (HERE / "bad").mkdir(exist_ok=True)
    write_wiki(HERE)
    write_news(HERE)
    write_generic(HERE)


if __name__ == "__main__":
    main()
