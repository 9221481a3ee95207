"""The local endpoint's reasoning-model profile: answer time from the answer's length, median
2 s, p99 20 s, 0.1% of answers at 60-120 s. The draw function is tested on many draws (no
sleeping); one short in-process answer checks that the drawn length reaches the usage."""

from __future__ import annotations

import json
import math
import random
import statistics
import urllib.request

from tests.openai_server import PROFILES, AnswerProfile, Server, build_parser

N = 200_000


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def test_reasoning_profile_has_the_named_quantiles():
    profile = PROFILES["reasoning"]
    assert (profile.median_s, profile.p99_s, profile.slow_fraction, profile.slow_s) == (2.0, 20.0, 0.001, (60.0, 120.0))
    rng = random.Random(11)
    draws = [profile.draw(rng) for _ in range(N)]
    times = sorted(t for _, t in draws)
    # Standard errors at 200k draws: ~0.5% at the median, ~2% at p99; 5 sigma is below these.
    assert abs(statistics.median(times) / 2.0 - 1) < 0.02
    assert abs(_quantile(times, 0.99) / 20.0 - 1) < 0.08
    slow = [t for t in times if t >= 60.0]
    # 200 expected (sd 14): only the slow share lies at 60 s or more.
    assert 140 <= len(slow) <= 260
    assert max(times) <= 120.0
    assert min(times) >= 1 / profile.tokens_per_s


def test_answer_time_follows_the_answer_length():
    profile = AnswerProfile(tokens_per_s=40.0)
    rng = random.Random(3)
    for tokens, seconds in (profile.draw(rng) for _ in range(1000)):
        assert tokens >= 1 and seconds == tokens / 40.0


def test_the_fit_counts_the_slow_answers():
    # Fitted without the slow share, the mixture's p99 would sit above 20 s; the fit moves the
    # log-normal part so that the whole mixture has it.
    mu, sigma = PROFILES["reasoning"].lognormal()
    body = 1 - 0.001
    from statistics import NormalDist

    below = NormalDist(mu, sigma)
    kept = below.cdf(math.log(60.0))  # the log-normal part is cut where the slow range starts
    assert abs(body * below.cdf(math.log(2.0)) / kept - 0.5) < 1e-9
    assert abs(body * below.cdf(math.log(20.0)) / kept - 0.99) < 1e-9
    assert round(sigma, 3) == 0.978  # not ln(10) / z_0.99 = 0.990, the fit without the slow share


def test_profile_is_selectable_from_the_command_line():
    assert build_parser().parse_args(["--profile", "reasoning"]).profile == "reasoning"
    assert build_parser().parse_args([]).profile is None


def test_server_answers_after_the_drawn_time_with_the_drawn_length():
    fast = AnswerProfile(median_s=0.02, p99_s=0.05, slow_fraction=0.0, tokens_per_s=1000.0)
    expected = [fast.draw(random.Random(5)) for _ in range(1)][0]
    srv = Server(profile=fast, seed=5).start()
    try:
        body = json.dumps({"model": "test-model", "messages": [{"role": "user", "content": "abcdefgh"}]}).encode()
        req = urllib.request.Request(srv.base_url + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
    finally:
        srv.stop()
    assert answer["usage"]["completion_tokens"] == expected[0]
    assert answer["usage"]["prompt_tokens"] == 2
    assert answer["usage"]["total_tokens"] == 2 + expected[0]
    assert answer["choices"][0]["message"]["content"] == "ok"
