"""Why ZeRO-3 is DeepSpeedSettings.stage's default: what train/memory.py estimates for each stage.

Under LoRA the gradients and optimizer states that ZeRO-2 shards belong to the adapter (a few
hundred MiB), while ZeRO-3 shards the frozen base weights. The run itself is tested in
tests/train/test_deepspeed.py.
"""

from __future__ import annotations

from pathlib import Path

from luxit_ray.config import load_job
from luxit_ray.config.train import DeepSpeedSettings
from luxit_ray.train.memory import GIB, ModelShape, recipe_estimate
from tests.train.test_memory import CONFIGS

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _with_deepspeed(model: str, stage: int):
    cfg = load_job(JOBS / "train-sweep.yaml", [
        f"train.only=[{model}]", "train.defaults.optimizer=adamw_torch", "train.defaults.deepspeed.enabled=true",
        f"train.defaults.deepspeed.stage={stage}", "train.defaults.resources.num_workers=2",
    ])
    [recipe] = cfg.train.selected()
    return recipe


def test_default_stage_is_3():
    assert DeepSpeedSettings().stage == 3


def test_stage_3_halves_the_frozen_base_on_two_workers_and_stage_2_saves_nothing_estimated():
    figures = {}
    for model in ("llama-3.1-8b", "glm-4-9b"):
        shape = ModelShape.from_config(CONFIGS[model])
        for stage in (2, 3):
            est = recipe_estimate(_with_deepspeed(model, stage), shape, gradient_checkpointing=True)
            figures[model, stage] = (round(est.total / GIB, 1), round(est.weights / GIB, 2),
                                     round((est.lora + est.optimizer) / GIB, 2))
    assert figures == {
        ("llama-3.1-8b", 2): (34.1, 14.96, 0.62),
        ("llama-3.1-8b", 3): (26.6, 7.48, 0.62),
        ("glm-4-9b", 2): (39.7, 17.51, 0.71),
        ("glm-4-9b", 3): (30.9, 8.75, 0.71),
    }
