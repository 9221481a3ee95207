"""MediaWiki XML dumps (``*-pages-articles.xml[.bz2]``) -> raw pages -> document rows.

Reading is split in two so it scales on Ray: :func:`iter_wiki_pages` streams raw pages out of
the (sequential) bz2/XML file in constant memory; redirects and pages outside the configured
namespaces come out without their text, marked to be skipped (so every page read is counted:
``drop_filter`` ``redirect``, or ``namespace`` with the reason ``namespace 10 (Schabloun)``);
:class:`WikiPageConverter` turns a batch of raw pages into plain-text
document rows and runs in ``map_batches`` on every CPU, because parsing wikitext is the costly
part.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import quote
from xml.parsers import expat

import pyarrow as pa

from luxit_ray import schema
from luxit_ray.config.prepare import WikipediaSourceConfig
from luxit_ray.sources.common import (
    DECOMPRESS_ERRORS,
    INPUT_FILTER,
    NAMESPACE_FILTER,
    REDIRECT_FILTER,
    BadInput,
    decompress_reason,
    document_row,
    expand_paths,
    open_binary,
)
from luxit_ray.sources.wikitext import WikitextRenderer

log = logging.getLogger(__name__)

WIKI_SOURCE_TYPE = "wikipedia"
READ_CHUNK = 1 << 16  # bytes of decompressed XML fed to the parser at a time

# Raw page columns (one row per page, before wikitext conversion).
PAGE_ID = "page_id"
PAGE_NS = "ns"
PAGE_TITLE = "title"
PAGE_REVID = "revid"
PAGE_TIMESTAMP = "timestamp"
PAGE_WIKITEXT = "wikitext"
PAGE_ORIGIN = "origin"
PAGE_BAD_INPUT = "bad_input"  # null, or the quarantine reason ("<file>:<where>: <reason>")
PAGE_SKIP_FILTER = "skip_filter"  # null, or why the reader skips the page (redirect, namespace)
PAGE_SKIP_REASON = "skip_reason"  # "redirect to Uelzecht", "namespace 10 (Schabloun)"

RAW_PAGE_SCHEMA = pa.schema(
    [
        pa.field(PAGE_ID, pa.int64()),
        pa.field(PAGE_NS, pa.int64()),
        pa.field(PAGE_TITLE, pa.string()),
        pa.field(PAGE_REVID, pa.int64()),
        pa.field(PAGE_TIMESTAMP, pa.string()),
        pa.field(PAGE_WIKITEXT, pa.string()),
        pa.field(PAGE_ORIGIN, pa.string()),
        pa.field(PAGE_BAD_INPUT, pa.string()),
        pa.field(PAGE_SKIP_FILTER, pa.string()),
        pa.field(PAGE_SKIP_REASON, pa.string()),
    ]
)


def _local(tag: str) -> str:
    """Tag name without the export namespace (``{http://www.mediawiki.org/xml/export-0.11/}page``)."""
    return tag.rsplit("}", 1)[-1]


def _child_text(elem: ET.Element, name: str) -> str | None:
    for child in elem:
        if _local(child.tag) == name:
            return child.text or ""
    return None


def _as_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _DumpStats:
    """Per-file counts, logged at the end (skipped pages are expected, not bad input)."""

    def __init__(self) -> None:
        self.pages = 0
        self.kept = 0
        self.redirects = 0
        self.other_ns = 0


def iter_wiki_pages(
    path: str, cfg: WikipediaSourceConfig, on_bad_input: str = "fail"
) -> Iterator[dict[str, Any]]:
    """Raw pages (RAW_PAGE_SCHEMA dicts) of one dump file or glob, streamed.

    Every page is yielded. Redirects and pages outside ``cfg.namespaces`` carry
    ``skip_filter``/``skip_reason`` and no wikitext (the converter turns them into dropped rows,
    so they are counted, never parsed). In quarantine mode a
    bad page, or a break in the file (truncated/corrupt bz2, malformed XML), is yielded as a
    page whose ``bad_input`` holds the reason; the pages read before a break are kept.

    Raises:
        InputError: fail mode, at the first bad page or break.
    """
    for file in expand_paths(path):
        yield from _iter_file(file, cfg, BadInput(file, on_bad_input))


def _iter_file(file: str, cfg: WikipediaSourceConfig, bad: BadInput) -> Iterator[dict[str, Any]]:
    redirect_words = [w.casefold() for w in cfg.kinds.redirect_words]
    namespaces = set(cfg.namespaces)
    stats = _DumpStats()
    last_title: str | None = None
    fh: IO[bytes] = open_binary(file)
    parser = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    ns_names: dict[int, str] = {}  # from <siteinfo>: 10 -> "Schabloun"

    def after() -> str:
        return f"; last complete page {last_title!r}" if last_title is not None else "; no complete page before it"

    try:
        while True:
            try:
                chunk = fh.read1(READ_CHUNK)  # read1: data before a break in the stream is not lost
            except DECOMPRESS_ERRORS as exc:
                where = f"byte {_compressed_offset(fh)}"
                yield _bad_page(bad, where, decompress_reason(exc) + after())
                return
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()
                for event, elem in parser.read_events():
                    if event == "start":
                        if root is None:
                            root = elem
                        continue
                    if _local(elem.tag) == "siteinfo":
                        ns_names.update(_namespace_names(elem))
                        continue
                    if _local(elem.tag) != "page":
                        continue
                    stats.pages += 1
                    page = _page_dict(elem, bad, stats.pages)
                    title = page[PAGE_TITLE]
                    if root is not None:
                        root.clear()  # constant memory: drop every finished page
                    if page.get("_redirect") is not None or _is_redirect(page[PAGE_WIKITEXT], redirect_words):
                        stats.redirects += 1
                        yield _skipped(page, REDIRECT_FILTER, _redirect_reason(page))
                    elif page[PAGE_NS] not in namespaces:
                        stats.other_ns += 1
                        ns = page[PAGE_NS]
                        name = ns_names.get(ns)
                        yield _skipped(page, NAMESPACE_FILTER, f"namespace {ns} ({name})" if name else f"namespace {ns}")
                    else:
                        page.pop("_redirect", None)
                        problem = page.pop("_problem", None)
                        if problem:
                            where = f"page {title!r}" if title else f"page {stats.pages}"
                            page[PAGE_BAD_INPUT] = bad(where, problem)
                        stats.kept += 1
                        yield page
                    last_title = title
            except ET.ParseError as exc:
                line, col = exc.position
                if chunk:
                    reason = f"malformed XML ({expat.ErrorString(exc.code)}){after()}"
                else:  # the data ended inside the document
                    reason = f"XML ends early ({expat.ErrorString(exc.code)}): truncated or corrupt file{after()}"
                yield _bad_page(bad, f"line {line}, column {col}", reason)
                return
            if not chunk:
                break
    finally:
        fh.close()
        log.info(
            "%s: %d pages, %d kept, %d redirects and %d other-namespace pages skipped, %d quarantined",
            file, stats.pages, stats.kept, stats.redirects, stats.other_ns, bad.count,
        )


def _namespace_names(siteinfo: ET.Element) -> dict[int, str]:
    """Namespace number -> local name, from ``<siteinfo><namespaces>`` (the main one: "main")."""
    out: dict[int, str] = {}
    for child in siteinfo:
        if _local(child.tag) != "namespaces":
            continue
        for ns in child:
            key = _as_int(ns.get("key"))
            if key is not None:
                out[key] = (ns.text or "").strip() or "main"
    return out


_LINK_TARGET = re.compile(r"\[\[([^\]|#]*)")


def _redirect_reason(page: dict[str, Any]) -> str:
    """``redirect to <target>`` (from ``<redirect title>`` or the first link), or ``redirect``."""
    target = page.get("_redirect") or ""
    if not target:
        m = _LINK_TARGET.search(page.get(PAGE_WIKITEXT) or "")
        target = m.group(1).strip() if m else ""
    return f"redirect to {target}" if target else "redirect"


def _skipped(page: dict[str, Any], skip_filter: str, reason: str) -> dict[str, Any]:
    """The raw page of a skipped page: its fields without the text, marked to be dropped."""
    page.pop("_redirect", None)
    page.pop("_problem", None)
    page[PAGE_WIKITEXT] = None
    page[PAGE_SKIP_FILTER] = skip_filter
    page[PAGE_SKIP_REASON] = reason
    return page


def _compressed_offset(fh: IO[bytes]) -> int:
    """Bytes of the compressed file consumed so far (best effort)."""
    inner = getattr(fh, "_fp", None) or getattr(fh, "fileobj", None)
    try:
        return int(inner.tell()) if inner is not None else int(fh.tell())
    except (OSError, ValueError):
        return -1


def _bad_page(bad: BadInput, where: str, reason: str) -> dict[str, Any]:
    """A raw page that only carries a break in the file (after BadInput allowed it)."""
    return {
        PAGE_ID: None, PAGE_NS: None, PAGE_TITLE: None, PAGE_REVID: None, PAGE_TIMESTAMP: None,
        PAGE_WIKITEXT: None, PAGE_ORIGIN: bad.origin(where), PAGE_BAD_INPUT: bad(where, reason),
        PAGE_SKIP_FILTER: None, PAGE_SKIP_REASON: None,
    }


def _is_redirect(wikitext: str | None, words: list[str]) -> bool:
    if not wikitext:
        return False
    head = wikitext.lstrip()[:64].casefold()
    return any(head.startswith(w) for w in words)


def _page_dict(elem: ET.Element, bad: BadInput, ordinal: int) -> dict[str, Any]:
    """Fields of one ``<page>`` element (the last revision wins in a multi-revision export)."""
    title = _child_text(elem, "title")
    ns = _as_int(_child_text(elem, "ns"))
    page_id = _as_int(_child_text(elem, "id"))
    # None: no <redirect> element; else its title ("" when it has none).
    redirect = next((c.get("title") or "" for c in elem if _local(c.tag) == "redirect"), None)
    revision = None
    for child in elem:
        if _local(child.tag) == "revision":
            revision = child
    revid = _as_int(_child_text(revision, "id")) if revision is not None else None
    timestamp = _child_text(revision, "timestamp") if revision is not None else None
    wikitext = _child_text(revision, "text") if revision is not None else None
    problem = None
    if title is None or not title.strip():
        problem = "page without <title>"
    elif page_id is None:
        problem = "page without a numeric <id>"
    elif ns is None:
        problem = "page without a numeric <ns>"
    elif wikitext is None:
        problem = "page without <revision><text>"
    elif not wikitext.strip():
        problem = "empty text"
    return {
        PAGE_ID: page_id,
        PAGE_NS: ns if ns is not None else 0,
        PAGE_TITLE: title,
        PAGE_REVID: revid,
        PAGE_TIMESTAMP: timestamp,
        PAGE_WIKITEXT: wikitext,
        PAGE_ORIGIN: bad.origin(f"page {ordinal}"),
        PAGE_BAD_INPUT: None,
        PAGE_SKIP_FILTER: None,
        PAGE_SKIP_REASON: None,
        "_redirect": redirect,
        "_problem": problem,
    }


class WikiPageConverter:
    """Raw pages -> document rows: wikitext to plain text and page kind (CPU-heavy).

    Passed to ``map_batches`` as an instance, so it runs as stateless Ray tasks on every CPU.

    Input columns: RAW_PAGE_SCHEMA. Output columns: REJECT_SCHEMA (``page_kind`` set; bad
    pages become ``drop_filter="input"`` rows).

    Args:
        cfg: the Wikipedia source config (name, url_template, kinds).
    """

    def __init__(self, cfg: WikipediaSourceConfig) -> None:
        self.cfg = cfg
        self._renderer: WikitextRenderer | None = None

    @property
    def renderer(self) -> WikitextRenderer:
        if self._renderer is None:
            self._renderer = WikitextRenderer(self.cfg.kinds)
        return self._renderer

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Convert one batch (pyarrow in, pyarrow out with REJECT_SCHEMA)."""
        missing = schema.missing_columns(batch.column_names, RAW_PAGE_SCHEMA.names)
        if missing:
            raise ValueError(f"WikiPageConverter: input batch lacks columns {missing}")
        rows = [self.convert(page) for page in batch.to_pylist()]
        return pa.Table.from_pylist(rows, schema=schema.REJECT_SCHEMA)

    def convert(self, page: dict[str, Any]) -> dict[str, Any]:
        """One raw page -> one document row."""
        cfg = self.cfg
        title = page.get(PAGE_TITLE)
        page_id = page.get(PAGE_ID)
        metadata = {"id": page_id, "revid": page.get(PAGE_REVID), "timestamp": page.get(PAGE_TIMESTAMP),
                    "ns": page.get(PAGE_NS)}
        if page.get(PAGE_SKIP_FILTER):
            return document_row(
                doc_id=f"{cfg.name}:{page_id}", source=cfg.name, source_type=WIKI_SOURCE_TYPE, title=title,
                text=None, date=page.get(PAGE_TIMESTAMP), url=page_url(cfg.url_template, page_id, title),
                metadata=metadata, origin=page.get(PAGE_ORIGIN),
                drop_filter=page[PAGE_SKIP_FILTER], drop_reason=page.get(PAGE_SKIP_REASON),
            )
        if page.get(PAGE_BAD_INPUT):
            where = page[PAGE_ORIGIN]
            doc_id = f"{cfg.name}:{page_id}" if page_id is not None else f"{cfg.name}:{INPUT_FILTER}:{where}"
            return document_row(
                doc_id=doc_id, source=cfg.name, source_type=WIKI_SOURCE_TYPE, title=title, text=None,
                date=page.get(PAGE_TIMESTAMP), metadata=metadata, origin=where,
                drop_filter=INPUT_FILTER, drop_reason=page[PAGE_BAD_INPUT],
            )
        text, kind = self.renderer.convert(title, page[PAGE_WIKITEXT])
        return document_row(
            doc_id=f"{cfg.name}:{page_id}",
            source=cfg.name,
            source_type=WIKI_SOURCE_TYPE,
            title=title,
            text=text,
            date=page.get(PAGE_TIMESTAMP),
            url=page_url(cfg.url_template, page_id, title),
            page_kind=kind,
            metadata=metadata,
            origin=page.get(PAGE_ORIGIN),
        )


def page_url(template: str, page_id: int | None, title: str | None) -> str:
    """``url_template`` with ``{id}`` and ``{title}`` (spaces as underscores, percent-encoded)."""
    encoded = quote((title or "").replace(" ", "_"), safe="()/:,'!")
    return template.format(id=page_id, title=encoded)


def iter_wiki_documents(
    path: str, cfg: WikipediaSourceConfig, on_bad_input: str = "fail"
) -> Iterator[dict[str, Any]]:
    """Document rows of a dump without Ray (reader + converter in one process)."""
    converter = WikiPageConverter(cfg)
    for page in iter_wiki_pages(path, cfg, on_bad_input):
        yield converter.convert(page)
