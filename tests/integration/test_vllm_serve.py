"""`luxit serve local` for real: vLLM on CPU serving SmolLM2, listing its model and answering a
chat completion constrained by a JSON schema (the server is shared, see conftest.py)."""

from __future__ import annotations

import json

import pytest

from luxit_ray import serve

pytestmark = pytest.mark.slow

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "country": {"type": "string", "maxLength": 40}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


def test_server_state_and_model_list(vllm_server):
    assert vllm_server.base_url == f"http://127.0.0.1:{vllm_server.port}/v1"
    assert serve.list_models(vllm_server.base_url) == ["smollm2"]
    recorded = serve.read_state(vllm_server.port)
    assert recorded == vllm_server and recorded.ready_after_s > 0
    assert serve.is_running(vllm_server)
    # the server and its engine core (and a worker, with vLLM's multiprocess executor) live in the
    # server's own process group
    cmdlines = [serve._cmdline(p) for p in serve._group_members(vllm_server.pid)]
    assert any("vllm.entrypoints.openai.api_server" in c for c in cmdlines) and len(cmdlines) >= 2


def test_json_schema_chat_completion(vllm_server):
    from openai import OpenAI

    client = OpenAI(base_url=vllm_server.base_url, api_key="none", max_retries=0, timeout=300)
    resp = client.chat.completions.create(
        model=vllm_server.model,
        messages=[{"role": "user", "content": "Which city is the capital of France? Answer as JSON."}],
        max_tokens=128,
        temperature=0.0,
        response_format={"type": "json_schema", "json_schema": {"name": "capital", "schema": CITY_SCHEMA}},
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "stop"
    answer = json.loads(choice.message.content)
    assert set(answer) == {"city", "country"} and all(isinstance(v, str) for v in answer.values())
    assert resp.model == "smollm2" and resp.usage.prompt_tokens > 10 and resp.usage.completion_tokens > 0
