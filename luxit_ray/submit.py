"""Submit a job YAML to a Ray cluster through Ray's job server, follow it, report its status.

``luxit submit jobs/x.yaml`` validates the job locally first (every problem at once, nothing is
sent for a broken config), uploads the repository as the job's working dir (virtualenvs, runs,
caches and .git left out), and runs ``python -m luxit_ray.submit <command> <job> <overrides>``
on the head node, where ``<command>`` follows from the sections the job has (train, evaluate, or
the data pipeline) and ``luxit_ray.submit`` hands over to :mod:`luxit_ray.entrypoint`.

Secrets: the job names the environment variables holding its API keys (``api_key_env``); their
values are read from the submitter's environment at submission time. They do NOT go into
``runtime_env.env_vars``: Ray 2.60's runtime-env agent writes every runtime_env, env var values
included, into ``runtime_env_agent.log`` on each node. They travel in the job's metadata instead
(held in memory by the job server and the GCS, never written to a log file by Ray or luxit), and
:func:`export_job_secrets` puts them into ``os.environ`` of the job's driver (before the command
runs) and of every worker process of the job (as Ray's ``worker_process_setup_hook``). Whoever can
use the cluster's job API or dashboard can read a job's metadata, as they can run code on the
cluster anyway. Every printout shows the values masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
import secrets as _secrets
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luxit_ray.config import JobConfig, config_hash, load_job
from luxit_ray.errors import ConfigError, LuxitError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
# Left out of the uploaded working dir (gitignore-style patterns, as Ray's `excludes` take them;
# no trailing slash, so a folder itself matches and Ray does not walk into it).
DEFAULT_EXCLUDES = [
    "/.venv", "/.venv-vllm", "/.venv-gpu-*", "/venv", "/runs", "/build", "/dist", "/.whl", "/.gl", ".git",
    ".cache", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", "*.egg-info",
    "*.safetensors", "*.gguf", "*.pt",
]
MASK = "***"
# Job metadata keys carrying secrets: SECRET_PREFIX + the environment variable's name.
SECRET_PREFIX = "luxit.secret."
# Ray runs this in every worker process of a submitted job (runtime_env.worker_process_setup_hook).
SETUP_HOOK = "luxit_ray.submit.export_job_secrets"
# Ray passes a submitted job's config (runtime_env, metadata) to its driver in this variable.
_JOB_CONFIG_ENV_VAR = "RAY_JOB_CONFIG_JSON_ENV_VAR"
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
# Environment variables of the submitter that decide the address, in order of precedence.
_ADDRESS_VARS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")


@dataclass
class SubmitPlan:
    """Everything a submission sends, built and checked before anything is sent.

    Attributes:
        address: The job server's URL (http://HEAD:8265).
        command: The luxit command the job runs (run, train, evaluate).
        entrypoint: The shell command Ray runs on the head node.
        runtime_env: working_dir, excludes, the secrets' setup hook, optional pip (no secrets).
        submission_id: The job id asked for.
        metadata: Job name, command, config hash, and the secrets (``luxit.secret.<NAME>``: never
            print this; print :meth:`masked_metadata`).
        secret_names: Names of the forwarded environment variables.
    """

    address: str
    command: str
    entrypoint: str
    runtime_env: dict[str, Any]
    submission_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)

    def masked_metadata(self) -> dict[str, str]:
        """The metadata with every secret value replaced by ``***``."""
        return mask_metadata(self.metadata)


def mask_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Job metadata with the values of ``luxit.secret.*`` keys replaced by ``***``."""
    return {k: (MASK if k.startswith(SECRET_PREFIX) else v) for k, v in metadata.items()}


def _job_metadata() -> dict[str, str]:
    """This process's Ray job metadata: from the driver's job config variable, or from the
    connected worker's job config ({} outside a Ray job)."""
    raw = os.environ.get(_JOB_CONFIG_ENV_VAR)
    if raw:
        try:
            return dict(json.loads(raw).get("metadata") or {})
        except (ValueError, AttributeError):
            return {}
    try:
        import ray

        worker = ray._private.worker.global_worker
        if getattr(worker, "connected", False):
            return dict(worker.core_worker.get_job_config().metadata)
    except (ImportError, AttributeError):
        pass
    return {}


def export_job_secrets() -> list[str]:
    """Put the secrets of this Ray job's metadata into ``os.environ`` (names already set are
    left alone); returns the names exported. Runs in a submitted job's driver before its command
    and, as Ray's worker_process_setup_hook, in each of its worker processes."""
    exported = []
    for key, value in _job_metadata().items():
        name = key[len(SECRET_PREFIX):] if key.startswith(SECRET_PREFIX) else ""
        if name and name not in os.environ:
            os.environ[name] = value
            exported.append(name)
    if exported:
        log.debug("exported job secrets: %s", sorted(exported))
    return sorted(exported)


# ---- planning ---------------------------------------------------------------------------


def job_command(cfg: JobConfig) -> str:
    """The luxit command a job runs: ``train`` or ``evaluate`` when the job is about that (it
    has the section and no data-pipeline stage), else ``run`` (prepare -> generate -> judge)."""
    pipeline = bool(cfg.sources or cfg.generate or cfg.judge)
    if cfg.train is not None and not pipeline:
        return "train"
    if cfg.evaluate is not None and not pipeline:
        return "evaluate"
    return "run"


def default_working_dir() -> Path:
    """The repository luxit runs from (editable install), else the current directory."""
    return REPO_ROOT if (REPO_ROOT / "pyproject.toml").is_file() else Path.cwd()


def secret_env_names(cfg: JobConfig) -> list[str]:
    """Names of the environment variables holding the job's API keys (sorted, unique)."""
    return sorted({e.api_key_env for e in cfg.endpoints.values() if e.api_key_env})


def job_extras(cfg: JobConfig) -> list[str]:
    """The pyproject extras a job's role needs on the cluster (its own environment per role).

    A train job with GPU recipes needs ``train-gpu`` (bitsandbytes, DeepSpeed); an evaluate job
    with GPU actors needs ``eval-vllm`` (vLLM, resolved together with the project so vLLM's own
    torch/transformers pins win in that job's environment). CPU jobs need no extra.
    """
    command = job_command(cfg)
    if command == "train" and cfg.train is not None and any(m.resources.use_gpu for m in cfg.train.selected()):
        return ["train-gpu"]
    if command == "evaluate" and cfg.evaluate is not None:
        ev = cfg.evaluate
        gpus = [ev.num_gpus_per_model if m.num_gpus is None else m.num_gpus for m in ev.models]
        if ev.backend != "transformers" and any(g > 0 for g in gpus):
            return ["eval-vllm"]
    return []


def _pip_requirements(working_dir: Path, extras: list[str] | None = None) -> list[str]:
    """The project's dependencies from pyproject.toml plus those of ``extras`` (for clusters
    without them preinstalled).

    Raises:
        LuxitError: no pyproject.toml, or an extra it does not define.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise LuxitError("--pip needs Python 3.11+ (tomllib) on the submitting machine") from None
    path = working_dir / "pyproject.toml"
    if not path.is_file():
        raise LuxitError(f"--pip: no pyproject.toml in {working_dir} to read dependencies from")
    project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    deps = [str(d) for d in project.get("dependencies", [])]
    optional = project.get("optional-dependencies", {})
    for extra in extras or []:
        if extra not in optional:
            raise LuxitError(f"--pip: pyproject.toml has no extra {extra!r} (extras: {sorted(optional)})")
        deps += [str(d) for d in optional[extra] if str(d) not in deps]
    return deps


def _submission_id(cfg: JobConfig) -> str:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in cfg.run.name)
    return f"luxit-{name}-{stamp}-{_secrets.token_hex(2)}"


def plan_submission(
    job: str | Path,
    overrides: list[str] | None = None,
    *,
    address: str | None = None,
    working_dir: str | Path | None = None,
    pip: bool = False,
    pip_extras: list[str] | None = None,
    env_names: list[str] | None = None,
    allow_missing_secrets: bool = False,
    submission_id: str | None = None,
    excludes: list[str] | None = None,
    resolve: bool = True,
) -> SubmitPlan:
    """Validate the job and build what :func:`submit` sends.

    Args:
        job: The job YAML; it must lie inside ``working_dir`` (it travels with the upload).
        overrides: Dotted overrides, validated here and passed on to the job's command.
        address: Job server address; else RAY_API_SERVER_ADDRESS / RAY_ADDRESS / run.ray.address.
        working_dir: Folder uploaded as the job's working dir (default: this repository).
        pip: Add the project's dependencies as ``runtime_env.pip`` (clusters whose image lacks them),
            with the extras of the job's role (:func:`job_extras`: train-gpu for GPU training,
            eval-vllm for GPU evaluation).
        pip_extras: The extras to add instead of :func:`job_extras` (with ``pip``).
        env_names: Further environment variable names to forward from this environment.
        allow_missing_secrets: Submit even when an ``api_key_env`` variable is not set here
            (the cluster provides it). Forwarded values travel in the job's metadata (see the
            module docstring), never in runtime_env.
        submission_id: Job id to ask for (default: luxit-<name>-<UTC time>-<4 hex>).
        excludes: Extra upload excludes (gitignore-style), added to :data:`DEFAULT_EXCLUDES`.
        resolve: Resolve the address now (False leaves it as given; for dry runs and tests).

    Raises:
        ConfigError: the job is invalid (every problem listed), lies outside the working dir,
            or a secret's variable is not set.
        LuxitError: no address can be found.
    """
    overrides = list(overrides or [])
    job_path = Path(job).resolve()
    cfg = load_job(job_path, overrides)
    wd = Path(working_dir).resolve() if working_dir else default_working_dir().resolve()
    problems = []
    try:
        rel_job = job_path.relative_to(wd)
    except ValueError:
        rel_job = None
        problems.append(
            f"the job file lies outside the working dir {wd}; move it under it (e.g. jobs/) or pass --working-dir"
        )
    forwarded = sorted(set(secret_env_names(cfg)) | set(env_names or []))
    secrets: dict[str, str] = {}
    missing = []
    for name in forwarded:
        value = os.environ.get(name)
        if value is None:
            missing.append(name)
        else:
            secrets[name] = value
    if missing and not allow_missing_secrets:
        problems.append(
            f"environment variable(s) {missing} are not set here; export them before submitting "
            "(their values go to the job only), or pass --allow-missing-secrets "
            "when the cluster sets them itself"
        )
    if problems:
        raise ConfigError(problems, source=str(job))
    command = job_command(cfg)
    # Inside the job, Ray sets RAY_ADDRESS for the driver; a submission URL in run.ray.address
    # is not a ray.init address, so the job always connects through RAY_ADDRESS.
    args = ["python", "-m", "luxit_ray.submit", command, str(rel_job), *overrides, "run.ray.address=null"]
    runtime_env: dict[str, Any] = {
        "working_dir": str(wd),
        "excludes": DEFAULT_EXCLUDES + list(excludes or []),
        "worker_process_setup_hook": SETUP_HOOK,
    }
    if pip:
        runtime_env["pip"] = _pip_requirements(wd, job_extras(cfg) if pip_extras is None else pip_extras)
    raw_address = address or next((os.environ[v] for v in _ADDRESS_VARS if os.environ.get(v)), None)
    raw_address = raw_address or cfg.run.ray.address
    metadata = {"luxit_job": cfg.run.name, "luxit_command": command, "config_hash": config_hash(cfg)}
    metadata.update({SECRET_PREFIX + k: v for k, v in secrets.items()})
    return SubmitPlan(
        address=resolve_address(raw_address) if resolve else (raw_address or ""),
        command=command,
        entrypoint=shlex.join(args),
        runtime_env=runtime_env,
        submission_id=submission_id or _submission_id(cfg),
        metadata=metadata,
        secret_names=sorted(secrets),
    )


def upload_preview(plan: SubmitPlan) -> dict[str, Any]:
    """Zip the working dir exactly as Ray will (its own packager, excludes and .gitignore files)
    and report what would be uploaded: ``{"files", "bytes", "largest": [(path, bytes), ...]}``."""
    import tempfile
    import zipfile

    from ray._private.runtime_env.packaging import create_package

    with tempfile.TemporaryDirectory(prefix="luxit-upload-") as tmp:
        target = Path(tmp) / "pkg.zip"
        create_package(
            plan.runtime_env["working_dir"], target, include_gitignore=True,
            excludes=plan.runtime_env.get("excludes", []), logger=log,
        )
        with zipfile.ZipFile(target) as zf:
            entries = [(i.filename, i.file_size) for i in zf.infolist() if not i.is_dir()]
        size = target.stat().st_size
    entries.sort(key=lambda e: -e[1])
    return {"files": len(entries), "bytes": size, "largest": entries[:5]}


# ---- the job server ---------------------------------------------------------------------


@contextlib.contextmanager
def _explicit_address() -> Iterator[None]:
    """Ray's client prefers RAY_ADDRESS over its argument; hide the variables so the address we
    resolved (from --address first) is the one used."""
    saved = {v: os.environ.pop(v) for v in _ADDRESS_VARS if v in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def resolve_address(raw: str | None) -> str:
    """The job server URL for an address given as a URL, ``ray://host:port`` or ``host:port``.

    Raises:
        LuxitError: no address, or Ray cannot map it to a job server.
    """
    if not raw:
        raise LuxitError(
            "no Ray cluster address: pass --address http://HEAD:8265, set RAY_ADDRESS, or set run.ray.address"
        )
    if raw.startswith(("http://", "https://")):
        return raw.rstrip("/")
    from ray.dashboard.utils import get_address_for_submission_client

    try:
        with _explicit_address():
            return get_address_for_submission_client(raw)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds here; all mean "no server"
        raise LuxitError(f"cannot find the Ray job server for address {raw!r}: {exc}") from exc


def client(address: str):
    """A JobSubmissionClient for ``address`` (a URL or anything :func:`resolve_address` takes).

    Raises:
        LuxitError: the job server does not answer.
    """
    from ray.job_submission import JobSubmissionClient

    url = resolve_address(address)
    try:
        with _explicit_address():
            return JobSubmissionClient(url)
    except Exception as exc:  # noqa: BLE001 - connection errors come as several types
        raise LuxitError(
            f"cannot reach the Ray job server at {url}: {exc} (is the dashboard running, on port 8265?)"
        ) from exc


def submit(plan: SubmitPlan) -> str:
    """Submit a planned job; returns its submission id.

    Raises:
        LuxitError: the job server refused the job (e.g. the id is taken, the upload is too big).
    """
    jc = client(plan.address)
    log.info("submitting %s to %s: %s", plan.submission_id, plan.address, plan.entrypoint)
    log.debug("runtime_env: %s, metadata: %s", plan.runtime_env, plan.masked_metadata())
    try:
        return jc.submit_job(
            entrypoint=plan.entrypoint,
            runtime_env=plan.runtime_env,
            submission_id=plan.submission_id,
            metadata=plan.metadata,
        )
    except RuntimeError as exc:
        raise LuxitError(f"the job server refused the job: {_mask(str(exc), plan)}") from None


def _mask(text: str, plan: SubmitPlan) -> str:
    for key, value in plan.metadata.items():
        if key.startswith(SECRET_PREFIX) and value:
            text = text.replace(value, MASK)
    return text


def job_info(address: str, job_id: str) -> dict[str, Any]:
    """Status, message, times and entrypoint of a job.

    Raises:
        LuxitError: no such job.
    """
    jc = client(address)
    try:
        info = jc.get_job_info(job_id)
    except RuntimeError as exc:
        raise LuxitError(f"job {job_id}: {exc}") from None
    return {
        "job_id": job_id,
        "status": str(info.status),
        "message": info.message or "",
        "entrypoint": info.entrypoint,
        "start_time": _fmt_ms(info.start_time),
        "end_time": _fmt_ms(info.end_time),
        "metadata": mask_metadata(dict(info.metadata or {})),
    }


def _fmt_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds")


def stop(address: str, job_id: str, wait_s: float = 60.0) -> str:
    """Ask a job to stop and wait (up to ``wait_s``) until it is terminal; returns its status."""
    jc = client(address)
    try:
        jc.stop_job(job_id)
    except RuntimeError as exc:
        raise LuxitError(f"job {job_id}: {exc}") from None
    return wait(address, job_id, timeout_s=wait_s)


def logs(address: str, job_id: str) -> str:
    """The job's logs so far."""
    jc = client(address)
    try:
        return jc.get_job_logs(job_id)
    except RuntimeError as exc:
        raise LuxitError(f"job {job_id}: {exc}") from None


def wait(address: str, job_id: str, timeout_s: float | None = None, poll_s: float = 1.0) -> str:
    """Poll until the job is terminal (or the timeout passes); returns the last status seen."""
    jc = client(address)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        status = str(jc.get_job_status(job_id))
        if status in TERMINAL or (deadline is not None and time.monotonic() > deadline):
            return status
        time.sleep(poll_s)


def follow(address: str, job_id: str, on_line: Callable[[str], None]) -> str:
    """Stream the job's log lines to ``on_line`` until it ends; returns its final status."""
    jc = client(address)

    async def _tail() -> None:
        pending = ""
        async for chunk in jc.tail_job_logs(job_id):
            pending += chunk
            *lines, pending = pending.split("\n")
            for line in lines:
                on_line(line)
        if pending:
            on_line(pending)

    try:
        asyncio.run(_tail())
    except RuntimeError as exc:
        # The log socket can close early (head restart, proxy timeout): fall back to polling.
        log.warning("log stream of %s ended early (%s); waiting for the job to finish", job_id, exc)
    return wait(address, job_id)


def exit_code(status: str) -> int:
    """Process exit code for a final job status: 0 for SUCCEEDED, 1 otherwise."""
    return 0 if status == "SUCCEEDED" else 1


def job_main(argv: list[str] | None = None) -> int:
    """A submitted job's entrypoint: export the job's secrets, then run ``<command> <job>
    <overrides>`` through :func:`luxit_ray.entrypoint.main` (the layer the CLI runs jobs with)."""
    import sys

    export_job_secrets()
    from luxit_ray.entrypoint import main

    return main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(job_main())
