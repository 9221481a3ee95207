"""The paper's sweep (``jobs/train-sweep.yaml``) pointed at the tiny models, on CPU workers.

One home for the dotted overrides that turn the five Table-2 recipes into a CPU run on the tiny
models of :mod:`luxit_ray.train.tiny_models`: where the models, data, checkpoints and run folder
are, and the CPU profile (2 gloo workers of 1 CPU each, a few steps). Everything else (ranks,
alphas, effective and per-device batch sizes, learning rates, target modules, families) stays as
the job file says. The two-node sweep test (``tests/integration/test_sweep_cluster.py``) and the
sweep benchmark (``bench/five_sweep.py``) both build their job from here; each adds what only it
needs (S3 and merging for the test, a shorter sequence length for the benchmark).

    luxit train jobs/train-sweep.yaml <the overrides below>
"""

from __future__ import annotations

from pathlib import Path

SWEEP_JOB = "jobs/train-sweep.yaml"  # relative to the repository root

# The CPU profile every trial gets, as the tests run it: 2 gloo workers holding one CPU each.
CPU_WORKERS = 2
CPUS_PER_WORKER = 1


def tiny_sweep_overrides(
    models_root: str | Path,
    data: str | Path,
    storage: str,
    output_dir: str | Path,
    shared: str | Path,
    run_id: str,
    max_steps: int,
    save_every_steps: int,
) -> list[str]:
    """Dotted overrides for ``jobs/train-sweep.yaml`` on tiny models: paths and the CPU profile only.

    Args:
        models_root: Folder holding the tiny models under the job file's folder names.
        data: The export Parquet (file, folder or glob) to train on.
        storage: Checkpoint and adapter root (a local folder or an ``s3://`` URI).
        output_dir: Where the run folder (results, manifest) is written.
        shared: A folder every node sees at the same path (``train.shared_storage``); on one
            machine any folder holding the paths above.
        run_id: The run id (a rerun with the same id resumes).
        max_steps: Optimizer steps per model (the same for every model).
        save_every_steps: Checkpoint interval in steps.

    Returns:
        ``key=value`` strings, in the form ``luxit train`` takes on its command line.
    """
    return [
        f"train.models_root={models_root}",
        f"train.data={data}",
        f"train.storage_path={storage}",
        f"train.shared_storage=[{shared}]",
        f"run.output_dir={output_dir}",
        f"run.run_id={run_id}",
        "train.defaults.resources.use_gpu=false",
        f"train.defaults.resources.num_workers={CPU_WORKERS}",
        f"train.defaults.resources.cpus_per_worker={CPUS_PER_WORKER}",
        f"train.defaults.max_steps={max_steps}",
        f"train.defaults.save_every_steps={save_every_steps}",
        "train.defaults.log_every_steps=1",
    ]
