"""Config section for `train`: a LoRA fine-tuning sweep, one recipe per model, run on Ray Train.

Recipes are data: every model of a sweep is one entry under ``train.models``. Keys set under
``train.defaults`` are merged into every model entry first (a model's own keys win, nested
sections are merged key by key), so the shared hyperparameters of the paper are written once and
adding a model is one more YAML entry.

Batch sizes: ``batch_size`` is the *effective* batch of the paper's Table 2, i.e. the number of
conversations behind one optimizer step. It is split as
``per_device_batch_size x gradient accumulation x resources.num_workers``; the accumulation is
derived and the product must equal ``batch_size`` exactly.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field, model_validator

from luxit_ray.config.base import StrictModel
from luxit_ray.config.mixture import GridConfig, parse_variant_name

TemplateFamilyName = Literal["llama3", "gemma3", "qwen3", "glm4", "chatml"]


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``over`` merged in; nested mappings merge key by key, ``over`` wins."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class LoraSettings(StrictModel):
    """LoRA adapter shape (paper Table 2 gives r and alpha per model)."""

    r: int = Field(ge=1, le=1024, description="LoRA rank.")
    alpha: int = Field(ge=1, description="LoRA alpha (scale = alpha / r).")
    dropout: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="LoRA dropout (paper: 0 for the 0.6B/1B models, 0.05 for 8B/9B)."
    )
    target_modules: list[str] = Field(
        min_length=1,
        description="Module names (suffixes) that get adapters; every name must match a module of the model "
        "(GLM-4-0414 fuses its MLP into gate_up_proj).",
    )


class ResourcesConfig(StrictModel):
    """Ray Train workers of one model (its ScalingConfig)."""

    num_workers: int = Field(default=1, ge=1, description="Data-parallel training workers.")
    use_gpu: bool = Field(default=False, description="Give each worker GPUs (bf16 needs them; DeepSpeed runs on either).")
    gpus_per_worker: float = Field(default=1.0, ge=0.0, description="GPUs reserved per worker when use_gpu.")
    cpus_per_worker: float = Field(
        default=1.0, gt=0.0,
        description="CPUs reserved per worker; on a small machine keep the sum over concurrent models within Ray's CPUs.",
    )
    gpu_memory_gb: float | None = Field(
        default=None, gt=0.0,
        description="GPU memory each worker gets, in GiB (e.g. 48 for an L40S); required with use_gpu: the "
        "preflight memory estimate is checked against it and gradient_checkpointing: auto uses it.",
    )
    accelerator_type: str | None = Field(
        default=None, description="Ray accelerator type the workers must run on (e.g. H100); null: any."
    )
    custom_resources: dict[str, float] = Field(
        default_factory=dict,
        description="Extra Ray resources each worker reserves (custom node resources, e.g. {big_gpu_node: 1}).",
    )


class DeepSpeedSettings(StrictModel):
    """DeepSpeed ZeRO for models too large for one GPU; checkpoints keep only the adapter weights."""

    enabled: bool = Field(
        default=False,
        description="Train under DeepSpeed (needs the deepspeed package, luxit-ray[train-gpu]). GPU workers use "
        "NCCL; CPU workers run DeepSpeed's CPU accelerator over gloo (tests, smoke runs).",
    )
    stage: Literal[2, 3] = Field(
        default=3,
        description="ZeRO stage. Default 3: under LoRA only the adapter trains, so the gradients and AdamW "
        "states that stage 2 shards are the adapter's (0.3 GiB per GPU for Llama-3.1-8B, r 16, all seven "
        "projections), while stage 3 also shards the frozen base weights, the one large part: the memory "
        "estimate (luxit_ray/train/memory.py) falls from 34.1 to 26.6 GiB per GPU for that recipe on 2 "
        "workers (GLM-4-9B 39.7 to 30.9); stage 2 leaves it at 34.1. Both stages train, checkpoint and "
        "resume with peft (tests/train/test_deepspeed.py: CPU accelerator, gloo, 2 workers), but stage 2 "
        "checkpoints of tied-embedding models (Llama-3.2-1B, Gemma-3, Qwen3) also hold the frozen output "
        "head, a vocabulary x hidden matrix, where stage 3 checkpoints hold the adapter alone.",
    )
    offload_optimizer: bool = Field(default=False, description="Keep optimizer states in CPU memory.")
    offload_params: bool = Field(default=False, description="Keep (stage 3) parameters in CPU memory.")


class ModelRecipe(StrictModel):
    """One model of the sweep: where it is, how its chat template works, and its hyperparameters."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Short unique name; the model's folder under the run's train storage.",
    )
    path: str = Field(
        description="Local model folder (absolute, or relative to train.models_root), or `smollm2` for the "
        "bundled SmolLM2-135M-Instruct; hub ids are refused (nothing is downloaded at run time).",
    )
    family: TemplateFamilyName = Field(
        description="Chat-template family: decides the end-of-turn token, system-role support, prefix tokens "
        "and the thinking switch (see luxit_ray/train/templates.py).",
    )
    thinking: bool = Field(
        default=False,
        description="Qwen3 only: render with enable_thinking=True. Evaluation must use the same value "
        "(it is saved beside the adapter).",
    )
    system_prompt: str | None = Field(
        default=None,
        description="System message put before every conversation; families without a system role get it "
        "merged into the first user turn.",
    )
    pad_token: str | None = Field(
        default="auto",
        description="Padding token: `auto` keeps the tokenizer's unless it is missing or is the end-of-turn "
        "token, and then picks the family's safe pad; a token string sets it; null keeps the tokenizer's as is "
        "(the pre-training check then refuses a pad that equals the end-of-turn token).",
    )
    lora: LoraSettings = Field(description="LoRA adapter shape.")
    batch_size: int = Field(ge=1, description="Effective batch (paper Table 2): conversations per optimizer step.")
    per_device_batch_size: int = Field(ge=1, description="Conversations per worker per forward pass.")
    learning_rate: float = Field(gt=0.0, le=1.0, description="Peak learning rate (paper Table 2).")
    epochs: float = Field(default=3.0, gt=0.0, description="Passes over the training data (paper: 3).")
    max_steps: int | None = Field(
        default=None, ge=1, description="Stop after this many optimizer steps (overrides epochs; smoke runs)."
    )
    lr_scheduler: Literal["cosine", "linear", "constant_with_warmup"] = Field(
        default="cosine", description="Learning-rate schedule (paper: cosine)."
    )
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0, description="Share of steps spent warming up (paper: 0.03).")
    weight_decay: float = Field(default=0.01, ge=0.0, description="AdamW weight decay (paper: 0.01).")
    optimizer: Literal["adamw_8bit", "adamw_torch"] = Field(
        default="adamw_8bit",
        description="adamw_8bit (paper, bitsandbytes on CUDA or CPU) or adamw_torch. GPU workers without "
        "bitsandbytes fail with an error naming the extra; CPU runs fall back to adamw_torch (logged).",
    )
    max_seq_len: int = Field(
        default=2048, ge=16,
        description="Longest tokenised conversation (paper: 2048); longer ones are skipped and counted, never cut "
        "(a cut would drop the end-of-turn token).",
    )
    precision: Literal["bf16", "fp32"] = Field(
        default="bf16",
        description="bf16 on GPUs (paper: 16-bit; fp16 is not offered, Gemma-3 overflows in it); CPU runs use fp32.",
    )
    gradient_checkpointing: bool | Literal["auto"] = Field(
        default="auto",
        description="Trade compute for activation memory; auto: on when the memory estimate without it exceeds "
        "resources.gpu_memory_gb (GPU runs; see luxit_ray/train/memory.py), off on CPU.",
    )
    seed: int = Field(default=42, description="Seed of adapter init and data order.")
    save_every_steps: int = Field(default=200, ge=1, description="Checkpoint (adapter + optimizer state) every N steps.")
    keep_checkpoints: int = Field(default=2, ge=1, description="Most recent checkpoints kept in storage.")
    eval_every_steps: int | None = Field(
        default=None, ge=1, description="Evaluate on the validation split every N steps (null: only at the end)."
    )
    log_every_steps: int = Field(default=10, ge=1, description="Record the training loss every N steps.")
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig, description="Ray Train workers.")
    deepspeed: DeepSpeedSettings = Field(default_factory=DeepSpeedSettings, description="DeepSpeed ZeRO option.")

    @property
    def grad_accum(self) -> int:
        """Gradient accumulation steps that turn the per-device batch into the effective batch."""
        return self.batch_size // (self.per_device_batch_size * self.resources.num_workers)

    @model_validator(mode="after")
    def _checks(self) -> ModelRecipe:
        problems = []
        per_step = self.per_device_batch_size * self.resources.num_workers
        if self.batch_size % per_step:
            problems.append(
                f"batch_size {self.batch_size} is not per_device_batch_size {self.per_device_batch_size} x "
                f"num_workers {self.resources.num_workers} x an integer gradient accumulation"
            )
        if self.thinking and self.family != "qwen3":
            problems.append(f"thinking: only the qwen3 family has a thinking switch (family is {self.family})")
        if self.deepspeed.enabled and self.optimizer == "adamw_8bit":
            problems.append("deepspeed.enabled with optimizer adamw_8bit: use optimizer adamw_torch under ZeRO")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class TrainConfig(StrictModel):
    """The train step: which data, where results go, and the models of the sweep."""

    data: str | None = Field(
        default=None,
        description="Training Parquet: a file, folder, glob or pyarrow URI; null: RUN_DIR/export/*.parquet of the "
        "newest run that finished export (or run.run_id).",
    )
    eval_fraction: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="Without a `split` column: share of rows held out (fixed seed) for the eval loss; 0: none.",
    )
    eval_seed: int = Field(default=0, description="Seed of that hold-out draw.")
    models_root: str | None = Field(default=None, description="Folder that relative model paths are resolved against.")
    storage_path: str | None = Field(
        default=None,
        description="Where checkpoints and adapters go (local path or pyarrow URI such as s3://bucket/x); the "
        "run id is appended. null: RUN_DIR/train.",
    )
    shared_storage: list[str] = Field(
        default_factory=list,
        description="Folders mounted at the same path on every node (e.g. /mnt/shared). On a Ray cluster of more "
        "than one node, run.output_dir, storage_path, models_root and data must be s3://-style URIs or lie under "
        "one of these (the preflight refuses a node-local path).",
    )
    only: list[str] | None = Field(
        default=None,
        description="Train only these model names (null: all); e.g. train.only=[qwen3-0.6b]. With a grid: variant "
        "names (train.only=[exp_0_101]) or backbone names (all that backbone's variants).",
    )
    max_concurrent: int | None = Field(
        default=None, ge=1,
        description="Models trained at once (null: all; each waits for its Ray resources, so a full cluster queues).",
    )
    max_failures: int = Field(
        default=1, ge=0, description="Times Ray Train restarts a model's failed workers from its last checkpoint."
    )
    grid: GridConfig | None = Field(
        default=None,
        description="A Latxa-style grid: every backbone (a model name) x subset of a mixture's parts becomes a "
        "trial named exp_{backbone}_{bits}, trained concurrently on its own mixture (train.data is not used).",
    )
    merge_adapters: bool = Field(
        default=False, description="Also merge each adapter into its base model and save it as a standalone model."
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="Recipe keys merged into every model entry (the model's own keys win)."
    )
    models: list[ModelRecipe] = Field(min_length=1, description="The models of the sweep, one recipe each.")

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = data.get("defaults") or {}
        models = data.get("models")
        if isinstance(defaults, dict) and isinstance(models, list):
            data = dict(data)
            data["models"] = [deep_merge(defaults, m) if isinstance(m, dict) else m for m in models]
        return data

    @model_validator(mode="after")
    def _checks(self) -> TrainConfig:
        problems = []
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"models: names must be unique (repeated: {dup})")
        if self.only is not None and self.grid is None:
            unknown = sorted(set(self.only) - set(names))
            if unknown:
                problems.append(f"only: unknown model(s) {unknown}; models are {names}")
        elif self.only is not None:
            problems += self._grid_only_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _grid_only_problems(self) -> list[str]:
        """``only`` under a grid: each name a backbone or shaped like one of its variants.

        Whether a variant's bits are one of the grid's subsets depends on the mixture, which this
        section does not hold: the grid's planning checks that before anything is trained
        (:func:`~luxit_ray.config.mixture.chosen_variants`, listing the valid names).
        """
        grid = self.grid
        assert grid is not None and self.only is not None
        bad = [n for n in self.only if n not in grid.backbones and parse_variant_name(grid, n) is None]
        if not bad:
            return []
        last = len(grid.backbones) - 1
        return [f"only: {bad} are neither grid backbones ({grid.backbones}) nor variant names "
                f"{grid.prefix}_<backbone code 0-{last}>_<one 0/1 per part of mixture {grid.mixture!r}> "
                f"(e.g. {grid.prefix}_0_101)"]

    def selected(self) -> list[ModelRecipe]:
        """The recipes this run trains (``only``, else all), in config order.

        With a grid, the backbones of the variants ``only`` picks (each variant trains a copy of
        its backbone's recipe).
        """
        if self.only is None:
            return list(self.models)
        if self.grid is None:
            return [m for m in self.models if m.name in self.only]
        codes = [parse_variant_name(self.grid, n) for n in self.only]
        wanted = {self.grid.backbones[c[0]] for c in codes if c is not None} | set(self.only)
        return [m for m in self.models if m.name in wanted and m.name in self.grid.backbones]
