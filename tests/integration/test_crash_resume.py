"""Kill `luxit generate` (SIGKILL) while requests are in flight, rerun it, and prove from the
server's own request log that no request whose response was recorded was sent twice, and that
the final pairs equal those of an uninterrupted run.

The job runs as a subprocess (``python -m luxit_ray.cli generate job.yaml``) with its own
embedded Ray, against the test server running as another subprocess with a fixed latency and a
JSONL request log. Every process the job starts carries a tag in its environment; after the kill
the test ends the leftovers (Ray's GCS, raylet, workers, DashboardAgent, RuntimeEnvAgent) by
their process ids, found by that tag, and checks none is left.
"""

from __future__ import annotations

import json
import re
import signal
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

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
from tests.killed_jobs import kill_tagged, luxit_cli, recorded_keys, tagged_pids
from tests.openai_server import read_log, spawn_server, start_server

pytestmark = pytest.mark.slow

N_SEEDS = 24
LATENCY_S = 1.5
_TITLE = re.compile(r"title: (T\d+)[;)]")


def server_script(req) -> dict[str, Any]:
    """Deterministic answers by seed title (imported by the server subprocess, where the server
    module runs as ``__main__``: so answer with dicts, not ``tests.openai_server.Reply``)."""
    m = _TITLE.search(req.user_text)
    if not m:
        return {"status": 400, "error_message": "no title"}
    title = m.group(1)
    if title == "T7":  # one seed fails for good: its error row must survive the resume too
        return {"content": "Ech weess et net."}
    return {"content": json.dumps({"pairs": pairs_for(title)}, ensure_ascii=False)}


def _pair_rows(run_dir: Path) -> list[tuple[Any, ...]]:
    cols = (S.PAIR_ID, S.DOC_ID, S.PAIR_INDEX, S.INSTRUCTION, S.RESPONSE, S.ERROR_KIND, S.PROMPT_SHA)
    rows = read_rows(run_dir / runs.PAIRS) + read_rows(run_dir / runs.GENERATE_ERRORS)
    return sorted(tuple(r[c] for c in cols) for r in rows)


def test_kill_and_resume_pays_nothing_twice(ray_local, tmp_path):
    titles = [f"T{i}" for i in range(N_SEEDS)]
    req_log = tmp_path / "requests.jsonl"
    out_log = tmp_path / "cli.log"
    tag = uuid.uuid4().hex
    try:
        with spawn_server(latency=LATENCY_S, log_path=req_log, script=f"{__name__}:server_script") as srv:
            eps = {"gen": endpoint(srv.base_url, "gen-model", max_in_flight=4, timeout_s=30,
                                   price_input_per_mtok=1.0, price_output_per_mtok=2.0)}
            job = write_job(tmp_path, eps, generate={"endpoint": "gen", "batch_size": 4, "max_error_rate": 0.5})
            run_dir = tmp_path / "runs" / "itest-1"
            cache_dir = tmp_path / "runs" / ".cache" / "llm"
            write_seeds(run_dir, titles)

            # ---- first run: killed once some responses are recorded and others are in flight ----
            proc = luxit_cli("generate", job, tag, out_log)
            recorded: set[str] = set()
            sent: list[dict[str, Any]] = []
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                recorded = recorded_keys(cache_dir)
                sent = read_log(req_log)
                in_flight = {e["key"] for e in sent} - recorded
                if len(recorded) >= 6 and in_flight:
                    break
                assert proc.poll() is None, f"the job ended before it could be killed:\n{out_log.read_text()[-3000:]}"
                time.sleep(0.1)
            else:
                pytest.fail(f"no point to kill within 300 s:\n{out_log.read_text()[-3000:]}")
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            leftovers = kill_tagged(tag, proc.pid)
            time.sleep(LATENCY_S + 0.5)  # let the server log anything that was still on its way
            recorded_at_kill = recorded_keys(cache_dir)
            before = read_log(req_log)
            assert recorded_at_kill >= recorded and len(recorded_at_kill) < N_SEEDS
            in_flight_at_kill = {e["key"] for e in before} - recorded_at_kill
            assert in_flight_at_kill, "nothing was in flight at the kill"
            assert not tagged_pids(tag)
            assert not (run_dir / runs.PAIRS / runs.MARKER).exists()

            # ---- rerun to completion ----
            proc = luxit_cli("generate", job, tag, out_log)
            assert proc.wait(600) == 0, out_log.read_text()[-3000:]
            kill_tagged(tag)
            after = read_log(req_log)[len(before):]
    finally:  # never leave the job's processes behind, even when an assertion failed
        kill_tagged(tag)

    # The server's log: no request with a recorded response was sent again ...
    resent = [e for e in after if e["key"] in recorded_at_kill]
    assert resent == []
    # ... the requests in flight at the kill were sent again (they had no recorded response) ...
    assert in_flight_at_kill <= {e["key"] for e in after}
    # ... and every seed was sent exactly once more or answered from the cache: 24 keys in all.
    all_keys = {e["key"] for e in before} | {e["key"] for e in after}
    assert len(all_keys) == N_SEEDS
    assert len(after) == N_SEEDS - len(recorded_at_kill)
    m = runs.RunDir(run_dir).manifest()["steps"]["generate"]
    assert (m["cache_hits"], m["seeds"], m["seeds_accounted"], m["duplicate_pair_ids"]) == (len(recorded_at_kill), 24, 24, 0)
    # The money of both attempts: the first attempt's recorded answers are cache hits now, but
    # the manifest still counts them as paid by this run (from its ledger), apart from the rerun's.
    u = m["usage"]["gen-model"]
    assert u["paid_earlier"] == len(recorded_at_kill) and u["saved_usd"] == 0.0
    # every answer the endpoint gave the first attempt, but those that reached the killed
    # driver after its last write (in flight at the kill: paid, never recorded)
    assert len(recorded_at_kill) <= u["paid_requests_earlier_attempts"] <= len(before)
    assert u["paid_requests_this_attempt"] == len(after) == u["requests"]
    assert u["sends"] == u["paid_requests_earlier_attempts"] + len(after)
    assert u["cost_earlier_attempts_usd"] > 0 and u["cost_this_attempt_usd"] > 0
    assert u["cost_usd"] == pytest.approx(u["cost_earlier_attempts_usd"] + u["cost_this_attempt_usd"])
    assert [a["attempt"] for a in runs.RunDir(run_dir).attempts()] == [1, 2]

    # The resumed run's output equals an uninterrupted run's (own server, own cache, same Ray as the tests).
    resumed = _pair_rows(run_dir)
    assert len(resumed) == 23 * 3 + 1
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    with start_server(server_script, latency=0.05) as ref:
        ref_job = write_job(ref_dir, {"gen": endpoint(ref.base_url, "gen-model")},
                            generate={"endpoint": "gen", "batch_size": 8, "max_error_rate": 0.5})
        write_seeds(ref_dir / "runs" / "itest-1", titles)
        pipeline.run_generate(load_job(ref_job))
    # pair ids hash the model and prompt, not the endpoint URL, so they match across servers
    assert _pair_rows(ref_dir / "runs" / "itest-1") == resumed
    print(f"killed with {len(recorded_at_kill)} recorded, {len(in_flight_at_kill)} in flight; "
          f"ended {len(leftovers)} leftover processes")


def stream_script(req) -> dict[str, Any]:
    """The generator as :func:`server_script`; the judge scores every pair 3, but 1 for factual
    accuracy on pair 0 of every third seed (so both kept and rejected pairs come out)."""
    if req.model != "judge-model":
        return server_script(req)
    m = re.search(r"Fro (\d) iwwer T(\d+)", req.user_text)
    low = m is not None and m.group(1) == "0" and int(m.group(2)) % 3 == 0
    scores = {c: 3 for c in S.CRITERIA}
    if low:
        scores["factual_accuracy"] = 1
    return {"content": json.dumps(scores)}


def test_kill_streamed_run_while_judging_and_resume(ray_local, tmp_path):
    """`luxit run` streams generate into judge; killed while judges answer, rerun: the server's
    log shows no recorded response paid twice, and every pair is judged exactly once."""
    titles = [f"T{i}" for i in range(N_SEEDS)]
    req_log = tmp_path / "requests.jsonl"
    out_log = tmp_path / "cli.log"
    tag = uuid.uuid4().hex
    try:
        with spawn_server(latency=LATENCY_S, log_path=req_log, script=f"{__name__}:stream_script") as srv:
            eps = {"gen": endpoint(srv.base_url, "gen-model", max_in_flight=4, timeout_s=30),
                   "judge": endpoint(srv.base_url, "judge-model", max_in_flight=4, timeout_s=30)}
            job = write_job(tmp_path, eps, generate={"endpoint": "gen", "batch_size": 4, "max_error_rate": 0.5},
                            judge={"judges": [{"name": "j", "endpoint": "judge"}], "batch_size": 4})
            run_dir = tmp_path / "runs" / "itest-1"
            cache_dir = tmp_path / "runs" / ".cache" / "llm"
            write_seeds(run_dir, titles)

            def judge_keys(entries: list[dict[str, Any]]) -> set[str]:
                return {e["key"] for e in entries if e["body"]["model"] == "judge-model"}

            proc = luxit_cli("run", job, tag, out_log)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                recorded = recorded_keys(cache_dir)
                sent = read_log(req_log)
                gen_sent = {e["key"] for e in sent} - judge_keys(sent)
                judging = judge_keys(sent) - recorded
                # killed mid-stream: judges answering while the generator still has seeds to do
                if len(judge_keys(sent) & recorded) >= 4 and judging and len(gen_sent) < N_SEEDS:
                    break
                assert proc.poll() is None, f"the job ended before it could be killed:\n{out_log.read_text()[-3000:]}"
                time.sleep(0.05)
            else:
                pytest.fail(f"no point to kill within 300 s:\n{out_log.read_text()[-3000:]}")
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            kill_tagged(tag, proc.pid)
            time.sleep(LATENCY_S + 0.5)
            recorded_at_kill = recorded_keys(cache_dir)
            before = read_log(req_log)
            assert judge_keys(before) & recorded_at_kill, "no judge answer was recorded before the kill"
            assert not (run_dir / runs.PAIRS / runs.MARKER).exists()
            assert not (run_dir / runs.JUDGED / runs.MARKER).exists()

            proc = luxit_cli("run", job, tag, out_log)
            assert proc.wait(600) == 0, out_log.read_text()[-3000:]
            kill_tagged(tag)
            after = read_log(req_log)[len(before):]
    finally:
        kill_tagged(tag)

    # no request whose response was recorded went out again, generator's or judge's
    assert [e for e in after if e["key"] in recorded_at_kill] == []
    # 24 generator + 23 x 3 judge requests in all (T7's error row is not judged); each sent once,
    # but those in flight at the kill (sent, never recorded): twice
    sends = Counter(e["key"] for e in before + after)
    assert len(sends) == N_SEEDS + 23 * 3
    in_flight_at_kill = {e["key"] for e in before} - recorded_at_kill
    assert {k: n for k, n in sends.items() if n != 1} == {k: 2 for k in in_flight_at_kill}
    # every seed accounted for, every pair judged exactly once, no pair id twice
    pairs = read_rows(run_dir / runs.PAIRS)
    errors = read_rows(run_dir / runs.GENERATE_ERRORS)
    judged = read_rows(run_dir / runs.JUDGED)
    kept, rejected = read_rows(run_dir / runs.KEPT), read_rows(run_dir / runs.REJECTED_PAIRS)
    assert {r[S.DOC_ID] for r in pairs} | {r[S.DOC_ID] for r in errors} == {f"test:{i}" for i in range(N_SEEDS)}
    assert [r[S.TITLE] for r in errors] == ["T7"]
    assert len(pairs) == len(judged) == 69
    assert sorted(r[S.PAIR_ID] for r in judged) == sorted(r[S.PAIR_ID] for r in pairs)
    assert len({r[S.PAIR_ID] for r in judged}) == 69
    # pair 0 of T0, T3, ..., T21 (T7 is not among them): 8 rejected
    assert (len(kept), len(rejected)) == (61, 8)
    assert all(r[S.KEEP_REASON] == "factual_accuracy=1 < 2" for r in rejected)
    m = runs.RunDir(run_dir).manifest()["steps"]
    assert m["generate"]["streamed"] == ["generate", "judge"] and m["judge"]["pairs"] == 69
    assert m["generate"]["cache_hits"] + m["judge"]["cache_hits"] == len(recorded_at_kill)
