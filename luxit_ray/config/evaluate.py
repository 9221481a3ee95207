"""Config section for `evaluate`: the exam / task harness (top-level YAML key ``evaluate``).

Nothing language-specific lives in code: the headings and instructions the models read are set
here (English defaults; jobs/eval.yaml sets the Luxembourgish ones).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from luxit_ray.config.base import StrictModel
from luxit_ray.config.train import TemplateFamilyName

CEFR_LEVELS = ["A1", "A2", "B1", "B2", "C1", "C2"]
GROUPS = ("base", "instruct", "fine-tuned")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_safe_name(v: str) -> str:
    if not _SAFE_NAME.match(v):
        raise ValueError("use letters, digits, '_', '-', '.' only (it names a file)")
    return v


# Exam, task and model names all name files (sample logs, lm-eval exports): one rule for all.
SafeName = Annotated[str, AfterValidator(_check_safe_name)]


class ExamConfig(StrictModel):
    """A multiple-choice exam file (JSONL, CSV or Parquet) with levels and categories."""

    name: SafeName = Field(default="exam", description="Name of the exam in reports and lm-eval exports.")
    path: str = Field(description="Exam file: .jsonl, .csv or .parquet (columns id, level, category, passage?, question, choices, answer).")
    format: Literal["auto", "jsonl", "csv", "parquet"] = Field(
        default="auto", description="File format; auto: from the file extension."
    )
    levels: list[str] = Field(
        default_factory=lambda: list(CEFR_LEVELS),
        min_length=1,
        description="Allowed levels in report column order (CEFR A1..C2 by default).",
    )
    index_base: Literal[0, 1] = Field(
        default=0, description="How an integer `answer` counts: 0 (first choice is 0) or 1 (first choice is 1)."
    )

    @field_validator("levels")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        up = [x.strip().upper() for x in v]
        if len(set(up)) != len(up):
            raise ValueError(f"levels repeat: {v}")
        return up


class ClassificationTaskConfig(StrictModel):
    """An ltzGLUE-style classification task, run as multiple choice over its label names."""

    name: SafeName = Field(description="Task name; a `task` column in the file, if present, must equal it.")
    path: str = Field(description="Task file: .jsonl, .csv or .parquet (columns id, task?, text, text_pair?, label).")
    format: Literal["auto", "jsonl", "csv", "parquet"] = Field(
        default="auto", description="File format; auto: from the file extension."
    )
    labels: list[str] | None = Field(
        default=None,
        description="The label set in choice order (the names the model chooses from); null: the labels "
        "found in the file, in order of first appearance (logged).",
    )
    question: str = Field(
        default="Which label fits the text?", description="The question shown under the text(s)."
    )
    text_heading: str = Field(default="Text:", description="Heading shown above `text`.")
    pair_heading: str = Field(default="Second text:", description="Heading shown above `text_pair` when present.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        if not 2 <= len(v) <= 26:
            raise ValueError("need 2 to 26 labels")
        if len(set(v)) != len(v) or any(not x.strip() for x in v):
            raise ValueError(f"labels must be distinct and non-empty: {v}")
        return v


class PromptConfig(StrictModel):
    """The text around each question; the same for every model, so scores are comparable."""

    passage_heading: str = Field(default="Text:", description="Heading above an exam item's passage or transcript.")
    question_heading: str = Field(default="Question:", description="Heading above the question.")
    options_heading: str = Field(default="Options:", description="Heading above the lettered options.")
    generative_instruction: str = Field(
        default="Answer with the letter of the correct option only ({letters}).",
        description="Closing instruction for the generative scorer; {letters} becomes e.g. 'A, B, C, D'.",
    )
    loglik_instruction: str = Field(
        default="Answer with the text of the correct option.",
        description="Closing instruction for the log-likelihood scorer (the options' texts are scored as the answer).",
    )
    answer_prefix: str = Field(
        default="Answer:",
        description="Used only for models without a chat template: the prompt ends with it and the option follows after a space.",
    )


class ModelSpec(StrictModel):
    """One model to evaluate: a local folder (or `smollm2`), optionally with a LoRA adapter."""

    name: SafeName = Field(description="Row label in the report; also the sample-log file name.")
    path: str = Field(description="Local model folder with config.json, or `smollm2` for the bundled small model.")
    adapter: str | None = Field(default=None, description="LoRA adapter folder (peft: adapter_config.json + weights) applied on top of `path`.")
    group: Literal["base", "instruct", "fine-tuned"] = Field(description="Row group of the Table 4 layout.")
    compare_to: str | None = Field(
        default=None, description="Name of another model this one is compared with (delta = this minus that), e.g. its instruct model."
    )
    family: TemplateFamilyName | None = Field(
        default=None,
        description="Chat-template family as training names it; null: the luxit_train.json training left beside the "
        "adapter / model, else detected from the tokenizer's special tokens, else the tokenizer's own template.",
    )
    thinking: bool | None = Field(
        default=None, description="Qwen3 thinking switch for this model; null: training's record, else evaluate.thinking."
    )
    num_gpus: float | None = Field(default=None, ge=0, description="GPUs for this model's actor; null: evaluate.num_gpus_per_model.")
    num_cpus: float | None = Field(default=None, gt=0, description="CPUs for this model's actor; null: evaluate.num_cpus_per_model.")


class EvaluateConfig(StrictModel):
    """Settings of the evaluate step: what to ask, which models, how to score."""

    exam: ExamConfig | None = Field(default=None, description="The multiple-choice exam (Table 4).")
    tasks: list[ClassificationTaskConfig] = Field(default_factory=list, description="Classification tasks (accuracy + macro-F1).")
    models: list[ModelSpec] = Field(min_length=1, description="Models evaluated side by side, one Ray actor each.")
    scorers: list[Literal["loglik", "generative"]] = Field(
        default_factory=lambda: ["loglik", "generative"], min_length=1, description="Scorers to run; both are reported."
    )
    backend: Literal["auto", "transformers", "vllm"] = Field(
        default="auto",
        description="auto: vLLM when the actor has a GPU and vllm imports, transformers otherwise.",
    )
    length_norm: Literal["char", "token", "none"] = Field(
        default="char",
        description="Log-likelihood normalisation: per character of the option (lm-eval's acc_norm), per token, or none.",
    )
    max_new_tokens: int = Field(default=16, ge=1, le=4096, description="Generative scorer: greedy decoding budget.")
    batch_size: int = Field(default=8, ge=1, description="Sequences per forward pass (transformers backend).")
    max_items: int | None = Field(default=None, ge=1, description="Use only the first N items of the exam and of each task (smoke runs).")
    thinking: bool = Field(
        default=False, description="Thinking switch for models whose training record does not set one (must match training)."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto", description="Weights dtype; auto: float32 on CPU, bfloat16 on GPU (fp16 overflows Gemma-3)."
    )
    num_cpus_per_model: float = Field(default=1.0, gt=0, description="CPUs reserved by each model actor.")
    num_gpus_per_model: float = Field(default=0.0, ge=0, description="GPUs reserved by each model actor (vLLM tensor-parallel size when > 1).")
    gpu_memory_utilization: float = Field(default=0.85, gt=0, le=1, description="vLLM: share of GPU memory the engine may use.")
    shared_storage: list[str] = Field(
        default_factory=list,
        description="Folders mounted at the same path on every node (e.g. /mnt/shared). On a Ray cluster of more "
        "than one node, run.output_dir, model paths and adapters must lie under one of these (checked before "
        "any model loads).",
    )
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Extra Ray resources each model actor reserves, to place it on the evaluation nodes "
        "(e.g. {luxit_eval: 1}, a custom resource the vLLM image's nodes declare).",
    )
    use_ray: bool = Field(default=True, description="Run one Ray actor per model; false: models run one after another in this process.")
    chart: bool = Field(default=True, description="Write the PNG chart beside the Markdown and JSON report.")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="Headings and instructions of the prompts.")

    @model_validator(mode="after")
    def _checks(self) -> EvaluateConfig:
        problems = []
        if self.exam is None and not self.tasks:
            problems.append("give an exam, tasks, or both")
        names = [m.name for m in self.models]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"models: names must be unique (repeated: {dup})")
        for i, m in enumerate(self.models):
            if m.compare_to is not None and (m.compare_to not in names or m.compare_to == m.name):
                problems.append(f"models.{i}.compare_to: {m.compare_to!r} is not another model's name ({names})")
        tnames = [t.name for t in self.tasks]
        tdup = sorted({n for n in tnames if tnames.count(n) > 1})
        if tdup:
            problems.append(f"tasks: names must be unique (repeated: {tdup})")
        if self.exam is not None and self.exam.name in tnames:
            problems.append(f"exam.name {self.exam.name!r} is also a task name")
        if len(set(self.scorers)) != len(self.scorers):
            problems.append(f"scorers repeat: {self.scorers}")
        if problems:
            raise ValueError("; ".join(problems))
        return self
