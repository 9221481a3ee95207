"""Full-corpus dry run: prepare a paper-size synthetic corpus, then generate and judge at least
100k seeds with ``luxit run`` against a local endpoint with injected faults; SIGKILL the driver
while it judges, clean up what Ray leaves behind, rerun, and prove from the endpoint's log and
the outputs that nothing was paid twice, lost or duplicated.

Steps, each the real command a user runs (``python -m luxit_ray.cli``, its own embedded Ray):

1. ``luxit prepare``: 200k news articles + an 80k-page MediaWiki dump (bench/synthetic_corpus.py),
   seeds drawn by per-source quotas (default 80k news + 20k wiki: ``--quota-news``/``--quota-wiki``);
2. ``luxit run``: generate streamed into judge (the endpoint answers after ``--latency`` s; one in
   200 first attempts gets a 429 with Retry-After, one in 200 a 503); killed with SIGKILL once
   ``--kill-at`` of the expected judge requests have been answered;
3. every process of the killed job is ended (found by a tag in its environment), then
   ``luxit run`` again to completion.

Checks (printed, and the exit status is 1 when one fails):

- no request whose response was recorded in the cache before the kill is sent again;
- seeds with pairs + seeds with errors = seeds; every pair is judged exactly once (judged/ holds
  each pair id of pairs/ once); no pair id appears twice.

Figures: wall per step, peak PSS of the job's process tree (driver, Ray's processes), requests,
faults retried, and the cost the manifest projects at the configured list prices.

Usage::

    python bench/corpus_dry_run.py                      # 200k + 80k corpus, 100k seeds
    python bench/corpus_dry_run.py --news 20000 --wiki 8000 --quota-news 8000 --quota-wiki 2000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.killed_jobs import kill_tagged, luxit_cli, recorded_keys  # noqa: E402


def answered(log_path: Path) -> list[dict[str, Any]]:
    from tests.openai_server import read_log

    return read_log(log_path) if log_path.exists() else []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--news", type=int, default=200_000)
    p.add_argument("--wiki", type=int, default=80_000)
    p.add_argument("--quota-news", type=int, default=80_000)
    p.add_argument("--quota-wiki", type=int, default=20_000)
    p.add_argument("--latency", type=float, default=0.25, help="seconds before each answer")
    p.add_argument("--in-flight", type=int, default=256, help="max_in_flight per actor (2 actors per stage)")
    p.add_argument("--kill-at", type=float, default=0.4, help="share of the judge requests answered at the kill")
    p.add_argument("--workdir", type=Path, default=None, help="keep corpora and runs here")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    import yaml

    from bench.llm_stage_throughput import PeakPss
    from bench.synthetic_corpus import write_news, write_wiki
    from tests.openai_server import spawn_server

    work = args.workdir or Path(tempfile.mkdtemp(prefix="luxit-dry-run-"))
    work.mkdir(parents=True, exist_ok=True)
    news, wiki = work / f"news-{args.news}.jsonl", work / f"lbwiki-{args.wiki}.xml.bz2"
    if not news.exists():
        write_news(news, args.news)
    if not wiki.exists():
        write_wiki(wiki, args.wiki)
    req_log, out_log = work / "requests.jsonl", work / "luxit.log"
    for f in (req_log, out_log):
        f.unlink(missing_ok=True)
    run_id = f"dry-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex
    figures: dict[str, Any] = {"news": args.news, "wiki_pages": args.wiki, "load_at_start": os.getloadavg()[0]}
    os.environ["LUXIT_BENCH_FAULTS"] = "1"
    srv = spawn_server(latency=args.latency, log_path=req_log, log_light=True, script="bench.scripted_llm:reply")
    try:
        ep = {"base_url": srv.base_url, "structured_output": "json_schema", "max_in_flight": args.in_flight,
              "timeout_s": 60, "max_retries": 4, "backoff_base_s": 0.2, "backoff_max_s": 2.0}
        job = work / "dry-run.yaml"
        job.write_text(yaml.safe_dump({
            "run": {"name": "dry", "run_id": run_id, "output_dir": str(work / "runs"), "ray": {"num_cpus": 4}},
            "sources": [{"type": "wikipedia", "name": "lbwiki", "path": str(wiki)},
                        {"type": "news", "name": "rtl", "path": str(news)}],
            "sample": {"seed": 42, "quotas": {"lbwiki": args.quota_wiki, "rtl": args.quota_news}},
            # list prices per million tokens (DeepSeek-R1 and GPT-5-mini class), for the projection
            "endpoints": {"gen": {**ep, "model": "gen-model", "price_input_per_mtok": 0.55, "price_output_per_mtok": 2.19},
                          "judge": {**ep, "model": "judge-model", "price_input_per_mtok": 0.25,
                                    "price_output_per_mtok": 2.0}},
            "generate": {"endpoint": "gen", "concurrency": 2, "max_error_rate": 0.0},
            "judge": {"judges": [{"name": "j", "endpoint": "judge"}], "concurrency": 2, "max_error_rate": 0.0},
        }, sort_keys=False))
        run_dir = work / "runs" / run_id
        cache_dir = work / "runs" / ".cache" / "llm"

        # 1. prepare
        t = time.monotonic()
        with PeakPss(os.getpid(), {srv.proc.pid}) as mem_prepare:
            proc = luxit_cli("prepare", job, tag, out_log, cwd=ROOT)
            if proc.wait() != 0:
                print(out_log.read_text()[-3000:])
                return 1
        figures["prepare_s"] = round(time.monotonic() - t, 1)
        prep = json.loads((run_dir / "manifest.json").read_text())["steps"]["prepare"]
        n_seeds = sum(prep["seeds"].values())
        figures.update(documents_read=sum(prep["read"].values()), seeds=n_seeds,
                       prepare_peak_pss_gib=round(mem_prepare.peak / 2**30, 2))
        expected_judge = 3 * n_seeds

        # 2. luxit run, killed while judging
        t = time.monotonic()
        with PeakPss(os.getpid(), {srv.proc.pid}) as mem_run:
            proc = luxit_cli("run", job, tag, out_log, cwd=ROOT)
            while True:
                entries = answered(req_log)
                judged_ok = sum(1 for e in entries if e.get("model") == "judge-model" and e["status"] == 200)
                if judged_ok >= args.kill_at * expected_judge:
                    break
                if proc.poll() is not None:
                    print("the run ended before the kill:\n" + out_log.read_text()[-3000:])
                    return 1
                time.sleep(1.0)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        figures["killed_after_s"] = round(time.monotonic() - t, 1)
        figures["leftover_processes_ended"] = len(kill_tagged(tag, timeout_s=60))
        time.sleep(args.latency * 4 + 1)  # answers still on their way reach the log
        recorded = recorded_keys(cache_dir)
        before = answered(req_log)
        figures.update(recorded_at_kill=len(recorded), requests_before_kill=len(before),
                       judge_answers_before_kill=sum(1 for e in before if e.get("model") == "judge-model"))

        # 3. rerun to completion
        t = time.monotonic()
        with PeakPss(os.getpid(), {srv.proc.pid}) as mem_rerun:
            proc = luxit_cli("run", job, tag, out_log, cwd=ROOT)
            rc = proc.wait()
        figures["rerun_s"] = round(time.monotonic() - t, 1)
        kill_tagged(tag)
        if rc != 0:
            print(out_log.read_text()[-3000:])
            return 1
        after = answered(req_log)[len(before):]
        figures["peak_pss_gib"] = round(max(mem_run.peak, mem_rerun.peak) / 2**30, 2)
    finally:
        kill_tagged(tag)
        srv.stop()

    import pyarrow.dataset as pads

    def column(folder: str, name: str) -> list[Any]:
        return pads.dataset(str(run_dir / folder), format="parquet").to_table(columns=[name])[name].to_pylist()

    manifest = json.loads((run_dir / "manifest.json").read_text())["steps"]
    g, j = manifest["generate"], manifest["judge"]
    pair_ids = column("pairs", "pair_id")
    judged_ids = column("judged", "pair_id")
    error_docs = set(column("generate_errors", "doc_id"))
    pair_docs = set(column("pairs", "doc_id"))
    statuses = Counter(e["status"] for e in before + after)
    resent = [e for e in after if e["key"] in recorded and e["status"] == 200]
    checks = {
        "no recorded response sent again": not resent,
        "seeds with pairs + seeds with errors = seeds": len(pair_docs | error_docs) == n_seeds == g["seeds_accounted"],
        "every pair judged exactly once": sorted(judged_ids) == sorted(pair_ids) and len(set(judged_ids)) == len(judged_ids),
        "no pair_id twice": len(set(pair_ids)) == len(pair_ids) and g["duplicate_pair_ids"] == 0,
    }
    projected = sum(m["cost_usd"] * (m["requests"] + m["cache_hits"]) / m["requests"]
                    for step in (g, j) for m in step["usage"].values() if m["requests"])
    figures.update(
        pairs=g["pairs"], kept=j["kept"], generate_errors=g["seeds_with_error"], judge_errors=j["judge_errors"],
        requests_after_kill=len(after), resent_recorded=len(resent), statuses=dict(statuses),
        retries=g["retries"] + j["retries"], cache_hits_on_rerun=g["cache_hits"] + j["cache_hits"],
        rerun_generate_judge_wall_s=g.get("wall_s"), prepare_step_s=manifest["prepare"].get("step_s"),
        cost_paid_in_rerun_usd=round(g["cost_usd"] + j["cost_usd"], 2),
        # every call paid once: the rerun's price per paid call times all calls of the step
        cost_projected_usd=round(projected, 2),
        cost_per_1000_kept_pairs_usd=round(1000 * projected / max(1, j["kept"]), 3),
        checks=checks, load_at_end=os.getloadavg()[0],
    )
    for k, v in figures.items():
        print(f"{k:>32}: {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
