"""Config section for `export` (owned by the export work; fields are filled in there)."""

from __future__ import annotations

from luxit_ray.config.base import StrictModel


class ExportConfig(StrictModel):
    """Settings of the export step."""
