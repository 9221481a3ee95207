"""The grid section of the evaluation report: a Latxa-style grid's variants side by side.

It reads what the other commands left in the run folder and keeps no copy of its own:

- the grid: ``train.grid`` and its mixture in the run's ``config.yaml`` (or in the job given),
  expanded by :func:`~luxit_ray.config.mixture.grid_variants` into names, backbones and parts;
- ``evaluation/report.json`` (``luxit evaluate``): exam accuracy and each task's macro-F1, per scorer;
- ``glue/llm/report.json`` (``luxit evaluate-glue``): each ltzGLUE-style task's headline macro-F1;
- ``arena/votes.jsonl`` (the arena page): Bradley-Terry Elo on the overall aspect with its 95%
  interval, fitted on every vote as ``luxit arena report`` fits it.

An evaluated model stands for a variant when it has the variant's name or its adapter lies in the
variant's training folder (``<train storage>/<variant>/adapter``). Glue and arena models carry no
adapter in their outputs, so they are matched by name: the variant's, or that of the evaluated
model standing for it.

The part effects follow Latxa-Instruct's reading of its grid: for each part, the score of a
variant with the part minus the score of the variant of the same backbone that differs only in
that part, averaged over every such pair where both were scored.

:func:`build_grid_section` is pure; :func:`grid_markdown` and :func:`grid_tables` present its
result; :func:`write_grid_report` (``luxit report-grid RUN_DIR``) puts it under ``grid`` in
``evaluation/report.json`` and at the end of ``report.md``. ``luxit evaluate`` calls it at its
end when its job has a grid; glue results and arena votes come later, so the command is meant to
be rerun.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from luxit_ray.config.mixture import Variant, grid_variants
from luxit_ray.errors import LuxitError
from luxit_ray.evaluate.glue_runner import GLUE_DIR, LLM_DIR
from luxit_ray.evaluate.report import OVERALL, SCORER_TITLES, pct, render_markdown
from luxit_ray.evaluate.runner import REPORT_JSON, REPORT_MD
from luxit_ray.textio import markdown_table

log = logging.getLogger(__name__)

EVALUATE, GLUE, ARENA = "evaluate", "glue", "arena"
SOURCES = (EVALUATE, GLUE, ARENA)
ARENA_KEY = "arena"
ARENA_ASPECT = "overall"
CHECK = "✓"


def variant_of_model(model: dict[str, Any], names: set[str]) -> str | None:
    """The variant an evaluated model stands for: by its name, else by its adapter's folder.

    Training writes a variant's adapter to ``<storage>/<variant>/adapter``, so the folder above
    the adapter names the variant.
    """
    if model.get("name") in names:
        return model["name"]
    folders = str(model.get("adapter") or "").rstrip("/").split("/")
    return folders[-2] if len(folders) >= 2 and folders[-2] in names else None


def arena_scores(votes: Sequence[dict[str, Any]], prior_sd: float) -> dict[str, Any]:
    """Overall Elo with its 95% interval and votes per model, fitted on every vote.

    The same fit as ``luxit arena report`` (:func:`~luxit_ray.arena.ratings.elo_scores` over all
    models that got votes), so both reports give one figure per model.
    """
    from luxit_ray.arena.ratings import elo_scores

    return {"votes": len(votes), "prior_sd": prior_sd, "scores": elo_scores(votes, ARENA_ASPECT, prior_sd)}


def _metrics(evaluation: dict[str, Any] | None, glue: dict[str, Any] | None,
             arena: dict[str, Any] | None) -> list[tuple[dict[str, Any], dict[str, float | None]]]:
    """Every score the run holds: ``({key, title, source, unit}, {model name: value})``."""
    out: list[tuple[dict[str, Any], dict[str, float | None]]] = []
    if evaluation:
        scorers = evaluation.get("scorers") or []
        exam = evaluation.get("exam")
        if exam:
            for s in scorers:
                values = {m: acc.get(OVERALL) for m, acc in exam["accuracy"][s].items()}
                out.append(({"key": f"exam/{s}", "title": f"exam {SCORER_TITLES.get(s, s)}", "source": EVALUATE,
                             "unit": "fraction"}, values))
        for task, entry in (evaluation.get("tasks") or {}).items():
            for s in scorers:
                values = {m: r.get("macro_f1") for m, r in entry["results"][s].items()}
                out.append(({"key": f"task/{task}/{s}", "title": f"{task} macro-F1 {SCORER_TITLES.get(s, s)}",
                             "source": EVALUATE, "unit": "fraction"}, values))
    if glue:
        by_task: dict[str, dict[str, float | None]] = {}
        for r in glue.get("rows") or []:
            by_task.setdefault(r["task"], {})[r["model"]] = r.get("macro_f1")
        for task, values in by_task.items():
            out.append(({"key": f"glue/{task}", "title": f"{task} macro-F1 prompted", "source": GLUE,
                         "unit": "fraction"}, values))
    if arena and arena.get("votes"):
        values = {m: s["elo"] for m, s in arena["scores"].items()}
        out.append(({"key": ARENA_KEY, "title": "arena Elo (95% interval)", "source": ARENA, "unit": "elo"}, values))
    return out


def part_effects(rows: Sequence[dict[str, Any]], parts: Sequence[str], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per part and score: the mean of (with the part - without it) over matched pairs of variants.

    A pair is two variants of one backbone whose bits differ only in that part, both scored.
    Scores without a pair are left out.
    """
    by_bits = {(r["backbone"], r["bits"]): r for r in rows}
    out: dict[str, dict[str, Any]] = {}
    for i, part in enumerate(parts):
        effects: dict[str, Any] = {}
        for key in keys:
            pairs, diffs = [], []
            for r in rows:
                if r["bits"][i] == "1":
                    continue
                other = by_bits.get((r["backbone"], r["bits"][:i] + "1" + r["bits"][i + 1:]))
                if other is None or r["scores"].get(key) is None or other["scores"].get(key) is None:
                    continue
                pairs.append([r["variant"], other["variant"]])
                diffs.append(other["scores"][key] - r["scores"][key])
            if pairs:
                effects[key] = {"mean_diff": sum(diffs) / len(diffs), "n": len(pairs), "pairs": pairs}
        out[part] = effects
    return out


def build_grid_section(variants: Sequence[Variant], parts: Sequence[str], mixture: str,
                       evaluation: dict[str, Any] | None = None, glue: dict[str, Any] | None = None,
                       arena: dict[str, Any] | None = None) -> dict[str, Any]:
    """The grid's variants side by side, from the run's reports.

    Args:
        variants: the grid (:func:`~luxit_ray.config.mixture.grid_variants`).
        parts: the mixture's part names, in order (one bit each).
        mixture: the mixture's name.
        evaluation: ``evaluation/report.json`` (:func:`~luxit_ray.evaluate.report.build_report`).
        glue: ``glue/llm/report.json`` (:func:`~luxit_ray.evaluate.glue_runner.build_report`).
        arena: :func:`arena_scores` of the run's votes.

    Returns:
        ``{"mixture", "parts", "metrics", "rows", "part_effects", "not_evaluated", "arena_votes"}``:
        ``metrics`` lists the score columns (``key``, ``title``, ``source``, ``unit``: fraction or
        elo) that hold a value for some variant; a row has ``variant``, ``backbone``, ``code``,
        ``bits``, ``parts`` ({part: used}), ``models`` (the model standing for it per source),
        ``scores`` ({key: value or None}) and ``arena`` (Elo, interval, votes; None without votes).
        Rows are sorted by backbone code, then bits; variants nothing scored are listed apart.
    """
    names = {v.name for v in variants}
    # The evaluated model standing for each variant (the first one, in the report's order).
    stands_for: dict[str, str] = {}
    for m in (evaluation or {}).get("models") or []:
        v = variant_of_model(m, names)
        if v is None:
            continue
        if v in stands_for:
            log.warning("models %s and %s both stand for variant %s; the grid table uses %s",
                        stands_for[v], m["name"], v, stands_for[v])
            continue
        stands_for[v] = m["name"]
    metrics = _metrics(evaluation, glue, arena)
    arena_table = (arena or {}).get("scores") or {}

    scored = {s: {m for meta, values in metrics if meta["source"] == s for m in values} for s in SOURCES}

    def model_in(source: str, v: Variant) -> str | None:
        if source == EVALUATE:
            return stands_for.get(v.name)
        return next((n for n in (v.name, stands_for.get(v.name)) if n is not None and n in scored[source]), None)

    rows, not_evaluated = [], []
    for v in sorted(variants, key=lambda v: (v.code, v.bits)):
        models = {s: model_in(s, v) for s in SOURCES}
        scores = {meta["key"]: values.get(models[meta["source"]]) if models[meta["source"]] else None
                  for meta, values in metrics}
        if all(x is None for x in scores.values()):
            not_evaluated.append(v.name)
            continue
        rows.append({"variant": v.name, "backbone": v.backbone, "code": v.code, "bits": v.bits,
                     "parts": {p: p in v.parts for p in parts}, "models": models, "scores": scores,
                     "arena": arena_table.get(models[ARENA]) if models[ARENA] else None})
    kept = [meta for meta, _ in metrics if any(r["scores"][meta["key"]] is not None for r in rows)]
    for r in rows:
        r["scores"] = {meta["key"]: r["scores"][meta["key"]] for meta in kept}
    return {"mixture": mixture, "parts": list(parts), "metrics": kept, "rows": rows,
            "part_effects": part_effects(rows, parts, [m["key"] for m in kept]),
            "not_evaluated": not_evaluated, "arena_votes": (arena or {}).get("votes", 0)}


# ---- presentation ------------------------------------------------------------------------


def _score_cell(meta: dict[str, Any], row: dict[str, Any]) -> str:
    value = row["scores"].get(meta["key"])
    if meta["unit"] != "elo":
        return pct(value)
    a = row.get("arena")
    return "-" if a is None else f"{a['elo']:.1f} ({a['low']:.1f} to {a['high']:.1f})"


def _effect_cell(meta: dict[str, Any], effect: dict[str, Any] | None) -> str:
    if effect is None:
        return "-"
    d = effect["mean_diff"]
    value = f"{d:+.1f}" if meta["unit"] == "elo" else pct(d, signed=True)
    return f"{value} ({effect['n']})"


def variant_rows(section: dict[str, Any]) -> list[list[str]]:
    """The variants table's cells: variant, backbone, ✓ per part used, one cell per score."""
    return [[r["variant"], r["backbone"], *[CHECK if r["parts"][p] else "" for p in section["parts"]],
             *[_score_cell(m, r) for m in section["metrics"]]] for r in section["rows"]]


def effect_rows(section: dict[str, Any]) -> list[list[str]]:
    """The part effects' cells: part, then ``mean difference (pairs)`` per score."""
    return [[p, *[_effect_cell(m, section["part_effects"][p].get(m["key"])) for m in section["metrics"]]]
            for p in section["parts"]]


def _columns(section: dict[str, Any]) -> list[str]:
    return ["variant", "backbone", *section["parts"], *[m["title"] for m in section["metrics"]]]


def _effect_columns(section: dict[str, Any]) -> list[str]:
    return ["part", *["arena Elo" if m["unit"] == "elo" else m["title"] for m in section["metrics"]]]


def grid_markdown(section: dict[str, Any]) -> list[str]:
    """The grid section as Markdown lines."""
    n_parts = len(section["parts"])
    arena = (f" Arena: Bradley-Terry Elo (overall) with its 95% interval, fitted on all {section['arena_votes']} votes."
             if any(m["key"] == ARENA_KEY for m in section["metrics"]) else "")
    out = [f"## Grid variants (mixture `{section['mixture']}`)", "",
           f"One row per variant, sorted by backbone code, then bits; {CHECK} marks the mixture parts it trained on. "
           f"Exam: accuracy (%); tasks: macro-F1 (%).{arena}", "",
           markdown_table(_columns(section), variant_rows(section),
                          right_align=[False] * (2 + n_parts) + [True] * len(section["metrics"])), ""]
    if section["not_evaluated"]:
        out += [f"Not evaluated: {', '.join(section['not_evaluated'])}.", ""]
    out += ["### What each part adds", "",
            "Score with the part minus score without it, for two variants of one backbone that differ only in "
            "that part, averaged over every such pair (points; Elo points for the arena; pairs in brackets).", "",
            markdown_table(_effect_columns(section), effect_rows(section),
                           right_align=[False] + [True] * len(section["metrics"])), ""]
    return out


def grid_tables(section: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Tables for the CLI: the variants and the part effects."""
    return {
        f"Grid variants (mixture {section['mixture']})": {"columns": _columns(section), "rows": variant_rows(section)},
        "What each part adds (points, pairs)": {"columns": _effect_columns(section), "rows": effect_rows(section)},
    }


# ---- the run folder ----------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_grid_report(run_dir: str | Path, cfg: Any = None, prior_sd: float | None = None) -> dict[str, Any]:
    """Add the grid section to the run's evaluation report (``grid`` in report.json, a section of report.md).

    Args:
        run_dir: the run folder the grid was trained and evaluated in.
        cfg: the job holding ``train.grid`` and its mixture; None: the run's ``config.yaml``.
        prior_sd: the arena prior (:data:`~luxit_ray.arena.ratings.PRIOR_SD` when None).

    Returns:
        ``{"tables", "lines", "grid"}`` for the CLI.

    Raises:
        LuxitError: no grid in the job, nothing evaluated yet, or no evaluated model is a variant.
    """
    from luxit_ray.arena.ratings import PRIOR_SD
    from luxit_ray.arena.votes import read_votes
    from luxit_ray.runs import CONFIG_FILE, EVALUATION, RunDir

    run = Path(run_dir)
    if cfg is None:
        if not (run / CONFIG_FILE).is_file():
            raise LuxitError(f"{run}: no {CONFIG_FILE}; pass the training job with --job")
        cfg = RunDir(run).config()
        where = str(run / CONFIG_FILE)
    else:
        where = "the job given"
    grid = cfg.train.grid if cfg.train is not None else None
    if grid is None:
        raise LuxitError(f"{where} has no train.grid (a later command may have saved another job there): "
                         "pass the training job with --job")
    mixture = cfg.mixtures.get(grid.mixture)
    if mixture is None:
        raise LuxitError(f"{where}: train.grid.mixture {grid.mixture!r} is not under mixtures")
    variants = grid_variants(grid, mixture)

    report_json = run / EVALUATION / REPORT_JSON
    evaluation = _read_json(report_json)
    glue = _read_json(run / GLUE_DIR / LLM_DIR / REPORT_JSON)
    votes = read_votes(run)
    arena = arena_scores(votes, PRIOR_SD if prior_sd is None else prior_sd) if votes else None
    if evaluation is None and glue is None and arena is None:
        raise LuxitError(f"nothing evaluated in {run} yet: run `luxit evaluate`, `luxit evaluate-glue` or the arena first")
    section = build_grid_section(variants, [p.name for p in mixture.parts], grid.mixture, evaluation, glue, arena)
    if not section["rows"]:
        raise LuxitError(f"no evaluated model in {run} is a variant of the grid ({', '.join(v.name for v in variants)}): "
                         "name the models like the variants, or give them the variant's adapter "
                         "(<train storage>/<variant>/adapter)")

    report = dict(evaluation or {})
    report["grid"] = section
    report_json.parent.mkdir(parents=True, exist_ok=True)
    report_json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    head = render_markdown(evaluation).rstrip("\n").split("\n") if evaluation else ["# Evaluation report"]
    md = run / EVALUATION / REPORT_MD
    md.write_text("\n".join([*head, "", *grid_markdown(section)]).rstrip() + "\n", encoding="utf-8")
    lines = [f"report: {md} (section 'Grid variants'), {report_json} (key 'grid')"]
    if section["not_evaluated"]:
        lines.append(f"not evaluated: {', '.join(section['not_evaluated'])}")
    return {"tables": grid_tables(section), "lines": lines, "grid": section}
