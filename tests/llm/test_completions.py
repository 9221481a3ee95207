"""LLMClient.complete: /v1/completions through the same cache, retries, ledger-free accounting and row errors."""

from __future__ import annotations

import asyncio

import pytest

from luxit_ray.config.llm import EndpointConfig, SamplingConfig
from luxit_ray.llm import LLMClient, RequestCache
from luxit_ray.llm.client import parse_text_completion
from tests.magpie_server import CompletionsServer


def _endpoint(url: str, **kw) -> EndpointConfig:
    return EndpointConfig(base_url=url, model="m", backoff_base_s=0.01, backoff_max_s=0.02, max_retries=2,
                          timeout_s=10, **kw)


def _complete(client: LLMClient, prompt: str, **kw):
    async def go():
        try:
            return await client.complete(prompt, **kw)
        finally:
            await client.aclose()
    return asyncio.run(go())


def test_parse_text_completion_values_and_errors():
    comp = parse_text_completion({"choices": [{"text": "Wéi ass d'Wieder?", "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 5, "completion_tokens": 6}})
    assert (comp.content, comp.prompt_tokens, comp.completion_tokens, comp.error) == ("Wéi ass d'Wieder?", 5, 6, None)
    cut = parse_text_completion({"choices": [{"text": "Wéi", "finish_reason": "length"}], "usage": {"completion_tokens": 9}})
    assert cut.error_kind == "length" and cut.content == "Wéi"
    assert parse_text_completion({"choices": [{"text": "  ", "finish_reason": "stop"}]}).error_kind == "empty"
    with pytest.raises(ValueError):
        parse_text_completion({"choices": [{"message": {"content": "x"}}]})


def test_complete_body_cache_and_retry(tmp_path):
    calls = {"n": 0}

    def answer(path, body):
        calls["n"] += 1
        return 500 if calls["n"] == 1 else "Wat ass d'Haaptstad?"

    with CompletionsServer(answer) as srv:
        cache = RequestCache(str(tmp_path / "cache"))
        sampling = SamplingConfig(temperature=1.0, max_tokens=32)
        comp = _complete(LLMClient("local", _endpoint(srv.base_url), cache=cache), "<|im_start|>user\n",
                         sampling=sampling, extra={"stop": ["<|im_end|>"], "user": "magpie:00000001"})
        assert (comp.content, comp.retries, comp.cache_hit, comp.prompt_tokens, comp.completion_tokens) == (
            "Wat ass d'Haaptstad?", 1, False, 11, 7)
        assert srv.paths() == ["/completions", "/completions"]
        assert srv.requests[-1][1] == {"model": "m", "prompt": "<|im_start|>user\n", "temperature": 1.0,
                                       "max_tokens": 32, "stop": ["<|im_end|>"], "user": "magpie:00000001"}
        again = _complete(LLMClient("local", _endpoint(srv.base_url), cache=cache), "<|im_start|>user\n",
                          sampling=sampling, extra={"stop": ["<|im_end|>"], "user": "magpie:00000001"})
        assert (again.content, again.cache_hit) == ("Wat ass d'Haaptstad?", True)
        assert len(srv.requests) == 2  # answered from the cache: nothing sent
        cache.close()


def test_complete_refuses_batch_collection():
    client = LLMClient("local", _endpoint("http://127.0.0.1:9/v1"), defer=True)
    with pytest.raises(ValueError, match="Batch API"):
        _complete(client, "x")
