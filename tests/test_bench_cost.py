"""bench/cost.py, whose dollars per 1,000 kept pairs the README and BENCHMARKS.md cite: the
providers' caching rules, the bill of a request under them, and the whole comparison on a few seeds."""

from __future__ import annotations

import pytest

from bench.cost import RULES, CacheRule, bill, main, request_tokens
from luxit_ray.config.llm import EndpointConfig


def test_caching_rules_of_the_providers():
    openai, deepseek = RULES["gpt5mini"], RULES["deepseek"]
    assert [openai.cached(n) for n in (1023, 1024, 1151, 1152, 1300)] == [0, 1024, 1024, 1152, 1280]
    assert [deepseek.cached(n) for n in (63, 64, 130)] == [0, 64, 128]
    assert RULES["haiku"].cached(4095) == 0 and RULES["haiku"].cached(5000) == 5000


def test_request_tokens_find_the_shared_prefixes_in_send_order():
    a, b, c = [1, 2, 3, 4], [1, 2, 3, 9], [1, 7]
    assert request_tokens([a, b, c]) == [(4, 0, 3), (4, 3, 1), (2, 1, 0)]


def test_bill_prices_cached_input_writes_and_batches():
    ep = EndpointConfig(base_url="http://x/v1", model="m", price_input_per_mtok=1.0, price_cached_input_per_mtok=0.1,
                        price_output_per_mtok=5.0)
    rule = CacheRule(min_tokens=100, step=1, write_factor=1.25, in_batch=True)
    # request 1 reads nothing and writes the 200 tokens request 2 reads
    usd = bill([(1000, 0, 200), (1000, 200, 0)], [10, 10], rule, ep)
    assert usd == pytest.approx((1000 + 200 * 0.25 + 800 + 200 * 0.1 + 20 * 5.0) / 1e6)
    assert bill([(1000, 0, 200), (1000, 200, 0)], [10, 10], None, ep) == pytest.approx((2000 + 100) / 1e6)
    assert bill([(1000, 200, 0)], [10], rule, ep, batch=True) == pytest.approx((800 + 20 + 50) / 1e6 * 0.5)


def test_batch_judging_halves_the_openai_judge_and_the_new_layout_caches_more(tmp_path):
    r = main(["--sample-seeds", "4", "--json", str(tmp_path / "cost.json"), "--measured", str(tmp_path / "none.json")])
    assert r["sample_seeds"] == 4 and r["seeds"] == 100_000
    assert r["judge_prefix_shared_share"]["new"] > r["judge_prefix_shared_share"]["old"]
    gpt = next(j for j in r["judges"] if j["judge"] == "gpt5mini")
    assert gpt["judge_ratio_c_to_a"] <= 0.5
    deepseek = next(j for j in r["judges"] if j["judge"] == "deepseek")
    assert deepseek["judge_usd_per_1k_kept"]["c"] is None  # no batch API
    assert deepseek["judge_ratio_b_to_a"] < 1.0
    assert (tmp_path / "cost.json").is_file()
