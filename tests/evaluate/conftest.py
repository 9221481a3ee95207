"""Fixtures for the evaluation tests: the shipped exam and topic task, job configs, SmolLM2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from luxit_ray.config import JobConfig, job_from_dict

LEVELS = ["A1", "A2", "B1", "B2", "C1", "C2"]
TOPIC_LABELS = ["Politik", "Sport", "Kultur", "Wirtschaft"]


@pytest.fixture(scope="session")
def exam_path(data_dir: Path) -> Path:
    """The sample Luxembourgish exam (32 questions, A1..C2)."""
    return data_dir / "exam" / "exam.jsonl"


@pytest.fixture(scope="session")
def topic_path(data_dir: Path) -> Path:
    """The topic-classification sample (20 news snippets, 4 labels, 5 each)."""
    return data_dir / "exam" / "topic.jsonl"


def make_job(tmp_path: Path, models: list[dict[str, Any]], **evaluate: Any) -> JobConfig:
    """A job config writing its run under ``tmp_path/runs``."""
    data = {
        "run": {"name": "eval-test", "output_dir": str(tmp_path / "runs"), "run_id": "eval-test"},
        "evaluate": {"models": models, **evaluate},
    }
    return job_from_dict(data, source="test")
