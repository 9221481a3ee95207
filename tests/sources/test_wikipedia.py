"""The MediaWiki dump reader on the bundled sample dump (fates in tests/data/README.md)."""

from __future__ import annotations

import bz2
import json
from collections import Counter

import pyarrow as pa
import pytest

from luxit_ray import schema
from luxit_ray.config.prepare import WikiKindsConfig, WikipediaSourceConfig
from luxit_ray.sources import (
    RAW_PAGE_SCHEMA,
    WikiPageConverter,
    iter_wiki_documents,
    iter_wiki_pages,
)

ARTICLES = [101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 201, 202]
READ_IDS = ARTICLES + [301, 302, 401, 402, 501, 502, 601, 602]


@pytest.fixture(scope="module")
def cfg(data_dir):
    return WikipediaSourceConfig(name="lbwiki", path=str(data_dir / "lbwiki-sample-pages-articles.xml.bz2"))


@pytest.fixture(scope="module")
def docs(cfg):
    return {d[schema.DOC_ID]: d for d in iter_wiki_documents(cfg.path, cfg, "fail") if d[schema.DROP_FILTER] is None}


def live_pages(c):
    return [p for p in iter_wiki_pages(c.path, c, "fail") if p["skip_filter"] is None]


def test_reader_keeps_main_namespace_pages_and_drops_redirects(cfg):
    pages = live_pages(cfg)
    assert [p["page_id"] for p in pages] == READ_IDS
    titles = {p["title"] for p in pages}
    for redirect in ("Alzette", "Vianden", "Mosel", "Cancoillotte"):
        assert redirect not in titles
    assert not any(":" in t for t in titles)  # Schabloun:, Kategorie:, Modul:, Fichier:
    assert {p["ns"] for p in pages} == {0}
    assert all(p["bad_input"] is None for p in pages)
    assert set(pages[0]) == set(RAW_PAGE_SCHEMA.names)


def test_every_page_read_is_a_row_redirects_and_other_namespaces_dropped_with_reasons(cfg):
    # Before: the 9 skipped pages were only logged, so an 80k-page dump "read" 53,850 documents.
    rows = list(iter_wiki_documents(cfg.path, cfg, "fail"))
    assert len(rows) == 31
    skipped = {r[schema.DOC_ID]: (r[schema.DROP_FILTER], r[schema.DROP_REASON]) for r in rows if r[schema.DROP_FILTER]}
    assert skipped == {
        "lbwiki:701": ("redirect", "redirect to Uelzecht"),
        "lbwiki:702": ("redirect", "redirect to Veianen"),
        "lbwiki:703": ("redirect", "redirect to Musel"),
        "lbwiki:704": ("redirect", "redirect to Kachkéis"),
        "lbwiki:801": ("namespace", "namespace 10 (Schabloun)"),
        "lbwiki:802": ("namespace", "namespace 10 (Schabloun)"),
        "lbwiki:803": ("namespace", "namespace 14 (Kategorie)"),
        "lbwiki:804": ("namespace", "namespace 828 (Modul)"),
        "lbwiki:805": ("namespace", "namespace 6 (Fichier)"),
    }
    skipped_rows = [r for r in rows if r[schema.DROP_FILTER]]
    assert all(r[schema.TEXT] is None and r[schema.PAGE_KIND] is None for r in skipped_rows)
    assert skipped_rows[0][schema.ORIGIN] == "lbwiki-sample-pages-articles.xml.bz2:page 23"


def test_page_kinds_match_the_readme_table(docs):
    kinds = {int(k.split(":")[1]): d[schema.PAGE_KIND] for k, d in docs.items()}
    assert Counter(kinds.values()) == {"article": 16, "list": 2, "disambiguation": 2, "stub": 2}
    assert [i for i, k in kinds.items() if k == "list"] == [301, 302]
    assert [i for i, k in kinds.items() if k == "disambiguation"] == [401, 402]
    assert [i for i, k in kinds.items() if k == "stub"] == [501, 502]


def test_lengths_match_the_readme_table(docs):
    lengths = {int(k.split(":")[1]): len(d[schema.TEXT]) for k, d in docs.items()}
    assert all(lengths[i] >= 1000 for i in ARTICLES)
    assert lengths[301] == 1324 and lengths[302] == 1200
    assert lengths[601] == 263 and lengths[602] == 170
    assert all(lengths[i] < 750 for i in (401, 402, 501, 502))


def test_plain_text_of_a_page_keeps_link_text_and_no_markup(docs):
    text = docs["lbwiki:101"][schema.TEXT]
    assert text.startswith(
        "Ettelbréck ass eng Stad an eng Gemeng am Kanton Dikrech, am Zentrum vum Groussherzogtum "
        "Lëtzebuerg. D'Stad läit do, wou d'Uelzecht an d'Sauer zesummefléissen"
    )
    assert "\n\nGeographie\n\nD'Gemeng besteet aus der Stad" in text
    assert "den amerikanesche Generol George Patton, deem seng" in text
    assert text.endswith("Kuckt och\n\nLëscht vun de Gemengen zu Lëtzebuerg")
    for markup in ("[[", "]]", "{{", "}}", "<ref", "'''", "''", "|}", "{|", "==", "Fichier", "Kategorie",
                   "thumb", "wikitable", "Infobox", "<!--", "1.900"):
        assert markup not in text, markup
    for page in docs.values():
        for markup in ("[[", "{{", "<ref", "'''", "|}", "__"):
            assert markup not in page[schema.TEXT], (page[schema.TITLE], markup)


def test_four_apostrophes_give_an_elided_article(docs):
    assert docs["lbwiki:102"][schema.TEXT].startswith("D'Uelzecht (op Franséisch Alzette) ass e Floss")


def test_document_columns(docs, cfg):
    row = docs["lbwiki:107"]
    assert set(row) == set(schema.REJECT_SCHEMA.names)
    assert row[schema.SOURCE] == "lbwiki"
    assert row[schema.SOURCE_TYPE] == "wikipedia"
    assert row[schema.TITLE] == "Kachkéis"
    assert row[schema.URL] == "https://lb.wikipedia.org/wiki?curid=107"
    assert row[schema.DATE] == "2024-07-07T18:18:00Z"
    assert json.loads(row[schema.METADATA]) == {"id": 107, "revid": 9001070, "timestamp": "2024-07-07T18:18:00Z", "ns": 0}
    assert row[schema.ORIGIN] == "lbwiki-sample-pages-articles.xml.bz2:page 7"
    assert row[schema.DROP_FILTER] is None and row[schema.DROP_REASON] is None


def test_url_template_with_title(cfg):
    c = cfg.model_copy(update={"url_template": "https://lb.wikipedia.org/wiki/{title}"})
    row = next(iter_wiki_documents(c.path, c, "fail"))
    assert row[schema.URL] == "https://lb.wikipedia.org/wiki/Ettelbr%C3%A9ck"


def test_duplicates_are_left_for_the_dedup_filter(docs):
    assert docs["lbwiki:202"][schema.TEXT] == docs["lbwiki:111"][schema.TEXT]
    near, orig = docs["lbwiki:201"][schema.TEXT].split(), docs["lbwiki:107"][schema.TEXT].split()
    assert len(near) == len(orig) and sum(a != b for a, b in zip(near, orig, strict=True)) == 2


def test_other_namespaces_can_be_configured(cfg):
    c = cfg.model_copy(update={"namespaces": [10, 14]})
    titles = [p["title"] for p in live_pages(c)]
    assert titles == ["Schabloun:Infobox Gemeng", "Schabloun:Skizz", "Kategorie:Lëtzebuerger Kiche"]


def test_redirect_words_come_from_config(cfg):
    # Without the redirect words only the <redirect> element marks redirects (701 and 704).
    c = cfg.model_copy(update={"kinds": WikiKindsConfig(redirect_words=[])})
    titles = [p["title"] for p in live_pages(c)]
    assert titles[-2:] == ["Vianden", "Mosel"]
    assert "Alzette" not in titles and "Cancoillotte" not in titles


def test_plain_xml_and_multi_revision_export(tmp_path, data_dir, cfg):
    xml = bz2.decompress((data_dir / "lbwiki-sample-pages-articles.xml.bz2").read_bytes()).decode("utf-8")
    # Give page 101 an older revision before its current one: the last revision wins.
    start = xml.index("<revision>")
    old = "<revision><id>1</id><timestamp>2001-01-01T00:00:00Z</timestamp><text>Al Versioun.</text></revision>\n"
    (tmp_path / "dump.xml").write_text(xml[:start] + old + xml[start:], encoding="utf-8")
    c = cfg.model_copy(update={"path": str(tmp_path / "*.xml")})
    pages = live_pages(c)
    assert [p["page_id"] for p in pages] == READ_IDS
    assert pages[0]["revid"] == 9001010 and pages[0]["wikitext"].startswith("{{Infobox Gemeng")


def test_converter_batch_is_arrow_with_reject_schema(cfg):
    pages = list(iter_wiki_pages(cfg.path, cfg, "fail"))[:3]
    out = WikiPageConverter(cfg)(pa.Table.from_pylist(pages, schema=RAW_PAGE_SCHEMA))
    assert out.schema == schema.REJECT_SCHEMA
    assert out.column(schema.DOC_ID).to_pylist() == ["lbwiki:101", "lbwiki:102", "lbwiki:103"]


def test_converter_names_missing_columns(cfg):
    with pytest.raises(ValueError, match=r"lacks columns \['revid', 'timestamp'"):
        WikiPageConverter(cfg)(pa.table({"page_id": [1], "ns": [0], "title": ["X"]}))
