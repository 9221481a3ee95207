"""The asynchronous OpenAI-compatible chat client used by every LLM stage.

One client per actor. It keeps up to ``max_in_flight`` requests in flight on its own long-lived
event loop (a background thread), retries transient failures with full-jitter exponential backoff
honouring ``Retry-After``, takes permits from a rate limiter shared by every actor of the stage,
records every billed response in the durable request cache before returning it, and reports
usage to the run's accountant.

Failures of one request become row errors (``Completion.error``); credentials refused (401/403)
raise :class:`~luxit_ray.errors.AuthError` and an unknown model/path (404) raises
:class:`~luxit_ray.errors.EndpointError`, which stop the job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Coroutine, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from luxit_ray.config.llm import EndpointConfig, SamplingConfig
from luxit_ray.errors import AuthError, EndpointError
from luxit_ray.llm.cache import RequestCache
from luxit_ray.llm.hedge import Hedger, Slots
from luxit_ray.llm.request import body_key, build_body, merge_sampling
from luxit_ray.llm.spend import Billing, PaidBy, cached_tokens_of
from luxit_ray.llm.transport import RawResponse, Transport, TransportError, make_transport

log = logging.getLogger(__name__)

T = TypeVar("T")

# Row error kinds this module produces.
ERROR_KINDS = (
    "length",  # finish_reason "length": the answer was cut off (raw content kept)
    "context_length",  # 400: the prompt does not fit the model's context
    "timeout",  # no answer within timeout_s, retries exhausted
    "http_5xx",  # server errors, retries exhausted
    "http_429",  # rate limited (also 408/409), retries exhausted
    "bad_request",  # another 4xx (not retried)
    "empty",  # 200 with no content
    "connection",  # connection refused/reset, retries exhausted
    "bad_response",  # 200 whose body is not a chat completion, retries exhausted
    "deferred",  # not sent: collected for a batch (an outbox) or left for it (a collect pass)
)
# Failures after which the endpoint may still bill the send: it answered 200 with something that
# is not a chat completion, or the client gave up while the endpoint kept generating.
_BILLED_FAILURES = frozenset({"bad_response", "timeout"})

_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context length",
    "context window",
    "too many tokens",
    "prompt is too long",
    "input is too long",
)
# A server may ask for a long pause; we honour it up to this many seconds per wait.
_MAX_RETRY_AFTER_S = 600.0
_CLOSE_TIMEOUT_S = 30.0  # longest wait for close(): flush accounting, close connections
CHAT_PATH = "/chat/completions"
COMPLETIONS_PATH = "/completions"  # raw-text completions (self-hosted models: Magpie's pre-query prefix)


@dataclass
class Completion:
    """The outcome of one chat request (a success or a row error, never an exception).

    Attributes:
        content: The message content exactly as received (None when absent).
        reasoning: The endpoint's separate reasoning field (``reasoning_content`` or ``reasoning``).
        finish_reason: As reported by the endpoint.
        prompt_tokens: Input tokens of the answer.
        cached_tokens: Of ``prompt_tokens``, those read from the provider's prompt cache.
        completion_tokens: Output tokens billed (reasoning included, as OpenAI/DeepSeek/vLLM count).
        reasoning_tokens: The reasoning part of ``completion_tokens`` where reported.
        retries: Retries spent on this request.
        cache_hit: The response came from the request cache (nothing was spent).
        latency_s: Wall time of the call, retries and waits included.
        hedges: Copies sent for this request (see :mod:`luxit_ray.llm.hedge`).
        hedge_won: A copy's answer came first.
        error: None on success, else ``"<kind>: <detail>"``.
        error_kind: One of :data:`ERROR_KINDS` or None.
        billing: What every send of the request may be billed (:class:`~luxit_ray.llm.spend.Billing`;
            None: nothing was sent, e.g. a deferred request). A cache hit carries the billing of
            the send that recorded it.
        paid: Which run and attempt paid it (None: not recorded in a run's ledger).
    """

    content: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    retries: int = 0
    cache_hit: bool = False
    latency_s: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    hedges: int = 0
    hedge_won: bool = False
    cached_tokens: int = 0
    billing: Billing | None = None
    paid: PaidBy | None = None

    @property
    def ok(self) -> bool:
        """True when there is no row error."""
        return self.error is None

    def usage_json(self) -> str:
        """The ``usage`` column value (schema.USAGE)."""
        usage: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached": self.cache_hit,
            "retries": self.retries,
            "hedges": self.hedges,
        }
        if self.billing is not None:
            usage["billing"] = self.billing.to_dict()
        if self.paid is not None:
            usage["paid"] = self.paid.to_dict()
        return json.dumps(usage, sort_keys=True)

    def to_record(self) -> dict[str, Any]:
        """What the request cache stores: the answer, what it cost and who paid for it."""
        d = asdict(self)
        for k in ("retries", "cache_hit", "hedges", "hedge_won"):
            d.pop(k)
        d["billing"] = self.billing.to_dict() if self.billing is not None else None
        d["paid"] = self.paid.to_dict() if self.paid is not None else None
        return d

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Completion:
        """A cache hit rebuilt from :meth:`to_record` output (records written before billing
        was kept get the answer's own usage as their billing)."""
        fields = {k: record[k] for k in cls.__dataclass_fields__ if k in record}
        fields.update(cache_hit=True, retries=0, latency_s=0.0, hedges=0, hedge_won=False)
        billing = record.get("billing")
        fields["billing"] = (Billing.from_dict(billing) if billing else Billing.of_answer(
            int(record.get("prompt_tokens") or 0), int(record.get("cached_tokens") or 0),
            int(record.get("completion_tokens") or 0)))
        fields["paid"] = PaidBy.from_dict(record.get("paid"))
        return cls(**fields)


def parse_chat_completion(data: bytes | str | Mapping[str, Any]) -> Completion:
    """A chat completion body (as an endpoint or a batch output line returns it) as a Completion.

    ``finish_reason`` "length" and empty content become the row errors ``length`` and ``empty``
    (billed answers, recorded like any other); usage is read in both shapes (OpenAI/vLLM
    ``prompt_tokens_details.cached_tokens``, DeepSeek ``prompt_cache_hit_tokens``).

    Raises:
        ValueError: the body is not a chat completion.
    """
    try:
        body = json.loads(data) if isinstance(data, (bytes, str)) else data
        choice = body["choices"][0]
        message = choice.get("message") or {}
        usage = body.get("usage") or {}
        details = usage.get("completion_tokens_details") or {}
        content = message.get("content")
        reasoning = message.get("reasoning_content")
        if reasoning is None:
            reasoning = message.get("reasoning")
        comp = Completion(
            content=content,
            reasoning=reasoning,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            reasoning_tokens=int(details.get("reasoning_tokens") or 0),
            cached_tokens=cached_tokens_of(usage),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a chat completion: {exc!r}") from None
    if comp.finish_reason == "length":
        comp.error = (
            f"length: the answer was cut off at {comp.completion_tokens} completion tokens"
            " (raise max_tokens)"
        )
        comp.error_kind = "length"
    elif content is None or not str(content).strip():
        comp.error = f"empty: HTTP 200 with empty content (finish_reason {comp.finish_reason})"
        comp.error_kind = "empty"
    return comp


def parse_text_completion(data: bytes | str | Mapping[str, Any]) -> Completion:
    """A ``/v1/completions`` body (``choices[0].text``) as a Completion, with the same row errors
    and usage reading as :func:`parse_chat_completion`.

    Raises:
        ValueError: the body is not a text completion.
    """
    try:
        body = json.loads(data) if isinstance(data, (bytes, str)) else data
        text = body["choices"][0]["text"]
        if text is not None and not isinstance(text, str):
            raise TypeError(f"choices[0].text is {type(text).__name__}")
        chat = {**body, "choices": [{"message": {"content": text},
                                     "finish_reason": body["choices"][0].get("finish_reason")}]}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a text completion: {exc!r}") from None
    return parse_chat_completion(chat)


def response_format_for(schema: dict[str, Any] | None, mode: str, name: str) -> dict[str, Any] | None:
    """The ``response_format`` request field for a structured-output mode.

    Args:
        schema: JSON schema of the expected output (a pydantic ``model_json_schema()``).
        mode: ``json_schema`` (vLLM, OpenAI), ``json_object`` (plain JSON mode) or ``none``.
        name: Schema name (letters, digits, ``_`` and ``-``).

    Raises:
        ValueError: unknown mode, or json_schema without a schema.
    """
    if mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_schema":
        if schema is None:
            raise ValueError("response_format_for: mode json_schema needs a schema")
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
    raise ValueError(f"response_format_for: unknown mode {mode!r} (json_schema, json_object, none)")


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds asked for by ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = lower.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_message(body: bytes, limit: int = 300) -> str:
    """The error text of an OpenAI-style error body, or the start of the raw body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body[:limit].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            parts = [str(err.get(k)) for k in ("code", "type", "message") if err.get(k)]
            if parts:
                return " ".join(parts)[:limit]
        elif isinstance(err, str):
            return err[:limit]
        if isinstance(data.get("message"), str):
            return data["message"][:limit]
    return body[:limit].decode("utf-8", "replace").strip()


def _is_context_error(body: bytes) -> bool:
    text = body[:4000].decode("utf-8", "replace").lower()
    return any(m in text for m in _CONTEXT_MARKERS)


class _Retry(Exception):
    """One retryable failure: its row-error kind, detail and the server's requested pause."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


class _LoopThread:
    """A long-lived event loop on a daemon thread (one per client), for sync callers."""

    def __init__(self, name: str) -> None:
        try:
            # uvloop roughly halves the event loop's share of a request's CPU cost (measured:
            # bench/llm_throughput.py); optional, the standard loop works the same otherwise.
            import uvloop

            self.loop = uvloop.new_event_loop()
        except ImportError:
            self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def alive(self) -> bool:
        return self._thread.is_alive() and self.loop.is_running()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the thread's loop and wait for it (at most ``timeout`` seconds).

        Raises:
            RuntimeError: the loop no longer runs (its daemon thread ended, e.g. while the
                process shuts down): waiting would never end.
            concurrent.futures.TimeoutError: ``timeout`` passed.
        """
        if not self.alive():
            coro.close()
            raise RuntimeError("the client's event loop thread is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


class LLMClient:
    """An OpenAI-compatible chat-completions client for one endpoint.

    Args:
        name: The endpoint's name in the job config (used in messages; never the key).
        endpoint: Its configuration.
        cache: Durable request cache; None: no caching.
        limiter: Rate limiter handle shared by the stage's actors (see
            :func:`~luxit_ray.llm.limiter.get_rate_limiter`). None: built from the endpoint's
            ``requests_per_minute`` / ``tokens_per_minute`` when set (shared by name through Ray
            when Ray is initialised, else in-process).
        accountant: An :class:`~luxit_ray.llm.accounting.AccountantHandle`; None: a private
            in-process one (``client.accountant``).
        transport: ``"aiohttp"`` (our aiohttp transport), ``"openai"`` (the ``AsyncOpenAI``
            SDK on its aiohttp client), or a :class:`Transport` instance; None: the endpoint's
            ``transport`` setting.
        stage: Stage label used for accounting (e.g. ``"generate"``, ``"judge:gpt5mini"``).
        ledger: The run's :class:`~luxit_ray.llm.spend.Ledger`: every paid request gets a line
            (written with its cache record, before anyone sees the answer) and a payer id that
            its cache record keeps. None: spend is only counted live.
        outbox: Collect instead of send: a cache miss hands ``(key, body)`` to
            ``outbox.add`` and comes back as a ``deferred`` row error (the batch pre-pass,
            :mod:`luxit_ray.llm.batch`).
        defer: A cache miss comes back ``deferred`` without being sent (a collect pass for
            another endpoint's batch spends nothing here).

    Raises:
        AuthError: ``api_key_env`` names an environment variable that is not set.
    """

    def __init__(
        self,
        name: str,
        endpoint: EndpointConfig,
        *,
        cache: RequestCache | None = None,
        limiter: Any | None = None,
        accountant: Any | None = None,
        transport: Transport | str | None = None,
        stage: str = "llm",
        ledger: Any | None = None,
        outbox: Any | None = None,
        defer: bool = False,
    ) -> None:
        self.name = name
        self.ledger = ledger
        self.outbox = outbox
        self.defer = defer
        self.endpoint = endpoint
        self.stage = stage
        self.base_url = endpoint.base_url.rstrip("/")
        self.cache = cache
        api_key = None
        if endpoint.api_key_env:
            api_key = os.environ.get(endpoint.api_key_env)
            if not api_key:
                raise AuthError(
                    f"endpoint {name!r}: environment variable {endpoint.api_key_env} is not set"
                )
        if isinstance(transport, Transport):
            self._transport = transport
        else:
            self._transport = make_transport(
                transport or endpoint.transport,
                base_url=self.base_url,
                api_key=api_key,
                max_connections=endpoint.max_in_flight,
                timeout_s=endpoint.timeout_s,
                report_sent=endpoint.hedge_quantile is not None,  # only hedge copies need it
            )
        del api_key
        if limiter is None and (endpoint.requests_per_minute or endpoint.tokens_per_minute):
            from luxit_ray.llm.limiter import get_rate_limiter

            limiter = get_rate_limiter(name, endpoint.requests_per_minute, endpoint.tokens_per_minute)
        self.limiter = limiter
        if accountant is None:
            from luxit_ray.llm.accounting import AccountantHandle

            accountant = AccountantHandle.local()
        self.accountant = accountant
        self._slots: dict[asyncio.AbstractEventLoop, tuple[Slots, Hedger | None]] = {}
        self._loop_thread: _LoopThread | None = None
        self._loop_lock = threading.Lock()
        self._last_merge: tuple[SamplingConfig | None, SamplingConfig] | None = None
        self._closed = False

    # -- public API --------------------------------------------------------------------
    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None = None,
        sampling: SamplingConfig | None = None,
        cache_hint: str | None = None,
    ) -> Completion:
        """Send one chat request (or answer it from the cache), on the caller's event loop.

        Args:
            messages: OpenAI chat messages.
            response_format: From :func:`response_format_for`, or None.
            sampling: Overrides of the endpoint's sampling parameters.
            cache_hint: What requests sharing a prompt prefix have in common (a seed's id):
                sent as ``prompt_cache_key`` where the endpoint sets ``prompt_cache_key``.

        Returns:
            A Completion; failures are row errors on it.

        Raises:
            AuthError: the endpoint refused the credentials (401/403).
            EndpointError: the endpoint does not know the model or path (404).
        """
        t0 = time.monotonic()
        params = self._merged(sampling)
        body = self._body(messages, params, response_format, cache_hint)
        return await self._request(body, params, t0, CHAT_PATH)

    async def complete(
        self, prompt: str, *, sampling: SamplingConfig | None = None, extra: Mapping[str, Any] | None = None
    ) -> Completion:
        """Send one raw-text request to ``/v1/completions`` (or answer it from the cache).

        The same cache, ledger, accounting, retries and row errors as :meth:`chat`; the answer's
        ``choices[0].text`` becomes ``content``. It is never collected for the Batch API.

        Args:
            prompt: The text the model continues, exactly as sent (special tokens included).
            sampling: Overrides of the endpoint's sampling parameters.
            extra: More body fields (``stop``, ``user``, vLLM's ``add_special_tokens``...).

        Raises:
            AuthError, EndpointError: as :meth:`chat`.
            ValueError: the client collects for a batch (completions have no batch path here).
        """
        if self.outbox is not None or self.defer:
            raise ValueError(f"endpoint {self.name!r}: text completions are not sent through the Batch API")
        t0 = time.monotonic()
        params = self._merged(sampling)
        body = {**build_body(self.endpoint.model, [], params), **dict(extra or {})}
        del body["messages"]
        body["prompt"] = prompt
        return await self._request(body, params, t0, COMPLETIONS_PATH)

    async def _request(self, body: dict[str, Any], params: SamplingConfig, t0: float, path: str) -> Completion:
        """Answer a body from the cache or send it to ``path``; ledger, cache and accounting."""
        collecting = self.outbox is not None or self.defer
        key = body_key(self.base_url, body) if self.cache is not None or collecting else None
        if key is not None and self.cache is not None:
            record = await self.cache.get_async(key)
            if record is not None:
                comp = Completion.from_record(record)
                self._account(comp)
                return comp
        if collecting:
            if self.outbox is not None:
                self.outbox.add(key, body)
            return Completion(error="deferred: not sent in this pass (batch mode)", error_kind="deferred")
        comp = await self._send(body, params, t0, path)
        if comp.billing is not None and comp.billing.sends and self.ledger is not None:
            # The spend first, then the answer: a kill between the two leaves a paid request in
            # the ledger that the rerun sends again (paid twice, and shown so), never an answer
            # in the cache whose payment no ledger holds.
            comp.paid = self.ledger.paid_by()
            await self.ledger.record_async(self.ledger.line(
                self.stage, self.endpoint.model, self.name, self.endpoint, comp.billing, comp.paid, comp.error_kind))
        if key is not None and self.cache is not None and comp.error_kind in (None, "length", "empty"):
            # Billed responses are recorded before anyone sees them: a rerun never pays again.
            await self.cache.put_async(key, comp.to_record())
        self._account(comp)
        return comp

    def _body(self, messages: list[dict[str, Any]], params: SamplingConfig, response_format: dict[str, Any] | None,
              cache_hint: str | None) -> dict[str, Any]:
        body = build_body(self.endpoint.model, messages, params, response_format)
        if self.endpoint.service_tier:
            body["service_tier"] = self.endpoint.service_tier
        if self.endpoint.prompt_cache_key and cache_hint:
            body["prompt_cache_key"] = cache_hint if len(cache_hint) <= 64 else hashlib.sha256(
                cache_hint.encode()).hexdigest()[:32]
        return body

    def chat_many(
        self,
        requests: list[tuple[Any, ...]],
        sampling: SamplingConfig | None = None,
    ) -> list[Completion]:
        """Run many requests concurrently (bounded by ``max_in_flight``) and return them in order.

        A synchronous helper for ``map_batches`` UDFs: the work runs on the client's own
        long-lived event loop thread.

        Args:
            requests: ``(messages, response_format)`` or ``(messages, response_format,
                cache_hint)`` tuples.
            sampling: Overrides of the endpoint's sampling parameters for all of them.

        Raises:
            AuthError, EndpointError: as :meth:`chat` (the other requests are cancelled).
        """
        if not requests:
            return []
        return self._run_sync(self._many(requests, sampling))

    async def chat_many_async(
        self,
        requests: list[tuple[list[dict[str, Any]], dict[str, Any] | None]],
        sampling: SamplingConfig | None = None,
    ) -> list[Completion]:
        """Asynchronous form of :meth:`chat_many` for async UDFs.

        The requests run on the client's own loop thread (uvloop when installed), whichever
        loop awaits them, so one connection pool and one in-flight bound serve every caller
        (Ray Data runs several batches of an async UDF at once on its own loop).
        """
        if not requests:
            return []
        fut = asyncio.run_coroutine_threadsafe(self._many(requests, sampling), self._own_loop())
        return await asyncio.wrap_future(fut)

    async def aclose(self) -> None:
        """Flush accounting and close the HTTP transport."""
        if self._closed:
            return
        self._closed = True
        try:
            self.accountant.flush()
        finally:
            try:
                await self._transport.aclose()
            finally:
                lt = self._loop_thread
                if lt is not None and asyncio.get_running_loop() is not lt.loop:
                    # Awaited from another loop: stop the client's thread too (close() does
                    # that itself when it runs this on the client's own loop).
                    self._loop_thread = None
                    await asyncio.to_thread(lt.stop)

    def close(self) -> None:
        """Synchronous :meth:`aclose` (also stops the client's loop thread)."""
        if self._closed:
            return
        if self._loop_thread is not None:
            lt = self._loop_thread
            try:
                # Bounded: close() also runs from __del__ when Ray Data drops a stage, and an
                # actor whose close waits for ever never exits.
                lt.run(self.aclose(), timeout=_CLOSE_TIMEOUT_S)
            except (RuntimeError, concurrent.futures.TimeoutError) as exc:
                log.warning("endpoint %s: closing the client did not finish (%s): connections dropped",
                            self.name, exc or "timed out")
            finally:
                self._closed = True
                lt.stop()
                self._loop_thread = None
        else:
            asyncio.run(self.aclose())

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------
    def _own_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop_thread is None:
                self._loop_thread = _LoopThread(f"llm-{self.name}")
        return self._loop_thread.loop

    def _run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        self._own_loop()
        return self._loop_thread.run(coro)

    async def _many(
        self,
        requests: list[tuple[list[dict[str, Any]], dict[str, Any] | None]],
        sampling: SamplingConfig | None,
    ) -> list[Completion]:
        t0 = time.monotonic()
        tasks = [
            asyncio.ensure_future(self.chat(r[0], response_format=r[1], sampling=sampling,
                                            cache_hint=r[2] if len(r) > 2 else None))
            for r in requests
        ]
        try:
            done = list(await asyncio.gather(*tasks))
            # Each answered row waits from its answer to the call's slowest: row-seconds a step's
            # spare rows (rows_per_slot) must cover, measured on the endpoint's own tail.
            wall = time.monotonic() - t0
            self.accountant.call_done(self.stage, self.endpoint.model,
                                      sum(max(0.0, wall - c.latency_s) for c in done if not c.cache_hit))
            return done
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            self.accountant.maybe_flush()

    def _merged(self, sampling: SamplingConfig | None) -> SamplingConfig:
        # A batch passes the same override object for every request: merge it once.
        last = self._last_merge
        if last is not None and last[0] is sampling:
            return last[1]
        merged = merge_sampling(self.endpoint.sampling, sampling)
        self._last_merge = (sampling, merged)
        return merged

    def _bound(self) -> tuple[Slots, Hedger | None]:
        # One bound per event loop (its waiters are that loop's futures); chat_many and
        # chat_many_async share the client's own loop, so they share one bound.
        loop = asyncio.get_running_loop()
        bound = self._slots.get(loop)
        if bound is None:
            ep = self.endpoint
            slots = Slots(ep.max_in_flight)
            hedger = None
            if ep.hedge_quantile is not None:
                hedger = Hedger(ep.hedge_quantile, ep.hedge_budget, ep.hedge_copies)
                hedger.bind(slots)
            bound = self._slots[loop] = (slots, hedger)
        return bound

    @property
    def hedge_delay_s(self) -> float | None:
        """The current hedging delay on the client's own loop (None: not hedging yet or at all)."""
        lt = self._loop_thread
        bound = self._slots.get(lt.loop) if lt is not None else None
        return bound[1].delay_s if bound is not None and bound[1] is not None else None

    @staticmethod
    def _prompt_estimate(body: dict[str, Any]) -> int:
        """Input tokens of a body whose usage was never seen (4 characters a token): the prompt,
        or the messages' text (string contents and the text parts of list contents)."""
        chars = len(body["prompt"]) if isinstance(body.get("prompt"), str) else 0
        for m in body.get("messages", ()):
            c = m.get("content")
            if isinstance(c, str):
                chars += len(c)
            elif isinstance(c, list):
                chars += sum(len(p.get("text", "")) for p in c if isinstance(p, dict))
        return chars // 4

    def _estimate_tokens(self, body: dict[str, Any], params: SamplingConfig) -> int:
        """What the rate limiter reserves before a send: the input estimate plus the output budget."""
        return self._prompt_estimate(body) + (params.max_tokens or 0)

    async def _send(self, body: dict[str, Any], params: SamplingConfig, t0: float,
                    path: str = CHAT_PATH) -> Completion:
        ep = self.endpoint
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        estimate = self._estimate_tokens(body, params) if self.limiter is not None else 0
        slots, hedger = self._bound()
        retries = hedges = 0
        hedge_won = False
        extra_sends = 0  # other sends the endpoint took on and may bill (copies, 200s without a completion)
        gave_up = 0  # sends the client stopped waiting for (timeouts)

        async def post() -> RawResponse:
            return await self._transport.post(path, payload)

        # The attempt's copies that left the process (``copies``): one cancelled before its headers
        # were written (the first answer came while it waited for the limiter or a connection)
        # reached no one and is neither counted nor billed.
        def copy_left() -> None:
            nonlocal copies
            copies += 1

        async def post_copy() -> RawResponse:
            if self.limiter is not None:
                await self.limiter.acquire(estimate)  # a copy is a request the endpoint counts
            if not getattr(self._transport, "reports_sent", False):
                copy_left()  # no way to tell: counted as sent
                return await post()
            return await self._transport.post(path, payload, on_sent=copy_left)

        while True:
            if self.limiter is not None:
                await self.limiter.acquire(estimate)
            copies = 0
            try:
                async with slots:
                    if hedger is None:
                        raw = await post()
                    else:
                        raw, won = await hedger.send(post, post_copy)
                        hedges += copies
                        hedge_won = hedge_won or won
                        if isinstance(raw, TransportError):
                            raise raw  # both sends failed: the first one's failure
                comp = self._interpret(raw, path)
            except _Retry as r:
                failure = r
            except TransportError as e:
                failure = _Retry(e.kind, e.detail)
            else:
                comp.retries = retries
                comp.hedges, comp.hedge_won = hedges, hedge_won
                comp.latency_s = time.monotonic() - t0
                if raw.status == 200:
                    # The losing sends of a hedged attempt were cancelled, but may be billed.
                    comp.billing = Billing.of_answer(comp.prompt_tokens, comp.cached_tokens, comp.completion_tokens,
                                                     extra_sends=extra_sends + copies, unanswered_sends=gave_up)
                elif extra_sends + gave_up + copies:
                    comp.billing = Billing.of_failure(extra_sends + gave_up + copies, self._prompt_estimate(body))
                if self.limiter is not None:
                    self.limiter.settle(comp.prompt_tokens + comp.completion_tokens - estimate)
                return comp
            if failure.kind == "bad_response":
                extra_sends += 1 + copies
            elif failure.kind == "timeout":
                gave_up += 1 + copies
            if retries >= ep.max_retries:
                billed = extra_sends + gave_up
                return Completion(
                    retries=retries,
                    hedges=hedges,
                    latency_s=time.monotonic() - t0,
                    error=f"{failure.kind}: {failure.detail} (after {retries} retries)",
                    error_kind=failure.kind,
                    billing=Billing.of_failure(billed, self._prompt_estimate(body)) if billed else None,
                )
            delay = random.uniform(0.0, min(ep.backoff_max_s, ep.backoff_base_s * (2.0**retries)))
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, _MAX_RETRY_AFTER_S))
            retries += 1
            log.debug("endpoint %s: %s; retry %d in %.2fs", self.name, failure.detail, retries, delay)
            await asyncio.sleep(delay)

    def _interpret(self, raw: RawResponse, path: str = CHAT_PATH) -> Completion:
        status = raw.status
        if status == 200:
            return self._parse_success(raw.body, path)
        detail = _error_message(raw.body)
        if status in (401, 403):
            raise AuthError(
                f"endpoint {self.name!r} ({self.base_url}) refused the credentials: HTTP {status}"
                + (f" (key from ${self.endpoint.api_key_env})" if self.endpoint.api_key_env else " (no key configured)")
            )
        if status == 404:
            raise EndpointError(
                f"endpoint {self.name!r} ({self.base_url}): HTTP 404 for model {self.endpoint.model!r}: {detail}"
            )
        if status in _RETRYABLE_STATUS:
            raise _Retry("http_429", f"HTTP {status} {detail}".strip(), _retry_after_s(raw.headers))
        if status >= 500:
            raise _Retry("http_5xx", f"HTTP {status} {detail}".strip(), _retry_after_s(raw.headers))
        if _is_context_error(raw.body):
            return Completion(error=f"context_length: HTTP {status} {detail}", error_kind="context_length")
        return Completion(error=f"bad_request: HTTP {status} {detail}", error_kind="bad_request")

    def _parse_success(self, body: bytes, path: str = CHAT_PATH) -> Completion:
        try:
            return parse_text_completion(body) if path == COMPLETIONS_PATH else parse_chat_completion(body)
        except ValueError:
            what = "text completion" if path == COMPLETIONS_PATH else "chat completion"
            raise _Retry("bad_response", f"HTTP 200 without a {what}: {body[:200]!r}") from None

    def _account(self, comp: Completion) -> None:
        self.accountant.record(
            self.stage, self.endpoint.model, comp, prices=self.endpoint,
            run_id=self.ledger.run_id if self.ledger is not None else None,
        )
