"""Every send in the accounting (luxit_ray.llm.spend): cached tokens read in both usage shapes and
priced, hedge copies and cancelled sends billed with their estimates marked, 200s that were not a
completion and timeouts counted, the ledger durable and read back, and a cache hit that knows
who paid for it. Against the real local OpenAI-protocol server; totals checked against its log."""

from __future__ import annotations

import json

import pytest

from luxit_ray.config.llm import EndpointConfig
from luxit_ray.llm.accounting import AccountantHandle
from luxit_ray.llm.cache import RequestCache
from luxit_ray.llm.client import Completion, LLMClient, parse_chat_completion
from luxit_ray.llm.spend import (
    Billing,
    Ledger,
    PaidBy,
    cached_tokens_of,
    cost_usd,
    read_ledger,
    spend_by,
)
from luxit_ray.steps.common import add_usage, usage_slot
from tests.llm.test_hedge import _script, _warm
from tests.openai_server import Reply


def _ask(text: str) -> tuple[list[dict[str, str]], None]:
    return ([{"role": "user", "content": text}], None)


def _prices(**kw) -> EndpointConfig:
    return EndpointConfig(base_url="http://127.0.0.1:1/v1", model="m", **kw)


def test_cached_tokens_in_both_usage_shapes():
    assert cached_tokens_of({"prompt_tokens": 2000, "prompt_tokens_details": {"cached_tokens": 1536}}) == 1536
    # DeepSeek: hit and miss counts at the top level
    assert cached_tokens_of({"prompt_tokens": 2000, "prompt_cache_hit_tokens": 1792,
                             "prompt_cache_miss_tokens": 208}) == 1792
    assert cached_tokens_of({"prompt_tokens": 10}) == 0
    assert cached_tokens_of({"prompt_tokens_details": None}) == 0
    assert cached_tokens_of(None) == 0


def test_one_cost_formula_cached_input_and_batch_price():
    b = Billing(sends=1, prompt_tokens=2_000_000, cached_tokens=1_500_000, completion_tokens=1_000_000)
    # gpt-5-mini list prices: $0.25 input, $0.025 cached input, $2.00 output per million
    p = _prices(price_input_per_mtok=0.25, price_cached_input_per_mtok=0.025, price_output_per_mtok=2.0)
    assert cost_usd(p, b) == pytest.approx(0.5 * 0.25 + 1.5 * 0.025 + 2.0)
    # no cached price: cached input costs the input price
    p2 = _prices(price_input_per_mtok=0.25, price_output_per_mtok=2.0)
    assert cost_usd(p2, b) == pytest.approx(2.0 * 0.25 + 2.0)
    # batch: the whole bill times the batch factor
    b.batch = True
    assert cost_usd(p, b) == pytest.approx((0.5 * 0.25 + 1.5 * 0.025 + 2.0) * 0.5)
    assert cost_usd(_prices(price_input_per_mtok=1.0, batch_price_factor=0.4), {"sends": 1, "prompt_tokens": 1_000_000,
                                                                               "batch": True}) == pytest.approx(0.4)


def test_deepseek_cache_hits_are_read_and_priced(openai_server, endpoint):
    openai_server.set_script(lambda req: Reply(content="Moien", usage={
        "prompt_tokens": 1000, "completion_tokens": 100, "prompt_cache_hit_tokens": 768, "prompt_cache_miss_tokens": 232}))
    acct = AccountantHandle.local()
    ep = endpoint(price_input_per_mtok=0.28, price_cached_input_per_mtok=0.028, price_output_per_mtok=0.42)
    with LLMClient("deepseek", ep, accountant=acct, stage="generate") as client:
        [comp] = client.chat_many([_ask("Moien")])
    assert (comp.prompt_tokens, comp.cached_tokens, comp.completion_tokens) == (1000, 768, 100)
    assert comp.billing == Billing(sends=1, prompt_tokens=1000, cached_tokens=768, completion_tokens=100)
    c = acct.snapshot()["by_stage"]["generate"]["test-model"]
    assert (c["sends"], c["prompt_tokens"], c["cached_tokens"]) == (1, 1000, 768)
    assert c["cost_usd"] == pytest.approx((232 * 0.28 + 768 * 0.028 + 100 * 0.42) / 1e6)


def test_parse_chat_completion_reads_openai_cached_tokens_and_rejects_other_bodies():
    body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1300, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 1152}}}
    comp = parse_chat_completion(json.dumps(body))
    assert (comp.content, comp.prompt_tokens, comp.cached_tokens, comp.error) == ("ok", 1300, 1152, None)
    with pytest.raises(ValueError, match="not a chat completion"):
        parse_chat_completion(b'{"object": "error"}')


def test_a_hedged_request_bills_every_send_and_marks_the_estimate(openai_server, endpoint, tmp_path):
    """The first send straggles, a copy answers; the abandoned first send is billed with the
    answer's input and an estimated output, and the ledger line says so."""
    openai_server.set_script(_script({"slow": 5.0}, copy=Reply(delay=0.02, usage={
        "prompt_tokens": 40, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 0}})))
    acct = AccountantHandle.local()
    ledger = Ledger(str(tmp_path / "ledger"), "run-1", 1)
    ep = endpoint(hedge_quantile=0.9, hedge_budget=1.0, max_in_flight=8, price_input_per_mtok=1.0,
                  price_output_per_mtok=10.0)
    client = LLMClient("local", ep, accountant=acct, ledger=ledger, cache=RequestCache(str(tmp_path / "cache")))
    try:
        _warm(client)
        [comp] = client.chat_many([_ask("slow")])
    finally:
        client.close()
        ledger.close()
    assert comp.ok and (comp.hedges, comp.hedge_won) == (1, True)
    assert comp.billing == Billing(sends=2, prompt_tokens=80, cached_tokens=0, completion_tokens=24, estimated_tokens=12)
    slow = [r for r in openai_server.requests if r["body"]["messages"][0]["content"] == "slow"]
    assert len(slow) == 2  # what the endpoint received, and the ledger's sends for the request
    lines = [e for e in read_ledger(str(tmp_path / "ledger")) if e["paid_id"] == comp.paid.paid_id]
    assert len(lines) == 1 and lines[0]["billing"]["sends"] == 2 and lines[0]["billing"]["estimated_tokens"] == 12
    assert lines[0]["cost_usd"] == pytest.approx((80 * 1.0 + 24 * 10.0) / 1e6)
    # every warm-up request is in the ledger too: one line per paid request, sends as the server saw them
    entries = read_ledger(str(tmp_path / "ledger"))
    assert sum(e["billing"]["sends"] for e in entries) == len(openai_server.requests)
    snap = acct.snapshot()["total"]
    assert (snap["sends"], snap["hedges"]) == (len(openai_server.requests), 1)
    # the cached record carries the billing and the payer
    rec = RequestCache(str(tmp_path / "cache"))
    hit = LLMClient("local", endpoint(), cache=rec)
    [again] = hit.chat_many([_ask("slow")])
    hit.close()
    assert again.cache_hit and again.billing == comp.billing and again.paid == comp.paid


def test_a_200_without_a_completion_and_a_timeout_are_billed_sends(openai_server, endpoint, tmp_path):
    def reply(req):
        if req.user_text == "garbled" and req.attempt == 0:
            return Reply(body='{"unexpected": true}')  # HTTP 200, not a chat completion
        if req.user_text == "hang" and req.attempt == 0:
            return Reply(hang=True, hang_s=3.0)
        return Reply(content="ok", usage={"prompt_tokens": 30, "completion_tokens": 7})

    openai_server.set_script(reply)
    ledger = Ledger(str(tmp_path / "ledger"), "run-1", 1)
    with LLMClient("local", endpoint(timeout_s=0.5), ledger=ledger) as client:
        garbled, hung, plain = client.chat_many([_ask("garbled"), _ask("hang"), _ask("plain")])
    ledger.close()
    assert garbled.ok and garbled.retries == 1
    assert garbled.billing == Billing(sends=2, prompt_tokens=60, completion_tokens=14, estimated_tokens=7)
    assert hung.ok and hung.retries == 1
    assert hung.billing == Billing(sends=2, prompt_tokens=60, completion_tokens=14, estimated_tokens=7)
    assert plain.billing == Billing(sends=1, prompt_tokens=30, completion_tokens=7)
    assert sum(e["billing"]["sends"] for e in read_ledger(str(tmp_path / "ledger"))) == 5 == len(openai_server.requests)


def test_refused_sends_cost_nothing_and_a_request_that_never_answers_keeps_its_billed_sends(
        openai_server, endpoint, tmp_path):
    def reply(req):
        if req.user_text == "busy":
            return Reply(status=429, headers={"Retry-After": "0"})
        return Reply(hang=True, hang_s=3.0)

    openai_server.set_script(reply)
    ledger = Ledger(str(tmp_path / "ledger"), "run-1", 1)
    with LLMClient("local", endpoint(timeout_s=0.3, max_retries=1), ledger=ledger) as client:
        busy, hung = client.chat_many([_ask("busy"), _ask("x" * 400)])
    ledger.close()
    assert busy.error_kind == "http_429" and busy.billing is None
    assert hung.error_kind == "timeout" and hung.billing == Billing(sends=2, prompt_tokens=200, estimated_tokens=200)
    [line] = read_ledger(str(tmp_path / "ledger"))
    assert (line["error_kind"], line["billing"]["sends"]) == ("timeout", 2)


def test_ledger_survives_a_torn_line_and_splits_attempts(tmp_path):
    prices = _prices(price_input_per_mtok=1.0, price_output_per_mtok=2.0)
    b = Billing(sends=1, prompt_tokens=1000, completion_tokens=500)
    for attempt in (1, 1, 2):
        led = Ledger(str(tmp_path / "ledger"), "run-1", attempt)
        led.submit(Ledger.line("generate", "m", "gen", prices, b, led.paid_by())).result()
        led.close()
    other = Ledger(str(tmp_path / "ledger"), "run-0", 1)  # another run's line in the same folder
    other.submit(Ledger.line("generate", "m", "gen", prices, b, other.paid_by())).result()
    other.close()
    seg = next(p for p in (tmp_path / "ledger").iterdir() if p.suffix == ".jsonl")
    with open(seg, "ab") as f:
        f.write(b'{"k": "00", "v": {"paid_id": "cut')  # a write cut off by a kill
    entries = read_ledger(str(tmp_path / "ledger"))
    assert len(entries) == 4
    spend = spend_by(entries, "run-1", attempt=2)["generate"]["m"]
    assert (spend["this_attempt"]["requests"], spend["earlier_attempts"]["requests"], spend["total"]["requests"]) == (1, 2, 3)
    assert spend["earlier_attempts"]["cost_usd"] == pytest.approx(2 * 0.002)
    assert spend["total"]["cost_usd"] == pytest.approx(3 * 0.002)


def test_a_cache_hit_knows_whether_this_run_paid_for_it():
    prices = _prices(price_input_per_mtok=1.0, price_output_per_mtok=2.0)
    billing = Billing(sends=1, prompt_tokens=1000, completion_tokens=500).to_dict()
    ours = {"cached": True, "billing": billing, "paid": PaidBy("run-1", 1, "a" * 32).to_dict()}
    theirs = {"cached": True, "billing": billing, "paid": PaidBy("run-0", 1, "b" * 32).to_dict()}
    sent = {"cached": False, "retries": 2, "hedges": 1, "billing": billing}
    slot = usage_slot()
    for u in (ours, theirs, sent):
        add_usage(slot, u, prices, None, run_id="run-1")
    assert (slot["requests"], slot["cache_hits"], slot["paid_earlier"], slot["retries"], slot["hedges"]) == (1, 2, 1, 2, 1)
    assert slot["saved_usd"] == pytest.approx(0.002)  # only the other run's answer is a saving


def test_records_written_before_billing_was_kept_still_load():
    rec = Completion(content="ok", prompt_tokens=10, completion_tokens=3).to_record()
    rec.pop("billing"), rec.pop("paid"), rec.pop("cached_tokens")
    hit = Completion.from_record(rec)
    assert hit.cache_hit and hit.paid is None and hit.billing == Billing(sends=1, prompt_tokens=10, completion_tokens=3)


def test_other_sends_are_not_counted_as_cached_input():
    b = Billing.of_answer(100, 64, 20, extra_sends=2, unanswered_sends=1)
    assert b == Billing(sends=4, prompt_tokens=400, cached_tokens=64, completion_tokens=80, estimated_tokens=60)
    assert Billing.of_failure(0, 50) == Billing()
