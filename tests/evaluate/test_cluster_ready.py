"""Evaluation as it runs on a GPU cluster: backend choice, training's prompt set-up, shared storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from luxit_ray.config import load_job
from luxit_ray.config.evaluate import EvaluateConfig
from luxit_ray.errors import LuxitError
from luxit_ray.evaluate import chat
from luxit_ray.evaluate.backends import choose_backend
from luxit_ray.evaluate.lm_eval_export import lm_eval_model_runs
from luxit_ray.evaluate.runner import storage_problems
from tests.train.chat_tokenizers import make_tokenizer

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _adapter(tmp_path: Path, targets: list[str], **setup: object) -> Path:
    d = tmp_path / "adapter"
    d.mkdir(exist_ok=True)
    (d / "adapter_config.json").write_text(json.dumps({"r": 16, "target_modules": targets}), encoding="utf-8")
    if setup:
        (d / "luxit_train.json").write_text(json.dumps(setup), encoding="utf-8")
    return d


def test_backend_auto_never_falls_back_silently_on_a_gpu(tmp_path):
    plain = _adapter(tmp_path, ["q_proj", "v_proj"])
    assert choose_backend("auto", 1, plain, vllm_installed=True) == ("vllm", "auto: GPU and vllm")
    with pytest.raises(LuxitError) as err:
        choose_backend("auto", 1, plain, vllm_installed=False)
    assert str(err.value) == (
        "backend auto on a GPU needs vllm on the evaluation nodes (install it there: the ray-llm image, see "
        "cluster/), or set evaluate.backend: transformers"
    )
    assert choose_backend("auto", 0, plain, vllm_installed=False) == (
        "transformers", "auto: CPU smoke profile (no GPU for this model), transformers"
    )
    with pytest.raises(LuxitError, match="backend vllm needs a GPU"):
        choose_backend("vllm", 0, None, vllm_installed=True)


def test_glm4_adapter_on_fused_gate_up_proj_goes_to_transformers(tmp_path):
    glm = _adapter(tmp_path, ["q_proj", "gate_up_proj", "down_proj"])
    assert choose_backend("auto", 1, glm, vllm_installed=True) == (
        "transformers", "auto: the adapter targets ['gate_up_proj'], which vLLM splits; transformers merges it"
    )
    with pytest.raises(LuxitError, match=r"cannot load an adapter targeting \['gate_up_proj'\].*luxit merge"):
        choose_backend("vllm", 1, glm, vllm_installed=True)


def test_evaluation_asks_with_trainings_system_prompt(tmp_path):
    adapter = _adapter(tmp_path, ["q_proj"], family="chatml", thinking=False, system_prompt="Äntwert op Lëtzebuergesch.")
    setup = chat.resolve_setup(tmp_path / "base", adapter, None, None, False)
    assert (setup.family, setup.system_prompt) == ("chatml", "Äntwert op Lëtzebuergesch.")
    tok = make_tokenizer("chatml")
    prompt, used = chat.render_user_prompt(tok, "Wat ass 2 + 2?", setup.family, setup.thinking, "Äntwert:", setup.system_prompt)
    assert used is True
    assert prompt == (
        "<|im_start|>system\nÄntwert op Lëtzebuergesch.<|im_end|>\n"
        "<|im_start|>user\nWat ass 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_lm_eval_export_passes_qwen3_thinking_and_system_prompt_as_training_did(tmp_path):
    adapter = _adapter(tmp_path, ["q_proj"], family="qwen3", thinking=False, system_prompt="Sief kuerz.")
    settings = EvaluateConfig(
        exam={"path": "unused.jsonl"},
        models=[
            {"name": "qwen3-base", "path": "/m/Qwen3-0.6B-Base", "group": "base"},
            {"name": "qwen3-luxit", "path": "/m/Qwen3-0.6B", "adapter": str(adapter), "group": "fine-tuned"},
        ],
    )
    runs = lm_eval_model_runs(settings, "/out", ["luxit_exam"])
    assert runs[0]["argv"] == ["lm_eval", "--model", "hf", "--model_args", "pretrained=/m/Qwen3-0.6B-Base,dtype=bfloat16",
                               "--tasks", "luxit_exam", "--include_path", "/out"]
    assert runs[1]["model_args"] == f"pretrained=/m/Qwen3-0.6B,peft={adapter},dtype=bfloat16,enable_thinking=False"
    assert runs[1]["argv"][-3:] == ["--apply_chat_template", "--system_instruction", "Sief kuerz."]


def test_eval_yaml_rebuilds_table_4():
    ev = load_job(JOBS / "eval.yaml").evaluate
    groups = {g: [m.name for m in ev.models if m.group == g] for g in ("base", "instruct", "fine-tuned")}
    assert groups == {
        "base": ["llama-3.1-8b-base", "llama-3.2-1b-base", "gemma-3-1b-pt"],
        "instruct": ["llama-3.1-8b-instruct", "llama-3.2-1b-instruct", "gemma-3-1b-it", "glm-4-9b-0414", "qwen3-0.6b"],
        "fine-tuned": ["llama-3.1-8b-luxit", "llama-3.2-1b-luxit", "gemma-3-1b-luxit", "glm-4-9b-luxit",
                       "qwen3-0.6b-luxit"],
    }


def test_eval_yaml_storage_is_shared_and_a_local_path_is_refused_in_one_line():
    cfg = load_job(JOBS / "eval.yaml")
    specs = [m.model_dump(mode="json") for m in cfg.evaluate.models]
    assert storage_problems(cfg, specs, nodes=5) == []
    local = load_job(JOBS / "eval.yaml", ["run.output_dir=runs"])
    assert storage_problems(local, specs, nodes=5) == [
        "run.output_dir: 'runs' is local to one node, but the Ray cluster has 5 nodes: use s3://... or a path "
        "under ['/mnt/shared']"
    ]
    assert storage_problems(local, specs, nodes=1) == []
