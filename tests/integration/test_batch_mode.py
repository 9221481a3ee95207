"""`luxit run` with the judge endpoint in batch mode against the local files + batches server
(tests/batch_server.py, a subprocess with a clock the test moves): the driver is SIGKILLed while
its batches are in progress, the rerun re-attaches to them, and the server's own log shows no
batch submitted twice and no line answered twice; the kept pairs equal a live run's.
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
from tests.batch_server import spawn_batch_server
from tests.integration.test_generate_judge import (
    endpoint,
    pairs_for,
    read_rows,
    write_job,
    write_seeds,
)
from tests.killed_jobs import kill_tagged, luxit_cli, tagged_pids
from tests.openai_server import start_server

pytestmark = pytest.mark.slow

N_SEEDS = 8  # 24 pairs: judged in 3 batches of at most 10 lines
_TITLE = re.compile(r"title: (T\d+)[;)]")


def script(req) -> dict[str, Any]:
    """The generator writes 3 pairs per seed; the judge scores every pair 3, but factual
    accuracy 1 on pair 0 of every third seed (so both kept and rejected pairs come out)."""
    if req.model != "judge-model":
        title = _TITLE.search(req.user_text).group(1)
        return {"content": json.dumps({"pairs": pairs_for(title)}, ensure_ascii=False)}
    m = re.search(r"Fro (\d) iwwer T(\d+)", req.user_text)
    scores = {c: 3 for c in S.CRITERIA}
    if m.group(1) == "0" and int(m.group(2)) % 3 == 0:
        scores["factual_accuracy"] = 1
    return {"content": json.dumps(scores)}


def _kept(run_dir: Path) -> list[tuple[str, str]]:
    return sorted((r[S.PAIR_ID], r[S.INSTRUCTION]) for r in read_rows(run_dir / runs.KEPT))


def _state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "batches" / "judge" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {"files": []}


def test_kill_while_batches_run_and_reattach(ray_local, tmp_path):
    titles = [f"T{i}" for i in range(N_SEEDS)]
    events_log = tmp_path / "events.jsonl"
    out_log = tmp_path / "cli.log"
    tag = uuid.uuid4().hex
    run_dir = tmp_path / "runs" / "itest-1"
    try:
        with spawn_batch_server(log_path=events_log, script=f"{__name__}:script", outcomes=["expired:4"],
                                manual_clock=True, run_s=50) as srv:
            eps = {"gen": endpoint(srv.base_url, "gen-model", max_in_flight=4, timeout_s=30),
                   "judge": endpoint(srv.base_url, "judge-model", max_in_flight=4, timeout_s=30, mode="batch",
                                     batch_poll_s=0.2, batch_max_requests=10, price_input_per_mtok=1.0,
                                     price_output_per_mtok=4.0)}
            job = write_job(tmp_path, eps, generate={"endpoint": "gen", "batch_size": 4},
                            judge={"judges": [{"name": "j", "endpoint": "judge"}], "batch_size": 4})
            write_seeds(run_dir, titles)

            # ---- first run: killed once its 3 batches are created and seen in progress ----
            proc = luxit_cli("run", job, tag, out_log)
            deadline = time.monotonic() + 400
            while time.monotonic() < deadline:
                files = _state(run_dir)["files"]
                if len(files) == 3 and all(f["status"] == "in_progress" for f in files):
                    break
                assert proc.poll() is None, f"the job ended before it could be killed:\n{out_log.read_text()[-3000:]}"
                time.sleep(0.1)
            else:
                pytest.fail(f"no batches in progress within 400 s:\n{out_log.read_text()[-3000:]}")
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            kill_tagged(tag, proc.pid)
            assert not tagged_pids(tag)
            before = srv.events()
            assert [e["event"] for e in before].count("batch_created") == 3
            assert [e for e in before if e["event"] == "line"] == []  # nothing answered yet
            assert not (run_dir / runs.JUDGED / runs.MARKER).exists()

            # ---- rerun: re-attaches; the clock moves on until it is done ----
            proc = luxit_cli("run", job, tag, out_log)
            deadline = time.monotonic() + 400
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(1.0)
                srv.advance(50)
            assert proc.wait(30) == 0, out_log.read_text()[-3000:]
            kill_tagged(tag)
            events = srv.events()
    finally:
        kill_tagged(tag)

    created = [e for e in events if e["event"] == "batch_created"]
    lines = Counter(e["custom_id"] for e in events if e["event"] == "line")
    live = Counter((e["model"], e["key"]) for e in events if e["event"] == "live")
    # 3 batches, then 1 for the 6 lines the expired one never ran: none submitted twice
    assert [(e["lines"], e["outcome"]) for e in created] == [(10, "expired:4"), (10, "completed"),
                                                             (4, "completed"), (6, "completed")]
    assert len({e["input_file_id"] for e in created}) == 4
    assert sum(e["event"] == "upload" for e in events) == 4
    # every judge request answered exactly once, in a batch; none went live
    assert len(lines) == 24 and set(lines.values()) == {1}
    assert [m for m, _ in live].count("judge-model") == 0
    assert [m for m, _ in live].count("gen-model") == N_SEEDS and set(live.values()) == {1}
    m = runs.RunDir(run_dir).manifest()["steps"]["judge"]
    assert m["batch"]["batches_by_status"] == {"completed": 3, "expired": 1}
    assert (m["batch"]["answered"], m["batch"]["resent"], m["batch"]["left_to_live"]) == (24, 6, 0)
    assert (m["pairs"], m["kept"], m["cache_hits"]) == (24, 21, 24)

    # the same kept pairs as a live run (its own server, cache and run folder)
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    with start_server(script) as ref:
        ref_job = write_job(ref_dir, {"gen": endpoint(ref.base_url, "gen-model"),
                                      "judge": endpoint(ref.base_url, "judge-model")},
                            generate={"endpoint": "gen", "batch_size": 4},
                            judge={"judges": [{"name": "j", "endpoint": "judge"}], "batch_size": 4})
        write_seeds(ref_dir / "runs" / "itest-1", titles)
        pipeline.run_all(load_job(ref_job))
    assert _kept(ref_dir / "runs" / "itest-1") == _kept(run_dir)
