"""A Latxa-style grid: backbones x subsets of one mixture's parts, as trials of one sweep.

Latxa-Instruct (Sainz et al., 2025) trained every combination of a backbone (base, continued
pre-trained, instructed) with or without each data component (target-language corpus,
target-language instructions, English instructions) and named each variant
``exp_{backbone}_{corpus}{target instructions}{English instructions}`` (``exp_2_101``: backbone 2,
corpus and English instructions). Here the components are the parts of a mixture
(``train.grid.mixture``) in the order the mixture lists them, and the backbone code is the
backbone's position in ``train.grid.backbones``.

:func:`expand_grid` only computes the variants (pure: tested on exact names; the naming itself lives in
:mod:`luxit_ray.config.mixture`, where the evaluation report reads it too);
:func:`plan_grid` writes each distinct part subset as a mixture folder of the run
(:func:`luxit_ray.dataset.mixture.export_mixture`) and returns one recipe per variant, a copy of
its backbone's recipe under the variant's name, which the sweep trains concurrently like any
other model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from luxit_ray.config.mixture import (
    GridConfig,
    MixtureConfig,
    Variant,
    chosen_variants,
    grid_variants,
)
from luxit_ray.config.train import ModelRecipe
from luxit_ray.errors import ConfigError

log = logging.getLogger(__name__)

def expand_grid(grid: GridConfig, mixture: MixtureConfig, recipes: list[ModelRecipe]) -> list[Variant]:
    """Every backbone x part subset, backbone-major, each named as Latxa does
    (:func:`~luxit_ray.config.mixture.grid_variants`), its backbones checked against the recipes.

    Raises:
        ConfigError: a backbone is not a recipe name; a subset is invalid.
    """
    known = {r.name for r in recipes}
    missing = [b for b in grid.backbones if b not in known]
    if missing:
        raise ConfigError([f"train.grid.backbones: {missing} not under train.models ({sorted(known)})"],
                          source="train.grid")
    return grid_variants(grid, mixture)


def variant_recipe(variant: Variant, recipes: list[ModelRecipe]) -> ModelRecipe:
    """The backbone's recipe under the variant's name."""
    base = next(r for r in recipes if r.name == variant.backbone)
    return base.model_copy(update={"name": variant.name})


def plan_grid(cfg: Any, run_path: Any) -> tuple[list[ModelRecipe], dict[str, str], list[Variant]]:
    """Write the mixture of every subset the run trains into the run folder and give one recipe and
    data folder per variant.

    ``train.only`` narrows the grid to the variants it names (or to every variant of a backbone it
    names), so ``train.only=[exp_0_101]`` trains that one variant and writes only its mixture.

    Returns:
        The variants' recipes, ``{variant name: data folder}`` and the variants.

    Raises:
        ConfigError: the grid names an unknown mixture or backbone; ``train.only`` names something
            that is neither a variant nor a backbone of the grid (checked before anything is written).
    """
    from luxit_ray.dataset.mixture import export_mixture

    tc = cfg.train
    grid = tc.grid
    mixture = (cfg.mixtures or {}).get(grid.mixture)
    if mixture is None:
        raise ConfigError([f"train.grid.mixture: {grid.mixture!r} is not under mixtures"], source="train.grid")
    every = expand_grid(grid, mixture, list(tc.models))
    variants = chosen_variants(every, tc.only)
    folders: dict[tuple[str, ...], str] = {}
    for v in variants:
        if v.parts not in folders:
            folders[v.parts] = str(export_mixture(run_path, grid.mixture, mixture, list(v.parts), v.bits).resolve())
    log.info("grid: %d of %d variants (%s)", len(variants), len(every), ", ".join(v.name for v in variants))
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
