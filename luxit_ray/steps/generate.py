"""The generate step: ``seeds/`` -> ``pairs/`` (rows without error) + ``generate_errors/``.

Runs :class:`~luxit_ray.stages.generate.GenerateStage` through the runner
(:mod:`luxit_ray.steps.runner`); records counts, usage and cost in the manifest and marks
``pairs/`` done unless more seeds than ``generate.max_error_rate`` produced no pair.
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


class GenerateStep(LLMStep):
    """The generate step (see the module docstring)."""

    name = "generate"
    needs = runs.SEEDS
    done = runs.PAIRS
    unit = "seeds"

    def __init__(self, cfg: Any) -> None:
        from luxit_ray.stages.generate import GenerateStage

        super().__init__(cfg)
        self.stage = GenerateStage
        self.template = None

    def endpoint_names(self) -> list[str]:
        return [self.section.endpoint]

    def check(self) -> None:
        from luxit_ray.errors import ConfigError
        from luxit_ray.prompts import PromptTemplate

        g = self.section
        if g is None:
            raise ConfigError(["generate: the section is missing"], source="job")
        self.template = PromptTemplate.load(g.prompt)
        for date in ("2024-03-01", None):  # fail before Ray starts if the template needs other variables
            self.template.render(language=g.language, n_pairs=g.pairs_per_seed, title="T", text="X", date=date,
                                 source_type="news", wrap_output=True, **dict(g.prompt_vars))

    def source(self, run: runs.RunDir) -> Any:
        import ray

        return ray.data.read_parquet(run.fs_path(runs.SEEDS), filesystem=run.fs)

    def expected_rows(self, run: runs.RunDir) -> int:
        return run.count_rows(runs.SEEDS)

    def outputs(self) -> list[str]:
        return [runs.PAIRS, runs.GENERATE_ERRORS]

    def constructor_kwargs(self, run: runs.RunDir, shared: dict[str, Any], feeds_next: bool) -> dict[str, Any]:
        g = self.section
        endpoint = self.cfg.endpoints[g.endpoint]
        log.info("generate: %d seeds -> %s (endpoint %s, model %s, prompt %s@%s)", self.expected_rows(run),
                 run, g.endpoint, endpoint.model, self.template.name, self.template.sha)
        return {
            "endpoint_name": g.endpoint,
            "endpoint": endpoint.model_dump(mode="json"),
            "prompt_name": self.template.name,
            "prompt_source": self.template.source,
            "language": g.language,
            "pairs_per_seed": g.pairs_per_seed,
            "max_source_chars": g.max_source_chars,
            "sampling": g.sampling.model_dump(mode="json") if g.sampling else None,
            "cache_uri": shared["cache_uri"],
            "accountant": shared["accountant"],
            "limiter": shared["limiters"].get(g.endpoint),
            "prompt_vars": dict(g.prompt_vars),
            # The judge that follows in the same pipeline shows its judges the seed text.
            "carry_text": feeds_next,
            "ledger": shared.get("ledger"),
            "outboxes": shared.get("outboxes"),
        }

    def finish(self, run: runs.RunDir, rows: str, info: dict[str, Any], mark: bool) -> dict[str, Any]:
        g = self.section
        n_seeds = self.expected_rows(run)
        parts = split_parquet(
            run, rows, S.PAIR_SCHEMA,
            {runs.PAIRS: lambda t: pc.is_null(t[S.ERROR]),
             runs.GENERATE_ERRORS: lambda t: pc.invert(pc.is_null(t[S.ERROR]))},
        )
        endpoint = self.cfg.endpoints[g.endpoint]
        counts = generate_counts(run, rows, n_seeds, {g.endpoint: endpoint})
        counts.update(prompt=self.template.name, prompt_sha=self.template.sha, model=endpoint.model, **info)
        run.update_manifest(self.cfg, self.name, counts)
        rate = counts["seeds_with_error"] / n_seeds if n_seeds else 0.0
        check_rate("generate", rate, g.max_error_rate,
                   f"{counts['seeds_with_error']} of {n_seeds} seeds produced no pair", run.uri(runs.GENERATE_ERRORS))
        if mark:
            run.mark_done(runs.GENERATE_ERRORS, {"rows": parts[runs.GENERATE_ERRORS]})
            run.mark_done(runs.PAIRS, {"pairs": counts["pairs"], "seeds": n_seeds})
        return self.summary(run, counts)

    def summary(self, run: runs.RunDir, c: Mapping[str, Any]) -> dict[str, Any]:
        if not c:
            return {"run_dir": str(run), "tables": {}, "lines": [f"generate: done earlier in {run}"]}
        tables = {
            "generate: seeds and pairs": {
                "columns": ["seeds", "pairs", "failed", "partial", "err rows", "cached", "retries", "USD (run)",
                            "USD earlier", "saved", "wall s"],
                "rows": [[c["seeds"], c["pairs"], c["seeds_with_error"], c["seeds_partial"], c["error_rows"],
                          c["cache_hits"], c["retries"], round(c["cost_usd"], 4),
                          round(c.get("spend", {}).get("cost_earlier_attempts_usd", 0.0), 4),
                          round(c.get("spend", {}).get("saved_usd", 0.0), 4), c.get("wall_s")]],
            },
            "generate: usage per model": usage_table(c.get("usage", {}), "model"),
        }
        if c.get("error_rows_by_kind"):
            tables["generate: errors by kind"] = {
                "columns": ["error_kind", "rows", "seeds failed"],
                "rows": [[k, n, c["errors"].get(k, 0)] for k, n in c["error_rows_by_kind"].items()],
            }
        lines = [f"generate: {c['pairs']} pairs from {c['seeds']} seeds -> {run.uri(runs.PAIRS)}"
                 f" (errors -> {run.uri(runs.GENERATE_ERRORS)})"]
        return {"run_dir": str(run), "tables": tables, "lines": lines}


def generate_counts(run: runs.RunDir, rows: str, n_seeds: int, endpoints: Mapping[str, Any]) -> dict[str, Any]:
    """Counts of the generate step from every row the stage wrote.

    Computed with Arrow group-bys over a few columns (no Python structure per seed): a seed's
    usage is repeated on each of its rows and counted once (from its first row); a seed failed
    when it produced no pair at all, and its error kind is that of its first error row.
    """
    cols = [S.PAIR_ID, S.DOC_ID, S.ERROR_KIND, S.USAGE, S.MODEL, S.ENDPOINT]
    data = run.dataset(rows)
    t = data.to_table(columns=cols) if data is not None else pa.schema([S.PAIR_SCHEMA.field(c) for c in cols]).empty_table()
    ok = pc.is_null(t[S.ERROR_KIND])
    per_doc = pa.table({
        S.DOC_ID: t[S.DOC_ID], "ok": pc.cast(ok, pa.int64()), "err": pc.cast(pc.invert(ok), pa.int64()),
    }).group_by(S.DOC_ID).aggregate([("ok", "sum"), ("err", "sum")])
    failed_docs = per_doc.filter(pc.equal(per_doc["ok_sum"], 0)).select([S.DOC_ID])
    partial = int(pc.sum(pc.and_(pc.greater(per_doc["ok_sum"], 0), pc.greater(per_doc["err_sum"], 0)).cast(pa.int64())).as_py() or 0)
    errors = t.filter(pc.invert(ok))
    first_error = errors.select([S.DOC_ID, S.ERROR_KIND]).group_by(S.DOC_ID, use_threads=False).aggregate(
        [(S.ERROR_KIND, "first")])
    failed_kinds = first_error.join(failed_docs, S.DOC_ID, join_type="inner")
    failed_by_kind = Counter(failed_kinds[f"{S.ERROR_KIND}_first"].to_pylist())
    error_rows = {v["values"]: v["counts"] for v in pc.value_counts(errors[S.ERROR_KIND]).to_pylist()}
    first_row = t.select([S.DOC_ID, S.USAGE, S.MODEL, S.ENDPOINT]).group_by(S.DOC_ID, use_threads=False).aggregate(
        [(S.USAGE, "first"), (S.MODEL, "first"), (S.ENDPOINT, "first")])
    usage: dict[str, dict[str, Any]] = {}
    for batch in first_row.to_batches(max_chunksize=10_000):
        for u, model, ep in zip(batch[f"{S.USAGE}_first"].to_pylist(), batch[f"{S.MODEL}_first"].to_pylist(),
                                batch[f"{S.ENDPOINT}_first"].to_pylist(), strict=True):
            add_usage(usage.setdefault(model, usage_slot()), json.loads(u) if u else {}, endpoints[ep], None,
                      run.run_id)
    for model, spend in run_spend(run, lambda label: "generate" if label == "generate" else None).get(
            "generate", {}).items():
        add_spend(usage.setdefault(model, usage_slot()), spend)
    failed_models = first_row.join(failed_docs, S.DOC_ID, join_type="inner")[f"{S.MODEL}_first"].to_pylist()
    for model, n in Counter(failed_models).items():
        usage[model]["errors"] += n
    for slot in usage.values():
        finish_slot(slot)
    seen = per_doc.num_rows
    dup_ids = t.num_rows - (pc.count_distinct(t[S.PAIR_ID]).as_py() if t.num_rows else 0)
    if seen != n_seeds or dup_ids:
        log.error("generate: %d seeds in, %d seen in the output, %d duplicate pair ids", n_seeds, seen, dup_ids)
    return {
        "seeds": n_seeds,
        "seeds_accounted": seen,
        "pairs": int(pc.sum(ok.cast(pa.int64())).as_py() or 0),
        "error_rows": errors.num_rows,
        "seeds_with_error": failed_docs.num_rows,
        "seeds_partial": partial,
        "errors": dict(sorted(failed_by_kind.items())),
        "error_rows_by_kind": dict(sorted(error_rows.items())),
        "duplicate_pair_ids": dup_ids,
        "cache_hits": sum(s["cache_hits"] for s in usage.values()),
        "retries": sum(s["retries"] for s in usage.values()),
        "hedges": sum(s["hedges"] for s in usage.values()),
        "usage": usage,
        "spend": spend_totals(usage),
        "cost_usd": round(sum(s["cost_usd"] for s in usage.values()), 6),
    }
