"""Every bad-input case, in both modes: fail raises InputError naming file + position,
quarantine yields one ``drop_filter="input"`` row with the same reason (tests/data/README.md)."""

from __future__ import annotations

import bz2
import json

import pytest

from luxit_ray import schema
from luxit_ray.config.prepare import GenericSourceConfig, NewsSourceConfig, WikipediaSourceConfig
from luxit_ray.errors import InputError
from luxit_ray.sources import iter_generic, iter_news, iter_wiki_documents, iter_wiki_pages

LAST = "last complete page 'Lëscht vu Buergen a Schlässer zu Lëtzebuerg'"
FIRST_16 = [101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 201, 202, 301, 302]
MAPPING = {"id": "uid", "title": "headline", "text": "body", "date": "published"}


def wiki(path) -> WikipediaSourceConfig:
    return WikipediaSourceConfig(name="lbwiki", path=str(path))


def news(path) -> NewsSourceConfig:
    return NewsSourceConfig(name="rtl", path=str(path))


def generic(path) -> GenericSourceConfig:
    return GenericSourceConfig(name="gen", path=str(path), columns=MAPPING)


def fail_message(fn, cfg) -> str:
    with pytest.raises(InputError) as info:
        list(fn(cfg.path, cfg, "fail"))
    err = info.value
    assert str(err) == f"{err.path}:{err.where}: {err.reason}"
    assert err.path == cfg.path
    return f"{err.where}: {err.reason}"


def bad_rows(rows) -> list[str]:
    return [r[schema.DROP_REASON] for r in rows if r[schema.DROP_FILTER] == "input"]


# --- MediaWiki dumps ---------------------------------------------------------------------


WIKI_CASES = [
    (
        "lbwiki-truncated.xml.bz2",
        "byte 14082: truncated compressed file (Compressed file ended before the end-of-stream "
        f"marker was reached); {LAST}",
        FIRST_16,
    ),
    (
        "lbwiki-corrupt.xml.bz2",
        f"line 647, column 0: XML ends early (no element found): truncated or corrupt file; {LAST}",
        FIRST_16,
    ),
    (
        "lbwiki-broken-xml.xml.bz2",
        "line 119, column 4: malformed XML (mismatched tag); last complete page 'Ettelbréck'",
        [101],
    ),
]


@pytest.mark.parametrize(("name", "message", "kept"), WIKI_CASES)
def test_broken_dump_fails_with_file_and_position(data_dir, name, message, kept):
    assert fail_message(iter_wiki_pages, wiki(data_dir / "bad" / name)) == message


@pytest.mark.parametrize(("name", "message", "kept"), WIKI_CASES)
def test_broken_dump_quarantine_keeps_pages_before_the_break(data_dir, name, message, kept):
    cfg = wiki(data_dir / "bad" / name)
    rows = list(iter_wiki_documents(cfg.path, cfg, "quarantine"))
    good = [r for r in rows if r[schema.DROP_FILTER] is None]
    assert [int(r[schema.DOC_ID].split(":")[1]) for r in good] == kept
    assert bad_rows(rows) == [f"{name}:{message}"]
    last = rows[-1]
    assert last[schema.TEXT] is None and last[schema.SOURCE] == "lbwiki"
    assert last[schema.DOC_ID] == f"lbwiki:input:{name}:{message.split(':')[0]}"
    assert last[schema.ORIGIN] == f"{name}:{message.split(':')[0]}"


def test_truncated_plain_xml(tmp_path, data_dir):
    xml = bz2.decompress((data_dir / "lbwiki-sample-pages-articles.xml.bz2").read_bytes())
    cut = xml.index(b"<title>Uelzecht</title>")
    (tmp_path / "cut.xml").write_bytes(xml[:cut])
    cfg = wiki(tmp_path / "cut.xml")
    msg = fail_message(iter_wiki_pages, cfg)
    assert msg == "line 81, column 4: XML ends early (no element found): truncated or corrupt file; last complete page 'Ettelbréck'"
    rows = list(iter_wiki_documents(cfg.path, cfg, "quarantine"))
    assert [r[schema.DOC_ID] for r in rows][:1] == ["lbwiki:101"] and len(rows) == 2


def test_page_with_empty_text_is_bad_input(tmp_path, data_dir):
    xml = bz2.decompress((data_dir / "lbwiki-sample-pages-articles.xml.bz2").read_bytes()).decode("utf-8")
    start = xml.index('xml:space="preserve">', xml.index("<title>Uelzecht</title>")) + len('xml:space="preserve">')
    end = xml.index("</text>", start)
    (tmp_path / "empty.xml").write_text(xml[:start] + "  " + xml[end:], encoding="utf-8")
    cfg = wiki(tmp_path / "empty.xml")
    assert fail_message(iter_wiki_pages, cfg) == "page 'Uelzecht': empty text"
    rows = list(iter_wiki_documents(cfg.path, cfg, "quarantine"))
    assert len(rows) == 31  # 22 in ns 0, 4 redirects, 5 in other namespaces
    (bad,) = [r for r in rows if r[schema.DROP_FILTER] == "input"]
    assert bad[schema.DOC_ID] == "lbwiki:102" and bad[schema.TITLE] == "Uelzecht"
    assert bad[schema.DROP_REASON] == "empty.xml:page 'Uelzecht': empty text"


def test_missing_file_is_an_input_error(tmp_path):
    cfg = wiki(tmp_path / "nope-*.xml.bz2")
    with pytest.raises(InputError, match=r"nope-\*\.xml\.bz2: no such file"):
        list(iter_wiki_pages(cfg.path, cfg, "quarantine"))


# --- news JSON lines / arrays ------------------------------------------------------------------

RTL_BAD = [
    "rtl-bad.jsonl:line 2: malformed JSON (Expecting ',' delimiter at column 73)",
    "rtl-bad.jsonl:line 3: missing field 'text'",
    "rtl-bad.jsonl:line 4: field 'text' must be a string, got a number",
    "rtl-bad.jsonl:line 5: invalid UTF-8 (invalid start byte at byte 146 of the line)",
    "rtl-bad.jsonl:line 6: empty text (field 'text')",
    "rtl-bad.jsonl:line 7: expected a JSON object, got a list",
]


def test_news_jsonl_fails_at_the_first_bad_line(data_dir):
    cfg = news(data_dir / "bad" / "rtl-bad.jsonl")
    assert fail_message(iter_news, cfg) == "line 2: malformed JSON (Expecting ',' delimiter at column 73)"


@pytest.mark.parametrize("line", [3, 4, 5, 6, 7])
def test_news_jsonl_each_bad_line_fails_alone(tmp_path, data_dir, line):
    raw = (data_dir / "bad" / "rtl-bad.jsonl").read_bytes().split(b"\n")
    (tmp_path / "one.jsonl").write_bytes(raw[0] + b"\n" + raw[line - 1] + b"\n")
    expected = RTL_BAD[line - 2].split(":", 1)[1].replace(f"line {line}", "line 2")
    assert fail_message(iter_news, news(tmp_path / "one.jsonl")) == expected


def test_news_jsonl_quarantine_keeps_good_lines_and_recovers_fields(data_dir):
    cfg = news(data_dir / "bad" / "rtl-bad.jsonl")
    rows = list(iter_news(cfg.path, cfg, "quarantine"))
    assert len(rows) == 8
    assert [r[schema.DOC_ID] for r in rows if r[schema.DROP_FILTER] is None] == ["rtl:2100001", "rtl:2100004"]
    assert bad_rows(rows) == RTL_BAD
    by_line = {r[schema.ORIGIN]: r for r in rows}
    assert by_line["rtl-bad.jsonl:line 2"][schema.DOC_ID] == "rtl:input:rtl-bad.jsonl:line 2"
    assert by_line["rtl-bad.jsonl:line 3"][schema.DOC_ID] == "rtl:2100003"
    assert by_line["rtl-bad.jsonl:line 3"][schema.TITLE] == "Staarke Wand a Reen: Bamm op der Strooss bei Miersch"
    assert by_line["rtl-bad.jsonl:line 4"][schema.TEXT] is None
    recovered = by_line["rtl-bad.jsonl:line 5"]
    assert recovered[schema.TITLE] == "Invalid \ufffd\ufffd"
    assert recovered[schema.TEXT].startswith("De Stuerm, deen an der Nuecht op en Donneschdeg")
    assert by_line["rtl-bad.jsonl:line 6"][schema.TEXT] == ""
    assert by_line["rtl-bad.jsonl:line 7"][schema.METADATA] is None


def test_news_json_array_items(data_dir):
    cfg = news(data_dir / "bad" / "rtl-bad-array.json")
    assert fail_message(iter_news, cfg) == "item 2 (line 19): missing field 'text'"
    rows = list(iter_news(cfg.path, cfg, "quarantine"))
    assert rows[0][schema.DROP_FILTER] is None
    assert bad_rows(rows) == [
        "rtl-bad-array.json:item 2 (line 19): missing field 'text'",
        "rtl-bad-array.json:item 3 (line 35): field 'text' must be a string, got a list",
    ]


def test_news_malformed_json_array(data_dir):
    cfg = news(data_dir / "bad" / "rtl-malformed-array.json")
    assert fail_message(iter_news, cfg) == "item 2 (line 19): malformed JSON (Expecting ',' delimiter)"
    rows = list(iter_news(cfg.path, cfg, "quarantine"))
    assert [r[schema.DOC_ID] for r in rows] == ["rtl:2100001", "rtl:input:rtl-malformed-array.json:item 2 (line 19)"]


def test_news_json_array_invalid_utf8_and_wrong_top_level(tmp_path):
    (tmp_path / "utf.json").write_bytes(b'[{"text": "ok", "article_id": 1},\n {"text": "b\xe9se"}]')
    cfg = news(tmp_path / "utf.json")
    assert fail_message(iter_news, cfg) == "byte 46: invalid UTF-8 (invalid continuation byte at byte 46)"
    rows = list(iter_news(cfg.path, cfg, "quarantine"))
    assert [r[schema.DROP_FILTER] for r in rows] == [None, "input"]
    (tmp_path / "obj.json").write_text(json.dumps({"articles": []}), encoding="utf-8")
    # A .json file that starts with "{" is read as JSON lines: one object without text.
    assert fail_message(iter_news, news(tmp_path / "obj.json")) == "line 1: missing field 'text'"


def test_truncated_compressed_jsonl(tmp_path, data_dir):
    data = bz2.compress((data_dir / "rtl-sample.jsonl").read_bytes())
    (tmp_path / "rtl.jsonl.bz2").write_bytes(data[: len(data) // 2])
    cfg = news(tmp_path / "rtl.jsonl.bz2")
    assert fail_message(iter_news, cfg) == (
        "line 1: truncated compressed file (Compressed file ended before the end-of-stream marker was reached)"
    )
    rows = list(iter_news(cfg.path, cfg, "quarantine"))
    assert len(rows) == 1 and rows[0][schema.DROP_FILTER] == "input"


def test_blank_lines_are_not_records(tmp_path):
    (tmp_path / "b.jsonl").write_text('\n{"text": "Eng Noriicht.", "article_id": 7}\n\n  \n', encoding="utf-8")
    rows = list(iter_news(str(tmp_path / "b.jsonl"), news(tmp_path / "b.jsonl"), "fail"))
    assert [(r[schema.DOC_ID], r[schema.ORIGIN]) for r in rows] == [("rtl:7", "b.jsonl:line 2")]


# --- generic ------------------------------------------------------------------------------------


def test_generic_jsonl_bad_rows(data_dir):
    cfg = generic(data_dir / "bad" / "generic-bad.jsonl")
    assert fail_message(iter_generic, cfg) == "line 2: missing field 'body'"
    rows = list(iter_generic(cfg.path, cfg, "quarantine"))
    assert bad_rows(rows) == [
        "generic-bad.jsonl:line 2: missing field 'body'",
        "generic-bad.jsonl:line 3: field 'body' must be a string, got a list",
    ]
    assert [r[schema.DOC_ID] for r in rows] == ["gen:lit-0001", "gen:chd-2023-0417", "gen:lit-0002"]


def test_generic_parquet_bad_rows(data_dir):
    cfg = generic(data_dir / "bad" / "generic-bad.parquet")
    assert fail_message(iter_generic, cfg) == "row 2: field 'body' is null"
    rows = list(iter_generic(cfg.path, cfg, "quarantine"))
    assert bad_rows(rows) == [
        "generic-bad.parquet:row 2: field 'body' is null",
        "generic-bad.parquet:row 3: empty text (field 'body')",
    ]
    assert rows[1][schema.TITLE] == "Keen Text"


def test_generic_unreadable_parquet(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    cfg = generic(tmp_path / "x.parquet")
    msg = fail_message(iter_generic, cfg)
    assert msg.startswith("row 1: unreadable Parquet (")
    rows = list(iter_generic(cfg.path, cfg, "quarantine"))
    assert len(rows) == 1 and rows[0][schema.DROP_REASON].startswith("x.parquet:row 1: unreadable Parquet")
