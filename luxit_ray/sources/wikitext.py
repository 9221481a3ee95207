"""MediaWiki wikitext -> plain text, and page-kind detection, with mwparserfromhell.

The parse tree is walked node by node: templates, references, tables, file and category links,
comments and behaviour switches (``__TOC__``) disappear; link text and the contents of bold,
italic and other inline tags stay; headings become lines of their own; paragraphs are separated
by one blank line. Every language-specific name (namespaces, templates, title prefixes) comes
from :class:`~luxit_ray.config.prepare.WikiKindsConfig`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import mwparserfromhell
from mwparserfromhell.nodes import (
    Argument,
    Comment,
    ExternalLink,
    Heading,
    HTMLEntity,
    Tag,
    Template,
    Text,
    Wikilink,
)
from mwparserfromhell.wikicode import Wikicode

from luxit_ray.config.prepare import WikiKindsConfig

# Tags whose contents are never running text (references, galleries, formulas, tables, ...).
_DROPPED_TAGS = frozenset(
    {
        "ref", "references", "gallery", "math", "chem", "ce", "score", "timeline", "imagemap",
        "graph", "mapframe", "maplink", "templatedata", "templatestyles", "syntaxhighlight",
        "source", "pre", "nowiki", "includeonly", "table", "hiero", "inputbox", "categorytree",
        "poem-ref", "indicator", "section", "style", "script",
    }
)
# Tags that end a line.
_LINE_BREAK_TAGS = frozenset({"br", "hr"})
# Wiki list markers (*, #, ;, :) are self-closing tags; their text follows as plain nodes.
_LIST_TAGS = frozenset({"li", "dt", "dd"})
# An interlanguage link prefix, e.g. [[de:Luxemburg]]: dropped like a category.
_INTERWIKI = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,8})*$")
_BEHAVIOUR_SWITCH = re.compile(r"__[A-ZÀ-Ý_]+?__")
_SPACES = re.compile(r"[ \t\u00a0]+")
_SPACE_BEFORE_PUNCT = re.compile(r" +([.,;:)])")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;]?\s*\)")

# Markup that must never reach the plain text (what `markup_left` looks for).
MARKUP = ("{{", "}}", "[[", "]]", "{|", "|}", "''", "<ref")
# Leftovers of markup the parser took as text because it is broken (an unclosed infobox or
# table, unbalanced bold); removed line by line after rendering.
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_LINK = re.compile(r"\[\[(?:[^\[\]|]*\|)*([^\[\]|]*)\]\]")
_REF = re.compile(r"<ref[^>]*/>|<ref[^>]*>.*?</ref\s*>|<ref[^>]*>.*$", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
_QUOTES = re.compile(r"'{2,}")
_ROW_START = ("|", "!", "{|")


@dataclass
class _Analysis:
    """What one walk over a page finds."""

    text: str
    templates: set[str]
    categories: set[str]


@dataclass(frozen=True)
class _Block:
    """One paragraph (or heading) of the rendered text."""

    text: str
    heading: bool


def _norm_name(name: str) -> str:
    """Normalise a template/page name for comparison: spaces, underscores, first letter."""
    name = _SPACES.sub(" ", str(name).replace("_", " ")).strip()
    if ":" in name:  # "Schabloun:Homonymie" -> "Homonymie" (namespace names are per wiki)
        name = name.split(":", 1)[1].strip()
    return name[:1].upper() + name[1:]


def _namespace_of(title: str) -> tuple[str, str] | None:
    """``(namespace, rest)`` of a link title, or None without a colon."""
    if ":" not in title:
        return None
    ns, rest = title.split(":", 1)
    return ns.strip(), rest.strip()


class WikitextRenderer:
    """Turns wikitext into plain text and tells the page kind; built once per worker.

    Args:
        kinds: the wiki's namespace names, templates and title prefixes.
    """

    def __init__(self, kinds: WikiKindsConfig) -> None:
        self.kinds = kinds
        self._file_ns = {n.casefold() for n in kinds.file_namespaces}
        self._cat_ns = {n.casefold() for n in kinds.category_namespaces}
        self._disamb_templates = {_norm_name(t).casefold() for t in kinds.disambiguation_templates}
        self._disamb_cats = {_norm_name(c).casefold() for c in kinds.disambiguation_categories}
        self._stub_templates = {_norm_name(t).casefold() for t in kinds.stub_templates}
        self._magic = [w.casefold() for w in kinds.disambiguation_magic_words]
        self._list_prefixes = [p.casefold() for p in kinds.list_title_prefixes]

    # -- plain text -------------------------------------------------------------------------

    def render(self, code: Wikicode) -> str:
        """Plain text of parsed wikitext (paragraphs separated by one blank line)."""
        return self._analyse(code).text

    def _analyse(self, code: Wikicode) -> _Analysis:
        """One walk over the tree: the plain text plus the template and category names seen."""
        found = _Analysis("", set(), set())
        parts: list[str] = []
        self._walk(code, parts, found)
        found.text = self._tidy("".join(parts))
        return found

    def _walk(self, code: Wikicode, out: list[str], found: _Analysis) -> None:
        for node in code.nodes:
            if isinstance(node, Text):
                out.append(str(node.value))
            elif isinstance(node, Wikilink):
                self._link(node, out, found)
            elif isinstance(node, Template):
                self._templates(node, found)
            elif isinstance(node, Heading):
                inner: list[str] = []
                self._walk(node.title, inner, found)
                title = _SPACES.sub(" ", "".join(inner)).strip()
                if title:
                    # \x00 marks a heading line so empty sections can be dropped later.
                    out.append(f"\n\n\x00{title}\n\n")
            elif isinstance(node, Tag):
                self._tag(node, out, found)
            elif isinstance(node, HTMLEntity):
                out.append(node.normalize())
            elif isinstance(node, ExternalLink):
                if node.title is not None:
                    self._walk(node.title, out, found)
            elif isinstance(node, (Comment, Argument)):
                continue
            else:  # any node type added by a later parser version: keep its visible text
                out.append(str(node.__strip__(normalize=True, collapse=True) or ""))

    def _templates(self, node: Template, found: _Analysis) -> None:
        """Record a template's name and those nested in its parameters (its text is dropped)."""
        found.templates.add(_norm_name(node.name).casefold())
        for param in node.params:
            for inner in param.value.nodes:
                if isinstance(inner, Template):
                    self._templates(inner, found)

    def _link(self, node: Wikilink, out: list[str], found: _Analysis) -> None:
        title = str(node.title).strip()
        leading_colon = title.startswith(":")
        target = title.lstrip(":").strip()
        ns = _namespace_of(target)
        if ns is not None and not leading_colon:
            prefix = ns[0].casefold()
            if prefix in self._cat_ns:
                found.categories.add(_norm_name(ns[1]).casefold())
                return
            if prefix in self._file_ns or _INTERWIKI.match(ns[0]):
                return
        if node.text is not None:
            self._walk(node.text, out, found)
            return
        if ns is not None and leading_colon:
            target = ns[1]
        out.append(target.split("#", 1)[0] if not target.startswith("#") else target[1:])

    def _tag(self, node: Tag, out: list[str], found: _Analysis) -> None:
        name = str(node.tag).strip().lower()
        if name in _DROPPED_TAGS or node.wiki_markup == "{|":
            return
        if name in _LINE_BREAK_TAGS:
            out.append("\n")
            return
        if name in _LIST_TAGS and node.wiki_markup:
            return
        if node.contents is not None and not node.self_closing:
            self._walk(node.contents, out, found)

    def _tidy(self, raw: str) -> str:
        raw = _scrub(_BEHAVIOUR_SWITCH.sub("", raw))
        blocks: list[_Block] = []
        for para in re.split(r"\n[ \t]*\n", raw):
            lines = []
            for line in para.split("\n"):
                line = _SPACES.sub(" ", line).strip()
                line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
                line = _EMPTY_BRACKETS.sub("", line).strip()
                if line:
                    lines.append(line)
            if not lines:
                continue
            heading = lines[0].startswith("\x00")
            text = "\n".join(line.lstrip("\x00") for line in lines)
            blocks.append(_Block(text, heading))
        kept = [
            b for i, b in enumerate(blocks)
            if not b.heading or (i + 1 < len(blocks) and not blocks[i + 1].heading)
        ]
        return "\n\n".join(b.text for b in kept)

    # -- page kind --------------------------------------------------------------------------

    def kind(self, title: str, wikitext: str, plain_text: str, templates: set[str], categories: set[str]) -> str:
        """``disambiguation``, ``list``, ``stub`` or ``article`` (checked in that order).

        ``templates`` and ``categories`` are the case-folded names found by the walk.
        """
        if templates & self._disamb_templates or categories & self._disamb_cats:
            return "disambiguation"
        folded = wikitext.casefold()
        if any(word in folded for word in self._magic):
            return "disambiguation"
        if any(title.casefold().startswith(p) for p in self._list_prefixes):
            return "list"
        if templates & self._stub_templates:
            return "stub"
        if self.kinds.stub_max_chars and len(plain_text) < self.kinds.stub_max_chars:
            return "stub"
        return "article"

    def convert(self, title: str, wikitext: str) -> tuple[str, str]:
        """Parse once, walk once; return ``(plain_text, page_kind)``."""
        found = self._analyse(mwparserfromhell.parse(wikitext))
        return found.text, self.kind(title, wikitext, found.text, found.templates, found.categories)


def _scrub_line(line: str) -> str | None:
    """One rendered line without leftover markup; None drops it (a table or template row)."""
    stripped = line.strip()
    if stripped.startswith(_ROW_START):
        return None
    for _ in range(8):  # nested leftovers, innermost first
        new = _TEMPLATE.sub("", line)
        if new == line:
            break
        line = new
    if "{{" in line:  # an unclosed template: the rest of its line is parameters
        line = line.split("{{", 1)[0]
    line = _LINK.sub(r"\1", line)
    line = _REF.sub("", line)
    line = _TAG.sub("", line)
    # Two or three apostrophes left are unbalanced italic/bold; four are an apostrophe + bold.
    line = _QUOTES.sub(lambda m: "'" if len(m.group()) == 4 else "", line)
    for mark in ("}}", "[[", "]]", "{|", "|}"):
        line = line.replace(mark, "")
    if stripped and not line.strip(" }{|"):
        return None
    return line


def _scrub(raw: str) -> str:
    """Rendered text with the leftovers of broken markup removed (see ``_scrub_line``).

    mwparserfromhell keeps a construct it cannot close as plain text: an infobox whose closing
    braces are missing, a table without its end, bold left open. MediaWiki drops or closes
    these, so the text a reader saw has none of them.
    """
    out = []
    for line in raw.split("\n"):
        kept = _scrub_line(line)
        if kept is not None:
            out.append(kept)
    return "\n".join(out)


def markup_left(text: str) -> list[str]:
    """The wiki markup still found in a plain text (any of ``MARKUP``)."""
    return [m for m in MARKUP if m in text]


def wikitext_to_text(wikitext: str, kinds_cfg: WikiKindsConfig | None = None) -> str:
    """Plain text of one page's wikitext (see module docstring for what is removed)."""
    renderer = WikitextRenderer(kinds_cfg or WikiKindsConfig())
    return renderer.render(mwparserfromhell.parse(wikitext))


def detect_page_kind(
    title: str, wikitext: str, plain_text: str, kinds_cfg: WikiKindsConfig | None = None
) -> str:
    """The page kind: ``"article"``, ``"list"``, ``"disambiguation"`` or ``"stub"``.

    Disambiguation wins over list, list over stub: a disambiguation template on a "Lëscht ..."
    page still makes it a disambiguation page.
    """
    renderer = WikitextRenderer(kinds_cfg or WikiKindsConfig())
    found = renderer._analyse(mwparserfromhell.parse(wikitext))
    return renderer.kind(title, wikitext, plain_text, found.templates, found.categories)
