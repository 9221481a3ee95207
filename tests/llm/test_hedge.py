"""Hedged requests (luxit_ray.llm.hedge) against the real local OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time

import pytest

from luxit_ray.llm.accounting import AccountantHandle
from luxit_ray.llm.cache import RequestCache
from luxit_ray.llm.client import LLMClient
from luxit_ray.llm.hedge import MIN_SAMPLES, Hedger, Slots
from tests.openai_server import Reply

FAST = 0.02


def _ask(text: str) -> tuple[list[dict[str, str]], None]:
    return ([{"role": "user", "content": text}], None)


def _warm(client: LLMClient, n: int = MIN_SAMPLES, wave: int = 4) -> None:
    """Answers enough requests for the client to know its endpoint's answer times.

    Sent ``wave`` at a time: one wave sent at once shares every stall of a loaded machine (a CI
    run once measured all 64 warm-up answers above 0.5 s, and the hedge delay with them), while
    a stall now reaches one wave of 4 samples, fewer than the 7 above the 0.9 quantile."""
    for start in range(0, n, wave):
        comps = client.chat_many([_ask(f"warm {i}") for i in range(start, min(n, start + wave))])
        assert all(c.ok and c.hedges == 0 for c in comps)


def _script(slow: dict[str, float], copy: Reply | None = None):
    """Every request answers in FAST s, except the first send of a text in ``slow`` (its delay);
    a second send of the same request gets ``copy`` (default: a fast answer)."""

    def reply(req):
        text = req.user_text
        if req.attempt == 0 and text in slow:
            return Reply(content=f"first {text}", delay=slow[text])
        if req.attempt >= 1:
            r = copy or Reply(delay=FAST)
            return Reply(**{**r.__dict__, "content": f"copy {text}" if r.status == 200 else r.content})
        return Reply(content=f"answer {text}", delay=FAST)

    return reply


def _ask_slow_once(endpoint, accountant: AccountantHandle | None = None, limiter=None):
    """A hedging client (every copy within budget) that knows its answer times asks "slow" once."""
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=1.0), accountant=accountant,
                       limiter=limiter)
    try:
        _warm(client)
        [comp] = client.chat_many([_ask("slow")])
    finally:
        client.close()
    return comp


def test_a_straggler_gets_one_copy_and_the_first_answer_wins(openai_server, endpoint, tmp_path):
    openai_server.set_script(_script({"slow": 5.0}))
    acc = AccountantHandle.local()
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=1.0, max_in_flight=8),
                       cache=RequestCache(str(tmp_path / "cache")), accountant=acc)
    try:
        _warm(client)
        assert client.hedge_delay_s is not None and client.hedge_delay_s < 0.5
        t0 = time.monotonic()
        [comp] = client.chat_many([_ask("slow")])
        took = time.monotonic() - t0
    finally:
        client.close()
    assert comp.ok and comp.content == "copy slow"
    assert (comp.hedges, comp.hedge_won, comp.retries) == (1, True, 0)
    assert took < 2.0  # not the first send's 5 s
    slow = [r for r in openai_server.requests if r["body"]["messages"][0]["content"] == "slow"]
    assert [r["attempt"] for r in slow] == [0, 1]
    # The first send was abandoned: the server saw its client go away.
    deadline = time.monotonic() + 5
    while openai_server.cancelled < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_server.cancelled == 1
    # The answer that won is what the cache holds, and the copy is counted.
    rerun = LLMClient("local", endpoint(), cache=RequestCache(str(tmp_path / "cache")))
    try:
        [again] = rerun.chat_many([_ask("slow")])
    finally:
        rerun.close()
    assert again.cache_hit and again.content == "copy slow"
    total = acc.snapshot()["total"]
    assert (total["requests"], total["hedges"], total["hedge_wins"]) == (MIN_SAMPLES + 1, 1, 1)


def test_no_copy_before_enough_answer_times_are_known(openai_server, endpoint):
    openai_server.set_script(_script({"slow": 0.6}))
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=1.0))
    try:
        _warm(client, MIN_SAMPLES - 2)
        assert client.hedge_delay_s is None
        [comp] = client.chat_many([_ask("slow")])
    finally:
        client.close()
    assert comp.content == "first slow" and comp.hedges == 0
    assert openai_server.count() == MIN_SAMPLES - 1


def test_a_request_sent_before_the_delay_was_known_is_never_copied(openai_server, endpoint):
    # The straggler goes out with the first answers still to come, and there are idle slots: the
    # delay becomes known while it runs, from the fastest answers of its wave, and it stays alone.
    # Its 3 s are far above that delay (a wave of 65 new connections measured 0.66 s on a loaded CI
    # machine), so only the rule keeps it from a copy.
    openai_server.set_script(_script({"slow": 3.0}))
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=1.0, max_in_flight=4 * MIN_SAMPLES))
    try:
        comps = client.chat_many([_ask("slow")] + [_ask(f"warm {i}") for i in range(MIN_SAMPLES)])
        assert client.hedge_delay_s is not None and client.hedge_delay_s < 1.5
    finally:
        client.close()
    assert comps[0].content == "first slow" and comps[0].hedges == 0
    assert all(c.ok and c.hedges == 0 for c in comps)
    assert openai_server.count() == MIN_SAMPLES + 1


def test_a_second_copy_goes_out_when_the_first_copy_straggles_too(openai_server, endpoint):
    def reply(req):
        if req.user_text == "slow" and req.attempt < 2:
            return Reply(content=f"send {req.attempt}", delay=5.0)
        if req.user_text == "slow":
            return Reply(content="second copy", delay=FAST)
        return Reply(delay=FAST)

    openai_server.set_script(reply)
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=1.0, hedge_copies=2))
    try:
        _warm(client)
        t0 = time.monotonic()
        [comp] = client.chat_many([_ask("slow")])
        took = time.monotonic() - t0
    finally:
        client.close()
    assert comp.content == "second copy" and (comp.hedges, comp.hedge_won, comp.retries) == (2, True, 0)
    assert took < 2.0
    assert [r["attempt"] for r in openai_server.requests if r["body"]["messages"][0]["content"] == "slow"] == [0, 1, 2]
    deadline = time.monotonic() + 5
    while openai_server.cancelled < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert openai_server.cancelled == 2  # both slow sends abandoned


def test_one_copy_by_default_even_when_it_straggles(openai_server, endpoint):
    def reply(req):
        if req.user_text == "slow" and req.attempt == 0:
            return Reply(content="first", delay=1.0)
        if req.user_text == "slow":
            return Reply(content=f"copy {req.attempt}", delay=1.5)
        return Reply(delay=FAST)

    openai_server.set_script(reply)
    comp = _ask_slow_once(endpoint)
    assert comp.content == "first" and (comp.hedges, comp.hedge_won) == (1, False)
    assert [r["attempt"] for r in openai_server.requests if r["body"]["messages"][0]["content"] == "slow"] == [0, 1]


def test_copies_never_take_a_slot_a_request_waits_for(openai_server, endpoint):
    # Two slots: while the straggler runs, the other slot works through a queue of requests that
    # outlasts it, so there is never an idle slot for a copy.
    openai_server.set_script(_script({"slow": 1.0, **{f"q{i}": 0.3 for i in range(6)}}))
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=1.0, max_in_flight=2))
    try:
        _warm(client)
        comps = client.chat_many([_ask("slow")] + [_ask(f"q{i}") for i in range(6)])
    finally:
        client.close()
    # The straggler ran its whole second with the other slot's queue waiting: no copy of it.
    assert comps[0].content == "first slow" and comps[0].hedges == 0
    assert [r["attempt"] for r in openai_server.requests if r["body"]["messages"][0]["content"] == "slow"] == [0]
    assert all(c.ok for c in comps)
    assert openai_server.max_in_flight <= 2  # copies of the last requests share the same two slots


def test_copies_stay_within_the_budget_and_the_in_flight_bound(openai_server, endpoint):
    slow = {f"s{i}": 1.5 for i in range(10)}
    openai_server.set_script(_script(slow))
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=0.05, max_in_flight=16))
    try:
        _warm(client)
        openai_server.clear()
        comps = client.chat_many([_ask(t) for t in slow])
    finally:
        client.close()
    # Credit: 0.05 per request sent, MIN_SAMPLES + 10 requests -> 3 whole copies.
    expected = int((MIN_SAMPLES + 10) * 0.05)
    assert sum(c.hedges for c in comps) == expected
    assert sum(c.hedge_won for c in comps) == expected
    assert sum(1 for r in openai_server.requests if r["attempt"] == 1) == expected
    assert all(c.ok for c in comps)
    assert openai_server.max_in_flight <= 13  # 10 first sends + 3 copies, never above 16


def test_a_failed_copy_waits_for_the_first_send(openai_server, endpoint):
    openai_server.set_script(_script({"slow": 0.8}, copy=Reply(status=500, delay=FAST)))
    comp = _ask_slow_once(endpoint)
    assert comp.ok and comp.content == "first slow"
    assert (comp.hedges, comp.hedge_won, comp.retries) == (1, False, 0)


def test_a_failed_first_send_loses_to_the_copy(openai_server, endpoint):
    def reply(req):
        if req.user_text == "slow" and req.attempt == 0:
            return Reply(status=503, delay=0.8)
        if req.user_text == "slow":
            return Reply(content="copy slow", delay=0.2)
        return Reply(delay=FAST)

    openai_server.set_script(reply)
    comp = _ask_slow_once(endpoint)
    assert comp.ok and comp.content == "copy slow"
    assert (comp.hedges, comp.hedge_won, comp.retries) == (1, True, 0)


def test_both_sends_failing_goes_to_the_retry_logic(openai_server, endpoint):
    def reply(req):
        if req.user_text == "slow" and req.attempt < 2:
            return Reply(status=503, delay=1.0 if req.attempt == 0 else 0.1)
        if req.user_text == "slow":
            return Reply(content="retried", delay=FAST)
        return Reply(delay=FAST)

    openai_server.set_script(reply)
    comp = _ask_slow_once(endpoint)
    assert comp.ok and comp.content == "retried"
    assert (comp.hedges, comp.retries) == (1, 1)


def test_hedging_config_is_validated(endpoint):
    with pytest.raises(ValueError, match="hedge_quantile"):
        endpoint(hedge_quantile=0.3)
    with pytest.raises(ValueError, match="hedge_budget"):
        endpoint(hedge_quantile=0.9, hedge_budget=0)
    with pytest.raises(ValueError, match="hedge_copies"):
        endpoint(hedge_quantile=0.9, hedge_copies=0)
    with pytest.raises(ValueError, match="quantile"):
        Hedger(1.0, 0.1)
    with pytest.raises(ValueError, match="copies"):
        Hedger(0.9, 0.1, copies=0)


def test_slots_hand_a_freed_slot_to_the_oldest_waiter_never_to_a_copy():
    async def main() -> None:
        freed: list[int] = []
        slots = Slots(1, on_free=lambda: freed.append(slots.free))
        await slots.take()
        assert not slots.idle() and not slots.try_take()
        waiter = asyncio.ensure_future(slots.take())
        await asyncio.sleep(0)
        slots.give()  # straight to the waiter: no idle slot in between
        await waiter
        assert freed == [] and slots.free == 0
        slots.give()
        assert freed == [1] and slots.idle() and slots.try_take() and slots.free == 0
        # A waiter cancelled after it was handed the slot passes it on.
        late = asyncio.ensure_future(slots.take())
        await asyncio.sleep(0)
        slots.give()
        late.cancel()
        with pytest.raises(asyncio.CancelledError):
            await late
        assert slots.free == 1

    asyncio.run(main())


def test_both_sends_dropped_still_count_the_copy(openai_server, endpoint):
    def reply(req):
        if req.user_text == "slow" and req.attempt < 2:
            return Reply(drop=True, delay=1.0 if req.attempt == 0 else 0.1)
        if req.user_text == "slow":
            return Reply(content="retried", delay=FAST)
        return Reply(delay=FAST)

    openai_server.set_script(reply)
    acc = AccountantHandle.local()
    comp = _ask_slow_once(endpoint, acc)
    assert comp.ok and comp.content == "retried"
    assert (comp.hedges, comp.hedge_won, comp.retries) == (1, False, 1)
    assert acc.snapshot()["total"]["hedges"] == 1


def test_stragglers_without_credit_leave_no_queue_behind(openai_server, endpoint):
    # A budget that never earns a whole copy: every straggler waits for a turn it never gets, and
    # its answer must take it off the queue (a long step would otherwise pile them up).
    slow = {f"s{i}": 0.3 for i in range(40)}
    openai_server.set_script(_script(slow))
    client = LLMClient("local", endpoint(hedge_quantile=0.9, hedge_budget=0.001, max_in_flight=64))
    try:
        _warm(client)
        comps = client.chat_many([_ask(t) for t in slow])
        _, hedger = client._slots[client._loop_thread.loop]
        assert hedger is not None and len(hedger._turns) == 0
    finally:
        client.close()
    assert all(c.ok and c.hedges == 0 for c in comps)
    assert openai_server.count() == MIN_SAMPLES + 40


class _PermitsThenWait:
    """A rate limiter that grants ``n`` requests at once and makes every later one wait for good."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.waited = 0

    async def acquire(self, estimate: int) -> None:
        if self.left > 0:
            self.left -= 1
            return
        self.waited += 1
        await asyncio.Event().wait()

    def settle(self, delta: int) -> None:
        pass


def test_a_copy_cancelled_before_it_left_is_neither_counted_nor_billed(openai_server, endpoint):
    # The warm-up and the slow request's first send take every permit; its copy's turn comes and
    # the copy waits for the limiter until the first send answers (1 s). Counted as a send, it
    # was billed as a second request the endpoint never received (1 hedge, 2 sends before the fix).
    openai_server.set_script(_script({"slow": 1.0}))
    limiter = _PermitsThenWait(MIN_SAMPLES + 1)
    comp = _ask_slow_once(endpoint, limiter=limiter)
    assert comp.ok and comp.content == "first slow"
    assert limiter.waited == 1  # the copy was under way ...
    slow = [r for r in openai_server.requests if r["body"]["messages"][0]["content"] == "slow"]
    assert [r["attempt"] for r in slow] == [0]  # ... and never reached the endpoint
    assert (comp.hedges, comp.hedge_won) == (0, False)
    assert comp.billing.sends == 1 and comp.billing.estimated_tokens == 0


def test_the_aiohttp_transport_reports_each_request_as_it_leaves(openai_server, endpoint):
    from luxit_ray.llm.transport import AioHttpTransport

    openai_server.set_script(lambda req: Reply(content="jo", delay=FAST))
    transport = AioHttpTransport(openai_server.base_url, None, max_connections=4, timeout_s=10.0, report_sent=True)
    left: list[int] = []

    async def main() -> list[int]:
        try:
            replies = await asyncio.gather(*(transport.post("/chat/completions", b'{"model": "m", "messages": [{"role": "user", "content": "moien"}]}',
                                                            on_sent=lambda i=i: left.append(i)) for i in range(3)))
        finally:
            await transport.aclose()
        return [r.status for r in replies]

    assert asyncio.run(main()) == [200, 200, 200]
    assert sorted(left) == [0, 1, 2] and len(openai_server.requests) == 3


def test_only_a_hedging_client_has_its_requests_traced(endpoint):
    # The trace costs every request ~11 us of CPU; only hedge copies need to know when they left.
    clients = [LLMClient("local", endpoint()), LLMClient("local", endpoint(hedge_quantile=0.9)),
               LLMClient("sdk", endpoint(hedge_quantile=0.9), transport="openai")]
    try:
        # The SDK's transport cannot tell: its copies are all counted as sent.
        assert [c._transport.reports_sent for c in clients] == [False, True, False]
    finally:
        for c in clients:
            c.close()
