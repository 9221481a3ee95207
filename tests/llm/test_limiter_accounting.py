"""Rate limiting (in-process and shared through Ray) and usage/cost accounting."""

from __future__ import annotations

import pytest

from luxit_ray.errors import AuthError
from luxit_ray.llm import (
    AccountantHandle,
    Completion,
    LLMClient,
    RequestCache,
    TokenBuckets,
    format_progress,
    get_accountant,
    get_rate_limiter,
    unwrap_ray_error,
)
from luxit_ray.llm.spend import Billing
from tests.openai_server import Reply


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _assert_rate(times: list[float], per_s: float, burst: float, tol: float = 0.15) -> None:
    """No window of the request log holds more than ``burst + per_s * width`` requests
    (``tol``: seconds of arrival jitter allowed between a permit and the server's clock)."""
    ts = sorted(times)
    for i in range(len(ts)):
        for j in range(i, len(ts)):
            assert j - i + 1 <= burst + per_s * (ts[j] - ts[i] + tol), (i, j, ts[j] - ts[i])


def test_token_buckets():
    rpm = TokenBuckets(rpm=60, tpm=None)
    assert rpm.lease([0, 0, 0]) == (1, 0.0)  # bucket holds one second of refill: 1 request
    granted, wait = rpm.lease([0])
    assert granted == 0 and 0.9 < wait <= 1.0
    tpm = TokenBuckets(rpm=None, tpm=600)  # 10 tokens/s, holds 10
    assert tpm.lease([4, 4, 4]) == (2, 0.0)
    granted, wait = tpm.lease([4])
    assert granted == 0 and 0.15 < wait <= 0.2
    assert tpm.lease([4], settle_tokens=-8)[0] == 1  # finished requests used less than estimated
    big = TokenBuckets(rpm=None, tpm=600)
    assert big.lease([50]) == (1, 0.0)  # larger than the bucket: passes when full, then owes
    granted, wait = big.lease([1])
    assert granted == 0 and 4.0 < wait <= 4.1
    assert get_rate_limiter("none", None, None) is None


def test_rpm_limit_holds_in_server_log(openai_server, endpoint):
    client = LLMClient("local", endpoint(requests_per_minute=120, max_in_flight=64))
    # In-process without Ray, the named actor when an earlier test started Ray: the limit holds either way.
    assert client.limiter is not None
    comps = client.chat_many([(_user(f"q{i}"), None) for i in range(10)])
    client.close()
    assert all(c.error is None for c in comps)
    times = [r["t"] for r in openai_server.requests]
    assert len(times) == 10
    _assert_rate(times, per_s=2.0, burst=2.0)
    assert 3.8 <= max(times) - min(times) <= 9.0  # 2 at once, then one per 0.5 s (slack: busy CI)


def test_accountant_totals_and_cost(openai_server, endpoint, tmp_path):
    openai_server.set_script(lambda req: {
        "a": Reply(content="A", usage={"prompt_tokens": 1000, "completion_tokens": 500,
                                       "completion_tokens_details": {"reasoning_tokens": 200}}),
        "b": Reply(content="B", usage={"prompt_tokens": 2000, "completion_tokens": 1000})
        if req.attempt else Reply(status=429, headers={"Retry-After": "0"}),
        "c": Reply(status=400, error_message="maximum context length is 10"),
        "d": Reply(content="D...", finish_reason="length", usage={"prompt_tokens": 100, "completion_tokens": 300}),
    }[req.user_text])
    acct = AccountantHandle.local()
    cache = RequestCache(str(tmp_path))
    ep = endpoint(price_input_per_mtok=0.55, price_output_per_mtok=2.19)
    client = LLMClient("deepseek", ep, cache=cache, accountant=acct, stage="generate")
    reqs = [(_user(t), None) for t in "abcd"]
    client.chat_many(reqs)
    acct.rows_done("generate", 4)
    client.chat_many(reqs)  # a, b, d are cache hits; c is sent again
    client.close()
    cache.close()
    snap = acct.snapshot()
    c = snap["by_stage"]["generate"]["test-model"]
    cost = (3100 * 0.55 + 1800 * 2.19) / 1e6
    assert c["requests"] == 5 and c["cache_hits"] == 3 and c["retries"] == 1
    assert (c["prompt_tokens"], c["completion_tokens"], c["reasoning_tokens"]) == (3100, 1800, 200)
    # Row errors are counted per answer given, cached ones included.
    assert c["errors"] == 4 and c["errors_by_kind"] == {"context_length": 2, "length": 2}
    assert c["cost_usd"] == pytest.approx(cost)
    assert snap["total"]["cost_usd"] == pytest.approx(cost)
    proj = acct.projected(total_rows=40)
    assert proj["done_rows"] == 4 and proj["projected_cost_usd"] == pytest.approx(cost * 10)
    assert proj["eta_s"] == pytest.approx(proj["elapsed_s"] * 9, rel=1e-6)
    line = format_progress(snap, proj)
    assert "requests 5 (sends 3, copies 0, cache 3, retries 1, errors context_length=2,length=2)" in line
    assert c["sends"] == 3  # the 429 and the two 400s were refused, not billed
    assert "rows 4/40" in line


def test_shared_limiter_accountant_and_auth_through_ray(ray_local, openai_server, endpoint):
    ray = ray_local
    ep = endpoint(requests_per_minute=120, max_in_flight=32, price_input_per_mtok=1.0, price_output_per_mtok=2.0)
    openai_server.set_script(lambda req: Reply(content="ok", usage={"prompt_tokens": 10, "completion_tokens": 5}))
    limiter = get_rate_limiter("shared-ep", 120, None)
    assert limiter.is_remote
    acct = get_accountant("test-run-llm")

    @ray.remote(num_cpus=0.1)
    class Caller:
        def __init__(self, endpoint_cfg, limiter_handle, accountant):
            # limiter None: the client finds the endpoint's named limiter by itself.
            self.client = LLMClient("shared-ep", endpoint_cfg, limiter=limiter_handle, accountant=accountant,
                                    stage="judge")

        def run(self, n, tag):
            comps = self.client.chat_many([([{"role": "user", "content": f"{tag}{i}"}], None) for i in range(n)])
            self.client.close()
            return [c.error for c in comps], self.client.limiter.is_remote

    a = Caller.remote(ep, limiter, acct)
    b = Caller.remote(ep, None, acct)
    (errs_a, remote_a), (errs_b, remote_b) = ray.get([a.run.remote(6, "a"), b.run.remote(6, "b")])
    assert errs_a == [None] * 6 and errs_b == [None] * 6 and remote_a and remote_b
    times = [r["t"] for r in openai_server.requests]
    assert len(times) == 12
    # Looser jitter allowance: an actor's first request also opens its connection.
    _assert_rate(times, per_s=2.0, burst=2.0, tol=0.4)
    assert 4.5 <= max(times) - min(times) <= 12.0
    assert limiter.stats()["granted_requests"] == 12
    c = acct.snapshot()["by_stage"]["judge"]["test-model"]
    assert (c["requests"], c["prompt_tokens"], c["completion_tokens"]) == (12, 120, 60)
    assert c["cost_usd"] == pytest.approx((120 * 1.0 + 60 * 2.0) / 1e6)

    # A limiter that died fails the waiting requests instead of hanging them.
    ray.kill(limiter._backend)
    orphan = LLMClient("shared-ep", ep, limiter=limiter)
    with pytest.raises(ray.exceptions.RayActorError):
        orphan.chat_many([(_user("x"), None)])
    orphan.close()

    # 401 inside an actor reaches the driver as an AuthError with a clean message.
    openai_server.set_script(lambda req: Reply(status=401))
    c2 = Caller.remote(endpoint(), None, acct)
    with pytest.raises(AuthError) as info:
        try:
            ray.get(c2.run.remote(2, "z"))
        except Exception as e:  # Ray wraps the actor's exception
            raise unwrap_ray_error(e) from None
    assert str(info.value) == (
        f"endpoint 'shared-ep' ({openai_server.base_url}) refused the credentials: HTTP 401 (no key configured)"
    )


class _AuthFailingUDF:
    """A map_batches UDF whose client meets a 401 (as a generate/judge stage would)."""

    def __init__(self, base_url: str) -> None:
        from luxit_ray.config.llm import EndpointConfig

        self.client = LLMClient("hosted", EndpointConfig(base_url=base_url, model="m", max_retries=0))

    def __call__(self, batch):
        self.client.chat_many([([{"role": "user", "content": str(x)}], None) for x in batch["id"]])
        return batch


@pytest.mark.slow  # a Ray Data actor pool: ~10 s on a quiet machine, more on a busy one
def test_auth_error_through_ray_data(ray_local, openai_server):
    openai_server.set_script(lambda req: Reply(status=401))
    ds = ray_local.data.range(4, override_num_blocks=1).map_batches(
        _AuthFailingUDF, fn_constructor_kwargs={"base_url": openai_server.base_url}, concurrency=1, num_cpus=0.1
    )
    with pytest.raises(Exception) as info:
        ds.take_all()
    err = unwrap_ray_error(info.value)
    assert type(err) is AuthError
    assert str(err) == f"endpoint 'hosted' ({openai_server.base_url}) refused the credentials: HTTP 401 (no key configured)"


def _completion(tokens_in: int, tokens_out: int) -> Completion:
    return Completion(content="ok", prompt_tokens=tokens_in, completion_tokens=tokens_out,
                      billing=Billing.of_answer(tokens_in, 0, tokens_out))


def test_shared_actors_outlive_the_step_that_created_them(ray_local):
    """`luxit run` gets the run's accountant and the endpoint's limiter once per step. Ray
    collects a named actor when its last handle goes: the judge step then raced the dying actor
    of the generate step and failed with ActorDiedError (seen in CI). The process keeps them."""
    import gc
    import time

    acct = get_accountant("test-run-kept")
    acct.record("generate", "m", _completion(7, 3))
    acct.flush()
    first = acct._backend._actor_id
    limiter = get_rate_limiter("kept-ep", 600, None)
    first_limiter = limiter._backend._actor_id
    del acct, limiter
    gc.collect()
    time.sleep(2.0)  # long enough for Ray to have destroyed an unreferenced actor

    again = get_accountant("test-run-kept")
    assert again._backend._actor_id == first
    assert again.snapshot()["by_stage"]["generate"]["m"]["prompt_tokens"] == 7
    assert get_rate_limiter("kept-ep", 600, None)._backend._actor_id == first_limiter


def test_a_dead_shared_actor_is_replaced(ray_local):
    """A kept handle whose actor died (killed, node lost) is not handed out: the name is asked
    for again and a live actor answers."""
    ray = ray_local
    acct = get_accountant("test-run-killed")
    dead = acct._backend._actor_id
    ray.kill(acct._backend, no_restart=True)
    fresh = get_accountant("test-run-killed")
    assert fresh._backend._actor_id != dead
    assert fresh.snapshot()["total"]["requests"] == 0
    limiter = get_rate_limiter("killed-ep", 60, None)
    ray.kill(limiter._backend, no_restart=True)
    assert get_rate_limiter("killed-ep", 60, None).stats()["granted_requests"] == 0


def test_progress_never_stops_a_step(caplog):
    """A step's live progress line is best effort: an accountant that cannot answer gives a
    warning, not a failed step."""
    import logging

    from luxit_ray.steps.common import Progress as _Progress

    class Unreachable:
        def snapshot(self):
            raise RuntimeError("the shared Ray actor 'luxit-accountant:r' could not be reached")

    caplog.set_level(logging.WARNING, logger="luxit_ray.steps.common")
    with _Progress(Unreachable(), "generate", 10, "seeds", every_s=0.01) as progress:
        pass
    assert not progress._thread.is_alive()
    assert caplog.messages == [
        "generate: no live progress (the run's accountant did not answer: "
        "the shared Ray actor 'luxit-accountant:r' could not be reached)"
    ]
    acct = AccountantHandle.local()
    with _Progress(acct, "judge", 4, "pairs", every_s=60) as progress:
        acct.rows_done("judge", 4)
    assert progress.line().startswith("judge: 4/4 pairs (100%) | requests 0")
