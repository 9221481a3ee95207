"""Config section for `train` (owned by the train work; fields are filled in there)."""

from __future__ import annotations

from luxit_ray.config.base import StrictModel


class TrainConfig(StrictModel):
    """Settings of the train step."""
