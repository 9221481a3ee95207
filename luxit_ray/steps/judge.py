"""The judge step: ``pairs/`` -> ``judged/`` (every pair, scored) -> ``kept/`` + ``rejected_pairs/``.

Runs :class:`~luxit_ray.stages.judge.JudgeStage` (every configured judge) through the runner
(:mod:`luxit_ray.steps.runner`): streamed behind the generate step in ``luxit run``, or alone
over ``pairs/`` in ``luxit judge``. Records counts (score-1 counts per criterion, rejections by
criterion, all-3 pairs, judge errors), usage and cost per judge in the manifest and marks
``judged/`` done unless more pairs than ``judge.max_error_rate`` got no score.

The judges see the seed text a pair was written from (``judge.include_source``). Streamed, the
generate stage carries the text on its rows. Alone, the pairs are joined with the seeds' texts
by Ray Data (a hash join: partitions of both sides meet on the workers), so no table of every
seed text is built on the driver or put in the object store as one piece.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow.compute as pc

from luxit_ray import runs
from luxit_ray import schema as S
from luxit_ray.steps.common import (
    FREE,
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

# Seed text per hash-join partition (bytes) when ``luxit judge`` joins pairs with their seeds.
JOIN_PARTITION_BYTES = 64 * 1024 * 1024
JOIN_AGGREGATOR_CPUS = 0.05


def join_aggregator_args(data_bytes: int, partitions: int) -> dict[str, Any]:
    """Resources of each aggregator of the pairs-seeds join, from the size of both sides.

    Left to itself, Ray sizes them from the first seed file it reads: seeds of one large file and
    many small ones made it extrapolate 4.3 GiB for 70 MB and reserve a node's whole memory for
    the aggregator, which left the reads no budget, and the step never started (BENCHMARKS.md,
    layout ``skewed``). Ray's own rule is kept: a partition held ~4 times over (shuffled in,
    joined, out), and a token CPU (an aggregator waits on the network until it joins).
    """
    return {"num_cpus": JOIN_AGGREGATOR_CPUS, "memory": 4 * max(1, math.ceil(data_bytes / partitions))}


def _pairs_ok(t: Any) -> Any:
    """Rows that are pairs (not generate error rows): the ones the judges score."""
    return pc.is_null(t[S.ERROR])


class JudgeStep(LLMStep):
    """The judge step (see the module docstring)."""

    name = "judge"
    needs = runs.PAIRS
    done = runs.JUDGED
    unit = "pairs"

    def __init__(self, cfg: Any) -> None:
        from luxit_ray.stages.judge import JudgeStage

        super().__init__(cfg)
        self.stage = JudgeStage
        self.judges: list[dict[str, Any]] = []

    def endpoint_names(self) -> list[str]:
        return sorted({j.endpoint for j in self.section.judges})

    def check(self) -> None:
        from luxit_ray.errors import ConfigError
        from luxit_ray.prompts import PromptTemplate

        jc = self.section
        if jc is None:
            raise ConfigError(["judge: the section is missing"], source="job")
        self.judges = []
        for spec in jc.judges:
            endpoint = self.cfg.endpoints[spec.endpoint]
            template = PromptTemplate.load(spec.prompt)
            for src in ("X", None):
                template.render(language=jc.language, instruction="I", response="R", source_text=src,
                                title="T", date="2024-03-01", **dict(jc.prompt_vars))
            self.judges.append({
                "name": spec.name, "endpoint_name": spec.endpoint, "endpoint": endpoint.model_dump(mode="json"),
                "prompt_name": template.name, "prompt_source": template.source,
                "sampling": spec.sampling.model_dump(mode="json") if spec.sampling else None,
            })

    def source(self, run: runs.RunDir) -> Any:
        import ray

        pairs = ray.data.read_parquet(run.fs_path(runs.PAIRS), filesystem=run.fs)
        text_bytes = run.data_bytes(runs.SEEDS, [S.DOC_ID, S.TEXT]) if self.section.include_source else 0
        if not text_bytes:
            return pairs
        partitions = max(1, math.ceil(text_bytes / JOIN_PARTITION_BYTES))
        texts = ray.data.read_parquet(run.fs_path(runs.SEEDS), filesystem=run.fs, columns=[S.DOC_ID, S.TEXT])
        return pairs.join(texts, join_type="left_outer", on=(S.DOC_ID,), num_partitions=partitions,
                          aggregator_ray_remote_args=join_aggregator_args(
                              text_bytes + run.data_bytes(runs.PAIRS), partitions))

    def expected_rows(self, run: runs.RunDir) -> int:
        if run.is_done(runs.PAIRS):
            return run.count_rows(runs.PAIRS)
        # Streamed behind generate: pairs are not written yet; as many as asked for.
        return run.count_rows(runs.SEEDS) * (self.cfg.generate.pairs_per_seed if self.cfg.generate else 1)

    def outputs(self) -> list[str]:
        return [runs.JUDGED, runs.KEPT, runs.REJECTED_PAIRS]

    def constructor_kwargs(self, run: runs.RunDir, shared: dict[str, Any], feeds_next: bool) -> dict[str, Any]:
        jc = self.section
        log.info("judge: pairs of %s, judges %s (aggregate %s, keep if every criterion >= %g)",
                 run, [j["name"] for j in self.judges], jc.aggregate, jc.min_score)
        return {
            "judges": self.judges,
            "language": jc.language,
            "aggregate": jc.aggregate,
            "min_score": jc.min_score,
            "include_source": jc.include_source,
            "max_source_chars": self.cfg.generate.max_source_chars if self.cfg.generate else 12000,
            "cache_uri": shared["cache_uri"],
            "accountant": shared["accountant"],
            "limiters": {name: shared["limiters"].get(name) for name in self.endpoint_names()},
            "prompt_vars": dict(jc.prompt_vars),
            "ledger": shared.get("ledger"),
            "outboxes": shared.get("outboxes"),
        }

    def finish(self, run: runs.RunDir, rows: str, info: dict[str, Any], mark: bool) -> dict[str, Any]:
        jc = self.section
        parts = split_parquet(
            run, rows, S.JUDGED_SCHEMA,
            {runs.JUDGED: _pairs_ok,
             runs.KEPT: lambda t: pc.and_(_pairs_ok(t), pc.equal(t[S.KEEP], True)),
             runs.REJECTED_PAIRS: lambda t: pc.and_(_pairs_ok(t), pc.invert(pc.equal(t[S.KEEP], True)))},
        )
        n_pairs = parts[runs.JUDGED]
        counts = judge_counts(run, n_pairs, jc, self.cfg.endpoints)
        counts.update(info)
        run.update_manifest(self.cfg, self.name, counts)
        rate = counts["judge_errors"] / n_pairs if n_pairs else 0.0
        check_rate("judge", rate, jc.max_error_rate,
                   f"{counts['judge_errors']} of {n_pairs} pairs got no score from any judge", run.uri(runs.REJECTED_PAIRS))
        if mark:
            run.mark_done(runs.KEPT, {"rows": counts["kept"]})
            run.mark_done(runs.REJECTED_PAIRS, {"rows": counts["rejected"]})
            run.mark_done(runs.JUDGED, {"pairs": n_pairs, "kept": counts["kept"]})
        return self.summary(run, counts)

    def summary(self, run: runs.RunDir, c: Mapping[str, Any]) -> dict[str, Any]:
        if not c:
            return {"run_dir": str(run), "tables": {}, "lines": [f"judge: done earlier in {run}"]}
        share = f"{c['kept_share']:.1%}" if c.get("kept_share") is not None else "-"
        tables = {
            "judge: pairs": {
                "columns": ["pairs", "kept", "kept %", "rejected", "errors", "all 3", "disagree", "USD (run)",
                            "USD earlier", "saved", "wall s"],
                "rows": [[c["pairs"], c["kept"], share, c["rejected"], c["judge_errors"], c["all_3"],
                          c["judge_disagreements"], round(c["cost_usd"], 4),
                          round(c.get("spend", {}).get("cost_earlier_attempts_usd", 0.0), 4),
                          round(c.get("spend", {}).get("saved_usd", 0.0), 4), c.get("wall_s")]],
            },
            f"judge: scores per criterion ({c['aggregate']})": {
                "columns": ["criterion", "score 1", "score 2", "score 3", f"< {c['min_score']:g} (rejects)"],
                "rows": [[k, c["score_1"][k], c["score_counts"][k].get("2", 0), c["score_counts"][k].get("3", 0),
                          c["rejected_by_criterion"][k]] for k in S.CRITERIA],
            },
            "judge: usage per judge": usage_table(c.get("usage_by_judge", {}), "judge"),
        }
        lines = [f"judge: kept {c['kept']} of {c['pairs']} pairs ({share}) -> {run.uri(runs.KEPT)}"
                 f" (rejected -> {run.uri(runs.REJECTED_PAIRS)})"]
        return {"run_dir": str(run), "tables": tables, "lines": lines}


def judge_counts(run: runs.RunDir, n_pairs: int, jc: Any, endpoints: dict[str, Any]) -> dict[str, Any]:
    """Counts of the judge step from judged/ (scores per criterion, keep/reject, per-judge usage)."""
    endpoint_of = {s.name: endpoints[s.endpoint] for s in jc.judges}
    score_cols = list(S.SCORE_COLUMNS)
    kept = judge_errors = pair_errors = all3 = 0
    below: Counter[str] = Counter()
    dist: dict[str, Counter[str]] = {c: Counter() for c in S.CRITERIA}
    by_judge: dict[str, dict[str, Any]] = {}
    judge_error_kinds: Counter[str] = Counter()
    disagreements = 0
    for f in run.parquet_files(runs.JUDGED):
        t = run.read_parquet(f, columns=[S.KEEP, S.KEEP_REASON, S.JUDGE_ERROR, S.JUDGEMENTS, *score_cols])
        for r in t.to_pylist():
            kept += bool(r[S.KEEP])
            if r[S.JUDGE_ERROR] is not None:
                judge_errors += 1
            elif (r[S.KEEP_REASON] or "").startswith("pair_error"):
                pair_errors += 1
            else:
                scores = {c: r[S.score_column(c)] for c in S.CRITERIA}
                for c, v in scores.items():
                    dist[c][f"{v:g}"] += 1
                    below[c] += v < jc.min_score
                all3 += all(v == 3 for v in scores.values())
            answered = []
            for j in json.loads(r[S.JUDGEMENTS] or "[]"):
                slot = by_judge.setdefault(j["judge"], {"model": j.get("model"), **usage_slot(), "errors_by_kind": {}})
                add_usage(slot, j.get("usage") or {}, endpoint_of.get(j["judge"]) or FREE, j.get("error_kind"),
                          run.run_id)
                if j.get("error_kind"):
                    kinds = slot["errors_by_kind"]
                    kinds[j["error_kind"]] = kinds.get(j["error_kind"], 0) + 1
                    judge_error_kinds[j["error_kind"]] += 1
                if j.get("scores"):
                    answered.append(tuple(j["scores"][c] for c in S.CRITERIA))
            disagreements += len(set(answered)) > 1
    def judge_of(label: str) -> str | None:
        # ``judge:<judge name>``; a batch endpoint that several judges share books its answers
        # as ``judge:<endpoint name>``, kept under that name so no spend is left out
        return label.split(":", 1)[1] if label.startswith("judge:") else None

    for name, models in run_spend(run, judge_of).items():
        for model, spend in models.items():
            slot = by_judge.setdefault(name, {"model": model, **usage_slot(), "errors_by_kind": {}})
            add_spend(slot, spend)
    usage: dict[str, dict[str, Any]] = {}
    for slot in by_judge.values():
        finish_slot(slot)
        m = usage.setdefault(slot["model"], usage_slot())
        for k, v in slot.items():
            if k in ("model", "errors_by_kind", "cached_input_share"):
                continue
            m[k] = m.get(k, 0) + v
    for m in usage.values():
        finish_slot(m)
    judged_ok = n_pairs - judge_errors - pair_errors
    return {
        "pairs": n_pairs,
        "judged": judged_ok,
        "kept": kept,
        "rejected": n_pairs - kept,
        "kept_share": round(kept / n_pairs, 4) if n_pairs else None,
        "judge_errors": judge_errors,
        "pair_errors": pair_errors,
        "judge_request_errors": dict(sorted(judge_error_kinds.items())),
        "aggregate": jc.aggregate,
        "min_score": jc.min_score,
        "rejected_by_criterion": {c: below[c] for c in S.CRITERIA},
        "score_1": {c: dist[c].get("1", 0) for c in S.CRITERIA},
        "score_counts": {c: dict(sorted(dist[c].items())) for c in S.CRITERIA},
        "all_3": all3,
        "judge_disagreements": disagreements,
        "usage_by_judge": by_judge,
        "usage": usage,
        "spend": spend_totals(by_judge),
        "cache_hits": sum(s["cache_hits"] for s in by_judge.values()),
        "retries": sum(s["retries"] for s in by_judge.values()),
        "hedges": sum(s["hedges"] for s in by_judge.values()),
        "cost_usd": round(sum(s["cost_usd"] for s in by_judge.values()), 6),
    }
