"""The Magpie steps, run by the step runner like generate and judge (:mod:`luxit_ray.steps.runner`).

A Magpie run is a run folder of its own (``<run id>-magpie``) with the usual layout after its
first two steps, so ``luxit judge``, ``luxit export`` and mixtures read it like any LuxIT run:

1. ``magpie_plan/`` (written by :func:`luxit_ray.pipeline.run_magpie`): one row per sample id;
2. query step: ``magpie_plan/`` -> :class:`~luxit_ray.stages.magpie.MagpieQueryStage` -> the
   sampled instructions, then over the whole set (on the driver: instructions are short): a
   length floor, language ID (:class:`~luxit_ray.filters.langid.LangIdFilter`) and exact and near
   deduplication (:func:`~luxit_ray.filters.dedup.find_duplicates`, MinHash); kept ones go to
   ``magpie_instructions/``, dropped ones with ``drop_filter`` / ``drop_reason`` to
   ``magpie_rejects/``, failed requests to ``magpie_errors/``;
3. answer step: ``magpie_instructions/`` -> :class:`~luxit_ray.stages.magpie.MagpieAnswerStage`
   -> ``pairs/`` + ``generate_errors/`` (``schema.PAIR_SCHEMA``);
4. the judge step, unchanged (the judges see no source text: there is none).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from luxit_ray import runs
from luxit_ray import schema as S
from luxit_ray.steps.common import (
    add_spend,
    add_usage,
    check_rate,
    finish_slot,
    run_spend,
    spend_totals,
    split_parquet,
    usage_slot,
    usage_table,
)
from luxit_ray.steps.runner import LLMStep

log = logging.getLogger(__name__)

PLAN = "magpie_plan"
INSTRUCTIONS = "magpie_instructions"
REJECTS = "magpie_rejects"
ERRORS = "magpie_errors"
LENGTH = "length"
REJECT_SCHEMA = S.PAIR_SCHEMA.append(pa.field(S.DROP_FILTER, pa.string())).append(pa.field(S.DROP_REASON, pa.string()))


def filter_instructions(table: pa.Table, cfg: Any) -> dict[str, tuple[str, str]]:
    """Which instructions of the whole set go, and why: ``pair_id -> (filter, reason)``.

    In order: shorter than ``min_chars``, not the target language (``cfg.langid``), then exact
    and near duplicates (``cfg.dedup``) among the rest, in sample order (the first copy stays).
    """
    from luxit_ray.config.prepare import LangIdConfig
    from luxit_ray.filters.dedup import compute_signatures, find_duplicates

    drops: dict[str, tuple[str, str]] = {}
    ids = table[S.PAIR_ID].to_pylist()
    texts = table[S.INSTRUCTION].to_pylist()
    docs = table[S.DOC_ID].to_pylist()
    for pid, text in zip(ids, texts, strict=True):
        if len(text) < cfg.min_chars:
            drops[pid] = (LENGTH, f"length: {len(text)} < {cfg.min_chars} chars")
    if cfg.langid.enabled:
        from luxit_ray.filters.base import LANGID
        from luxit_ray.filters.langid import LangIdFilter

        lid = LangIdFilter(LangIdConfig.model_validate({**cfg.langid.model_dump(), "source_types": ["magpie"]}))
        for pid, text in zip(ids, texts, strict=True):
            if pid not in drops:
                reason = lid({S.SOURCE_TYPE: "magpie", S.TEXT: text})
                if reason:
                    drops[pid] = (LANGID, reason)
    if cfg.dedup.exact or cfg.dedup.near:
        from luxit_ray.filters.base import DEDUP

        live = [i for i, pid in enumerate(ids) if pid not in drops]
        # Keyed by sample id (which sorts in sample order), so the first sample of a group stays.
        batch = pa.table({S.DOC_ID: [docs[i] for i in live], S.TEXT: [texts[i] for i in live]})
        sigs = compute_signatures(batch, cfg.dedup.num_perm, cfg.dedup.shingle_words, cfg.dedup.exact, cfg.dedup.near)
        by_doc = {docs[i]: ids[i] for i in live}
        for doc, reason in find_duplicates(sigs, cfg.dedup).items():
            drops[by_doc[doc]] = (DEDUP, reason)
    return drops


def _usage(run: runs.RunDir, rows: str, endpoints: Mapping[str, Any], label: str) -> dict[str, dict[str, Any]]:
    """Per-model usage of a Magpie step's rows plus this run's ledger spend under ``label``."""
    data = run.dataset(rows)
    t = data.to_table(columns=[S.USAGE, S.MODEL, S.ENDPOINT, S.ERROR_KIND]) if data is not None else None
    usage: dict[str, dict[str, Any]] = {}
    if t is not None:
        for u, model, ep, kind in zip(t[S.USAGE].to_pylist(), t[S.MODEL].to_pylist(), t[S.ENDPOINT].to_pylist(),
                                      t[S.ERROR_KIND].to_pylist(), strict=True):
            slot = usage.setdefault(model, usage_slot())
            add_usage(slot, json.loads(u) if u else {}, endpoints[ep], kind, run.run_id)
            if kind is not None:
                slot["errors"] += 1
    for model, spend in run_spend(run, lambda lab: label if lab == label else None).get(label, {}).items():
        add_spend(usage.setdefault(model, usage_slot()), spend)
    for slot in usage.values():
        finish_slot(slot)
    return usage


class _MagpieStep(LLMStep):
    """A Magpie step: its config section is ``magpie``, its name the accounting label."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.section = cfg.magpie
        self.template = None

    def check(self) -> None:
        from luxit_ray.errors import ConfigError
        from luxit_ray.prompts import PromptTemplate

        m = self.section
        if m is None:
            raise ConfigError(["magpie: the section is missing"], source="job")
        problems = [f"magpie: endpoint {n!r} is in batch mode; Magpie needs a live self-hosted server"
                    for n in self.endpoint_names() if self.cfg.endpoints[n].mode == "batch"]
        if problems:
            raise ConfigError(problems, source="job")
        self.template = PromptTemplate.load(m.prompt)
        self.template.render(language=m.language, instruction="x")

    def source(self, run: runs.RunDir) -> Any:
        import ray

        return ray.data.read_parquet(run.fs_path(self.needs), filesystem=run.fs)

    def expected_rows(self, run: runs.RunDir) -> int:
        return run.count_rows(self.needs)

    def constructor_kwargs(self, run: runs.RunDir, shared: dict[str, Any], feeds_next: bool) -> dict[str, Any]:
        m = self.section
        name = self.endpoint_names()[0]
        return {
            "endpoint_name": name,
            "endpoint": self.cfg.endpoints[name].model_dump(mode="json"),
            "prompt_name": self.template.name,
            "prompt_source": self.template.source,
            "language": m.language,
            "family": m.family,
            "default_system": m.default_system,
            "sampling": self.sampling(),
            "cache_uri": shared["cache_uri"],
            "accountant": shared["accountant"],
            "limiter": shared["limiters"].get(name),
            "ledger": shared.get("ledger"),
        }

    def sampling(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def summary(self, run: runs.RunDir, c: Mapping[str, Any]) -> dict[str, Any]:
        if not c:
            return {"run_dir": str(run), "tables": {}, "lines": [f"{self.name}: done earlier in {run}"]}
        tables = {f"{self.name}: counts": {"columns": list(c["counts"]), "rows": [list(c["counts"].values())]},
                  f"{self.name}: usage per model": usage_table(c.get("usage", {}), "model")}
        return {"run_dir": str(run), "tables": tables, "lines": [c["line"]]}


class MagpieQueryStep(_MagpieStep):
    """Sample instructions, then filter the whole set (see the module docstring)."""

    name = "magpie_query"
    needs = PLAN
    done = INSTRUCTIONS
    unit = "samples"

    def __init__(self, cfg: Any) -> None:
        from luxit_ray.stages.magpie import MagpieQueryStage

        super().__init__(cfg)
        self.stage = MagpieQueryStage

    def endpoint_names(self) -> list[str]:
        return [self.section.endpoint]

    def sampling(self) -> dict[str, Any] | None:
        return self.section.sampling.model_dump(mode="json")

    def outputs(self) -> list[str]:
        return [INSTRUCTIONS, REJECTS, ERRORS]

    def finish(self, run: runs.RunDir, rows: str, info: dict[str, Any], mark: bool) -> dict[str, Any]:
        m = self.section
        data = run.dataset(rows)
        table = (data.to_table() if data is not None else S.PAIR_SCHEMA.empty_table()).select(S.PAIR_SCHEMA.names)
        table = table.cast(S.PAIR_SCHEMA).sort_by(S.DOC_ID)
        ok = table.filter(pc.is_null(table[S.ERROR]))
        errors = table.filter(pc.invert(pc.is_null(table[S.ERROR])))
        drops = filter_instructions(ok, m)
        dropped = pa.array([pid in drops for pid in ok[S.PAIR_ID].to_pylist()], pa.bool_())
        kept = ok.filter(pc.invert(dropped))
        rejected = ok.filter(dropped)
        reasons = [drops[pid] for pid in rejected[S.PAIR_ID].to_pylist()]
        rejected = rejected.append_column(REJECT_SCHEMA.field(S.DROP_FILTER), pa.array([r[0] for r in reasons], pa.string()))
        rejected = rejected.append_column(REJECT_SCHEMA.field(S.DROP_REASON), pa.array([r[1] for r in reasons], pa.string()))
        for folder, part in ((INSTRUCTIONS, kept), (REJECTS, rejected), (ERRORS, errors)):
            run.write_parquet(folder, "part-00000.parquet", part)
        n = table.num_rows
        counts = {"samples": n, "instructions": ok.num_rows, "errors": errors.num_rows,
                  **{f"dropped_{k}": v for k, v in sorted(Counter(r[0] for r in reasons).items())},
                  "kept": kept.num_rows}
        usage = _usage(run, rows, self.cfg.endpoints, self.name)
        manifest = {"counts": counts, "errors_by_kind": dict(Counter(errors[S.ERROR_KIND].to_pylist())),
                    "family": m.family, "model": self.cfg.endpoints[m.endpoint].model, "usage": usage,
                    "spend": spend_totals(usage), "line": f"magpie: {kept.num_rows} instructions kept of {n} samples "
                    f"-> {run.uri(INSTRUCTIONS)} (dropped -> {run.uri(REJECTS)})", **info}
        run.update_manifest(self.cfg, self.name, manifest)
        check_rate(self.name, errors.num_rows / n if n else 0.0, m.max_error_rate,
                   f"{errors.num_rows} of {n} samples failed", run.uri(ERRORS))
        if mark:
            run.mark_done(REJECTS, {"rows": rejected.num_rows})
            run.mark_done(ERRORS, {"rows": errors.num_rows})
            run.mark_done(INSTRUCTIONS, counts)
        return self.summary(run, manifest)


class MagpieAnswerStep(_MagpieStep):
    """Answer the kept instructions: ``magpie_instructions/`` -> ``pairs/`` + ``generate_errors/``."""

    name = "magpie_answer"
    needs = INSTRUCTIONS
    done = runs.PAIRS
    unit = "instructions"

    def __init__(self, cfg: Any) -> None:
        from luxit_ray.stages.magpie import MagpieAnswerStage

        super().__init__(cfg)
        self.stage = MagpieAnswerStage

    def endpoint_names(self) -> list[str]:
        return [self.section.answer_endpoint or self.section.endpoint]

    def sampling(self) -> dict[str, Any] | None:
        s = self.section.answer_sampling
        return s.model_dump(mode="json") if s else None

    def outputs(self) -> list[str]:
        return [runs.PAIRS, runs.GENERATE_ERRORS]

    def finish(self, run: runs.RunDir, rows: str, info: dict[str, Any], mark: bool) -> dict[str, Any]:
        parts = split_parquet(run, rows, S.PAIR_SCHEMA,
                              {runs.PAIRS: lambda t: pc.is_null(t[S.ERROR]),
                               runs.GENERATE_ERRORS: lambda t: pc.invert(pc.is_null(t[S.ERROR]))})
        n = self.expected_rows(run)
        counts = {"instructions": n, "pairs": parts[runs.PAIRS], "errors": parts[runs.GENERATE_ERRORS]}
        usage = _usage(run, rows, self.cfg.endpoints, self.name)
        manifest = {"counts": counts, "usage": usage, "spend": spend_totals(usage),
                    "line": f"magpie: {counts['pairs']} pairs answered -> {run.uri(runs.PAIRS)}", **info}
        run.update_manifest(self.cfg, self.name, manifest)
        check_rate(self.name, counts["errors"] / n if n else 0.0, self.section.max_error_rate,
                   f"{counts['errors']} of {n} instructions got no answer", run.uri(runs.GENERATE_ERRORS))
        if mark:
            run.mark_done(runs.GENERATE_ERRORS, {"rows": counts["errors"]})
            run.mark_done(runs.PAIRS, {"pairs": counts["pairs"], "seeds": n})
        return self.summary(run, manifest)
