"""Pieces of the worker's training function that must hold on GPUs too, checked on CPU."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from transformers import TrainingArguments

from luxit_ray.config import load_job
from luxit_ray.errors import LuxitError
from luxit_ray.train.loop import (
    MissingGpuExtraError,
    _training_kwargs,
    check_known_fields,
    choose_optimizer,
    reduced_sum,
)

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reduced_tensor_stays_on_the_models_device():
    # The old code built the token count on the CPU whatever the device; NCCL then failed with
    # "No backend type associated with device type cpu" after training, before the final save.
    model = torch.nn.Linear(2, 2, device="meta")
    t = reduced_sum(7, next(model.parameters()).device)
    assert t.device == next(model.parameters()).device
    assert t.dtype == torch.long


def test_reduced_sum_runs_through_a_gloo_group():
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        model = torch.nn.Linear(2, 2)
        t = reduced_sum(41, next(model.parameters()).device)
        assert (t.device.type, int(t.item())) == ("cpu", 41)
    finally:
        torch.distributed.destroy_process_group()


def test_training_kwargs_are_all_known_to_the_installed_transformers(tmp_path):
    recipe = load_job(JOBS / "train-sweep.yaml").train.models[0]
    kw = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_bnb_8bit", True, True, False, True)
    assert kw["optim"] == "adamw_bnb_8bit"
    assert kw["gradient_accumulation_steps"] == 8
    assert kw["warmup_steps"] == 0.03 or kw.get("warmup_ratio") == 0.03


def test_unknown_training_argument_is_an_error_not_dropped():
    fields = set(TrainingArguments.__dataclass_fields__)
    check_known_fields({"optim": "adamw_torch"}, fields, "TrainingArguments")
    with pytest.raises(LuxitError, match=r"TrainingArguments of transformers .* has no argument\(s\) \['warmup_ratioo'\]"):
        check_known_fields({"optim": "adamw_torch", "warmup_ratioo": 0.1}, fields, "TrainingArguments")


def test_missing_bitsandbytes_is_an_error_on_gpus_and_a_fallback_on_cpu():
    with pytest.raises(MissingGpuExtraError) as err:
        choose_optimizer("adamw_8bit", use_gpu=True, deepspeed=False, bnb_version=None)
    assert str(err.value) == (
        "optimizer adamw_8bit needs bitsandbytes on the GPU workers: install luxit-ray[train-gpu] there"
    )
    assert choose_optimizer("adamw_8bit", use_gpu=False, deepspeed=False, bnb_version=None) == (
        "adamw_torch", "bitsandbytes is not installed (CPU smoke fallback)"
    )


def test_transformers_pin_allows_the_dtype_keyword():
    # from_pretrained(dtype=...) (train/loop.py, evaluate/backends.py) arrived in transformers 4.56;
    # the old lower bound 4.50 let pip keep a transformers that ignores it.
    import re

    import tomllib

    deps = tomllib.loads((JOBS.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    [spec] = [d for d in deps if re.match(r"transformers\b", d)]
    low = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", spec).group(1).split("."))
    assert low >= (4, 56)


def test_eval_before_training_is_asked_of_the_trainer_only_on_a_fresh_start(tmp_path):
    recipe = load_job(JOBS / "train-smoke.yaml").train.models[0]
    fresh = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, True, eval_before=True)
    resumed = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, True, eval_before=False)
    no_eval = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, False, eval_before=True)
    assert (fresh["eval_on_start"], resumed["eval_on_start"], no_eval["eval_on_start"]) == (True, False, False)


def test_eval_loss_before_is_the_step_0_evaluation_kept_across_a_resume():
    from luxit_ray.train.loop import eval_loss_before

    # log_history as the Trainer restores it from a checkpoint, then extends it after the resume.
    history = [
        {"eval_loss": 2.75, "eval_runtime": 0.1, "epoch": 0, "step": 0},
        {"loss": 2.6, "grad_norm": 1.0, "learning_rate": 1e-3, "epoch": 0.5, "step": 1},
        {"loss": 2.4, "grad_norm": 1.0, "learning_rate": 1e-3, "epoch": 1.0, "step": 2},
        {"eval_loss": 2.5, "epoch": 1.0, "step": 2},
    ]
    assert eval_loss_before(history) == 2.75
    assert eval_loss_before(history[1:]) is None
