"""Corpus readers: MediaWiki dumps, RTL-style news, generic JSONL/Parquet -> document rows.

Public API (pipeline.py calls these):

- :func:`read_sources` / :func:`read_source`: lazy ``ray.data.Dataset`` of REJECT_SCHEMA rows;
- :func:`unwrap_ray_error`: the InputError inside a Ray task error;
- :func:`check_doc_ids` / :func:`quarantine_at`: repeated native doc ids, under ``on_bad_input``;
- plain-Python iterators for tests and benchmarks: :func:`iter_wiki_pages` (raw pages),
  :func:`iter_wiki_documents`, :func:`iter_news`, :func:`iter_generic`;
- :func:`wikitext_to_text`, :func:`detect_page_kind`, :class:`WikiPageConverter`.
"""

from luxit_ray.errors import unwrap_ray_error
from luxit_ray.sources.common import INPUT_FILTER, TYPE_FILTER
from luxit_ray.sources.doc_ids import check_doc_ids, quarantine_at, repeated_ids
from luxit_ray.sources.news import iter_generic, iter_news
from luxit_ray.sources.reader import read_source, read_sources
from luxit_ray.sources.wikipedia import (
    RAW_PAGE_SCHEMA,
    WikiPageConverter,
    iter_wiki_documents,
    iter_wiki_pages,
)
from luxit_ray.sources.wikitext import WikitextRenderer, detect_page_kind, wikitext_to_text

__all__ = [
    "INPUT_FILTER",
    "RAW_PAGE_SCHEMA",
    "TYPE_FILTER",
    "WikiPageConverter",
    "WikitextRenderer",
    "check_doc_ids",
    "detect_page_kind",
    "iter_generic",
    "iter_news",
    "iter_wiki_documents",
    "iter_wiki_pages",
    "quarantine_at",
    "read_source",
    "read_sources",
    "repeated_ids",
    "unwrap_ray_error",
    "wikitext_to_text",
]
