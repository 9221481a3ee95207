"""The sources on a real local Ray: custom Datasource read tasks + wikitext map_batches."""

from __future__ import annotations

from collections import Counter

import pytest

from luxit_ray import schema
from luxit_ray.config.prepare import GenericSourceConfig, NewsSourceConfig, WikipediaSourceConfig
from luxit_ray.errors import InputError
from luxit_ray.sources import iter_wiki_documents, read_source, read_sources, unwrap_ray_error


def test_read_sources_unions_every_source(ray_local, data_dir):
    wiki = WikipediaSourceConfig(name="lbwiki", path=str(data_dir / "lbwiki-sample-pages-articles.xml.bz2"))
    news = NewsSourceConfig(name="rtl", path=str(data_dir / "rtl-sample.jsonl"))
    gen = GenericSourceConfig(name="gen", path=str(data_dir / "generic-sample.*"),
                              columns={"id": "uid", "title": "headline", "text": "body"})
    # Small blocks so the wiki read task yields several blocks through map_batches.
    ds = read_sources([wiki, news, gen], on_bad_input="fail", block_rows=8)
    rows = ds.take_all()
    assert len(rows) == 31 + 39 + 5
    assert ds.schema().names == schema.REJECT_SCHEMA.names
    counts = Counter((r[schema.SOURCE], r[schema.DROP_FILTER]) for r in rows)
    assert counts == {("lbwiki", None): 22, ("lbwiki", "redirect"): 4, ("lbwiki", "namespace"): 5,
                      ("rtl", None): 34, ("rtl", "type"): 5, ("gen", None): 5}
    wiki_rows = sorted((r for r in rows if r[schema.SOURCE] == "lbwiki"), key=lambda r: int(r[schema.DOC_ID][7:]))
    plain = list(iter_wiki_documents(wiki.path, wiki, "fail"))
    assert wiki_rows == plain  # Ray and plain Python give the same rows


def test_fail_mode_error_surfaces_as_input_error(ray_local, data_dir):
    cfg = WikipediaSourceConfig(name="lbwiki", path=str(data_dir / "bad" / "lbwiki-broken-xml.xml.bz2"))
    with pytest.raises(Exception) as info:
        read_source(cfg, "fail").materialize()
    err = unwrap_ray_error(info.value)
    assert type(err).__module__.startswith("luxit_ray")
    assert isinstance(err, InputError)
    assert str(err) == (
        f"{cfg.path}:line 119, column 4: malformed XML (mismatched tag); last complete page 'Ettelbréck'"
    )


def test_quarantine_mode_through_ray(ray_local, data_dir):
    cfg = NewsSourceConfig(name="rtl", path=str(data_dir / "bad" / "rtl-bad.jsonl"))
    rows = read_source(cfg, "quarantine").take_all()
    assert Counter(r[schema.DROP_FILTER] for r in rows) == {None: 2, "input": 6}


def test_unwrap_ray_error_passes_other_errors_through():
    exc = ValueError("x")
    assert unwrap_ray_error(exc) is exc
    inner = InputError("f.jsonl", "line 3", "bad")
    try:
        try:
            raise inner
        except InputError as e:
            raise RuntimeError("wrapped") from e
    except RuntimeError as outer:
        assert unwrap_ray_error(outer) is inner
