"""Request bodies and their cache keys.

The cache key is a hash of exactly what is sent (the request body) plus the endpoint's base URL,
so the client, the request cache and the test server all agree on it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from luxit_ray.config.llm import SamplingConfig

# Sampling fields sent as top-level body fields when set.
_SAMPLING_FIELDS = ("temperature", "top_p", "max_tokens", "seed")


def merge_sampling(base: SamplingConfig | None, override: SamplingConfig | None) -> SamplingConfig:
    """Field-wise merge: every field the override sets wins; ``extra_body`` dicts are merged.

    Args:
        base: The endpoint's sampling defaults.
        override: A stage's or judge's overrides (None: none).
    """
    if base is None:
        base = SamplingConfig()
    if override is None:
        return base
    data = base.model_dump()
    for field in _SAMPLING_FIELDS:
        value = getattr(override, field)
        if value is not None:
            data[field] = value
    data["extra_body"] = {**base.extra_body, **override.extra_body}
    return SamplingConfig.model_validate(data)


def build_body(
    model: str,
    messages: list[dict[str, Any]],
    sampling: SamplingConfig | dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The chat-completions request body, exactly as it goes on the wire.

    Args:
        model: Model name.
        messages: OpenAI chat messages (``[{"role": ..., "content": ...}]``).
        sampling: Sampling parameters; unset ones are left to the endpoint.
        response_format: ``response_format`` value or None.
    """
    if isinstance(sampling, dict):
        sampling = SamplingConfig.model_validate(sampling)
    body: dict[str, Any] = {"model": model, "messages": messages}
    if sampling is not None:
        for field in _SAMPLING_FIELDS:
            value = getattr(sampling, field)
            if value is not None:
                body[field] = value
        for k, v in sampling.extra_body.items():
            body[k] = v
    if response_format is not None:
        body["response_format"] = response_format
    return body


def canonical_json(obj: Any) -> bytes:
    """Key-order-independent compact JSON (UTF-8) used for hashing."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def body_key(base_url: str, body: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of ``{base_url, body}`` (trailing slashes ignored)."""
    blob = canonical_json({"base_url": base_url.rstrip("/"), "body": body})
    return hashlib.sha256(blob).hexdigest()


def request_key(
    base_url: str,
    model: str,
    messages: list[dict[str, Any]],
    sampling: SamplingConfig | dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
) -> str:
    """The request cache key: endpoint URL, model, rendered messages, sampling and output format."""
    return body_key(base_url, build_body(model, messages, sampling, response_format))
