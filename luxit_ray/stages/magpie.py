"""Magpie stages: an instructed model writes the user turn itself, then a chat endpoint answers it.

Magpie (Xu et al., 2024, arXiv:2406.08464) sends a self-hosted instructed model only the chat
template's *pre-query prefix*: the text its template renders before a user's words (the system
turn, then the user turn's header). Continuing it, the model writes a plausible user request and
closes the turn. Latxa-Instruct (Sainz et al., 2025) sampled its Basque and English instructions
from Llama 3.1 Instruct this way; a system prompt in the prefix fixes the language.

Two stages, both run by ``map_batches`` like :class:`~luxit_ray.stages.generate.GenerateStage`
and both writing rows of ``schema.PAIR_SCHEMA`` (one row in, one row out; failures are rows with
``error`` / ``error_kind`` and the raw output, never drops):

- :class:`MagpieQueryStage`: a plan row (``doc_id`` = the sample's id) -> an instruction row
  (``response`` null), from ``/v1/completions``. The sample id goes into the request body
  (``user``), so each sample is its own entry in the exactly-once request cache (the prefix is
  the same for all of them) and a rerun answers every recorded sample from the cache.
- :class:`MagpieAnswerStage`: an instruction row -> the pair, from ``/v1/chat/completions`` with
  the same system prompt.

Between the two the step deduplicates and language-checks the whole set of instructions
(:mod:`luxit_ray.steps.magpie`), so no duplicate is answered and paid for.

The prefixes are written per family (:func:`pre_query_prefix`), exactly as each family's real
template renders them (the tests check them against the shipped templates with
:func:`prefix_from_tokenizer`, which also serves a model whose template is not one of ours).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from luxit_ray import schema as S
from luxit_ray.chat_templates import LLAMA3_DATE_STRING, get_family, prepare_messages
from luxit_ray.config.llm import EndpointConfig, SamplingConfig
from luxit_ray.prompts import PromptTemplate
from luxit_ray.stages import LLMStage, batch_rows, check_columns, llm_map_batches_args

log = logging.getLogger(__name__)

QUERY_STAGE = "magpie_query"
ANSWER_STAGE = "magpie_answer"
SOURCE_TYPE = "magpie"
# What ends the user turn the model writes (vLLM stops on these strings and leaves them out).
# GLM-4's user turns have no closing token: the next header (``<|assistant|>``) ends them.
QUERY_STOPS: dict[str, tuple[str, ...]] = {
    "llama3": ("<|eot_id|>", "<|start_header_id|>", "<|end_of_text|>"),
    "gemma3": ("<end_of_turn>", "<start_of_turn>", "<eos>"),
    "qwen3": ("<|im_end|>", "<|im_start|>", "<|endoftext|>"),
    "glm4": ("<|assistant|>", "<|user|>", "<|observation|>", "<|endoftext|>"),
    "chatml": ("<|im_end|>", "<|im_start|>", "<|endoftext|>"),
}
_SENTINEL = "\x00MAGPIE_QUERY\x00"


def pre_query_prefix(family: str, system: str | None) -> str:
    """The text a family's template renders before the first user turn's words.

    Args:
        family: Template family name (llama3, gemma3, qwen3, glm4, chatml).
        system: The system prompt; None: no system turn (Llama 3.1's template still renders its
            own system turn with the knowledge cut-off and date; Gemma 3 has no system role, so
            the text opens the user turn as the template merges it).

    Raises:
        LuxitError: unknown family.
    """
    fam = get_family(family).name
    if fam == "llama3":
        body = f"Cutting Knowledge Date: December 2023\nToday Date: {LLAMA3_DATE_STRING}\n\n{system or ''}"
        return (f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{body}<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\n")
    if fam == "gemma3":
        return "<bos><start_of_turn>user\n" + (f"{system}\n\n" if system else "")
    if fam in ("qwen3", "chatml"):
        sys_turn = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        return f"{sys_turn}<|im_start|>user\n"
    # glm4
    return "[gMASK]<sop>" + (f"<|system|>\n{system}" if system else "") + "<|user|>\n"


def prefix_from_tokenizer(tokenizer: Any, family: str, system: str | None) -> str:
    """The pre-query prefix as the tokenizer's own template renders it (cut before a sentinel user turn).

    Raises:
        ValueError: the template does not render the user's text verbatim.
    """
    from luxit_ray.chat_templates import chat_kwargs

    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": _SENTINEL}]
    text = tokenizer.apply_chat_template(prepare_messages(msgs, family), tokenize=False, add_generation_prompt=False,
                                         **chat_kwargs(family))
    if _SENTINEL not in text:
        raise ValueError(f"the {family} template does not render the user turn verbatim")
    return text.split(_SENTINEL, 1)[0]


def clean_instruction(text: str | None, family: str) -> str:
    """The sampled user turn: cut at the first turn marker the server did not stop on, stripped."""
    out = text or ""
    for stop in QUERY_STOPS[get_family(family).name]:
        out = out.split(stop, 1)[0]
    return out.strip()


def sample_id(index: int) -> str:
    """The doc_id of Magpie sample ``index`` (sorts in sample order)."""
    return f"magpie:{index:08d}"


def magpie_pair_id(doc_id: str, query_model: str, prefix_sha: str) -> str:
    """Stable id of a Magpie pair: the sample, the model that wrote it and the prefix it continued."""
    key = "\x1f".join((doc_id, query_model, prefix_sha))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _client(endpoint_name: str, endpoint: EndpointConfig, stage: str, cache: Any, kw: Mapping[str, Any]) -> Any:
    from luxit_ray.llm import LLMClient

    return LLMClient(endpoint_name, endpoint, cache=cache, limiter=kw.get("limiter"), accountant=kw.get("accountant"),
                     transport=kw.get("transport"), stage=stage, ledger=kw.get("ledger"))


def _endpoint(value: EndpointConfig | Mapping[str, Any]) -> EndpointConfig:
    return EndpointConfig.model_validate(value) if isinstance(value, Mapping) else value


def _sampling(value: SamplingConfig | Mapping[str, Any] | None) -> SamplingConfig | None:
    return SamplingConfig.model_validate(value) if isinstance(value, Mapping) else value


class _MagpieStage(LLMStage):
    """What both Magpie stages share: one client, the prompt, the map_batches arguments."""

    INPUT_COLUMNS: tuple[str, ...] = ()
    STAGE = ""

    def __init__(self, *, endpoint_name: str, endpoint: EndpointConfig | Mapping[str, Any], prompt_name: str,
                 prompt_source: str, language: str, family: str, default_system: bool = False,
                 sampling: SamplingConfig | Mapping[str, Any] | None = None, cache_uri: str | None = None,
                 accountant: Any | None = None, limiter: Any | None = None, transport: Any | None = None,
                 ledger: Any | None = None) -> None:
        from luxit_ray.llm import RequestCache

        self.endpoint_name = endpoint_name
        self.endpoint = _endpoint(endpoint)
        self.sampling = _sampling(sampling)
        self.template = PromptTemplate(name=prompt_name, source=prompt_source)
        self.language = language
        self.family = get_family(family).name
        system = self.template.render(language=language, instruction="").messages
        self.system = None if default_system else next((m["content"] for m in system if m["role"] == "system"), None)
        self.prefix = pre_query_prefix(self.family, self.system)
        self.prefix_sha = hashlib.sha256(self.prefix.encode("utf-8")).hexdigest()[:16]
        self.cache = RequestCache(cache_uri) if cache_uri else None
        self.client = _client(endpoint_name, self.endpoint, self.STAGE, self.cache,
                              {"limiter": limiter, "accountant": accountant, "transport": transport, "ledger": ledger})
        self._checked = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def map_batches_args(cls, section: Any, endpoints: Mapping[str, Any]) -> dict[str, Any]:
        """From ``magpie``: ``concurrency`` actors, each keeping its endpoint's requests in flight."""
        name = section.endpoint if cls is MagpieQueryStage else (section.answer_endpoint or section.endpoint)
        return llm_map_batches_args(actors=section.concurrency, max_in_flight=endpoints[name].max_in_flight,
                                    batch_size=section.batch_size, rows_per_slot=section.rows_per_slot,
                                    num_cpus=section.num_cpus)

    def clients(self) -> list[Any]:
        """The stage's LLMClients."""
        return [self.client]

    def _check(self, batch: Any) -> None:
        if not self._checked:
            check_columns(type(self).__name__, batch, self.INPUT_COLUMNS)
            self._checked = True

    def _done(self, n: int) -> None:
        self.client.accountant.rows_done(self.STAGE, n)
        self.client.accountant.flush()


class MagpieQueryStage(_MagpieStage):
    """Plan rows in, sampled-instruction rows out (one each).

    Input columns: doc_id (the sample id, :func:`sample_id`).
    Output columns: schema.PAIR_SCHEMA; ``instruction`` set and ``response`` null on success,
    ``error`` / ``error_kind`` with the raw output otherwise (``length``: the turn was cut off,
    ``empty``: nothing but whitespace).
    """

    INPUT_COLUMNS = (S.DOC_ID,)
    STAGE = QUERY_STAGE

    def body_extra(self, doc_id: str) -> dict[str, Any]:
        """Fields added to the completions body: the turn's stop strings, the prefix's special
        tokens taken as written (not added again), and the sample id."""
        return {"stop": list(QUERY_STOPS[self.family]), "add_special_tokens": False,
                "skip_special_tokens": False, "user": doc_id}

    async def __call__(self, batch: pa.Table | Mapping[str, Any]) -> pa.Table:
        """Sample one instruction per plan row."""
        self._check(batch)
        rows = batch_rows(batch)
        comps = await asyncio.gather(*(self.client.complete(self.prefix, sampling=self.sampling,
                                                            extra=self.body_extra(str(r[S.DOC_ID])))
                                       for r in rows))
        out = [self.row_for(str(r[S.DOC_ID]), c) for r, c in zip(rows, comps, strict=True)]
        self._done(len(rows))
        return pa.Table.from_pylist(out, schema=S.PAIR_SCHEMA)

    def row_for(self, doc_id: str, comp: Any) -> dict[str, Any]:
        """The instruction row of one sample and its completion."""
        instruction = clean_instruction(comp.content, self.family) if comp.error is None else None
        error, kind = comp.error, comp.error_kind
        if error is None and not instruction:
            error, kind = "empty: the model closed the user turn without writing anything", "empty"
            instruction = None
        return {
            S.PAIR_ID: magpie_pair_id(doc_id, self.endpoint.model, self.prefix_sha),
            S.DOC_ID: doc_id,
            S.SOURCE: f"magpie:{self.endpoint.model}",
            S.SOURCE_TYPE: SOURCE_TYPE,
            S.TITLE: None, S.URL: None, S.DATE: None,
            S.PAIR_INDEX: 0,
            S.INSTRUCTION: instruction,
            S.RESPONSE: None,
            S.PROMPT_NAME: self.template.name,
            S.PROMPT_SHA: self.prefix_sha,
            S.MODEL: self.endpoint.model,
            S.ENDPOINT: self.endpoint_name,
            S.RAW_OUTPUT: comp.content,
            S.REASONING: comp.reasoning,
            S.USAGE: comp.usage_json(),
            S.CACHE_HIT: comp.cache_hit,
            S.ERROR: error,
            S.ERROR_KIND: kind,
        }


class MagpieAnswerStage(_MagpieStage):
    """Instruction rows in, pair rows out (one each), answered with the same system prompt.

    Input columns: schema.PAIR_SCHEMA (from :class:`MagpieQueryStage`, filtered).
    Output columns: schema.PAIR_SCHEMA; ``model`` / ``endpoint`` / ``usage`` / ``raw_output`` are the
    answer's, ``source`` still names the model that wrote the instruction.
    """

    INPUT_COLUMNS = tuple(S.PAIR_SCHEMA.names)
    STAGE = ANSWER_STAGE

    def messages(self, instruction: str) -> list[dict[str, str]]:
        """The chat messages answering one instruction."""
        msgs = self.template.render(language=self.language, instruction=instruction).messages
        if self.system is None:
            msgs = [m for m in msgs if m["role"] != "system"]
        return msgs

    async def __call__(self, batch: pa.Table | Mapping[str, Any]) -> pa.Table:
        """Answer one instruction per row."""
        self._check(batch)
        rows = batch_rows(batch)
        requests = [(self.messages(r[S.INSTRUCTION]), None, r[S.PAIR_ID]) for r in rows]
        comps = await self.client.chat_many_async(requests, sampling=self.sampling)
        out = [self.row_for(r, c) for r, c in zip(rows, comps, strict=True)]
        self._done(len(rows))
        return pa.Table.from_pylist(out, schema=S.PAIR_SCHEMA)

    def row_for(self, row: Mapping[str, Any], comp: Any) -> dict[str, Any]:
        """The pair row of one instruction and its answer."""
        response = comp.content.strip() if comp.error is None and comp.content else None
        return {
            **{k: row.get(k) for k in S.PAIR_SCHEMA.names},
            S.RESPONSE: response,
            S.PROMPT_SHA: self.template.sha,
            S.MODEL: self.endpoint.model,
            S.ENDPOINT: self.endpoint_name,
            S.RAW_OUTPUT: comp.content,
            S.REASONING: comp.reasoning,
            S.USAGE: comp.usage_json(),
            S.CACHE_HIT: comp.cache_hit,
            S.ERROR: comp.error,
            S.ERROR_KIND: comp.error_kind,
        }
