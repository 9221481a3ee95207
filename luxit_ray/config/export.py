"""Config section for `export`: how kept pairs become the published dataset."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from luxit_ray.config.base import StrictModel


class SplitConfig(StrictModel):
    """Train/validation split, grouped by article so no article appears in both."""

    validation_fraction: float = Field(
        default=0.0, ge=0.0, lt=1.0,
        description="Target share of pairs in the validation split, per source (0: one train split, no split column).",
    )
    seed: int = Field(default=0, description="Seed of the article shuffle that picks validation articles.")


class ExportConfig(StrictModel):
    """Settings of the export step (kept pairs -> RUN_DIR/<dir_name>/)."""

    dir_name: str = Field(
        default="export", pattern=r"^[A-Za-z0-9_.-]+$",
        description="Sub-folder of the run that receives the dataset (replaced on every export).",
    )
    dataset_name: str = Field(default="luxit", min_length=1, description="Dataset name used in the card's title.")
    formats: list[Literal["parquet", "jsonl"]] = Field(
        default=["parquet", "jsonl"], min_length=1, description="File formats written (both hold the same rows)."
    )
    include_messages: bool = Field(
        default=True, description="Add an OpenAI-style `messages` column (role user/assistant, content)."
    )
    include_judgements: bool = Field(
        default=False,
        description="Also keep the judges' raw JSON (`judgements`: raw outputs, reasoning, usage); large.",
    )
    splits: SplitConfig = Field(default_factory=SplitConfig, description="Train/validation split.")
    rows_per_file: int = Field(default=100_000, ge=1, description="Most rows in one data file.")
    licence: str = Field(
        default="other",
        min_length=1,
        description="Licence id written in the card (e.g. cc-by-sa-4.0 for Wikipedia-only data); it must match the sources' terms.",
    )
    languages: list[str] = Field(default=["lb"], description="Language codes (ISO 639) written in the card's metadata.")
    dataset_card: bool = Field(default=True, description="Write README.md (the dataset card) into the export.")

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"formats must not repeat (got {v})")
        return v
