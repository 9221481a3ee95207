"""Config section for `serve` (owned by the serve work; fields are filled in there)."""

from __future__ import annotations

from luxit_ray.config.base import StrictModel


class ServeConfig(StrictModel):
    """Settings of the serve step."""
