"""LoRA under DeepSpeed ZeRO-2 and ZeRO-3 on DeepSpeed's CPU accelerator: 2 workers, gloo, resume.

One sweep trains two copies of a tiny random Llama (LlamaConfig with layers and widths shrunk,
SmolLM2's real tokenizer and ChatML template, saved as an ordinary Hugging Face folder) through
``run_train``: ``zero2`` and ``zero3``, each on two Ray Train workers, 4 optimizer steps, a
checkpoint every 2. Both are made to fail right after their step-2 checkpoint; the rerun of the
same run id resumes each from its DeepSpeed checkpoint (both ranks' shards) and finishes. This is
the evidence behind ``DeepSpeedSettings.stage``'s default (see its description).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from luxit_ray.config import job_from_dict
from luxit_ray.train.sweep import run_train
from tests.train import lb_chat
from tests.train.tiny_llama import tiny_llama

pytestmark = [
    pytest.mark.slow,
    pytest.mark.memory_gib(6),  # four DeepSpeed workers at once (tests/conftest.py: memory_gib)
    pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="deepspeed is not installed (dev extra)"),
]

STEPS, CRASH_AT = 4, 2


@pytest.fixture(scope="module")
def ds_sweep(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deepspeed")
    model = tiny_llama(tmp / "tiny-llama")
    data = lb_chat.write_parquet(tmp / "export.parquet", base=lb_chat.rows()[:8])
    job = {
        "run": {"name": "ds", "run_id": "ds-test", "output_dir": str(tmp / "runs"), "ray": {"num_cpus": 4}},
        "train": {
            "data": str(data),
            "storage_path": f"file://{tmp}/store",
            "max_failures": 0,
            "defaults": {
                "path": str(model), "family": "chatml", "batch_size": 2, "per_device_batch_size": 1,
                "max_steps": STEPS, "max_seq_len": 128, "learning_rate": 1.0e-2, "optimizer": "adamw_torch",
                "precision": "fp32", "save_every_steps": CRASH_AT, "keep_checkpoints": 2, "log_every_steps": 1,
                "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
                "resources": {"num_workers": 2, "use_gpu": False, "cpus_per_worker": 1},
            },
            "models": [
                {"name": "zero2", "deepspeed": {"enabled": True, "stage": 2}},
                {"name": "zero3", "deepspeed": {"enabled": True, "stage": 3}},
            ],
        },
    }
    cfg = job_from_dict(job)
    first = run_train(cfg, crash_at={"zero2": CRASH_AT, "zero3": CRASH_AT})
    storage = tmp / "store" / "ds-test"
    ckpt_files = {
        name: sorted(str(p.relative_to(storage / name / f"step-{CRASH_AT:07d}"))
                     for p in (storage / name / f"step-{CRASH_AT:07d}").rglob("*") if p.is_file())
        for name in ("zero2", "zero3")
    }
    second = run_train(cfg)
    return {"first": {r["model"]: r for r in first["rows"]}, "second": {r["model"]: r for r in second["rows"]},
            "ckpt_files": ckpt_files, "storage": storage, "model": model}


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_first_run_fails_after_its_checkpoint(ds_sweep, name):
    row = ds_sweep["first"][name]
    assert row["status"] == "failed"
    assert f"injected crash after the checkpoint of step {CRASH_AT}" in row["error"]


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_checkpoint_holds_both_ranks_zero_shards_and_the_adapter_only(ds_sweep, name):
    files = ds_sweep["ckpt_files"][name]
    shards = sorted(f for f in files if f.startswith(f"global_step{CRASH_AT}/"))
    assert shards == [
        f"global_step{CRASH_AT}/zero_pp_rank_0_mp_rank_00_model_states.pt",
        f"global_step{CRASH_AT}/zero_pp_rank_0_mp_rank_00_optim_states.pt",
        f"global_step{CRASH_AT}/zero_pp_rank_1_mp_rank_00_model_states.pt",
        f"global_step{CRASH_AT}/zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ] if name == "zero3" else [
        f"global_step{CRASH_AT}/mp_rank_00_model_states.pt",
        f"global_step{CRASH_AT}/zero_pp_rank_0_mp_rank_00_optim_states.pt",
        f"global_step{CRASH_AT}/zero_pp_rank_1_mp_rank_00_optim_states.pt",
    ]
    assert {"adapter_model.safetensors", "latest", "luxit_state.json", "rng_state_0.pth", "rng_state_1.pth"} <= set(files)
    assert not [f for f in files if f.endswith(("model.safetensors", "pytorch_model.bin")) and "adapter" not in f]


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_module_states_hold_no_base_weight_but_zero2_keeps_a_tied_head(ds_sweep, name):
    # The Trainer saves peft models with exclude_frozen_parameters=True. DeepSpeed drops the frozen
    # weights it finds in named_parameters(), which lists a tied weight once (as the embedding), so
    # under ZeRO-2 the tied output head stays: a full vocab x hidden matrix in every checkpoint.
    # Under ZeRO-3 it is an empty placeholder (the shards hold the adapter only).
    step_dir = ds_sweep["storage"] / name / f"step-{CRASH_AT:07d}" / f"global_step{CRASH_AT}"
    base_weights = {}
    for f in sorted(step_dir.glob("*model_states.pt")):
        module = torch.load(f, map_location="cpu", weights_only=False)["module"]
        assert sum("lora_" in k for k in module) == 2 * 4 * 2  # 2 layers x 4 projections x (A, B)
        base_weights.update({k: tuple(v.shape) for k, v in module.items() if "lora_" not in k and v.numel()})
    expected = {"base_model.model.lm_head.weight": (49152, 64)} if name == "zero2" else {}
    assert base_weights == expected


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_rerun_resumes_from_the_deepspeed_checkpoint_and_finishes(ds_sweep, name):
    row = ds_sweep["second"][name]
    assert row["status"] == "done", row.get("error")
    assert (row["steps"], row["resumed_from_step"], row["num_workers"]) == (STEPS, CRASH_AT, 2)
    # The loss history carries over from the first session (restored trainer state) to the last step.
    assert [s for s, _ in row["loss_history"]] == [1, 2, 3, 4]
    assert row["eval_loss_before"] is not None and row["eval_loss"] < row["eval_loss_before"]


@pytest.mark.parametrize("name", ["zero2", "zero3"])
def test_final_adapter_loads_with_peft_and_changed_the_model(ds_sweep, name):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = Path(ds_sweep["second"][name]["adapter"].removeprefix("file://"))
    setup = json.loads((adapter / "luxit_train.json").read_text())
    assert setup["recipe"]["deepspeed"] == {"enabled": True, "stage": int(name[-1]), "offload_optimizer": False,
                                            "offload_params": False}
    base = AutoModelForCausalLM.from_pretrained(ds_sweep["model"])
    tuned = PeftModel.from_pretrained(base, adapter)
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert len(lora_b) == 2 * 4  # 2 layers x 4 projections
    assert all(p.abs().sum() > 0 for p in lora_b)  # B starts at zero: nonzero means it trained and was saved
