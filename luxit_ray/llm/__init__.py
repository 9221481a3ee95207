"""The LLM client layer: an asynchronous OpenAI-compatible chat client with retries, a shared
rate limiter, a durable request cache (exactly-once spending) and cost accounting.

How a stage uses it (one client per actor, built in ``__init__``)::

    # driver, before ds.map_batches(...): the driver owns the shared actors
    limiter = get_rate_limiter(endpoint_name, ep.requests_per_minute, ep.tokens_per_minute)
    accountant = get_accountant(run_id)
    # actor __init__ (limiter/accountant handles arrive pickled through fn_constructor_kwargs)
    client = LLMClient(endpoint_name, ep, cache=RequestCache(uri), limiter=limiter,
                       accountant=accountant, stage="generate")
    # __call__: sync UDF -> client.chat_many(reqs); async UDF -> await client.chat_many_async(reqs)

Requests in flight per actor are at most ``max_in_flight`` and at most what the caller hands over
at once: an async UDF gets ``batch_size`` x the batches Ray Data runs concurrently per actor (4 by
default for async batch UDFs), so holding thousands in flight needs a large ``batch_size`` or
more concurrent batches.

Errors: row errors are values on :class:`Completion`; :class:`~luxit_ray.errors.AuthError`
(401/403, missing key variable) and :class:`~luxit_ray.errors.EndpointError` (404) are raised and
stop the job; in the driver, :func:`unwrap_ray_error` recovers them from Ray's wrappers.

Exactly once: every HTTP 200 answer is made durable in the cache before the caller sees it; after
a kill, a rerun re-sends only requests that had no recorded answer (those in flight at the kill,
and failures that cost nothing: 4xx, 5xx, timeouts).
"""

from __future__ import annotations

from luxit_ray.errors import unwrap_ray_error
from luxit_ray.llm.accounting import Accountant, AccountantHandle, format_progress, get_accountant
from luxit_ray.llm.cache import RequestCache, body_key, build_body, request_key
from luxit_ray.llm.client import (
    ERROR_KINDS,
    Completion,
    LLMClient,
    merge_sampling,
    response_format_for,
)
from luxit_ray.llm.limiter import RateLimiterHandle, TokenBuckets, get_rate_limiter

__all__ = [
    "ERROR_KINDS",
    "Accountant",
    "AccountantHandle",
    "Completion",
    "LLMClient",
    "RateLimiterHandle",
    "RequestCache",
    "TokenBuckets",
    "body_key",
    "build_body",
    "format_progress",
    "get_accountant",
    "get_rate_limiter",
    "merge_sampling",
    "request_key",
    "response_format_for",
    "unwrap_ray_error",
]
