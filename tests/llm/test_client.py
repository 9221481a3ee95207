"""LLMClient against the real local OpenAI-compatible server: success, retries, row errors, auth."""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
import time

import pytest

from luxit_ray.config.llm import SamplingConfig
from luxit_ray.errors import AuthError, EndpointError
from luxit_ray.llm import LLMClient, request_key, response_format_for
from luxit_ray.llm.client import _retry_after_s
from tests.openai_server import Reply


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _one(client: LLMClient, text: str = "Moien", **kw):
    try:
        return client.chat_many([(_user(text), kw.get("response_format"))], sampling=kw.get("sampling"))[0]
    finally:
        client.close()


def test_success_exact_usage_and_reasoning(openai_server, endpoint):
    openai_server.set_script([
        Reply(content="Gudde Moien!", reasoning_content="Si seet moien.",
              usage={"prompt_tokens": 17, "completion_tokens": 42, "total_tokens": 59,
                     "completion_tokens_details": {"reasoning_tokens": 30}})
    ])
    comp = _one(LLMClient("local", endpoint()))
    assert comp.error is None and comp.error_kind is None
    assert comp.content == "Gudde Moien!"
    assert comp.reasoning == "Si seet moien."
    assert comp.finish_reason == "stop"
    assert (comp.prompt_tokens, comp.completion_tokens, comp.reasoning_tokens) == (17, 42, 30)
    assert comp.retries == 0 and comp.cache_hit is False
    assert json.loads(comp.usage_json()) == {
        "prompt_tokens": 17, "cached_tokens": 0, "completion_tokens": 42, "reasoning_tokens": 30, "cached": False,
        "retries": 0, "hedges": 0,
        "billing": {"sends": 1, "prompt_tokens": 17, "cached_tokens": 0, "completion_tokens": 42,
                    "estimated_tokens": 0, "batch": False},
    }
    assert openai_server.count() == 1


def test_vllm_reasoning_field_kept(openai_server, endpoint):
    openai_server.set_script([Reply(content="[]", reasoning_content="denken", reasoning_field="reasoning")])
    comp = _one(LLMClient("local", endpoint()))
    assert (comp.content, comp.reasoning, comp.error) == ("[]", "denken", None)


def test_body_carries_sampling_and_response_format(openai_server, endpoint):
    schema = {"type": "array", "items": {"type": "object"}}
    rf = response_format_for(schema, "json_schema", "pairs")
    ep = endpoint(sampling=SamplingConfig(temperature=0.6, max_tokens=100, extra_body={"top_k": 20}))
    comp = _one(LLMClient("local", ep), "Text", response_format=rf, sampling=SamplingConfig(temperature=0.2, seed=7))
    assert comp.error is None
    body = openai_server.requests[0]["body"]
    assert body == {
        "model": "test-model", "messages": _user("Text"), "temperature": 0.2, "max_tokens": 100, "seed": 7,
        "top_k": 20, "response_format": {"type": "json_schema", "json_schema": {"name": "pairs", "schema": schema, "strict": False}},
    }
    # The server computes the same cache key as the client.
    merged = SamplingConfig(temperature=0.2, max_tokens=100, seed=7, extra_body={"top_k": 20})
    assert openai_server.requests[0]["key"] == request_key(ep.base_url, "test-model", _user("Text"), merged, rf)
    assert response_format_for(schema, "json_object", "x") == {"type": "json_object"}
    assert response_format_for(schema, "none", "x") is None
    with pytest.raises(ValueError, match="unknown mode"):
        response_format_for(schema, "xml", "x")


def test_429_retry_after_honoured(openai_server, endpoint):
    openai_server.set_script([Reply(status=429, headers={"Retry-After": "1"}, error_message="slow down"),
                              Reply(content="jo")])
    t0 = time.monotonic()
    comp = _one(LLMClient("local", endpoint(backoff_base_s=0.01)))
    assert comp.content == "jo" and comp.error is None
    assert comp.retries == 1
    assert time.monotonic() - t0 >= 1.0
    log = openai_server.requests
    assert [r["status"] for r in log] == [429, 200]
    assert log[1]["t"] - log[0]["t"] >= 0.99


def test_retry_after_forms():
    assert _retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert _retry_after_s({"Retry-After": "3"}) == 3.0
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 27 <= _retry_after_s({"Retry-After": date}) <= 30
    assert _retry_after_s({"Retry-After": "soon"}) is None
    assert _retry_after_s({}) is None


def test_5xx_retried_then_success(openai_server, endpoint):
    openai_server.set_script([Reply(status=500), Reply(status=503), Reply(drop=True), Reply(content="ok")])
    comp = _one(LLMClient("local", endpoint(max_retries=3)))
    assert (comp.content, comp.retries, comp.error) == ("ok", 3, None)
    assert [r["status"] for r in openai_server.requests] == [500, 503, "drop", 200]


def test_5xx_exhausted_is_row_error(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(status=502, error_message="bad gateway"))
    comp = _one(LLMClient("local", endpoint(max_retries=2)))
    assert comp.error_kind == "http_5xx"
    assert comp.retries == 2
    assert comp.error.startswith("http_5xx: HTTP 502") and "after 2 retries" in comp.error
    assert openai_server.count() == 3


def test_timeout_retried_then_row_error(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(hang=True, hang_s=3))
    t0 = time.monotonic()
    comp = _one(LLMClient("local", endpoint(timeout_s=0.3, max_retries=1)))
    assert comp.error_kind == "timeout" and comp.retries == 1
    assert comp.content is None
    assert openai_server.count("hang") == 2
    assert time.monotonic() - t0 < 2.5


def test_timeout_then_success(openai_server, endpoint):
    openai_server.set_script([Reply(hang=True, hang_s=3), Reply(content="do")])
    comp = _one(LLMClient("local", endpoint(timeout_s=0.3, max_retries=2)))
    assert (comp.content, comp.retries, comp.error) == ("do", 1, None)


@pytest.mark.parametrize("transport", ["aiohttp", "openai"])
def test_401_raises_auth_error_without_key(openai_server, endpoint, monkeypatch, transport):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("LUXIT_TEST_KEY", secret)
    openai_server.api_key = "another-key"
    client = LLMClient("deepseek", endpoint(api_key_env="LUXIT_TEST_KEY"), transport=transport)
    with pytest.raises(AuthError) as info:
        _one(client)
    msg = str(info.value)
    assert "deepseek" in msg and openai_server.base_url in msg and "401" in msg
    assert "LUXIT_TEST_KEY" in msg
    assert secret not in msg and secret not in repr(info.value)
    assert openai_server.count(401) == 1  # not retried
    # The right key passes.
    openai_server.api_key = secret
    comp = _one(LLMClient("deepseek", endpoint(api_key_env="LUXIT_TEST_KEY"), transport=transport))
    assert comp.content == "ok"


def test_403_raises_and_cancels_the_batch(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(status=403) if req.user_text == "b" else Reply(content="a", delay=0.2))
    client = LLMClient("hosted", endpoint())
    with pytest.raises(AuthError, match="HTTP 403"):
        client.chat_many([(_user("a"), None), (_user("b"), None), (_user("c"), None)])
    client.close()


def test_missing_env_var():
    from luxit_ray.config.llm import EndpointConfig

    ep = EndpointConfig(base_url="http://127.0.0.1:9/v1", model="deepseek-reasoner", api_key_env="LUXIT_NOT_SET_KEY")
    with pytest.raises(AuthError) as info:
        LLMClient("x", ep)
    assert str(info.value) == "endpoint 'x': environment variable LUXIT_NOT_SET_KEY is not set"


def test_404_model_stops_the_job(openai_server, endpoint):
    openai_server.set_script([Reply(status=404, error_message="The model `nope` does not exist.")])
    with pytest.raises(EndpointError, match="HTTP 404 for model 'nope'"):
        _one(LLMClient("local", endpoint(model="nope")))


@pytest.mark.parametrize(
    "message,code",
    [
        ("This model's maximum context length is 8192 tokens. However, you requested 9000 tokens.", None),
        ("Input too long", "context_length_exceeded"),
    ],
)
def test_context_length_400_is_row_error(openai_server, endpoint, message, code):
    openai_server.set_script(lambda req: Reply(status=400, error_message=message, error_code=code))
    comp = _one(LLMClient("local", endpoint()))
    assert comp.error_kind == "context_length"
    assert comp.error.startswith("context_length: HTTP 400")
    assert comp.retries == 0 and openai_server.count() == 1


def test_other_400_is_bad_request(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(status=400, error_message="unknown field 'foo'"))
    comp = _one(LLMClient("local", endpoint()))
    assert comp.error_kind == "bad_request" and "unknown field 'foo'" in comp.error
    assert openai_server.count() == 1


def test_finish_reason_length_keeps_raw_content(openai_server, endpoint):
    openai_server.set_script([Reply(content='[{"instruction": "Wat', finish_reason="length",
                                    usage={"prompt_tokens": 5, "completion_tokens": 300})])
    comp = _one(LLMClient("local", endpoint()))
    assert comp.error_kind == "length"
    assert comp.content == '[{"instruction": "Wat'
    assert comp.completion_tokens == 300 and "300" in comp.error


@pytest.mark.parametrize("content", [None, "", "  \n"])
def test_empty_content(openai_server, endpoint, content):
    openai_server.set_script([Reply(content=content, reasoning_content="nodenken")])
    comp = _one(LLMClient("local", endpoint()))
    assert comp.error_kind == "empty" and comp.error.startswith("empty:")
    assert comp.reasoning == "nodenken"


def test_malformed_200_retried_then_row_error(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(body="<html>proxy</html>"))
    comp = _one(LLMClient("local", endpoint(max_retries=1)))
    assert comp.error_kind == "bad_response" and openai_server.count() == 2


def test_chat_many_order_and_in_flight_bound(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(content=req.user_text.upper(), delay=0.05))
    client = LLMClient("local", endpoint(max_in_flight=8))
    comps = client.chat_many([(_user(f"r{i}"), None) for i in range(40)])
    # A second batch reuses the client's loop thread and connections.
    comps += client.chat_many([(_user(f"s{i}"), None) for i in range(8)])
    client.close()
    assert [c.content for c in comps] == [f"R{i}" for i in range(40)] + [f"S{i}" for i in range(8)]
    assert openai_server.max_in_flight == 8


def test_openai_transport_same_behaviour(openai_server, endpoint):
    openai_server.set_script([Reply(status=429, headers={"retry-after-ms": "100"}), Reply(status=500),
                              Reply(content="x", usage={"prompt_tokens": 3, "completion_tokens": 2})])
    comp = _one(LLMClient("local", endpoint(), transport="openai"))
    assert (comp.content, comp.retries, comp.prompt_tokens, comp.completion_tokens) == ("x", 2, 3, 2)
    openai_server.set_script(lambda req: Reply(status=400, error_message="maximum context length exceeded"))
    comp = _one(LLMClient("local", endpoint(), transport="openai"))
    assert comp.error_kind == "context_length"


def test_async_chat_on_callers_loop(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(content=req.user_text[::-1]))
    client = LLMClient("local", endpoint())

    async def main():
        comp = await client.chat(_user("abc"))
        many = await client.chat_many_async([(_user("xy"), None), (_user("z"), None)])
        await client.aclose()
        return comp, many

    comp, many = asyncio.run(main())
    assert comp.content == "cba" and [c.content for c in many] == ["yx", "z"]


def test_client_used_from_two_event_loops(openai_server, endpoint):
    client = LLMClient("local", endpoint())
    assert client.chat_many([(_user("a"), None)])[0].content == "ok"  # the client's own loop thread
    assert asyncio.run(client.chat(_user("b"))).content == "ok"  # a caller's loop
    assert client.chat_many([(_user("c"), None)])[0].content == "ok"
    client.close()
    assert openai_server.count(200) == 3


def test_chat_many_async_from_a_foreign_loop(openai_server, endpoint):
    """As Ray Data's async UDFs call it: several batches at once, awaited on another loop."""
    openai_server.set_script(lambda req: Reply(content=req.user_text + "!", delay=0.05))
    client = LLMClient("local", endpoint(max_in_flight=4))

    async def main():
        batches = [[(_user(f"{b}-{i}"), None) for i in range(5)] for b in range(3)]
        out = await asyncio.gather(*(client.chat_many_async(x) for x in batches))
        await client.aclose()
        return out

    out = asyncio.run(main())
    assert [[c.content for c in batch] for batch in out] == [[f"{b}-{i}!" for i in range(5)] for b in range(3)]
    assert openai_server.max_in_flight == 4  # one bound for all batches
    assert client._loop_thread is None


def test_endpoint_transport_setting_picks_the_client(openai_server, endpoint):
    # transport: openai in the endpoint's config sends through the AsyncOpenAI SDK (it names
    # itself in User-Agent); the default aiohttp transport sends no User-Agent at all.
    agents = []

    def script(req):
        agents.append(req.headers.get("User-Agent"))
        return Reply(content="x")

    openai_server.set_script(script)
    assert _one(LLMClient("local", endpoint(transport="openai"))).content == "x"
    assert _one(LLMClient("local", endpoint())).content == "x"
    assert agents[0].startswith("AsyncOpenAI/Python") and agents[1] is None


def test_close_returns_when_the_loop_thread_is_gone(openai_server, endpoint):
    # At process exit the client's daemon loop thread can be gone before Ray Data drops the
    # stage that owns the client; close() then used to wait for ever and the actor never exited.
    openai_server.set_script(lambda req: Reply(content="x"))
    client = LLMClient("local", endpoint())
    assert client.chat_many([(_user("a"), None)])[0].content == "x"
    lt = client._loop_thread
    lt.loop.call_soon_threadsafe(lt.loop.stop)
    lt._thread.join(5)
    assert not lt.alive()
    closer = threading.Thread(target=client.close, daemon=True)
    t0 = time.monotonic()
    closer.start()
    closer.join(15)
    assert not closer.is_alive() and time.monotonic() - t0 < 15
    assert client._closed


def test_flex_tier_and_prompt_cache_key_go_out_and_resource_unavailable_is_retried(openai_server, endpoint):
    """service_tier "flex" is half price on OpenAI's ordinary API; when its capacity is short it
    answers 429 "Resource Unavailable", which is retried like any 429. A seed's requests carry
    one prompt_cache_key so they reach the same prefix cache."""
    openai_server.set_script(lambda req: Reply(status=429, error_message="Resource Unavailable",
                                               error_code="resource_unavailable", headers={"Retry-After": "0"})
                             if req.attempt == 0 else Reply(content="ok"))
    ep = endpoint(service_tier="flex", prompt_cache_key=True)
    with LLMClient("openai", ep) as client:
        [comp] = client.chat_many([([{"role": "user", "content": "Moien"}], None, "lbwiki:42")])
    assert comp.ok and comp.retries == 1
    bodies = [r["body"] for r in openai_server.requests]
    assert [(b["service_tier"], b["prompt_cache_key"]) for b in bodies] == [("flex", "lbwiki:42")] * 2
    # not asked for: neither field is sent (endpoints that reject unknown fields)
    openai_server.clear()
    with LLMClient("local", endpoint()) as client:
        client.chat_many([([{"role": "user", "content": "Moien"}], None, "lbwiki:42")])
    assert "service_tier" not in openai_server.requests[0]["body"]
    assert "prompt_cache_key" not in openai_server.requests[0]["body"]


def test_a_call_counts_the_row_seconds_its_answered_rows_wait_for_its_slowest(openai_server, endpoint):
    from luxit_ray.llm.accounting import AccountantHandle

    # Three rows answer at once, one after 0.6 s: the three wait ~0.6 s each for it.
    openai_server.set_script(lambda req: Reply(content="ok", delay=0.6 if req.user_text == "slow" else 0.0))
    accountant = AccountantHandle.local()
    client = LLMClient("local", endpoint(max_in_flight=8), accountant=accountant, stage="generate")
    client.chat_many([(_user(t), None) for t in ("a", "b", "c", "slow")])
    client.close()
    counters = accountant.snapshot()["by_stage"]["generate"]["test-model"]
    assert counters["calls"] == 1
    assert 3 * 0.5 < counters["straggler_row_s"] < 3 * 0.75
