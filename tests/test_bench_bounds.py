"""The simulated clients of bench/llm_stage_throughput.py, whose figures BENCHMARKS.md cites as
the bounds of the LLM steps."""

from __future__ import annotations

import pytest

from bench.llm_stage_throughput import perfect_bound, simulated_client


@pytest.mark.parametrize(("requests", "in_flight"), [(2_000, 64), (5_000, 256)])
def test_one_pool_sending_once_is_greedy_list_scheduling(requests, in_flight):
    # Same draws in the same order: the event simulation and the makespan formula must agree.
    fraction, copies = simulated_client(requests, in_flight, seed=3)
    assert copies == 0
    assert fraction == pytest.approx(perfect_bound(requests, in_flight, seed=3), rel=1e-12)


def test_the_stage_with_one_actor_and_one_row_calls_is_one_pool():
    pool = simulated_client(5_000, 128, quantile=0.75, budget=0.05, seed=1)
    stage = simulated_client(5_000, 128, actors=1, batch=1, rows_per_slot=1.0, quantile=0.75, budget=0.05, seed=1)
    assert stage == pool


def test_hedging_stays_in_its_budget_and_beats_sending_once_on_a_heavy_tail():
    once, _ = simulated_client(20_000, 256, seed=0)
    hedged, copies = simulated_client(20_000, 256, quantile=0.75, budget=0.05, copies=2, seed=0)
    assert 0 < copies <= int(20_000 * 0.05)
    assert hedged > once


def test_calls_waiting_for_their_slowest_row_leave_slots_idle():
    # Calls of a quarter of an actor's slots, and an actor holding only as many rows as slots:
    # a call's answered rows wait for its slowest one, and the stage falls below one pool.
    pool, _ = simulated_client(20_000, 256, seed=0)
    tight, _ = simulated_client(20_000, 256, actors=4, batch=16, rows_per_slot=1.0, seed=0)
    roomy, _ = simulated_client(20_000, 256, actors=4, batch=16, rows_per_slot=6.0, seed=0)
    assert tight < roomy and tight < pool


def test_streamed_bound_releases_the_judges_requests_with_their_generate_answer():
    from bench.llm_stage_throughput import streamed_bound

    # One slot per step: generate answers at 1 and 2 s, each releasing two 1 s judge requests;
    # the judge runs 1-2, 2-3, 3-4, 4-5: 4 s of answers over 5 s of one slot.
    assert streamed_bound([1.0, 1.0], [1.0] * 4, 1) == 4 / 5
    # Two slots: both generate answers at 1 s, the judge runs two waves, 1-2 and 2-3.
    assert streamed_bound([1.0, 1.0], [1.0] * 4, 2) == 4 / (2 * 3)
    # A slow generate answer holds back only its own seed's judging.
    assert streamed_bound([1.0, 5.0], [1.0] * 4, 2) == 4 / (2 * 6)
