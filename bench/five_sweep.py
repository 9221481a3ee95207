"""Benchmark: the paper's five architectures as one concurrent sweep, against its slowest trial alone.

``luxit train jobs/train-sweep.yaml`` (``luxit_ray.entrypoint.run_job``, what the CLI runs) on
an embedded local Ray, on the tiny models of ``luxit_ray.train.tiny_models`` with Table 2's five
recipes unchanged except for the overrides of ``luxit_ray.train.tiny_sweep`` (model paths, 2 gloo
workers of 1 CPU each) and a step count and sequence length short enough for a small machine,
the same for every trial. The local Ray offers one ``luxit_train`` slot per training worker, as
the gpu-train node type does on a cluster, so all five trials start at once.

Then the sweep's slowest trial (longest fit) runs again alone (``train.only``), same settings,
same Ray; with ``--alone all`` every other trial follows it, one at a time, which gives what the
five would cost one after another. Printed and written as JSON:

- the sweep's wall time (the whole ``run_job`` call: data load, preflight, extras check, fits),
  the slowest trial's alone, and their ratio (with ``--alone all``, also the sum of the five
  alone); the load average before and after each; CPU count;
- per trial, where its fit's time went: from the fit's start to the worker's loop (Ray Train's
  controller, placement group, worker processes, the torch / transformers / peft imports), from
  there to the first step (tokenizer, tokenization, model load, LoRA), training (the Trainer's
  loop: the step-0 evaluation, the steps, the checkpoints) and what follows it (final
  evaluation, adapter save, Ray Train's teardown, the driver's copy of the adapter).

Timestamps come from the results rows (``session_started_at``, ``finished_at``, ``time_s``,
``tokens`` / ``tokens_per_s``) and from the driver's "starting" log record of each fit; all
processes are on this machine, so their clocks agree.

    flock /tmp/luxit-heavy.lock .venv/bin/python bench/five_sweep.py --steps 6 --json out.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Set before Ray starts so that every worker process inherits them.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
if not sys.stdout.isatty():  # rich falls back to 80 columns: too narrow for the trial table
    os.environ.setdefault("COLUMNS", "160")
# Ten workers starting on two cores can take minutes: a worker group that is merely slow must not
# be restarted (that would time the restart, not the sweep). The sweep test uses the same value.
os.environ.setdefault("RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S", "600")

log = logging.getLogger("bench.five_sweep")


class FitStarts(logging.Handler):
    """Records when the driver starts each fit (``fit_model``'s "<model>: starting" log record)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.at: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith("%s: starting") and record.args:
            self.at[str(record.args[0])] = record.created


def trial_figures(row: dict[str, Any], fit_start: float | None) -> dict[str, Any]:
    """Where one fit's time went, from its results row and the driver's start time of the fit."""
    steps = row["steps"]
    train_s = row["tokens"] / row["tokens_per_s"] if row.get("tokens_per_s") else None
    worker_start = row["finished_at"] - row["time_s"]
    train_start = row["session_started_at"]
    out: dict[str, Any] = {
        "model": row["model"],
        "fit_wall_s": row["wall_s"],
        "steps": steps,
        "effective_batch": row["effective_batch"],
        "grad_accum": row["grad_accum"],
        "tokens": row["tokens"],
        "tokens_per_s": row["tokens_per_s"],
        "train_s": train_s,
        "step_s": train_s / steps if train_s is not None and steps else None,
        "worker_setup_s": train_start - worker_start,
        "train_loss": row["train_loss"],
        "eval_loss": row["eval_loss"],
        "fit_start": fit_start,
        "ray_start_s": None,
        "to_first_step_s": None,
        "after_train_s": None,
    }
    if fit_start is not None:
        out["ray_start_s"] = worker_start - fit_start
        out["to_first_step_s"] = train_start - fit_start
        if train_s is not None:
            out["after_train_s"] = fit_start + row["wall_s"] - (train_start + train_s)
    return out


def run_phase(label: str, overrides: list[str], starts: FitStarts) -> dict[str, Any]:
    """One ``luxit train`` call; returns its wall time, load averages and per-trial figures."""
    from luxit_ray.entrypoint import run_job
    from luxit_ray.train.tiny_sweep import SWEEP_JOB

    starts.at.clear()
    load_before = os.getloadavg()
    t0 = time.time()
    log.info("%s: starting luxit train", label)
    summary, code = run_job("train", REPO / SWEEP_JOB, overrides)
    wall = time.time() - t0
    load_after = os.getloadavg()
    if code != 0 or summary["failed"]:
        errors = {r["model"]: r.get("error") for r in summary["rows"] if r.get("error")}
        raise SystemExit(f"{label}: failed trials {summary['failed']}: {errors}")
    trials = [trial_figures(r, starts.at.get(r["model"])) for r in summary["rows"]]
    for t in trials:
        t["fit_start_after_s"] = t["fit_start"] - t0 if t["fit_start"] is not None else None
    return {"label": label, "started_at": t0, "wall_s": wall, "load_before": load_before, "load_after": load_after,
            "run_dir": summary["run_dir"], "trials": trials}


def _mem_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def _load(x: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in x)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per trial (default 6)")
    ap.add_argument("--seq-len", type=int, default=256, help="max_seq_len of every trial (default 256)")
    ap.add_argument("--save-every", type=int, default=None,
                    help="checkpoint every N steps (default: --steps, one checkpoint at the end)")
    ap.add_argument("--train-slots", type=int, default=10,
                    help="luxit_train slots (and CPUs) of the local Ray for training workers (default 10: 5 x 2)")
    ap.add_argument("--out", type=Path, default=None, help="working folder (default: a new temp folder)")
    ap.add_argument("--models", type=Path, default=None,
                    help="tiny models folder, reused when complete (default: <out>/models)")
    ap.add_argument("--alone", choices=("slowest", "all"), default="slowest",
                    help="after the sweep, run its slowest trial alone, or every trial alone (default slowest)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    import ray

    from luxit_ray.console import print_table
    from luxit_ray.train.tiny_models import build_tiny_models
    from luxit_ray.train.tiny_sweep import tiny_sweep_overrides
    from tests.train import lb_chat

    out = (args.out or Path(tempfile.mkdtemp(prefix="luxit-bench-five-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    save_every = args.save_every or args.steps
    load_start = os.getloadavg()
    began = dt.datetime.now().astimezone()

    t = time.time()
    models = build_tiny_models(args.models or out / "models")
    build_s = time.time() - t
    models_root = next(iter(models.values())).parent
    data = lb_chat.write_parquet(out / "export.parquet")

    def overrides(run_id: str) -> list[str]:
        return [
            *tiny_sweep_overrides(models_root, data, str(out / "storage"), out / "runs", out, run_id,
                                  args.steps, save_every),
            f"train.defaults.max_seq_len={args.seq_len}",
        ]

    # Two CPUs beyond the training slots: the driver's tasks (the extras check) never wait for them.
    t = time.time()
    ray.init(num_cpus=args.train_slots + 2, resources={"luxit_train": float(args.train_slots)},
             include_dashboard=False, log_to_driver=False)
    ray_init_s = time.time() - t
    starts = FitStarts()
    logging.getLogger("luxit_ray.train.sweep").addHandler(starts)

    sweep = run_phase("sweep", overrides("five-sweep"), starts)
    by_fit = sorted(sweep["trials"], key=lambda x: x["fit_wall_s"], reverse=True)
    slowest = by_fit[0]["model"]
    order = [x["model"] for x in by_fit] if args.alone == "all" else [slowest]
    alone = {m: run_phase(f"alone {m}", [*overrides(f"five-sweep-alone-{m}"), f"train.only=[{m}]"], starts)
             for m in order}
    ray.shutdown()
    load_end = os.getloadavg()

    cols = ["phase", "model", "fit wall s", "to step 1 s", "Ray+imports s", "load+setup s", "training s",
            "steps", "s/step", "after s", "tokens/s"]
    rows = []
    for phase in (sweep, *alone.values()):
        for x in phase["trials"]:
            rows.append([phase["label"], x["model"], x["fit_wall_s"], x["to_first_step_s"], x["ray_start_s"],
                         x["worker_setup_s"], x["train_s"], x["steps"], x["step_s"], x["after_train_s"],
                         x["tokens_per_s"]])
    print_table(f"Five tiny architectures, {args.steps} steps, max_seq_len {args.seq_len}, 2 gloo workers x 1 CPU each",
                cols, rows)
    in_sweep = by_fit[0]
    ratio = sweep["wall_s"] / alone[slowest]["wall_s"]
    summary_rows = [
        ["sweep (5 trials, luxit train)", sweep["wall_s"], _load(sweep["load_before"]), _load(sweep["load_after"])],
        [f"slowest trial in the sweep ({slowest}, its fit)", in_sweep["fit_wall_s"], "", ""],
        *[[f"{m} alone (luxit train)", a["wall_s"], _load(a["load_before"]), _load(a["load_after"])]
          for m, a in alone.items()],
        ["sweep wall / slowest alone", ratio, "", ""],
    ]
    sum_alone = sum(a["wall_s"] for a in alone.values()) if args.alone == "all" else None
    if sum_alone is not None:
        summary_rows += [["the five alone, one after another (sum)", sum_alone, "", ""],
                         ["sweep wall / sum of the five alone", sweep["wall_s"] / sum_alone, "", ""]]
    print_table("Sweep against its slowest trial alone", ["", "wall s", "load avg before", "load avg after"],
                summary_rows)
    print(f"CPUs {os.cpu_count()}, memory {_mem_gib() or 0:.1f} GiB, load average at start {_load(load_start)}, "
          f"at end {_load(load_end)}; tiny models ready in {build_s:.1f} s, ray.init {ray_init_s:.1f} s (not timed above)")

    report = {
        "date": began.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "cpu_count": os.cpu_count(),
        "memory_gib": _mem_gib(),
        "load_start": load_start,
        "load_end": load_end,
        "steps": args.steps, "max_seq_len": args.seq_len, "save_every_steps": save_every,
        "ray_cpus": args.train_slots + 2, "train_slots": args.train_slots,
        "models_build_s": build_s, "ray_init_s": ray_init_s,
        "slowest": slowest,
        "sweep": sweep,
        "alone": alone,
        "sweep_over_slowest_alone": ratio,
        "sum_alone_s": sum_alone,
        "sweep_over_sum_alone": sweep["wall_s"] / sum_alone if sum_alone else None,
    }
    text = json.dumps(report, indent=2)
    (out / "five_sweep_bench.json").write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(f"results: {out / 'five_sweep_bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
