"""Config section for `evaluate` (owned by the evaluate work; fields are filled in there)."""

from __future__ import annotations

from luxit_ray.config.base import StrictModel


class EvaluateConfig(StrictModel):
    """Settings of the evaluate step."""
