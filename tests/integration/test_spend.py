"""What a run spent, kept through reruns and lost actors, on a real local Ray against the real
local OpenAI-protocol server: the manifest's money adds up to what the server's log implies.

- A rerun answered wholly from the request cache (an attempt killed after its last answer was
  recorded): the manifest still shows what the first attempt paid, as earlier attempts, and
  nothing as saved.
- A stage actor killed mid-step: Ray runs its calls again on a new actor, which finds the answers
  the lost actor paid for in the cache; they count as paid by this run (from the ledger), and
  the run's paid requests match the server's answers, but those in flight when it died.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from luxit_ray import pipeline, runs
from luxit_ray import schema as S
from luxit_ray.config import load_job
from tests.integration.test_generate_judge import (
    endpoint,
    pairs_for,
    read_rows,
    write_job,
    write_seeds,
)
from tests.openai_server import Reply, start_server

USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 1024}}
PRICES = {"price_input_per_mtok": 0.25, "price_cached_input_per_mtok": 0.025, "price_output_per_mtok": 2.0}
ONE = (176 * 0.25 + 1024 * 0.025 + 300 * 2.0) / 1e6  # one answer at those prices


def _title(req) -> str:
    return req.user_text.split("title: ", 1)[1].split(";", 1)[0].split(")", 1)[0]


def _reply(delay: float):
    def reply(req) -> Reply:
        return Reply(content=json.dumps({"pairs": pairs_for(_title(req))}, ensure_ascii=False), usage=USAGE,
                     delay=delay)
    return reply


def test_a_rerun_from_the_cache_keeps_the_first_attempts_spend(ray_local, tmp_path):
    seeds = 12
    with start_server(_reply(0.01)) as server:
        job = write_job(tmp_path, {"gen": endpoint(server.base_url, "gen-model", **PRICES)},
                        generate={"endpoint": "gen", "batch_size": 4})
        run_dir = tmp_path / "runs" / "itest-1"
        write_seeds(run_dir, [f"Duerf {i}" for i in range(seeds)])
        pipeline.run_generate(load_job(job))
        first = runs.RunDir(run_dir).manifest()["steps"]["generate"]
        assert first["cost_usd"] == pytest.approx(seeds * ONE, abs=1e-6)
        u1 = first["usage"]["gen-model"]
        assert (u1["requests"], u1["sends"], u1["cached_tokens"], u1["cached_input_share"]) == (
            seeds, seeds, seeds * 1024, round(1024 / 1200, 4))
        # the attempt was killed after its last answer was recorded, before the step was marked done
        for folder in (runs.PAIRS, runs.GENERATE_ERRORS):
            (run_dir / folder / runs.MARKER).unlink()
        pipeline.run_generate(load_job(job))
        assert len(server.requests) == seeds  # nothing sent again
    m = runs.RunDir(run_dir).manifest()["steps"]["generate"]
    u = m["usage"]["gen-model"]
    assert (u["requests"], u["cache_hits"], u["paid_earlier"]) == (0, seeds, seeds)
    assert u["cost_usd"] == pytest.approx(seeds * ONE, abs=1e-6) == pytest.approx(u["cost_earlier_attempts_usd"], abs=1e-6)
    assert (u["cost_this_attempt_usd"], u["saved_usd"]) == (0.0, 0.0)
    assert m["spend"]["cost_usd"] == pytest.approx(seeds * ONE, abs=1e-6)
    assert len(read_rows(run_dir / runs.PAIRS)) == 3 * seeds


def test_a_lost_stage_actor_keeps_its_spend(ray_local, tmp_path):
    seeds = 48
    with start_server(_reply(0.4)) as server:
        job = write_job(tmp_path, {"gen": endpoint(server.base_url, "gen-model", max_in_flight=4, **PRICES)},
                        generate={"endpoint": "gen", "batch_size": 4, "concurrency": 2})
        run_dir = tmp_path / "runs" / "itest-1"
        write_seeds(run_dir, [f"Duerf {i}" for i in range(seeds)])
        killed: list[str] = []

        def kill_one_actor() -> None:
            import psutil

            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and len(server.requests) < 12:
                time.sleep(0.05)
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or [])
                if "MapWorker" in cmd and "GenerateStage" in cmd:
                    os.kill(proc.info["pid"], signal.SIGKILL)  # the process dies as with its node
                    killed.append(proc.info["pid"])
                    return

        t = threading.Thread(target=kill_one_actor, daemon=True)
        t.start()
        pipeline.run_generate(load_job(job))
        t.join(5)
    assert killed, "no stage actor was found to kill"
    m = runs.RunDir(run_dir).manifest()["steps"]["generate"]
    u = m["usage"]["gen-model"]
    pairs = read_rows(run_dir / runs.PAIRS)
    assert len(pairs) == 3 * seeds and len({r[S.PAIR_ID] for r in pairs}) == 3 * seeds
    answered = len(server.requests)
    # Every answer the run paid for is in its money, those the lost actor paid for included (they
    # come back as cache hits paid by this run); only answers in flight at the kill can be missing.
    assert u["paid_earlier"] == u["cache_hits"]
    assert u["requests"] + u["cache_hits"] == seeds
    assert seeds <= u["paid_requests_this_attempt"] <= answered
    assert u["cost_usd"] == pytest.approx(u["paid_requests_this_attempt"] * ONE, abs=1e-6)
    assert answered - u["paid_requests_this_attempt"] <= 4  # the killed actor's slots, at most
