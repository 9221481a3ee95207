"""Where the arena keeps its files, and the small helpers every arena module uses."""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from pathlib import Path
from typing import Any

ARENA = "arena"
PROMPTS_FILE = "prompts.jsonl"
ANSWERS_FILE = "answers.jsonl"
GENERATION_FILE = "generation.jsonl"
VOTES_FILE = "votes.jsonl"
REPORT_DIR = "report"
PREFERENCES_DIR = "preferences"
CHOICES = ("a", "b", "tie", "both_bad")
ASPECTS = ("content", "language", "overall")
ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)


def arena_dir(run_dir: str | Path) -> Path:
    """``RUN_DIR/arena``."""
    return Path(run_dir) / ARENA


def now() -> str:
    """UTC time, ISO 8601 with milliseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def sha(*parts: str, n: int = 16) -> str:
    """A short, stable id from ``parts``."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:n]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file written by the arena (torn lines skipped, see AppendLog)."""
    from luxit_ray.web.store import AppendLog

    return AppendLog(path).read()[0]
