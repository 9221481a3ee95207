"""Pydantic job configs (extra keys forbidden, a description on every field)."""

from luxit_ray.config.base import StrictModel, config_hash
from luxit_ray.config.job import JobConfig, RayConfig, RunConfig, job_from_dict, load_job

__all__ = ["JobConfig", "RayConfig", "RunConfig", "StrictModel", "config_hash", "job_from_dict", "load_job"]
