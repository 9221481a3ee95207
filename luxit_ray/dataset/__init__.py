"""After the stages: the published dataset, and the readers the review and the report share.

- ``export``: ``RUN_DIR/kept/`` becomes ``RUN_DIR/export/`` (data files, dataset card, splits),
  gated on the run's error rates.
- ``read``: Parquet folder readers and score statistics, the one home of what
  :mod:`luxit_ray.dataset.export`, :mod:`luxit_ray.review`, :mod:`luxit_ray.report` and the arena use.

Nothing here imports a stage: the export reads the Parquet the judge step wrote.
"""
