"""Steps of a run: each reads the folders the step before it wrote and writes its own.

- :mod:`luxit_ray.steps.common`: what every step shares (Parquet helpers, error rates, live
  progress, usage accounting).
- :mod:`luxit_ray.steps.generate` and :mod:`luxit_ray.steps.judge`: the two LLM steps, each
  a :class:`~luxit_ray.steps.runner.LLMStep` (what it reads, its stage, its outputs, counts
  and summary).
- :mod:`luxit_ray.steps.runner`: the one runner of LLM steps, alone or streamed one into the
  next in a single Ray Data pipeline.

:mod:`luxit_ray.pipeline` composes them; stages never import steps.
"""
