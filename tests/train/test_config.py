"""The sweep YAMLs validate, carry the paper's Table 2, and bad recipes are refused up front."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from luxit_ray.config import job_from_dict, load_job
from luxit_ray.errors import ConfigError, LuxitError
from luxit_ray.train.loop import choose_optimizer, deepspeed_config
from luxit_ray.train.sweep import preflight

JOBS = Path(__file__).resolve().parents[2] / "jobs"

TABLE_2 = {  # name: (r, alpha, effective batch, lr, dropout)
    "llama-3.1-8b": (16, 32, 32, 2e-4, 0.05),
    "llama-3.2-1b": (32, 64, 48, 2e-4, 0.0),
    "gemma-3-1b": (64, 64, 16, 1e-4, 0.0),
    "glm-4-9b": (16, 32, 32, 1e-4, 0.05),
    "qwen3-0.6b": (32, 32, 16, 3e-4, 0.0),
}


def test_sweep_yaml_holds_table_2_and_shared_settings():
    text = (JOBS / "train-sweep.yaml").read_text(encoding="utf-8")
    assert text.startswith("# luxit train jobs/train-sweep.yaml")
    train = load_job(JOBS / "train-sweep.yaml").train
    got = {m.name: (m.lora.r, m.lora.alpha, m.batch_size, m.learning_rate, m.lora.dropout) for m in train.models}
    assert got == TABLE_2
    for m in train.models:
        assert (m.epochs, m.lr_scheduler, m.warmup_ratio, m.weight_decay) == (3, "cosine", 0.03, 0.01)
        assert (m.optimizer, m.max_seq_len, m.precision, m.pad_token) == ("adamw_8bit", 2048, "bf16", "auto")
        assert m.per_device_batch_size * m.grad_accum * m.resources.num_workers == m.batch_size
        assert m.resources.use_gpu
    by = {m.name: m for m in train.models}
    assert by["glm-4-9b"].lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"]
    assert "gate_up_proj" not in by["qwen3-0.6b"].lora.target_modules
    assert {m.name: m.family for m in train.models} == {
        "llama-3.1-8b": "llama3", "llama-3.2-1b": "llama3", "gemma-3-1b": "gemma3", "glm-4-9b": "glm4",
        "qwen3-0.6b": "qwen3",
    }
    assert by["qwen3-0.6b"].thinking is False
    assert by["llama-3.2-1b"].grad_accum == 6  # 8 x 6: 16 x 2048 per device does not fit (test_memory)


def test_a_sixth_model_is_one_yaml_entry():
    text = (JOBS / "train-sweep.yaml").read_text(encoding="utf-8")
    text += (
        "    - {name: mistral-7b, path: Mistral-7B, family: llama3, lora: {r: 8, alpha: 16},\n"
        "       batch_size: 32, per_device_batch_size: 8, learning_rate: 1.0e-4}\n"
    )
    cfg = job_from_dict(yaml.safe_load(text))
    m = cfg.train.models[5]
    assert (m.name, m.grad_accum, m.epochs, m.lora.target_modules[-1], m.resources.cpus_per_worker) == (
        "mistral-7b", 4, 3, "down_proj", 4
    )


def test_smoke_yaml_is_two_small_cpu_configs():
    train = load_job(JOBS / "train-smoke.yaml").train
    assert [m.name for m in train.models] == ["smollm2-r8", "smollm2-r4"]
    for m in train.models:
        assert (m.path, m.family, m.resources.use_gpu, m.max_seq_len) == ("smollm2", "chatml", False, 128)
    assert train.data == "tests/train/data/lb_chat.parquet"
    assert (JOBS.parent / train.data).is_file()


def test_bad_recipes_are_reported_together():
    with pytest.raises(ConfigError) as err:
        load_job(
            JOBS / "train-smoke.yaml",
            ["train.models.0.batch_size=3", "train.models.1.thinking=true"],
        )
    problems = "\n".join(err.value.problems)
    assert "batch_size 3 is not per_device_batch_size 1 x num_workers 2" in problems  # smollm2-r8: 2 workers
    assert "only the qwen3 family has a thinking switch" in problems
    with pytest.raises(ConfigError, match="train.models.1.lora.rank: unknown key"):
        load_job(JOBS / "train-smoke.yaml", ["train.models.1.lora.rank=4"])
    with pytest.raises(ConfigError, match="unknown model"):
        load_job(JOBS / "train-smoke.yaml", ["train.only=[nope]"])
    # DeepSpeed runs on CPU workers too (its CPU accelerator over gloo: tests/train/test_deepspeed.py).
    cpu_ds = load_job(
        JOBS / "train-smoke.yaml", ["train.models.0.deepspeed.enabled=true", "train.models.0.optimizer=adamw_torch"]
    ).train.models[0]
    assert (cpu_ds.deepspeed.enabled, cpu_ds.resources.use_gpu) == (True, False)


def test_optimizer_choice_uses_bitsandbytes_on_cpu_too():
    from importlib.metadata import version

    # bitsandbytes 0.50 has CPU kernels for the 8-bit update: no fallback where it is installed.
    expected = ("adamw_bnb_8bit", f"bitsandbytes {version('bitsandbytes')}")
    assert choose_optimizer("adamw_8bit", use_gpu=False, deepspeed=False) == expected
    assert choose_optimizer("adamw_8bit", use_gpu=True, deepspeed=False) == expected
    assert choose_optimizer("adamw_torch", use_gpu=True, deepspeed=False) == ("adamw_torch", "requested")
    with pytest.raises(ConfigError, match="deepspeed.enabled with optimizer adamw_8bit"):
        load_job(JOBS / "train-sweep.yaml", ["train.models.0.deepspeed.enabled=true"])


def test_deepspeed_zero3_saves_gathered_adapter_only():
    m = load_job(
        JOBS / "train-sweep.yaml", ["train.models.0.deepspeed.enabled=true", "train.models.0.optimizer=adamw_torch"]
    ).train.models[0]
    ds = deepspeed_config(m)
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert ds["gradient_accumulation_steps"] == "auto"


def test_preflight_refuses_pad_eos_and_missing_modules_before_training(tmp_path):
    cfg = load_job(
        JOBS / "train-smoke.yaml",
        ["train.models.0.pad_token=null", "train.models.1.lora.target_modules=[q_proj, gate_up_proj]"],
    )
    with pytest.raises(ConfigError) as err:
        preflight(cfg.train.models, None)
    problems = err.value.problems
    assert any(p.startswith("smollm2-r8: the pad token '<|im_end|>' is the end-of-turn token") for p in problems)
    assert "smollm2-r4: lora.target_modules ['gate_up_proj'] match no module of llama" in problems
    bad_path = load_job(JOBS / "train-smoke.yaml", [f"train.models.0.path={tmp_path}/missing"])
    with pytest.raises(LuxitError, match="not a local model folder"):
        preflight(bad_path.train.models[:1], None)


def test_without_data_the_newest_finished_export_is_used(tmp_path):
    from luxit_ray.runs import RunDir
    from luxit_ray.train.sweep import locate
    from tests.train import lb_chat

    for run_id, done in (("train-smoke-20260101-000000", True), ("train-smoke-20260102-000000", False)):
        export = tmp_path / run_id / "export"
        lb_chat.write_parquet(export / "part-0.parquet")
        if done:
            RunDir(tmp_path / run_id).mark_done("export")
    cfg = load_job(JOBS / "train-smoke.yaml", [f"run.output_dir={tmp_path}", "train.data=null"])
    run, data_spec, root = locate(cfg)
    assert run.path == tmp_path / "train-smoke-20260101-000000"
    assert data_spec == str(tmp_path / "train-smoke-20260101-000000" / "export" / "*.parquet")
    assert root == str(tmp_path / "train-smoke-20260101-000000" / "train")
    cfg = load_job(JOBS / "train-smoke.yaml", [f"run.output_dir={tmp_path}", "train.data=null",
                                               "train.storage_path=s3://bucket/luxit"])
    assert locate(cfg)[2] == "s3://bucket/luxit/train-smoke-20260101-000000"
