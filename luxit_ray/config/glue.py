"""Config section ``glue``: ltzGLUE-style tasks, prompted LLMs on them, encoder fine-tuning.

Follows Plum et al. (2026), "ltzGLUE: Luxembourgish General Language Understanding Evaluation":
tasks are sequence classification (one label per text or text pair) or token classification
(BIO tags); LLMs get the task description and the label set and answer in JSON (no multiple
choice); encoders are fine-tuned over several seeds with an optional class-balanced loss.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from luxit_ray.config.base import StrictModel
from luxit_ray.config.evaluate import ModelSpec, SafeName

DEFAULT_RULES = (
    "You classify and tag Luxembourgish (lb) text.\n"
    "Rules:\n"
    "1. Reply with one JSON object and nothing else: no explanation, no text around it.\n"
    '2. Put your answer in the field "output".\n'
    "3. Use only the labels or tags listed below, written exactly as listed."
)


class GlueTaskConfig(StrictModel):
    """One task: files per split, its kind and its label set."""

    name: SafeName = Field(description="Task name (report rows, sample logs, Ray Train trial names).")
    kind: Literal["sequence", "token"] = Field(
        description="sequence: rows id, text, text_pair?, label. token: rows id, tokens (list), tags (list of BIO tags)."
    )
    train: str | None = Field(default=None, description="Training split file (.jsonl, .csv or .parquet); encoders need it.")
    validation: str | None = Field(default=None, description="Development split file; encoders report it beside test.")
    test: str = Field(description="Test split file: what LLMs are scored on and encoders are reported on.")
    format: Literal["auto", "jsonl", "csv", "parquet"] = Field(default="auto", description="File format; auto: from the extension.")
    labels: list[str] = Field(
        min_length=1,
        description="sequence: the label names (at least 2); token: the entity types (e.g. PER, ORG, LOC, MISC), "
        "whose BIO tags (O, B-X, I-X) form the tag set.",
    )
    merge_types: dict[str, str] = Field(
        default_factory=dict,
        description="token: entity types renamed on reading gold and predicted tags, e.g. {GPE: LOC} as ltzGLUE "
        "merges them; a type mapped to O is removed.",
    )
    description: str = Field(description="The task description the LLM reads (the label set is appended to it).")
    class_balanced: bool | None = Field(
        default=None, description="Encoders: class-balanced loss for this task; null: glue.encoders.class_balanced."
    )

    @model_validator(mode="after")
    def _checks(self) -> GlueTaskConfig:
        if len(set(self.labels)) != len(self.labels) or any(not x.strip() for x in self.labels):
            raise ValueError(f"labels must be distinct and non-empty: {self.labels}")
        if self.kind == "sequence" and len(self.labels) < 2:
            raise ValueError("a sequence task needs at least 2 labels")
        if self.kind == "token":
            bad = [t for t in self.labels if "-" in t or t == "O"]
            if bad:
                raise ValueError(f"token labels are entity types without B-/I- and not O: {bad}")
            targets = {v for v in self.merge_types.values() if v != "O"}
            unknown = sorted(targets - set(self.labels))
            if unknown:
                raise ValueError(f"merge_types maps to {unknown}, which are not in labels {self.labels}")
        elif self.merge_types:
            raise ValueError("merge_types applies to token tasks only")
        return self


class GlueLlmConfig(StrictModel):
    """Prompted LLMs on the tasks' test splits, zero-shot, the label set in the prompt."""

    models: list[ModelSpec] = Field(min_length=1, description="Models prompted side by side (as in evaluate.models).")
    tasks: list[str] | None = Field(default=None, description="Task names to run; null: all of glue.tasks.")
    malformed: Literal["drop", "wrong"] = Field(
        default="drop",
        description="The headline score's treatment of a malformed output (no JSON, unknown label, wrong number "
        "of tags): drop (left out before scoring, as ltzGLUE does) or wrong (a missed answer). Both are reported.",
    )
    strict_iob2: bool = Field(default=False, description="Token tasks: read spans as strict IOB2 instead of seqeval's default mode.")
    rules: str = Field(default=DEFAULT_RULES, description="Opening of every prompt: the output rules.")
    max_new_tokens: int = Field(default=256, ge=1, le=8192, description="Greedy decoding budget per answer.")
    max_items: int | None = Field(default=None, ge=1, description="Only the first N test rows of each task (smoke runs).")
    backend: Literal["auto", "transformers", "vllm"] = Field(default="auto", description="As evaluate.backend.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(default="auto", description="As evaluate.dtype.")
    batch_size: int = Field(default=8, ge=1, description="Sequences per forward pass (transformers backend).")
    thinking: bool = Field(default=False, description="As evaluate.thinking.")
    num_cpus_per_model: float = Field(default=1.0, gt=0, description="CPUs reserved by each model actor.")
    num_gpus_per_model: float = Field(default=0.0, ge=0, description="GPUs reserved by each model actor.")
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1, description="vLLM: share of GPU memory the engine may use.")
    use_ray: bool = Field(default=True, description="One Ray actor per model; false: one after another in this process.")

    @field_validator("models")
    @classmethod
    def _unique(cls, v: list[ModelSpec]) -> list[ModelSpec]:
        names = [m.name for m in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model names repeat: {dup}")
        return v


class EncoderSpec(StrictModel):
    """One encoder: a Hugging Face model folder or hub id."""

    name: SafeName = Field(description="Row label in the results (e.g. mmBERT-base).")
    path: str = Field(
        description="Model folder, or a hub id resolved under glue.encoders.models_root or by the Hugging Face "
        "hub / mirror the environment points to (HF_ENDPOINT, HF_HOME)."
    )


class EncoderSweepConfig(StrictModel):
    """Fine-tuning every encoder on every task, once per seed, on Ray Train."""

    models: list[EncoderSpec] = Field(min_length=1, description="Encoders to fine-tune.")
    tasks: list[str] | None = Field(default=None, description="Task names; null: all of glue.tasks (each needs train and test).")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, description="One run per seed; mean and standard deviation over them.")
    learning_rate: float = Field(default=3e-5, gt=0, description="Peak learning rate (AdamW, linear warmup and decay).")
    batch_size: int = Field(default=16, ge=1, description="Examples per step and worker.")
    epochs: float = Field(default=5, gt=0, description="Passes over the training split.")
    max_steps: int | None = Field(default=None, ge=1, description="Stop after this many steps (smoke runs); null: epochs decide.")
    weight_decay: float = Field(default=0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1, description="Share of the steps spent warming up.")
    max_length: int = Field(default=256, ge=8, description="Tokens per example after truncation.")
    class_balanced: bool = Field(
        default=False,
        description="Weight the cross-entropy by class-balanced weights (Cui et al. 2019, effective number of "
        "samples) computed on the training split; tasks may override.",
    )
    beta: float = Field(default=0.99, gt=0, lt=1, description="Class-balanced loss: beta of the effective number (1 - beta^n) / (1 - beta).")
    models_root: str | None = Field(default=None, description="Folder under which a relative model path is looked up first (a local mirror).")
    num_workers: int = Field(default=1, ge=1, description="Ray Train workers per trial (data parallel).")
    use_gpu: bool = Field(default=False, description="Each worker takes a GPU.")
    cpus_per_worker: float = Field(default=1.0, gt=0, description="CPUs each worker reserves.")
    max_concurrent: int | None = Field(default=None, ge=1, description="Trials running at once; null: all (Ray queues what does not fit).")

    @field_validator("models")
    @classmethod
    def _unique(cls, v: list[EncoderSpec]) -> list[EncoderSpec]:
        names = [m.name for m in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"encoder names repeat: {dup}")
        return v

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds repeat: {v}")
        return v


class GlueConfig(StrictModel):
    """The tasks and what runs on them (`luxit evaluate-glue`, `luxit finetune-encoders`)."""

    tasks: list[GlueTaskConfig] = Field(min_length=1, description="The tasks.")
    llm: GlueLlmConfig | None = Field(default=None, description="Prompted LLMs (`luxit evaluate-glue`).")
    encoders: EncoderSweepConfig | None = Field(default=None, description="Encoder fine-tuning (`luxit finetune-encoders`).")

    @model_validator(mode="after")
    def _checks(self) -> GlueConfig:
        problems = []
        names = [t.name for t in self.tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"tasks: names must be unique (repeated: {dup})")
        for key, section in (("llm", self.llm), ("encoders", self.encoders)):
            wanted = getattr(section, "tasks", None) or []
            unknown = [n for n in wanted if n not in names]
            if unknown:
                problems.append(f"{key}.tasks: unknown task(s) {unknown}; tasks are {names}")
        if self.encoders is not None:
            for t in self.selected_tasks(self.encoders.tasks):
                if t.train is None:
                    problems.append(f"tasks.{t.name}.train: encoders need a training split")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def selected_tasks(self, names: list[str] | None) -> list[GlueTaskConfig]:
        """The tasks named (all when None), in config order."""
        return [t for t in self.tasks if names is None or t.name in names]
