"""Config of training mixtures and of the Latxa-style grid of backbone x mixture.

A mixture (``mixtures.<name>``) draws rows from several parts: LuxIT or Magpie pairs (an export
folder or a run's ``kept/``), any other instruction set (ShareGPT ``conversations``, OpenAI
``messages`` or ``instruction`` + ``response``; JSONL or Parquet), and raw target-language text
from the prepared corpus (a run's ``seeds/`` or any file with a ``text`` column), which training
learns as plain language modelling. A part takes ``count`` rows, or ``share`` of the mixture's
``total``; every example keeps its part's name as its ``origin``.

The grid (``train.grid``) follows Latxa-Instruct (Sainz et al., 2025): every backbone is trained on
every chosen subset of one mixture's parts, and a variant is named
``exp_{backbone index}_{one 0/1 per part}`` (with the parts corpus, target instructions, English
instructions that is Latxa's ``exp_{backbone}_{corpus}{target}{English}``, e.g. ``exp_2_101``).
The variants follow from the config alone (:func:`grid_variants`, :func:`chosen_variants`), so
training plans them and the evaluation report names them without either importing the other.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from luxit_ray.config.base import StrictModel
from luxit_ray.errors import ConfigError

PartKind = Literal["instructions", "text"]


class MixturePart(StrictModel):
    """One part of a mixture."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Part name: the `origin` of its examples.")
    kind: PartKind = Field(
        default="instructions",
        description="instructions: conversations (ShareGPT, messages or instruction + response); text: raw "
        "target-language text, trained as plain language modelling (whole text, no chat template).",
    )
    path: str = Field(
        description="A file, folder or glob of Parquet or JSONL (.jsonl/.json) files: an export folder, a run's kept/ "
        "or seeds/, or any other set."
    )
    count: int | Literal["all"] | None = Field(
        default=None, description="Rows drawn from this part (`all`: every row); set count or share."
    )
    share: float | None = Field(default=None, gt=0.0, le=1.0, description="Share of the mixture's `total` drawn from this part.")
    min_chars: int = Field(default=1, ge=1, description="text parts: shorter texts are left out before drawing.")

    @model_validator(mode="after")
    def _one_amount(self) -> MixturePart:
        if (self.count is None) == (self.share is None):
            raise ValueError(f"part {self.name!r}: set exactly one of count and share")
        return self


class MixtureConfig(StrictModel):
    """A training mixture: its parts and how many rows each gives."""

    parts: list[MixturePart] = Field(min_length=1, description="The parts, in order (the grid's bits follow this order).")
    total: int | None = Field(default=None, ge=1, description="Rows of the whole mixture; needed when a part sets share.")
    seed: int = Field(default=0, description="Seed of the draws (each part draws with seed + its position).")
    validation_fraction: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="Share of every part's drawn rows put in the validation split."
    )
    on_short: Literal["fail", "all"] = Field(
        default="fail", description="A part with fewer rows than asked for: fail, or take all it has (logged)."
    )

    @model_validator(mode="after")
    def _checks(self) -> MixtureConfig:
        problems = []
        names = [p.name for p in self.parts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"parts: names must be unique (repeated: {dup})")
        shares = [p.share for p in self.parts if p.share is not None]
        if shares and self.total is None:
            problems.append("total: needed when a part sets share")
        if sum(shares) > 1.0 + 1e-9:
            problems.append(f"parts: shares add up to {sum(shares):g} > 1")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class GridConfig(StrictModel):
    """A Latxa-style grid: backbones x subsets of one mixture's parts, trained as one sweep."""

    mixture: str = Field(description="Name of an entry under `mixtures`; its parts are the grid's components.")
    backbones: list[str] = Field(
        min_length=1, description="Model names under train.models; a backbone's index is its code in the variant name."
    )
    variants: list[list[str]] | Literal["all"] = Field(
        default="all",
        description="Part subsets to train (each a list of part names); all: every non-empty subset with at least "
        "one instructions part.",
    )
    prefix: str = Field(default="exp", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Variant name prefix.")


@dataclass(frozen=True)
class Variant:
    """One trial of the grid.

    Attributes:
        name: ``{prefix}_{backbone code}_{bits}``.
        backbone: The backbone's recipe name (under train.models).
        code: The backbone's code (its position in ``grid.backbones``).
        parts: The mixture parts it trains on, in mixture order.
        bits: One ``0``/``1`` per mixture part, in mixture order.
    """

    name: str
    backbone: str
    code: int
    parts: tuple[str, ...]
    bits: str


def variant_name(prefix: str, code: int, bits: str) -> str:
    """Latxa's name of a variant: ``exp_2_101``."""
    return f"{prefix}_{code}_{bits}"


def parse_variant_name(grid: GridConfig, name: str) -> tuple[int, str] | None:
    """``(backbone code, bits)`` when ``name`` has the shape of a variant of ``grid``, else None.

    Only the shape is checked (prefix, a backbone code in range, 0/1 bits): whether the bits are
    one of the grid's subsets depends on the mixture (:func:`chosen_variants` checks that).
    """
    m = re.fullmatch(rf"{re.escape(grid.prefix)}_(\d+)_([01]+)", name)
    if m is None or int(m.group(1)) >= len(grid.backbones):
        return None
    return int(m.group(1)), m.group(2)


def bits_of(names: list[str], parts: tuple[str, ...]) -> str:
    """One 0/1 per part name, in order."""
    return "".join("1" if n in parts else "0" for n in names)


def subsets(mixture: MixtureConfig, variants: list[list[str]] | str) -> list[tuple[str, ...]]:
    """The part subsets of the grid, in mixture order, sorted by their bits.

    ``all``: every non-empty subset with at least one instructions part (a model trained on raw
    text alone is not an instructed model).

    Raises:
        ConfigError: an unknown part, an empty or repeated subset.
    """
    names = [p.name for p in mixture.parts]
    if variants == "all":
        instructed = {p.name for p in mixture.parts if p.kind == "instructions"}
        out = [tuple(n for n, b in zip(names, mask, strict=True) if b)
               for mask in itertools.product((0, 1), repeat=len(names))]
        out = [s for s in out if instructed & set(s)]
    else:
        problems = []
        out = []
        for i, chosen in enumerate(variants):
            unknown = sorted(set(chosen) - set(names))
            if unknown:
                problems.append(f"train.grid.variants.{i}: unknown part(s) {unknown}; parts are {names}")
            elif not chosen:
                problems.append(f"train.grid.variants.{i}: empty")
            out.append(tuple(n for n in names if n in chosen))
        dup = sorted({s for s in out if out.count(s) > 1})
        if dup:
            problems.append(f"train.grid.variants: repeated subset(s) {[list(d) for d in dup]}")
        if problems:
            raise ConfigError(problems, source="train.grid")
    return sorted(out, key=lambda s: bits_of(names, s))


def grid_variants(grid: GridConfig, mixture: MixtureConfig) -> list[Variant]:
    """Every backbone x part subset, backbone-major, each named as Latxa does.

    Raises:
        ConfigError: a subset is invalid (:func:`subsets`).
    """
    names = [p.name for p in mixture.parts]
    chosen = [(parts, bits_of(names, parts)) for parts in subsets(mixture, grid.variants)]
    return [Variant(variant_name(grid.prefix, code, bits), backbone, code, parts, bits)
            for code, backbone in enumerate(grid.backbones) for parts, bits in chosen]


def chosen_variants(variants: list[Variant], only: list[str] | None) -> list[Variant]:
    """The variants ``train.only`` picks, in grid order: a variant by its name, or every variant of a
    backbone by the backbone's name; all of them without ``only``.

    Raises:
        ConfigError: a name that is neither, with the names that are.
    """
    if only is None:
        return list(variants)
    backbones = list(dict.fromkeys(v.backbone for v in variants))
    known = {v.name for v in variants} | set(backbones)
    unknown = [n for n in only if n not in known]
    if unknown:
        raise ConfigError([f"train.only: {unknown} are neither variants of the grid nor its backbones; variants: "
                           f"{[v.name for v in variants]}; backbones: {backbones}"], source="train.grid")
    return [v for v in variants if v.name in only or v.backbone in only]
