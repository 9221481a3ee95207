"""The results row the driver builds from a finished trial keeps what the worker measured.

``fit_model`` runs here with Ray Train's ``TorchTrainer`` replaced by a stand-in whose ``fit``
returns a final checkpoint on local disk, as a real run leaves it: ``final.json`` (the worker's
metrics) and ``adapter/``. No Ray cluster is started.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from luxit_ray.config.train import TrainConfig
from luxit_ray.train.sweep import PlannedModel, fit_model

# What a CPU worker wrote in bench/gpu_check.sh's CPU mode (abridged final.json).
WORKER_METRICS = {
    "step": 4, "max_steps": 4, "train_loss": 2.5, "final_loss": 2.25, "eval_loss": 2.125,
    "eval_loss_before": 2.75, "loss_history": [[1, 2.75], [4, 2.25]], "resumed_from_step": 2,
    "elapsed_s": 12.0, "tokens": 640, "tokens_per_s": 80.0, "optimizer": "adamw_torch",
    "precision": "fp32", "gradient_checkpointing": False, "world_size": 1,
    "memory_estimate_gib": 2.9, "peak_gpu_memory_gib": None, "peak_gpu_reserved_gib": None,
}


class _Checkpoint:
    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.filesystem = pafs.LocalFileSystem()


class _Result:
    def __init__(self, path: Path) -> None:
        self.checkpoint = _Checkpoint(path)


def _trainer_returning(final_dir: Path):
    class _StandInTrainer:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def fit(self) -> _Result:
            return _Result(final_dir)

    return _StandInTrainer


def _train_config(use_gpu: bool) -> TrainConfig:
    resources = {"num_workers": 1, "use_gpu": use_gpu}
    if use_gpu:
        resources["gpu_memory_gb"] = 44
    return TrainConfig.model_validate({
        "models": [{
            "name": "m", "path": "smollm2", "family": "chatml", "batch_size": 2, "per_device_batch_size": 2,
            "learning_rate": 1e-3, "optimizer": "adamw_torch", "lora": {"r": 8, "alpha": 16, "target_modules": ["q_proj"]},
            "resources": resources,
        }],
    })


def _final_checkpoint(tmp_path: Path, metrics: dict) -> Path:
    final = tmp_path / "ckpt" / "final"
    (final / "adapter").mkdir(parents=True)
    (final / "adapter" / "adapter_config.json").write_text("{}")
    (final / "final.json").write_text(json.dumps(metrics))
    return final


@pytest.mark.parametrize("use_gpu", [False, True])
def test_row_keeps_the_workers_memory_estimate(tmp_path, monkeypatch, use_gpu):
    # bench/gpu_check.sh MODE=cpu printed FAIL: final.json held 2.9, the row held null, because the
    # driver overwrote the worker's figure with the preflight's, which is None for CPU recipes (and
    # on GPU recipes was the whole dict of parts, not a number).
    import ray.train.torch

    monkeypatch.setattr(ray.train.torch, "TorchTrainer", _trainer_returning(_final_checkpoint(tmp_path, WORKER_METRICS)))
    tc = _train_config(use_gpu)
    preflight_memory = {"gib": {"weights": 0.25, "total": 3.5}} if use_gpu else None
    row = fit_model(PlannedModel(tc.models[0], "/models/m", preflight_memory), None, str(tmp_path / "store"), tc)
    assert row["status"] == "done"
    assert row["memory_estimate_gib"] == 2.9
    assert (row["steps"], row["resumed_from_step"], row["eval_loss"]) == (4, 2, 2.125)
    assert row["adapter"] == str(tmp_path / "store" / "m" / "adapter")
    assert json.loads((tmp_path / "store" / "m" / "result.json").read_text())["memory_estimate_gib"] == 2.9


def test_row_falls_back_to_the_preflight_total_when_the_worker_had_none(tmp_path, monkeypatch):
    import ray.train.torch

    metrics = {**WORKER_METRICS, "memory_estimate_gib": None}
    monkeypatch.setattr(ray.train.torch, "TorchTrainer", _trainer_returning(_final_checkpoint(tmp_path, metrics)))
    tc = _train_config(True)
    row = fit_model(PlannedModel(tc.models[0], "/models/m", {"gib": {"weights": 0.25, "total": 3.5}}), None,
                    str(tmp_path / "store"), tc)
    assert row["memory_estimate_gib"] == 3.5
