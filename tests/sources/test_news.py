"""The news and generic readers on the bundled sample files (fates in tests/data/README.md)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from luxit_ray import schema
from luxit_ray.config.prepare import GenericSourceConfig, NewsSourceConfig
from luxit_ray.sources import iter_generic, iter_news

MAPPING = {"id": "uid", "title": "headline", "text": "body", "date": "published", "url": "link"}


@pytest.fixture(scope="module")
def cfg(data_dir):
    return NewsSourceConfig(name="rtl", path=str(data_dir / "rtl-sample.jsonl"))


@pytest.fixture(scope="module")
def rows(cfg):
    return list(iter_news(cfg.path, cfg, "fail"))


def test_every_row_comes_out_and_comments_are_marked(rows):
    assert len(rows) == 39
    assert Counter(r[schema.DROP_FILTER] for r in rows) == {None: 34, "type": 5}
    comments = rows[34:]
    assert {r[schema.DROP_REASON] for r in comments} == {"type=comment excluded"}
    assert [r[schema.DOC_ID] for r in comments] == [f"rtl:{2100035 + i}" for i in range(5)]
    assert comments[2][schema.TEXT] == "Super Match, Bravo un d'Roud Léiwen!"


def test_document_columns_and_header_prepended(rows, data_dir):
    raw = json.loads((data_dir / "rtl-sample.jsonl").read_text(encoding="utf-8").splitlines()[0])
    row = rows[0]
    assert set(row) == set(schema.REJECT_SCHEMA.names)
    assert row[schema.DOC_ID] == "rtl:2100001"
    assert row[schema.SOURCE] == "rtl" and row[schema.SOURCE_TYPE] == "news"
    assert row[schema.TITLE] == "Den Tram fiert ab Dezember bis op de Findel"
    assert row[schema.DATE] == "2023-01-01T06:00:00"
    assert row[schema.TEXT] == raw["header"] + "\n\n" + raw["text"]
    assert row[schema.TEXT].endswith("op d'Luuchte fir den Tram opzepassen.\n\nFoto: RTL Archiv")
    assert row[schema.PAGE_KIND] is None and row[schema.URL] is None
    assert row[schema.ORIGIN] == "rtl-sample.jsonl:line 1"
    meta = json.loads(row[schema.METADATA])
    assert meta == {
        "category_name": "Lëtzebuerg", "category_id": 1, "article_id": 2100001, "type": "news",
        "public_date": "2023-01-01 06:00:00", "tags": ["Tram", "Mobilitéit", "Findel"],
        "text_id": 5000100, "lang_id": "lb",
    }
    assert all(r[schema.DATE][10] == "T" and len(r[schema.DATE]) == 19 for r in rows)


def test_header_can_be_left_out(cfg, data_dir):
    raw = json.loads((data_dir / "rtl-sample.jsonl").read_text(encoding="utf-8").splitlines()[1])
    c = cfg.model_copy(update={"include_header": False})
    rows = list(iter_news(c.path, c, "fail"))
    assert rows[1][schema.TEXT] == raw["text"]


def test_include_types_can_keep_comments(cfg):
    c = cfg.model_copy(update={"include_types": ["news", "comment"]})
    rows = list(iter_news(c.path, c, "fail"))
    assert Counter(r[schema.DROP_FILTER] for r in rows) == {None: 39}


def test_json_array_file_reads_the_same_rows(tmp_path, data_dir, cfg, rows):
    records = [json.loads(line) for line in (data_dir / "rtl-sample.jsonl").read_text(encoding="utf-8").splitlines()]
    (tmp_path / "rtl.json").write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    c = cfg.model_copy(update={"path": str(tmp_path / "rtl.json")})
    got = list(iter_news(c.path, c, "fail"))
    strip = [schema.ORIGIN]
    assert [{k: v for k, v in r.items() if k not in strip} for r in got] == [
        {k: v for k, v in r.items() if k not in strip} for r in rows
    ]
    assert got[1][schema.ORIGIN] == "rtl.json:item 2 (line 19)"


def test_json_array_streams_across_chunks(tmp_path, cfg):
    # Many small items with a tiny chunk size: items and numbers cut at chunk edges still parse.
    from luxit_ray.sources.common import BadInput, iter_json_array

    items = [{"article_id": 10**9 + i, "text": f"Text {i} ë", "n": 1234567} for i in range(300)]
    path = tmp_path / "many.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    got = [item for _, item, problem in iter_json_array(str(path), BadInput(str(path), "fail"), chunk_chars=7)]
    assert got == items


def test_doc_id_falls_back_to_file_and_position(tmp_path, cfg):
    path = tmp_path / "noid.jsonl"
    path.write_text(json.dumps({"type": "news", "title": "T", "text": "Eng Noriicht."}) + "\n", encoding="utf-8")
    c = cfg.model_copy(update={"path": str(path), "include_header": False})
    (row,) = list(iter_news(c.path, c, "fail"))
    assert row[schema.DOC_ID] == "rtl:noid.jsonl:00000001"
    assert row[schema.DATE] is None


NOID = {"type": "news", "title": "Titel", "header": "Virspann.", "public_date": "2024-01-02 10:00:00"}


def test_exact_duplicates_without_ids_get_distinct_stable_ids_within_and_across_files(tmp_path, cfg):
    # Before: both copies got rtl:<sha256(text)[:16]> and dedup stopped the run on the repeat.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    same = {**NOID, "text": "Déi selwecht Noriicht."}
    (tmp_path / "a" / "x.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in (same, {**NOID, "text": "Eng aner."}, same)) + "\n\n",
        encoding="utf-8")
    (tmp_path / "b" / "x.jsonl").write_text(json.dumps(same, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp_path / "b" / "y.json").write_text(json.dumps([same, same], ensure_ascii=False), encoding="utf-8")
    c = cfg.model_copy(update={"path": str(tmp_path / "*" / "*.json*")})
    ids = [r[schema.DOC_ID] for r in iter_news(c.path, c, "fail")]
    # Same base name in two folders: the path below their common folder names the file.
    assert ids == ["rtl:a/x.jsonl:00000001", "rtl:a/x.jsonl:00000002", "rtl:a/x.jsonl:00000003",
                   "rtl:b/x.jsonl:00000001", "rtl:b/y.json:00000001", "rtl:b/y.json:00000002"]
    assert ids == [r[schema.DOC_ID] for r in iter_news(c.path, c, "fail")]  # a rerun: same ids
    one = cfg.model_copy(update={"path": str(tmp_path / "b" / "y.json")})
    assert [r[schema.DOC_ID] for r in iter_news(one.path, one, "fail")] == ["rtl:y.json:00000001", "rtl:y.json:00000002"]


def test_generic_jsonl_and_parquet_mapping(data_dir):
    cfg = GenericSourceConfig(name="corpus", path=str(data_dir / "generic-sample.*"), source_type="literature",
                              columns=MAPPING)
    rows = list(iter_generic(cfg.path, cfg, "fail"))
    assert [r[schema.DOC_ID] for r in rows] == [
        "corpus:lit-0001", "corpus:chd-2023-0417", "corpus:lit-0002", "corpus:pq-0001", "corpus:pq-0002"
    ]
    assert [len(r[schema.TEXT]) for r in rows] == [913, 1024, 88, 890, 52]
    assert {r[schema.SOURCE_TYPE] for r in rows} == {"literature"}
    first, pq_row = rows[0], rows[3]
    assert first[schema.TITLE] == "De Gaart vun der Bomi"
    assert first[schema.DATE] == "2019-05-04"
    assert first[schema.URL] == "https://example.lu/literatur/gaart"
    assert first[schema.ORIGIN] == "generic-sample.jsonl:line 1"
    assert json.loads(first[schema.METADATA]) == {
        "uid": "lit-0001", "published": "2019-05-04", "link": "https://example.lu/literatur/gaart", "author": "Anonym"
    }
    assert pq_row[schema.TITLE] == "Eng Rees mam Zuch an den Norden"
    assert pq_row[schema.ORIGIN] == "generic-sample.parquet:row 1"
    assert all(r[schema.DROP_FILTER] is None for r in rows)


def test_generic_without_id_uses_file_and_row(data_dir):
    cfg = GenericSourceConfig(name="c", path=str(data_dir / "generic-sample.parquet"), columns={"text": "body"})
    rows = list(iter_generic(cfg.path, cfg, "fail"))
    assert [r[schema.DOC_ID] for r in rows] == ["c:generic-sample.parquet:00000001", "c:generic-sample.parquet:00000002"]
    assert rows[1][schema.TITLE] is None and rows[1][schema.DATE] is None
