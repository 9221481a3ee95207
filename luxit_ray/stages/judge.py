"""JudgeStage: every generated pair scored 1-3 on four criteria by one or more LLM judges.

Run it with ``ds.map_batches(JudgeStage, fn_constructor_kwargs=..., batch_format="pyarrow", ...)``
over the rows of ``pairs/``. For each batch, every judge's requests are sent at once (all judges
concurrently, each bounded by its endpoint's ``max_in_flight``).

Each judge's outcome is kept in the ``judgements`` column (JSON list, one object per judge:
judge, model, prompt_name, prompt_sha, scores, raw_output, reasoning, usage, cache_hit,
source_shown, error, error_kind). The per-criterion aggregate over the judges that answered
decides (``score_<criterion>`` columns):

- ``majority``: the most frequent score; a tie goes to the *lower* score. A filter that keeps
  training data should only keep what a majority found good; with two judges that disagree,
  the doubt costs one pair of many, while a wrongly kept pair teaches the model the flaw.
- ``mean``: the average (a float, e.g. 2.5).
- ``min``: the lowest score (the strictest ensemble).

Judges that failed (request error, unparseable or invalid scores) are left out of the
aggregate. If every judge failed, ``judge_error`` lists their errors and the pair is not kept
(``keep_reason = "judge_error"``).

Keep rule: every aggregate criterion >= ``min_score`` (paper: all four >= 2). ``keep_reason``
names each failing criterion, e.g. ``"factual_accuracy=1 < 2; linguistic_quality=1.5 < 2"``.

With ``include_source`` (default on; the paper's judge did not see the source), the judge is
shown the seed text the pair was written from, cut exactly as the generator saw it, so
factual accuracy is checked against the source rather than the judge's memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from luxit_ray import schema as S
from luxit_ray.config.llm import EndpointConfig, SamplingConfig
from luxit_ray.parsing import judge_json_schema, parse_scores
from luxit_ray.prompts import PromptTemplate, cut_text, date_text
from luxit_ray.stages import (
    LLMStage,
    batch_columns,
    batch_rows,
    check_columns,
    llm_map_batches_args,
)

log = logging.getLogger(__name__)

STAGE = "judge"
AGGREGATES = ("majority", "mean", "min")
JUDGE_ERROR_REASON = "judge_error"
PAIR_ERROR_REASON = "pair_error"


# ---- aggregation (pure functions, unit-tested) -------------------------------------------


def aggregate_scores(score_sets: Sequence[Mapping[str, int]], how: str = "majority") -> dict[str, float] | None:
    """Combine several judges' scores per criterion.

    Args:
        score_sets: One ``{criterion: score}`` per judge that answered.
        how: ``majority`` (ties -> the lower score), ``mean`` or ``min``.

    Returns:
        ``{criterion: aggregate}`` for schema.CRITERIA, or None when no judge answered.

    Raises:
        ValueError: unknown ``how``.
    """
    if how not in AGGREGATES:
        raise ValueError(f"unknown aggregate {how!r}; use one of {AGGREGATES}")
    if not score_sets:
        return None
    out: dict[str, float] = {}
    for c in S.CRITERIA:
        values = [int(s[c]) for s in score_sets]
        if how == "mean":
            out[c] = sum(values) / len(values)
        elif how == "min":
            out[c] = float(min(values))
        else:
            counts = Counter(values)
            top = max(counts.values())
            out[c] = float(min(v for v, n in counts.items() if n == top))
    return out


def keep_decision(aggregate: Mapping[str, float] | None, min_score: float) -> tuple[bool, str | None]:
    """Apply the keep rule: every criterion's aggregate >= ``min_score``.

    Returns:
        (keep, keep_reason): the reason names every failing criterion in schema.CRITERIA
        order, ``"<criterion>=<score> < <min_score>"`` joined by ``"; "``; None when kept;
        ``"judge_error"`` when there is no aggregate.
    """
    if aggregate is None:
        return False, JUDGE_ERROR_REASON
    failing = [f"{c}={aggregate[c]:g} < {min_score:g}" for c in S.CRITERIA if aggregate[c] < min_score]
    return (not failing), ("; ".join(failing) or None)


# ---- the stage ---------------------------------------------------------------------------


@dataclass
class _Judge:
    name: str
    endpoint_name: str
    endpoint: EndpointConfig
    template: PromptTemplate
    sampling: SamplingConfig | None
    response_format: dict[str, Any] | None
    client: Any


class JudgeStage(LLMStage):
    """Pair rows in, judged pair rows out (one row in, one row out).

    Input columns (:attr:`INPUT_COLUMNS`): schema.PAIR_SCHEMA; optionally ``text`` (the seed
    text) when the pipeline joined it on.
    Output columns: schema.JUDGED_SCHEMA, exactly.

    Args:
        judges: One mapping per judge: ``name``, ``endpoint_name``, ``endpoint``
            (EndpointConfig or dict), ``prompt_name``, ``prompt_source``, optional ``sampling``.
        language: The language named in the judge prompt.
        aggregate: ``majority``, ``mean`` or ``min``.
        min_score: Keep rule threshold for every criterion.
        include_source: Show the judge the seed text.
        source_texts: doc_id -> text, used when the batch has no ``text`` column (outside Ray
            Data; the pipeline carries the text on the rows or joins it in).
        max_source_chars: Cut of the source text (the generator's, so both saw the same text).
        cache_uri: Durable request cache; None: none.
        accountant: Run accountant handle for live progress.
        limiters: Endpoint name -> shared rate limiter handle (None: built per client).
        prompt_vars: Extra template variables.
        transport: Client transport override (tests, benchmarks).
        ledger: The run's spend ledger (:class:`~luxit_ray.llm.spend.Ledger`); None: none.
        outboxes: A batch collect pass: endpoint name -> outbox collecting the requests the
            cache cannot answer (:mod:`luxit_ray.llm.batch`); nothing is sent. None: a live pass.
    """

    INPUT_COLUMNS = tuple(S.PAIR_SCHEMA.names)
    OUTPUT_SCHEMA = S.JUDGED_SCHEMA

    def __init__(
        self,
        *,
        judges: Sequence[Mapping[str, Any]],
        language: str,
        aggregate: str = "majority",
        min_score: float = 2,
        include_source: bool = True,
        source_texts: Mapping[str, str] | None = None,
        max_source_chars: int = 12000,
        cache_uri: str | None = None,
        accountant: Any | None = None,
        limiters: Mapping[str, Any] | None = None,
        prompt_vars: Mapping[str, Any] | None = None,
        transport: Any | None = None,
        ledger: Any | None = None,
        outboxes: Mapping[str, Any] | None = None,
    ) -> None:
        from luxit_ray.llm import AccountantHandle, LLMClient, RequestCache, response_format_for

        if aggregate not in AGGREGATES:
            raise ValueError(f"unknown aggregate {aggregate!r}; use one of {AGGREGATES}")
        if not judges:
            raise ValueError("JudgeStage needs at least one judge")
        self.language = language
        self.aggregate = aggregate
        self.min_score = float(min_score)
        self.include_source = include_source
        self.max_source_chars = max_source_chars
        self.prompt_vars = dict(prompt_vars or {})
        self.sources: Mapping[str, str] = dict(source_texts or {}) if include_source else {}
        self.cache = RequestCache(cache_uri) if cache_uri else None
        # One handle for every judge's client, so the stage's accounting is in one place.
        self.accountant = accountant if accountant is not None else AccountantHandle.local()
        self.judges: list[_Judge] = []
        for spec in judges:
            ep = spec["endpoint"]
            ep = EndpointConfig.model_validate(ep) if isinstance(ep, Mapping) else ep
            sampling = spec.get("sampling")
            sampling = SamplingConfig.model_validate(sampling) if isinstance(sampling, Mapping) else sampling
            client = LLMClient(
                spec["endpoint_name"], ep, cache=self.cache,
                limiter=(limiters or {}).get(spec["endpoint_name"]), accountant=self.accountant,
                transport=transport, stage=f"{STAGE}:{spec['name']}", ledger=ledger,
                outbox=(outboxes or {}).get(spec["endpoint_name"]), defer=outboxes is not None,
            )
            self.judges.append(_Judge(
                name=spec["name"], endpoint_name=spec["endpoint_name"], endpoint=ep,
                template=PromptTemplate(name=spec["prompt_name"], source=spec["prompt_source"]),
                sampling=sampling,
                response_format=response_format_for(judge_json_schema(), ep.structured_output, "pair_scores"),
                client=client,
            ))
        self._checked = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def map_batches_args(cls, section: Any, endpoints: Mapping[str, Any]) -> dict[str, Any]:
        """From ``judge``: ``concurrency`` actors, each keeping the largest ``max_in_flight``
        of its judges' endpoints going, ``batch_size`` pairs a call."""
        in_flight = max(endpoints[j.endpoint].max_in_flight for j in section.judges)
        return llm_map_batches_args(actors=section.concurrency, max_in_flight=in_flight,
                                    batch_size=section.batch_size, rows_per_slot=section.rows_per_slot,
                                    num_cpus=section.num_cpus)

    # -- Ray Data entry point ----------------------------------------------------------
    async def __call__(self, batch: pa.Table | Mapping[str, Any]) -> pa.Table:
        """Judge one batch of pairs (a coroutine: Ray Data overlaps batches)."""
        if not self._checked:
            check_columns("JudgeStage", batch, self.INPUT_COLUMNS)
            self._checked = True
        has_text = S.TEXT in batch_columns(batch)
        rows = batch_rows(batch)
        # A seed's pairs share the judge prompt up to the pair (role, rubric, source): sent one
        # after the other, they reach the provider's prefix cache while it holds the source.
        todo = sorted((i for i, r in enumerate(rows) if self._judgeable(r)), key=lambda i: str(rows[i].get(S.DOC_ID)))
        sources = {i: self._source_for(rows[i], has_text) for i in todo}
        tasks = [
            asyncio.ensure_future(j.client.chat_many_async(
                [(self.render(j, rows[i], sources[i]), j.response_format, str(rows[i].get(S.DOC_ID)))
                 for i in todo],
                sampling=j.sampling,
            ))
            for j in self.judges
        ]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        by_row: dict[int, list[tuple[_Judge, Any]]] = {i: [] for i in todo}
        for j, comps in zip(self.judges, results, strict=True):
            for i, comp in zip(todo, comps, strict=True):
                by_row[i].append((j, comp))
        out = []
        for i, row in enumerate(rows):
            if i in by_row:
                out.append(self.judged_row(row, by_row[i], source_shown=sources[i] is not None))
            else:
                out.append(self._not_judged(row))
        self.accountant.rows_done(STAGE, len(rows))
        self.accountant.flush()  # one fire-and-forget push per batch keeps progress exact
        return pa.Table.from_pylist(out, schema=self.OUTPUT_SCHEMA)

    def clients(self) -> list[Any]:
        """The stage's LLMClients."""
        return [j.client for j in self.judges]

    # -- pieces (public for tests) -----------------------------------------------------
    def render(self, judge: _Judge, row: Mapping[str, Any], source_text: str | None) -> list[dict[str, str]]:
        """The chat messages asking ``judge`` to score one pair."""
        variables = {
            **self.prompt_vars,
            "language": self.language,
            "instruction": row.get(S.INSTRUCTION),
            "response": row.get(S.RESPONSE),
            "source_text": source_text,
            "title": row.get(S.TITLE),
            "date": date_text(row.get(S.DATE)),
        }
        return judge.template.render(**variables).messages

    def judged_row(self, row: Mapping[str, Any], outcomes: Sequence[tuple[_Judge, Any]],
                   source_shown: bool = False) -> dict[str, Any]:
        """The output row for one pair given each judge's completion."""
        judgements = []
        answered: list[dict[str, int]] = []
        for judge, comp in outcomes:
            parsed = None if comp.error is not None else parse_scores(comp.content, reasoning=comp.reasoning)
            error = comp.error if parsed is None else parsed.error
            kind = comp.error_kind if parsed is None else parsed.error_kind
            scores = parsed.value.as_dict() if parsed is not None and parsed.ok else None
            if scores is not None:
                answered.append(scores)
            judgements.append({
                "judge": judge.name,
                "model": judge.endpoint.model,
                "endpoint": judge.endpoint_name,
                "prompt_name": judge.template.name,
                "prompt_sha": judge.template.sha,
                "scores": scores,
                "raw_output": comp.content,
                "reasoning": comp.reasoning if parsed is None else parsed.reasoning,
                "usage": json.loads(comp.usage_json()),
                "cache_hit": comp.cache_hit,
                "source_shown": source_shown,
                "error": error,
                "error_kind": kind,
            })
        agg = aggregate_scores(answered, self.aggregate)
        keep, reason = keep_decision(agg, self.min_score)
        out = {k: row.get(k) for k in S.PAIR_SCHEMA.names}
        for c in S.CRITERIA:
            out[S.score_column(c)] = None if agg is None else agg[c]
        out[S.JUDGEMENTS] = json.dumps(judgements, ensure_ascii=False)
        out[S.KEEP] = keep
        out[S.KEEP_REASON] = reason
        out[S.JUDGE_ERROR] = (
            "; ".join(f"{j['judge']}: {j['error']}" for j in judgements) if agg is None else None
        )
        return out

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _judgeable(row: Mapping[str, Any]) -> bool:
        return row.get(S.ERROR) is None and bool(row.get(S.INSTRUCTION)) and bool(row.get(S.RESPONSE))

    def _source_for(self, row: Mapping[str, Any], has_text: bool) -> str | None:
        if not self.include_source:
            return None
        text = row.get(S.TEXT) if has_text else self.sources.get(str(row.get(S.DOC_ID)))
        if not text:
            return None
        return cut_text(text, self.max_source_chars)[0]

    def _not_judged(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A pair that cannot be judged (an error row or an empty pair) passes through, not kept."""
        out = {k: row.get(k) for k in S.PAIR_SCHEMA.names}
        out.update({c: None for c in S.SCORE_COLUMNS})
        detail = row.get(S.ERROR_KIND) or "no instruction/response"
        out.update({S.JUDGEMENTS: "[]", S.KEEP: False, S.KEEP_REASON: f"{PAIR_ERROR_REASON}: {detail}", S.JUDGE_ERROR: None})
        return out
