"""The job config: one YAML per job under jobs/, validated whole before Ray starts."""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from luxit_ray.config.base import StrictModel, apply_overrides, read_yaml, validate
from luxit_ray.config.evaluate import EvaluateConfig
from luxit_ray.config.export import ExportConfig
from luxit_ray.config.glue import GlueConfig
from luxit_ray.config.llm import CacheConfig, EndpointConfig, GenerateConfig, JudgeConfig
from luxit_ray.config.magpie import MagpieConfig
from luxit_ray.config.mixture import MixtureConfig, chosen_variants, grid_variants
from luxit_ray.config.prepare import FiltersConfig, SampleConfig, SourceConfig
from luxit_ray.config.serve import ServeConfig
from luxit_ray.config.train import TrainConfig


class RayConfig(StrictModel):
    """How the job reaches Ray: embedded local Ray by default, a cluster via address / RAY_ADDRESS."""

    address: str | None = Field(
        default=None, description="Ray address (e.g. ray://head:10001 or auto); null: RAY_ADDRESS or a local embedded Ray."
    )
    num_cpus: int | None = Field(
        default=None, ge=1,
        description="CPUs of the embedded local Ray (null: all); ignored on a cluster.",
    )
    object_store_memory_mb: int | None = Field(
        default=None, ge=64, description="Object store size of the embedded local Ray in MiB (null: Ray's default)."
    )
    max_block_mb: int = Field(
        default=8, ge=1, le=1024,
        description=(
            "Largest Ray Data block in MiB (Ray's own default is 128). A block is one task's work: "
            "at 128 MiB a Parquet read of 70k documents came back as 3 blocks, one of 65k rows, and "
            "one core did most of every step."
        ),
    )


class RunConfig(StrictModel):
    """Where a run writes and how it treats bad input."""

    name: str = Field(default="luxit", description="Job name; the run id starts with it.")
    output_dir: str = Field(default="runs", description="Directory (or pyarrow URI) holding <run_id>/ folders.")
    run_id: str | None = Field(
        default=None, description="Reuse this run folder (resume); null: <name>-<UTC timestamp>."
    )
    on_bad_input: str = Field(
        default="quarantine",
        pattern="^(fail|quarantine)$",
        description="fail: stop at the first bad record naming file and position; quarantine: set it aside with a reason and count it.",
    )
    ray: RayConfig = Field(default_factory=RayConfig, description="Ray connection.")

    def resolved_run_id(self) -> str:
        """The run id: the configured one, or the job name plus a UTC timestamp."""
        if self.run_id:
            return self.run_id
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.name)}-{stamp}"


class JobConfig(StrictModel):
    """A whole job. Sections a command does not use may be left out."""

    run: RunConfig = Field(default_factory=RunConfig, description="Run folder, bad-input policy, Ray.")
    sources: list[SourceConfig] = Field(default_factory=list, description="Corpora to read (prepare).")
    filters: FiltersConfig = Field(default_factory=FiltersConfig, description="Heuristic filters (prepare).")
    sample: SampleConfig = Field(default_factory=SampleConfig, description="Seed sampling (prepare).")
    endpoints: dict[str, EndpointConfig] = Field(default_factory=dict, description="LLM endpoints by name.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="Durable request cache.")
    generate: GenerateConfig | None = Field(default=None, description="Generation stage.")
    judge: JudgeConfig | None = Field(default=None, description="Judging stage.")
    export: ExportConfig | None = Field(default=None, description="Dataset export.")
    train: TrainConfig | None = Field(default=None, description="LoRA fine-tuning sweep.")
    evaluate: EvaluateConfig | None = Field(default=None, description="Exam / task evaluation.")
    serve: ServeConfig | None = Field(default=None, description="Local model server.")
    magpie: MagpieConfig | None = Field(default=None, description="Magpie instruction sampling (luxit magpie).")
    mixtures: dict[str, MixtureConfig] = Field(
        default_factory=dict, description="Training mixtures by name (luxit export --mixture NAME, train.grid)."
    )
    glue: GlueConfig | None = Field(default=None, description="ltzGLUE-style tasks: prompted LLMs and encoder fine-tuning.")

    @model_validator(mode="after")
    def _cross_checks(self) -> JobConfig:
        problems = []
        names = [s.name for s in self.sources]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            problems.append(f"sources: names must be unique (repeated: {dup})")
        unknown = sorted(set(self.sample.quotas) - set(names))
        if unknown and self.sources:
            problems.append(f"sample.quotas: unknown source(s) {unknown}; sources are {names}")
        if self.generate and self.generate.endpoint not in self.endpoints:
            problems.append(
                f"generate.endpoint: {self.generate.endpoint!r} is not under endpoints ({sorted(self.endpoints)})"
            )
        if self.judge:
            for i, j in enumerate(self.judge.judges):
                if j.endpoint not in self.endpoints:
                    problems.append(
                        f"judge.judges.{i}.endpoint: {j.endpoint!r} is not under endpoints ({sorted(self.endpoints)})"
                    )
        problems += self._magpie_grid_problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _magpie_grid_problems(self) -> list[str]:
        problems = []
        if self.magpie:
            for key in ("endpoint", "answer_endpoint"):
                name = getattr(self.magpie, key)
                if name is not None and name not in self.endpoints:
                    problems.append(f"magpie.{key}: {name!r} is not under endpoints ({sorted(self.endpoints)})")
        grid = self.train.grid if self.train else None
        if grid is not None:
            if grid.mixture not in self.mixtures:
                problems.append(f"train.grid.mixture: {grid.mixture!r} is not under mixtures ({sorted(self.mixtures)})")
            models = [m.name for m in self.train.models]
            unknown = [b for b in grid.backbones if b not in models]
            if unknown:
                problems.append(f"train.grid.backbones: {unknown} are not under train.models ({models})")
            if grid.mixture in self.mixtures and not unknown and self.train.only is not None:
                # Which variants ``only`` names needs the mixture's parts: checked here, before Ray starts.
                from luxit_ray.errors import ConfigError

                try:
                    chosen_variants(grid_variants(grid, self.mixtures[grid.mixture]), self.train.only)
                except ConfigError as exc:
                    problems += exc.problems
        return problems


def load_job(path: str | Path, overrides: list[str] | None = None) -> JobConfig:
    """Read, override and validate a job YAML; raises ConfigError listing every problem."""
    data: dict[str, Any] = read_yaml(path)
    if overrides:
        data = apply_overrides(data, overrides)
    return validate(JobConfig, data, source=str(path))


def job_from_dict(data: dict[str, Any], source: str = "config") -> JobConfig:
    """Validate an in-memory job (tests, the run folder's saved config)."""
    return validate(JobConfig, data, source=source)
