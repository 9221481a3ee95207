"""A worker node lost in the middle of a streamed `luxit run` (generate -> judge), at scale.

Starts the two-node local Ray of ``tests/integration/test_node_loss.py`` (head ``--head-cpus``,
worker ``--worker-cpus``), the test endpoint (fixed latency, one light log line per answer with
its start and end), writes ``--seeds`` seeds, runs ``luxit run`` with ``RAY_ADDRESS`` and SIGKILLs
the worker node's processes once ``--kill-at`` of the ``--kill-step`` requests have been answered.
Then reads the endpoint's log against the request cache and the run's manifest (its ledger):

- requests sent twice, split by when the first answer was due: after the kill (in flight: it
  reached no one), in the last second before it (it reached a lost actor that had not recorded
  it yet), earlier (an answer paid twice that should not have been: must be 0);
- seeds accounted for, pair ids, judged pairs;
- the ledger's paid answers against the endpoint's sends.

Usage::

    flock /tmp/luxit-heavy.lock timeout 1800 .venv/bin/python bench/node_loss.py --seeds 20000 \\
        --kill-step generate --kill-at 0.4
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from luxit_ray import runs  # noqa: E402
from tests.integration.test_generate_judge import read_rows, write_seeds  # noqa: E402
from tests.integration.test_node_loss import Cluster, start_run  # noqa: E402
from tests.killed_jobs import recorded_keys  # noqa: E402
from tests.openai_server import spawn_server  # noqa: E402

MODEL = {"generate": "gen-model", "judge": "judge-model"}


def write_job(tmp: Path, base_url: str, args: argparse.Namespace) -> Path:
    import yaml

    def ep(model: str) -> dict:
        return {"base_url": base_url, "model": model, "max_in_flight": args.in_flight, "timeout_s": 60,
                "max_retries": 2, "backoff_base_s": 0.05, "backoff_max_s": 0.5,
                "price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0}

    stage = {"concurrency": args.actors, "num_cpus": 0.25}
    data = {"run": {"name": "node-loss", "output_dir": str(tmp / "runs"), "run_id": "nl-1"},
            "endpoints": {"gen": ep("gen-model"), "judge": ep("judge-model")},
            "generate": {"endpoint": "gen", **stage},
            "judge": {"judges": [{"name": "j", "endpoint": "judge"}], **stage}}
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def answered(log_path: Path, offset: int, counts: Counter) -> int:
    """Count the answers (``status`` 200) per model in the light log from ``offset``; returns the
    new offset (a torn last line is read again next time)."""
    with log_path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        e = json.loads(line)
        if e.get("status") == 200:
            counts[e["model"]] += 1
    return offset + end


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=20_000)
    p.add_argument("--latency", type=float, default=2.0)
    p.add_argument("--actors", type=int, default=4)
    p.add_argument("--in-flight", type=int, default=256)
    p.add_argument("--head-cpus", type=int, default=3)
    p.add_argument("--worker-cpus", type=int, default=2)
    p.add_argument("--kill-step", choices=("generate", "judge", "none"), default="generate",
                   help="none: the same run without a kill, for its wall time")
    p.add_argument("--kill-at", type=float, default=0.4, help="share of the step's requests answered at the kill")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    Cluster.cpus = {"node_a": args.head_cpus, "node_b": args.worker_cpus}
    tmp = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    cluster = Cluster()
    result: dict = {"seeds": args.seeds, "latency_s": args.latency, "in_flight_per_step": args.actors * args.in_flight,
                    "kill_step": args.kill_step, "load_before": os.getloadavg()}
    try:
        cluster._start_node("node_a", True, "the head", lambda: len(cluster.nodes()) == 1)
        cluster.start_worker()
        req_log, out_log = tmp / "requests.jsonl", tmp / "cli.log"
        with spawn_server(latency=args.latency, log_path=req_log, log_light=True,
                          script="tests.integration.test_node_loss:server_script") as srv:
            job = write_job(tmp, srv.base_url, args)
            run_dir, cache_dir = tmp / "runs" / "nl-1", tmp / "runs" / ".cache" / "llm"
            write_seeds(run_dir, [f"T{i}" for i in range(args.seeds)])
            total = args.seeds * (1 if args.kill_step == "generate" else 3)
            t0 = time.monotonic()
            proc = start_run(cluster, job, out_log)
            counts: Counter = Counter()
            offset = 0
            while args.kill_step != "none" and counts[MODEL[args.kill_step]] < args.kill_at * total:
                if proc.poll() is not None:
                    raise SystemExit("the run ended before the kill:\n" + out_log.read_text()[-3000:])
                time.sleep(0.2)
                if req_log.exists():
                    offset = answered(req_log, offset, counts)
            t_kill = time.time()
            killed = cluster.kill_worker() if args.kill_step != "none" else []
            t_killed = time.monotonic()
            rc = proc.wait(timeout=3600)
            t_end = time.monotonic()
            time.sleep(args.latency + 1)
        log = [json.loads(line) for line in req_log.read_text().splitlines() if line.strip()]
        result.update(rc=rc, wall_s=round(t_end - t0, 1), kill_at_s=round(t_killed - t0, 1),
                      after_kill_s=round(t_end - t_killed, 1), killed_processes=len(killed),
                      load_after=os.getloadavg())
        sends = Counter(e["key"] for e in log)
        twice = [k for k, n in sends.items() if n > 1]
        first_due = {}
        for e in sorted(log, key=lambda e: e["t"]):
            first_due.setdefault(e["key"], e["t_end"])
        buckets = Counter("in flight at the kill" if first_due[k] >= t_kill
                          else "answered in the last second" if first_due[k] >= t_kill - 1.0
                          else "answered earlier" for k in twice)
        result["sent_twice"] = {"total": len(twice), "most_sends": max(sends.values()), **buckets}
        if rc == 0:
            m = runs.RunDir(run_dir).manifest()["steps"]
            g, j = m["generate"], m["judge"]
            judged = read_rows(run_dir / runs.JUDGED)
            result["seeds"] = {"seeds": g["seeds"], "accounted": g["seeds_accounted"],
                               "duplicate_pair_ids": g["duplicate_pair_ids"], "judged_pairs": len(judged),
                               "distinct_judged_ids": len({r["pair_id"] for r in judged})}
            result["recorded_keys"] = len(recorded_keys(cache_dir))
            for step, usage in (("generate", g["usage"]["gen-model"]), ("judge", next(iter(j["usage"].values())))):
                model = MODEL[step]
                result[step] = {"endpoint_sends": sum(1 for e in log if e["model"] == model),
                                "distinct_requests": len({e["key"] for e in log if e["model"] == model}),
                                "ledger_paid": usage["paid_requests_this_attempt"], "ledger_sends": usage["sends"],
                                "cost_usd": usage["cost_usd"]}
        else:
            result["out_tail"] = out_log.read_text(errors="replace")[-3000:]
    finally:
        cluster.stop()
        left = cluster.our_processes()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
