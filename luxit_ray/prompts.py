"""Load and render the prompt templates under prompts/ (Jinja2, StrictUndefined).

A template is one ``<name>.jinja`` file with a ``user`` block and an optional ``system`` block;
each block becomes one chat message. The prompt's version is the hash of the template *source*
(not of the rendered text), so every output row can name the exact prompt that produced it.

Templates are read on the driver and handed to the stages as text (``PromptTemplate.source``),
so Ray workers on other machines never need the prompts/ folder.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from luxit_ray.errors import ConfigError

# The repository's prompts/ folder (next to the package in a source checkout).
PACKAGE_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
PROMPTS_ENV = "LUXIT_PROMPTS_DIR"
SUFFIX = ".jinja"
BLOCKS = ("system", "user")

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # the output is chat text, not HTML
    keep_trailing_newline=False,
)


def template_sha(source: str) -> str:
    """Short, stable hash of a template's source text: the prompt version."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def prompt_dirs() -> list[Path]:
    """Where template names are looked up, first match wins: $LUXIT_PROMPTS_DIR, ./prompts,
    then the repository's prompts/."""
    dirs = []
    if os.environ.get(PROMPTS_ENV):
        dirs.append(Path(os.environ[PROMPTS_ENV]))
    dirs += [Path.cwd() / "prompts", PACKAGE_PROMPTS]
    out: list[Path] = []
    for d in dirs:
        if d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


@dataclass(frozen=True)
class RenderedPrompt:
    """A rendered prompt: chat messages plus the identity of the template that made them."""

    messages: list[dict[str, str]]
    sha: str
    name: str


@dataclass(frozen=True)
class PromptTemplate:
    """One parsed template; cheap to render many times (build once per actor)."""

    name: str
    source: str
    path: str | None = None
    sha: str = field(init=False)
    _template: jinja2.Template = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", template_sha(self.source))
        where = self.path or f"prompt {self.name!r}"
        try:
            tmpl = _ENV.from_string(self.source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError([f"line {exc.lineno}: {exc.message}"], source=where) from None
        if "user" not in tmpl.blocks:
            raise ConfigError(["the template needs a {% block user %} (and may have a system block)"], source=where)
        unknown = sorted(set(tmpl.blocks) - set(BLOCKS))
        if unknown:
            raise ConfigError([f"unknown block(s) {unknown}; allowed: {list(BLOCKS)}"], source=where)
        object.__setattr__(self, "_template", tmpl)

    @classmethod
    def load(cls, name: str) -> PromptTemplate:
        """Read a template by name (looked up in :func:`prompt_dirs`) or by file path.

        Raises:
            ConfigError: no such template, or it does not parse.
        """
        path = find_template(name)
        stem = path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.stem
        return cls(name=stem, source=path.read_text(encoding="utf-8"), path=str(path))

    def render(self, **variables: Any) -> RenderedPrompt:
        """Render the system and user messages.

        Raises:
            ConfigError: the template uses a variable that was not given (StrictUndefined),
                naming the template and the variable.
        """
        messages = []
        for block in BLOCKS:
            fn = self._template.blocks.get(block)
            if fn is None:
                continue
            try:
                text = "".join(fn(self._template.new_context(dict(variables)))).strip()
            except jinja2.UndefinedError as exc:
                raise ConfigError(
                    [f"block {block!r}: {exc.message} (given: {sorted(variables)})"],
                    source=self.path or f"prompt {self.name!r}",
                ) from exc
            if text:
                messages.append({"role": block, "content": text})
        return RenderedPrompt(messages=messages, sha=self.sha, name=self.name)


def find_template(name: str) -> Path:
    """The file of a template name or path.

    Raises:
        ConfigError: it does not exist (lists the folders searched).
    """
    if "/" in name or os.sep in name or name.endswith(SUFFIX):
        p = Path(name)
        if p.is_file():
            return p
        raise ConfigError([f"no such prompt template file: {p}"], source="prompts")
    tried = []
    for d in prompt_dirs():
        p = d / f"{name}{SUFFIX}"
        tried.append(str(p))
        if p.is_file():
            return p
    raise ConfigError([f"no template {name!r}; looked for {', '.join(tried)}"], source="prompts")


def load_prompt(name: str) -> PromptTemplate:
    """Shorthand for :meth:`PromptTemplate.load`."""
    return PromptTemplate.load(name)


def render(name: str, **variables: Any) -> RenderedPrompt:
    """Load the template ``name`` and render it with ``variables``."""
    return PromptTemplate.load(name).render(**variables)


def cut_text(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``max_chars`` characters at a natural boundary.

    Prefers the last paragraph break, then the last line break, then the last sentence end,
    then the last space, each only if it keeps at least half of the allowed length; otherwise
    cuts hard. Both stages use this, so the judge sees the very text the generator saw.

    Returns:
        (text, was_cut)
    """
    if len(text) <= max_chars:
        return text, False
    head = text[:max_chars]
    floor = max_chars // 2
    for sep in ("\n\n", "\n"):
        i = head.rfind(sep)
        if i >= floor:
            return head[:i].rstrip(), True
    ends = [head.rfind(p) for p in (". ", "! ", "? ", ".\n")]
    i = max(ends)
    if i >= floor:
        return head[: i + 1], True
    i = head.rfind(" ")
    if i >= floor:
        return head[:i].rstrip(), True
    return head, True


def date_text(value: object) -> str | None:
    """A date for the prompt: the day of an ISO timestamp (``2024-03-01T10:00:00`` ->
    ``2024-03-01``), other values as given, None for empty."""
    if value is None:
        return None
    s = str(value).strip()
    if not s:
        return None
    if len(s) >= 10 and s[4] == "-" and s[7] == "-" and s[:4].isdigit():
        return s[:10]
    return s
