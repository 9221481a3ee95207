"""GenerateStage: seed articles -> instruction/response pairs, one output row per pair.

Run it with ``ds.map_batches(GenerateStage, fn_constructor_kwargs=..., concurrency=...,
num_cpus=cfg.num_cpus, batch_size=..., batch_format="pyarrow")``. ``__call__`` is a coroutine,
so Ray Data keeps several batches of one actor in flight at once; the client bounds the requests
in flight per actor (``max_in_flight``). Outside Ray, :meth:`GenerateStage.process` runs a batch
synchronously (tests, notebooks).

Every seed is accounted for: it yields one row per generated pair, and every failure is a row of
its own with ``error`` / ``error_kind`` and the raw output (never a silent drop):

- the request or the whole answer failed (http, timeout, length, empty, parse, schema, ...): one
  row with ``pair_index = -1`` and no instruction/response;
- one element of the array is invalid (e.g. an empty response): an error row at that element's
  ``pair_index``; its valid siblings are kept;
- the array holds a different number of pairs than asked for: the pairs are kept and one extra
  ``pair_index = -1`` row with ``error_kind = "count"`` records the mismatch.

``pair_id`` is a hash of (doc_id, prompt sha, model, pair_index), so the same seed, prompt version
and model always give the same ids (a rerun or a resumed run reproduces them exactly).

Source texts longer than ``max_source_chars`` are cut at a paragraph boundary
(:func:`luxit_ray.prompts.cut_text`) before rendering; the judge stage cuts identically.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from luxit_ray import schema as S
from luxit_ray.config.llm import EndpointConfig, SamplingConfig
from luxit_ray.parsing import pairs_json_schema, parse_pairs
from luxit_ray.prompts import PromptTemplate, cut_text, date_text
from luxit_ray.stages import LLMStage, batch_rows, check_columns, llm_map_batches_args

log = logging.getLogger(__name__)

STAGE = "generate"


def pair_id(doc_id: str, prompt_sha: str, model: str, pair_index: int) -> str:
    """Stable id of one generated pair (or of an error row, with its pair_index)."""
    key = "\x1f".join((str(doc_id), prompt_sha, model, str(pair_index)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class GenerateStage(LLMStage):
    """Seed documents in, instruction/response pair rows out.

    Input columns (:attr:`INPUT_COLUMNS`, from schema.DOCUMENT_COLUMNS): doc_id, source,
    source_type, title, text, date, url.
    Output columns: schema.PAIR_SCHEMA, exactly (one row per pair or per failure).

    Args:
        endpoint_name: Name of the endpoint in the job config (goes into the ``endpoint`` column).
        endpoint: Its configuration.
        prompt_name: Template name (goes into ``prompt_name``).
        prompt_source: Template source text (read on the driver, so workers need no files).
        language: Target language named in the prompt.
        pairs_per_seed: Pairs asked for per seed.
        max_source_chars: Longer source texts are cut at a paragraph boundary.
        sampling: Overrides of the endpoint's sampling parameters.
        cache_uri: Durable request cache; None: no cache (every call is paid again on a rerun).
        accountant: Run accountant handle for live progress; None: a private one.
        limiter: Shared rate limiter handle; None: the client builds one from the endpoint limits.
        prompt_vars: Extra template variables (e.g. ``contact_languages``, ``language_notes``).
        transport: Client transport override (tests, benchmarks).
        carry_text: Add the seed's ``text`` column (cut as the generator saw it) to every output
            row, for a judge stage that follows in the same pipeline (``luxit run``).
        ledger: The run's spend ledger (:class:`~luxit_ray.llm.spend.Ledger`); None: none.
        outboxes: A batch collect pass: endpoint name -> outbox collecting the requests the
            cache cannot answer (:mod:`luxit_ray.llm.batch`); nothing is sent. None: a live pass.
    """

    INPUT_COLUMNS = (S.DOC_ID, S.SOURCE, S.SOURCE_TYPE, S.TITLE, S.TEXT, S.DATE, S.URL)
    OUTPUT_SCHEMA = S.PAIR_SCHEMA

    def __init__(
        self,
        *,
        endpoint_name: str,
        endpoint: EndpointConfig | Mapping[str, Any],
        prompt_name: str,
        prompt_source: str,
        language: str,
        pairs_per_seed: int = 3,
        max_source_chars: int = 12000,
        sampling: SamplingConfig | Mapping[str, Any] | None = None,
        cache_uri: str | None = None,
        accountant: Any | None = None,
        limiter: Any | None = None,
        prompt_vars: Mapping[str, Any] | None = None,
        transport: Any | None = None,
        carry_text: bool = False,
        ledger: Any | None = None,
        outboxes: Mapping[str, Any] | None = None,
    ) -> None:
        from luxit_ray.llm import LLMClient, RequestCache, response_format_for

        self.endpoint_name = endpoint_name
        self.endpoint = EndpointConfig.model_validate(endpoint) if isinstance(endpoint, Mapping) else endpoint
        self.sampling = SamplingConfig.model_validate(sampling) if isinstance(sampling, Mapping) else sampling
        self.template = PromptTemplate(name=prompt_name, source=prompt_source)
        self.language = language
        self.n_pairs = pairs_per_seed
        self.max_source_chars = max_source_chars
        self.prompt_vars = dict(prompt_vars or {})
        self.model = self.endpoint.model
        self.response_format = response_format_for(
            pairs_json_schema(pairs_per_seed), self.endpoint.structured_output, "instruction_pairs"
        )
        # JSON-schema and JSON-object modes need an object at the top level: ask for {"pairs": [...]}.
        self.wrap_output = self.endpoint.structured_output != "none"
        self.cache = RequestCache(cache_uri) if cache_uri else None
        self.client = LLMClient(
            endpoint_name, self.endpoint, cache=self.cache, limiter=limiter, accountant=accountant,
            transport=transport, stage=STAGE, ledger=ledger,
            outbox=(outboxes or {}).get(endpoint_name), defer=outboxes is not None,
        )
        self.ledger = ledger
        self.carry_text = carry_text
        self.output_schema = self.OUTPUT_SCHEMA.append(pa.field(S.TEXT, pa.string())) if carry_text else self.OUTPUT_SCHEMA
        self._checked = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.truncated = 0

    @classmethod
    def map_batches_args(cls, section: Any, endpoints: Mapping[str, Any]) -> dict[str, Any]:
        """From ``generate``: ``concurrency`` actors, each keeping its endpoint's
        ``max_in_flight`` requests going, ``batch_size`` seeds a call."""
        return llm_map_batches_args(actors=section.concurrency, max_in_flight=endpoints[section.endpoint].max_in_flight,
                                    batch_size=section.batch_size, rows_per_slot=section.rows_per_slot,
                                    num_cpus=section.num_cpus)

    # -- Ray Data entry point ----------------------------------------------------------
    async def __call__(self, batch: pa.Table | Mapping[str, Any]) -> pa.Table:
        """Generate pairs for one batch of seeds (a coroutine: Ray Data overlaps batches)."""
        if not self._checked:
            check_columns("GenerateStage", batch, self.INPUT_COLUMNS)
            self._checked = True
        seeds = batch_rows(batch)
        requests = [(self.render(seed), self.response_format) for seed in seeds]
        completions = await self.client.chat_many_async(requests, sampling=self.sampling)
        rows: list[dict[str, Any]] = []
        for seed, comp in zip(seeds, completions, strict=True):
            rows.extend(self.rows_for(seed, comp))
        self.client.accountant.rows_done(STAGE, len(seeds))
        self.client.accountant.flush()  # one fire-and-forget push per batch keeps progress exact
        return pa.Table.from_pylist(rows, schema=self.output_schema)

    def clients(self) -> list[Any]:
        """The stage's LLMClients."""
        return [self.client]

    # -- pieces (public for tests) -----------------------------------------------------
    def render(self, seed: Mapping[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one seed."""
        text, cut = cut_text(seed.get(S.TEXT) or "", self.max_source_chars)
        if cut:
            self.truncated += 1
            log.debug("%s: source text cut to %d of %d chars", seed.get(S.DOC_ID), len(text), len(seed.get(S.TEXT) or ""))
        variables = {
            **self.prompt_vars,
            "language": self.language,
            "n_pairs": self.n_pairs,
            "title": seed.get(S.TITLE),
            "text": text,
            "date": date_text(seed.get(S.DATE)),
            "source_type": seed.get(S.SOURCE_TYPE),
            "wrap_output": self.wrap_output,
        }
        return self.template.render(**variables).messages

    def rows_for(self, seed: Mapping[str, Any], comp: Any) -> list[dict[str, Any]]:
        """Output rows for one seed and its completion (pairs and/or error rows)."""
        base = {
            S.DOC_ID: seed.get(S.DOC_ID),
            S.SOURCE: seed.get(S.SOURCE),
            S.SOURCE_TYPE: seed.get(S.SOURCE_TYPE),
            S.TITLE: seed.get(S.TITLE),
            S.URL: seed.get(S.URL),
            S.DATE: seed.get(S.DATE),
            S.PROMPT_NAME: self.template.name,
            S.PROMPT_SHA: self.template.sha,
            S.MODEL: self.model,
            S.ENDPOINT: self.endpoint_name,
            S.RAW_OUTPUT: comp.content,
            S.USAGE: comp.usage_json(),
            S.CACHE_HIT: comp.cache_hit,
        }
        if self.carry_text:
            base[S.TEXT] = cut_text(seed.get(S.TEXT) or "", self.max_source_chars)[0]
        doc_id = str(seed.get(S.DOC_ID))

        def row(index: int, *, instruction: str | None = None, response: str | None = None,
                reasoning: str | None = None, error: str | None = None, kind: str | None = None) -> dict[str, Any]:
            return {
                **base,
                S.PAIR_ID: pair_id(doc_id, self.template.sha, self.model, index),
                S.PAIR_INDEX: index,
                S.INSTRUCTION: instruction,
                S.RESPONSE: response,
                S.REASONING: reasoning,
                S.ERROR: error,
                S.ERROR_KIND: kind,
            }

        if comp.error is not None:
            return [row(-1, reasoning=comp.reasoning, error=comp.error, kind=comp.error_kind)]
        parsed = parse_pairs(comp.content, self.n_pairs, reasoning=comp.reasoning)
        if not parsed.value:
            return [row(-1, reasoning=parsed.reasoning, error=parsed.error, kind=parsed.error_kind)]
        out = []
        for item in parsed.value:
            if item.pair is not None:
                out.append(row(item.index, instruction=item.pair.instruction, response=item.pair.response,
                               reasoning=parsed.reasoning))
            else:
                out.append(row(item.index, reasoning=parsed.reasoning, error=item.error, kind="schema"))
        if parsed.error_kind == "count":
            out.append(row(-1, reasoning=parsed.reasoning, error=parsed.error, kind="count"))
        return out
