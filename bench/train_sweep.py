"""Benchmark: N small LoRA runs of SmolLM2 as one concurrent sweep vs. one after another.

Every mode uses the same code path as ``luxit train`` (one Ray Train TorchTrainer per run, 1
worker with ``--cpus-per-worker`` CPUs each) on an embedded local Ray:

- concurrent: all N fits start at once and the cluster has room for all;
- queued: all N fits start at once but each worker also asks for a custom resource the local Ray
  has only one of, so Ray runs them one at a time (the cluster-side queue);
- sequential: ``train.max_concurrent=1``, the driver starts one fit after the other.

Prints a table of wall times and per-run tokens/s and writes it as JSON next to the runs.

    python bench/train_sweep.py --runs 2 --steps 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")


MODES = ("concurrent", "queued", "sequential")


def _job(out: Path, data: Path, runs: int, steps: int, seq_len: int, cpus: float, mode: str) -> dict:
    models = [
        {"name": f"run{i}", "seed": 100 + i, "learning_rate": 2.0e-3, "lora": {"r": 8, "alpha": 16}}
        for i in range(runs)
    ]
    return {
        "run": {"name": f"bench-{mode}", "output_dir": str(out), "run_id": f"bench-{mode}"},
        "train": {
            "data": str(data),
            "max_failures": 0,
            "max_concurrent": 1 if mode == "sequential" else None,
            "defaults": {
                "path": "smollm2",
                "family": "chatml",
                "batch_size": 2,
                "per_device_batch_size": 2,
                "max_steps": steps,
                "max_seq_len": seq_len,
                "save_every_steps": steps,
                "keep_checkpoints": 1,
                "log_every_steps": 1,
                "lora": {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
                "resources": {
                    "num_workers": 1, "use_gpu": False, "cpus_per_worker": cpus,
                    "custom_resources": {"bench_slot": 1.0} if mode == "queued" else {},
                },
            },
            "models": models,
        },
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2, help="runs per mode (default 2)")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per run (default 4)")
    ap.add_argument("--seq-len", type=int, default=128, help="max_seq_len (default 128)")
    ap.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per training worker (default 1)")
    ap.add_argument("--ray-cpus", type=int, default=4, help="logical CPUs of the embedded Ray (default 4)")
    ap.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temp folder)")
    args = ap.parse_args()

    import ray

    from luxit_ray.config import job_from_dict
    from luxit_ray.console import print_table
    from luxit_ray.train.sweep import run_train
    from tests.train import lb_chat

    out = args.out or Path(tempfile.mkdtemp(prefix="luxit-bench-train-"))
    data = lb_chat.write_parquet(out / "data.parquet")
    # A waiting fit retries its placement every few seconds instead of Ray Train's default 60 s.
    os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "5")
    ray.init(num_cpus=args.ray_cpus, resources={"bench_slot": 1.0}, include_dashboard=False, log_to_driver=False)
    # Warm-up: converts SmolLM2 once and starts Ray's worker processes, outside the timings.
    from luxit_ray.models import smollm2_dir

    smollm2_dir()
    results = {}
    for mode in MODES:
        cfg = job_from_dict(_job(out, data, args.runs, args.steps, args.seq_len, args.cpus_per_worker, mode))
        t0 = time.time()
        summary = run_train(cfg)
        results[mode] = {"wall_s": time.time() - t0, "rows": summary["rows"]}
        if summary["failed"]:
            print(f"{mode}: failed runs {summary['failed']}", file=sys.stderr)
            return 1
    rows = []
    for mode, res in results.items():
        for r in res["rows"]:
            rows.append([mode, r["model"], r["steps"], r["tokens"], r["tokens_per_s"], r["time_s"], r["wall_s"]])
    print_table(
        f"LoRA SmolLM2, {args.runs} runs x {args.steps} steps, seq<= {args.seq_len}, {args.cpus_per_worker} CPU/worker",
        ["mode", "run", "steps", "tokens", "tokens/s (train)", "worker time s", "fit wall s"],
        rows,
    )
    seq = results["sequential"]["wall_s"]
    conc = results["concurrent"]["wall_s"]
    print_table(
        "Sweep wall time",
        ["mode", "wall s", "speed-up vs sequential"],
        [[mode, results[mode]["wall_s"], seq / results[mode]["wall_s"]] for mode in MODES],
    )
    report = {
        "runs": args.runs, "steps": args.steps, "seq_len": args.seq_len, "cpus_per_worker": args.cpus_per_worker,
        "ray_cpus": args.ray_cpus, "cpu_count": os.cpu_count(), "loadavg_1m": os.getloadavg()[0],
        "wall_s": {mode: results[mode]["wall_s"] for mode in MODES}, "speedup_concurrent": seq / conc,
        "per_run": [dict(zip(["mode", "run", "steps", "tokens", "tokens_per_s", "time_s", "wall_s"], r, strict=True))
                    for r in rows],
    }
    (out / "train_sweep_bench.json").write_text(json.dumps(report, indent=2))
    print(f"results: {out / 'train_sweep_bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
