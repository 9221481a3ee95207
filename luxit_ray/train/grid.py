"""A Latxa-style grid: backbones x subsets of one mixture's parts, as trials of one sweep.

Latxa-Instruct (Sainz et al., 2025) trained every combination of a backbone (base, continued
pre-trained, instructed) with or without each data component (target-language corpus,
target-language instructions, English instructions) and named each variant
``exp_{backbone}_{corpus}{target instructions}{English instructions}`` (``exp_2_101``: backbone 2,
corpus and English instructions). Here the components are the parts of a mixture
(``train.grid.mixture``) in the order the mixture lists them, and the backbone code is the
backbone's position in ``train.grid.backbones``.

:func:`expand_grid` only computes the variants (pure: tested on exact names);
:func:`plan_grid` writes each distinct part subset as a mixture folder of the run
(:func:`luxit_ray.dataset.mixture.export_mixture`) and returns one recipe per variant, a copy of
its backbone's recipe under the variant's name, which the sweep trains concurrently like any
other model.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from luxit_ray.config.mixture import GridConfig, MixtureConfig
from luxit_ray.config.train import ModelRecipe
from luxit_ray.errors import ConfigError

log = logging.getLogger(__name__)


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


def bits_of(names: list[str], parts: tuple[str, ...]) -> str:
    """One 0/1 per part name, in order."""
    return "".join("1" if n in parts else "0" for n in names)


def expand_grid(grid: GridConfig, mixture: MixtureConfig, recipes: list[ModelRecipe]) -> list[Variant]:
    """Every backbone x part subset, backbone-major, each named as Latxa does.

    Raises:
        ConfigError: a backbone is not a recipe name; a subset is invalid.
    """
    known = {r.name for r in recipes}
    missing = [b for b in grid.backbones if b not in known]
    if missing:
        raise ConfigError([f"train.grid.backbones: {missing} not under train.models ({sorted(known)})"],
                          source="train.grid")
    names = [p.name for p in mixture.parts]
    return [Variant(variant_name(grid.prefix, code, bits_of(names, parts)), backbone, code, parts, bits_of(names, parts))
            for code, backbone in enumerate(grid.backbones) for parts in subsets(mixture, grid.variants)]


def variant_recipe(variant: Variant, recipes: list[ModelRecipe]) -> ModelRecipe:
    """The backbone's recipe under the variant's name."""
    base = next(r for r in recipes if r.name == variant.backbone)
    return base.model_copy(update={"name": variant.name})


def plan_grid(cfg: Any, run_path: Any) -> tuple[list[ModelRecipe], dict[str, str], list[Variant]]:
    """Write every subset's mixture into the run folder and give one recipe and data folder per variant.

    Returns:
        The variants' recipes, ``{variant name: data folder}`` and the variants.

    Raises:
        ConfigError: the grid names an unknown mixture or backbone.
    """
    from luxit_ray.dataset.mixture import export_mixture

    tc = cfg.train
    grid = tc.grid
    mixture = (cfg.mixtures or {}).get(grid.mixture)
    if mixture is None:
        raise ConfigError([f"train.grid.mixture: {grid.mixture!r} is not under mixtures"], source="train.grid")
    variants = expand_grid(grid, mixture, list(tc.models))
    folders: dict[tuple[str, ...], str] = {}
    for v in variants:
        if v.parts not in folders:
            folders[v.parts] = str(export_mixture(run_path, grid.mixture, mixture, list(v.parts), v.bits).resolve())
    log.info("grid: %d variants (%s)", len(variants), ", ".join(v.name for v in variants))
    return ([variant_recipe(v, list(tc.models)) for v in variants], {v.name: folders[v.parts] for v in variants},
            variants)


def grid_table(rows: list[dict[str, Any]], variants: list[Variant], part_names: list[str]) -> dict[str, Any]:
    """The variants side by side: backbone, one column per part (x when used), losses, status."""
    by_name = {r.get("model"): r for r in rows}
    table_rows = []
    for v in variants:
        r = by_name.get(v.name, {})
        table_rows.append([v.name, v.backbone, *["x" if n in v.parts else "" for n in part_names],
                           r.get("status"), r.get("train_loss"), r.get("eval_loss")])
    return {"columns": ["variant", "backbone", *part_names, "status", "train_loss", "eval_loss"], "rows": table_rows}


@dataclass
class GridPlan:
    """What the sweep needs to train a grid: a recipe and a data set per variant."""

    recipes: list[ModelRecipe]
    data: dict[str, Any]  # variant name -> ChatData
    variants: list[Variant]
    part_names: list[str]

    def table(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The sweep's rows as the variants side by side (:func:`grid_table`)."""
        return grid_table(rows, self.variants, self.part_names)

    def combined(self) -> Any:
        """One ChatData over every variant (the sweep's totals; conversations are shared, not copied)."""
        from luxit_ray.train.data import SPLITS, ChatData

        out = ChatData()
        for d in self.data.values():
            out.train += d.train
            out.validation += d.validation
            out.rows += d.rows
            out.bad_rows += d.bad_rows
            out.bad_reasons.update(d.bad_reasons)
            out.bad_examples += d.bad_examples[: 20 - len(out.bad_examples)]
            out.files += d.files
            for s in SPLITS:
                out.origins[s].update(d.origins[s])
        return out


def load_grid(cfg: Any, run_path: Any) -> GridPlan:
    """:func:`plan_grid`, then each variant's mixture read as training data (origins logged per variant)."""
    from luxit_ray.train.data import load_chat_data

    recipes, folders, variants = plan_grid(cfg, run_path)
    data = {}
    for r in recipes:
        data[r.name] = load_chat_data(folders[r.name], cfg.train.eval_fraction, cfg.train.eval_seed, cfg.run.on_bad_input)
        log.info("%s: examples by origin %s", r.name, data[r.name].counts()["origins"])
    parts = [p.name for p in cfg.mixtures[cfg.train.grid.mixture].parts]
    return GridPlan(recipes, data, variants, parts)
