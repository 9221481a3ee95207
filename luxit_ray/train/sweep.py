"""A sweep: every selected model trained as its own Ray Train ``TorchTrainer``, all at once.

Each model gets a ``ScalingConfig`` from its recipe and ``RunConfig(name=<model>,
storage_path=<run storage>)``. The fits are started together from driver threads (Ray Train V2
runs each fit's controller as a zero-CPU actor), so the sweep lasts about as long as its slowest
model when the cluster has room; when it has not, a model's worker group waits for its
placement group (Ray Train retries the start) and the models queue. No Ray Tune is involved, so
nothing holds resources while waiting (the Tune + Train deadlock of ray issue 54305 cannot
happen): only training workers reserve CPUs/GPUs.

Before anything starts, every model is checked on the driver (all problems reported at once):
its folder exists, its tokenizer passes the template check, its LoRA target modules exist.

Resuming: the storage of a run is ``<storage>/<model>/``; Ray Train restores each model's latest
checkpoint from there, and a model whose ``result.json`` says done is not trained again. Rerun
the same command (same ``run.run_id``) after a kill.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import datetime as _dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxit_ray import storage
from luxit_ray.config import JobConfig
from luxit_ray.config.train import ModelRecipe, TrainConfig
from luxit_ray.errors import ConfigError, LuxitError
from luxit_ray.textio import markdown_table
from luxit_ray.train.data import ChatData, load_chat_data
from luxit_ray.train.loop import ADAPTER_DIR, FINAL_FILE
from luxit_ray.train.templates import TemplateError, check_template, choose_pad_token

log = logging.getLogger(__name__)

RESULT_FILE = "result.json"
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
MERGED_DIR = "merged"

COLUMNS = [
    "model", "status", "steps", "train_loss", "eval_loss", "tokens_per_s", "time_s", "gpu_hours",
    "resumed_from_step", "optimizer", "precision", "adapter",
]

CLI_COLUMNS = ["model", "status", "steps", "train_loss", "eval_loss", "tokens_per_s", "time_s", "gpu_hours",
               "resumed_from_step"]


@dataclass
class PlannedModel:
    """A recipe with its resolved local model folder and its GPU memory estimate (None on CPU)."""

    recipe: ModelRecipe
    model_path: str
    memory: dict[str, Any] | None = None


def resolve_recipe_path(recipe: ModelRecipe, models_root: str | None) -> str:
    """The local model folder of a recipe (``smollm2`` is converted from its wheel on first use).

    Raises:
        LuxitError: not a local model folder.
    """
    from luxit_ray.models import resolve_model_path

    raw = recipe.path
    if raw.lower().startswith("smollm2"):
        return str(resolve_model_path(raw))
    p = Path(raw).expanduser()
    if not p.is_absolute() and models_root:
        p = Path(models_root).expanduser() / p
    return str(resolve_model_path(str(p)))


def preflight(recipes: list[ModelRecipe], models_root: str | None) -> list[PlannedModel]:
    """Check every model before any training starts; one LuxitError lists all problems.

    Per model: the folder exists, the tokenizer (with the recipe's pad choice) passes
    :func:`~luxit_ray.train.templates.check_template`, every LoRA target module exists
    (checked on an empty meta-device model, so no weights are read), and, for GPU recipes, the
    memory estimate (:mod:`luxit_ray.train.memory`) fits ``resources.gpu_memory_gb``.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from luxit_ray.train.loop import missing_target_modules
    from luxit_ray.train.memory import check_recipe_memory

    problems: list[str] = []
    planned: list[PlannedModel] = []
    tokenizers: dict[str, Any] = {}
    for r in recipes:
        try:
            path = resolve_recipe_path(r, models_root)
        except LuxitError as exc:
            problems.append(f"{r.name}: {exc}")
            continue
        try:
            if path not in tokenizers:
                tokenizers[path] = AutoTokenizer.from_pretrained(path)
            tok = copy.deepcopy(tokenizers[path])
            choose_pad_token(tok, r.family, r.pad_token)
            check_template(tok, r.family, r.thinking, model=r.name)
        except TemplateError as exc:
            problems.extend(f"{r.name}: {p}" for p in exc.problems)
            continue
        except LuxitError as exc:
            problems.append(f"{r.name}: {exc}")
            continue
        try:
            config = AutoConfig.from_pretrained(path)
            with torch.device("meta"):
                skeleton = AutoModelForCausalLM.from_config(config)
            missing = missing_target_modules(skeleton, r.lora.target_modules)
            if missing:
                problems.append(f"{r.name}: lora.target_modules {missing} match no module of {config.model_type}")
            est, problem = check_recipe_memory(r, config)
            if problem:
                problems.append(f"{r.name}: {problem}")
            elif est is not None:
                log.info("%s: memory estimate per GPU (GiB): %s", r.name, est.gib())
        except (ValueError, OSError) as exc:
            problems.append(f"{r.name}: cannot read the model config at {path}: {exc}")
            continue
        planned.append(PlannedModel(r, path, est.to_dict() if est is not None else None))
    if problems:
        raise ConfigError(problems, source="train preflight")
    return planned


def _error_text(exc: BaseException) -> str:
    """A compact reason for a failed fit (the worker's own error where Ray wraps it)."""
    failures = getattr(exc, "worker_failures", None)
    if isinstance(failures, dict) and failures:
        first = next(iter(failures.values()))
        cause = getattr(first, "cause", None) or first
        text = f"{type(cause).__name__}: {cause}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    lines = [ln for ln in str(text).splitlines() if ln.strip()]
    return " | ".join(lines[-3:])[:1000]


def _read_checkpoint_json(checkpoint: Any, name: str) -> dict[str, Any] | None:
    import json

    fs, base = checkpoint.filesystem, checkpoint.path
    try:
        with fs.open_input_stream(f"{base.rstrip('/')}/{name}") as f:
            return json.loads(f.read().decode("utf-8"))
    except (FileNotFoundError, OSError):
        return None


def _row(name: str, status: str, metrics: dict[str, Any] | None, recipe: ModelRecipe, adapter: str | None,
         error: str | None, wall_s: float, preflight_gib: float | None = None) -> dict[str, Any]:
    """The results row of one model from its worker's final metrics.

    ``memory_estimate_gib`` is the worker's own figure (the estimate for the checkpointing it
    trained with); ``preflight_gib``, the driver's total, only fills in where the worker had none.
    """
    m = metrics or {}
    elapsed = m.get("elapsed_s")
    estimate = m.get("memory_estimate_gib")
    gpus = recipe.resources.num_workers * recipe.resources.gpus_per_worker if recipe.resources.use_gpu else 0.0
    return {
        "model": name,
        "status": status,
        "steps": m.get("step"),
        "train_loss": m.get("train_loss"),
        "eval_loss": m.get("eval_loss"),
        "eval_loss_before": m.get("eval_loss_before"),
        "tokens_per_s": m.get("tokens_per_s"),
        "time_s": elapsed,
        "gpu_hours": (elapsed * gpus / 3600.0) if elapsed is not None else None,
        "resumed_from_step": m.get("resumed_from_step"),
        "optimizer": m.get("optimizer"),
        "precision": m.get("precision"),
        "adapter": adapter,
        "error": error,
        "wall_s": wall_s,
        "family": recipe.family,
        "thinking": recipe.thinking,
        "effective_batch": recipe.batch_size,
        "per_device_batch_size": recipe.per_device_batch_size,
        "grad_accum": recipe.grad_accum,
        "num_workers": recipe.resources.num_workers,
        "final_loss": m.get("final_loss"),
        "loss_history": m.get("loss_history"),
        "tokens": m.get("tokens"),
        "optimizer_reason": m.get("optimizer_reason"),
        "data": m.get("data"),
        "session_started_at": m.get("session_started_at"),
        "finished_at": m.get("finished_at"),
        "gradient_checkpointing": m.get("gradient_checkpointing"),
        "memory_estimate_gib": estimate if estimate is not None else preflight_gib,
        "peak_gpu_memory_gib": m.get("peak_gpu_memory_gib"),
        "peak_gpu_reserved_gib": m.get("peak_gpu_reserved_gib"),
    }


# Node-side checks take this long at most: an autoscaling cluster may first have to start a
# gpu-train node (its group can sit at 0 replicas).
EXTRAS_CHECK_TIMEOUT_S = 900.0


def worker_resources(res: Any) -> dict[str, float]:
    """The Ray resources one training worker of a recipe reserves (CPU, GPU, custom node resources)."""
    per_worker: dict[str, float] = {"CPU": res.cpus_per_worker, **res.custom_resources}
    if res.use_gpu:
        per_worker["GPU"] = res.gpus_per_worker
    return per_worker


def required_extras(recipe: ModelRecipe) -> list[str]:
    """The modules a recipe's workers import: the training stack, plus the GPU extras it uses."""
    modules = ["torch", "transformers", "peft", "accelerate"]
    if recipe.resources.use_gpu and recipe.optimizer == "adamw_8bit" and not recipe.deepspeed.enabled:
        modules.append("bitsandbytes")
    if recipe.deepspeed.enabled:
        modules.append("deepspeed")
    return modules


def _import_report(modules: list[str]) -> dict[str, Any]:
    """Runs on a node: which modules import there, with their versions or errors."""
    import importlib
    import socket

    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any import failure is the answer, recorded per module
            missing[name] = f"{type(exc).__name__}: {exc}"
        else:
            found[name] = str(getattr(mod, "__version__", "?"))
    return {"node": socket.gethostname(), "found": found, "missing": missing}


def unreachable_resources(
    wanted: dict[str, float], alive: dict[str, float], started_here: bool | None, groups: dict[str, set[str]] | None
) -> str | None:
    """Why no node will ever offer a worker's resources, or None when one does or may yet.

    A resource no alive node has can still come: the autoscaler starts a node of a group that
    offers it (a gpu-train group at 0 replicas), or an operator joins one by hand. It cannot come
    to a Ray this driver started itself (``luxit train`` on a laptop: no autoscaler, one node), nor
    from an autoscaler whose node groups are known and none of which offers it.

    Args:
        wanted: One worker's resources (:func:`worker_resources`).
        alive: ``ray.cluster_resources()``.
        started_here: This process started the Ray it uses; None when that is unknown.
        groups: The autoscaler's node groups, {name: resource names}; None when there are none known.
    """
    absent = absent_resources(wanted, alive)
    if not absent:
        return None
    if started_here:
        return (
            f"this run started its own local Ray (no run.ray.address, no RAY_ADDRESS), whose only node offers "
            f"none of {absent}, and no autoscaler can add one: train here with "
            "train.defaults.resources.custom_resources={} (and use_gpu as this machine allows), or submit the job "
            "to a cluster with a gpu-train node type"
        )
    if groups:
        nowhere = [k for k in absent if not any(k in res for res in groups.values())]
        if nowhere:
            return (f"no alive node offers {nowhere} and none of the autoscaler's node groups "
                    f"({', '.join(sorted(groups))}) does: add the gpu-train node type to the cluster config")
    return None


def absent_resources(wanted: dict[str, float], alive: dict[str, float]) -> list[str]:
    """The resources a worker asks for that no alive node offers (``alive``: ``ray.cluster_resources()``)."""
    return sorted(k for k, v in wanted.items() if v > 0 and not alive.get(k))


def _started_here() -> bool | None:
    """Whether this process started the Ray it is connected to (``ray.init()`` with nothing to join).

    Ray 2.60 says so only on its private node object; guarded: None (unknown) when it is missing.
    """
    try:
        from ray._private import worker

        node = worker._global_node
        return None if node is None else bool(node.is_head())
    except (ImportError, AttributeError):
        return None


def _group_resources(cluster_config: Any) -> dict[str, set[str]] | None:
    """{node group name: resource names} from the autoscaler's ``ClusterConfig``; None without groups."""
    groups = _node_groups(cluster_config)
    if not groups:
        return None
    return {g.name: {k for k, v in g.resources.items() if v > 0} for g in groups}


def check_worker_extras(
    recipes: list[ModelRecipe],
    timeout_s: float = EXTRAS_CHECK_TIMEOUT_S,
    modules: list[str] | None = None,
    started_here: bool | None = None,
) -> list[dict[str, Any]]:
    """Before any trial starts: import the training extras on the node type that will run them.

    One small task per distinct set of worker resources, asking for exactly what a worker asks for
    (``CPU``, ``GPU`` and the node type's custom resource such as ``luxit_train``), so Ray places
    it where the workers will go. Recipes with neither GPUs nor custom resources run wherever Ray
    has CPUs, like the driver, and are not checked.

    Args:
        recipes: The recipes about to be trained.
        timeout_s: How long to wait for a node that can take the task (and for its imports), when
            one may still come (:func:`unreachable_resources`); otherwise the check fails at once.
        modules: Override the modules to import (tests); default: :func:`required_extras`.
        started_here: Whether this process started its Ray; default: asked of Ray.

    Returns:
        One report per resource set: its resources, node, recipes and imported versions.

    Raises:
        LuxitError: a module does not import there, or no node with these resources came up.
    """
    import ray

    groups: dict[tuple[tuple[str, float], ...], tuple[list[str], set[str]]] = {}
    for r in recipes:
        res = r.resources
        if not res.use_gpu and not res.custom_resources:
            continue
        key = tuple(sorted(worker_resources(res).items()))
        names, mods = groups.setdefault(key, ([], set()))
        names.append(r.name)
        mods.update(modules if modules is not None else required_extras(r))
    if not groups:
        return []
    alive = ray.cluster_resources()
    here = _started_here() if started_here is None else started_here
    node_groups = _group_resources(_autoscaler_cluster_config()) if not here else None
    problems: list[str] = []
    for key, (names, _) in groups.items():
        why = unreachable_resources(dict(key), alive, here, node_groups)
        if why:
            problems.append(f"{', '.join(names)}: worker resources {dict(key)}: {why}")
        elif absent_resources(dict(key), alive):
            log.info("extras check for %s: no alive node offers %s yet; waiting up to %g s for one to join",
                     names, dict(key), timeout_s)
    if problems:
        raise LuxitError("training extras check failed before any trial started:\n" + "\n".join(f"  - {p}" for p in problems))
    remote = ray.remote(_import_report)
    pending = []
    for key, (names, mods) in groups.items():
        want = dict(key)
        opts: dict[str, Any] = {"num_cpus": want.pop("CPU", 0), "num_gpus": want.pop("GPU", 0), "max_retries": 0}
        if want:
            opts["resources"] = want
        pending.append((dict(key), names, remote.options(**opts).remote(sorted(mods))))
    reports: list[dict[str, Any]] = []
    for resources, names, ref in pending:
        try:
            got = ray.get(ref, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            problems.append(
                f"{', '.join(names)}: no node with worker resources {resources} took the extras check within "
                f"{timeout_s:g} s (is the gpu-train node type in the cluster config, with that custom resource?)"
            )
            continue
        reports.append({"resources": resources, "models": names, **got})
        for mod, err in got["missing"].items():
            problems.append(
                f"{', '.join(names)}: {mod} does not import on {got['node']} (worker resources {resources}): {err}; "
                "install luxit-ray[train-gpu] on that node type"
            )
    if problems:
        raise LuxitError("training extras check failed before any trial started:\n" + "\n".join(f"  - {p}" for p in problems))
    for rep in reports:
        log.info("extras on %s for %s: %s", rep["node"], rep["models"], rep["found"])
    return reports


def fit_model(
    planned: PlannedModel,
    data_ref: Any,
    storage_root: str,
    tc: TrainConfig,
    crash_at: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Train one model as a TorchTrainer (blocking) and return its results row (errors as data)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from luxit_ray.train.loop import train_loop_per_worker

    r = planned.recipe
    model_root = storage.join(storage_root, r.name)
    res = r.resources
    per_worker = worker_resources(res)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "recipe": r.model_dump(mode="json"),
            "model_path": planned.model_path,
            "data_ref": data_ref,
            "crash_at": crash_at,
        },
        scaling_config=ScalingConfig(
            num_workers=res.num_workers,
            use_gpu=res.use_gpu,
            resources_per_worker=per_worker,
            accelerator_type=res.accelerator_type,
        ),
        run_config=RunConfig(
            name=r.name,
            storage_path=storage_root,
            failure_config=FailureConfig(max_failures=tc.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=r.keep_checkpoints + 1),
        ),
    )
    t0 = time.time()
    log.info("%s: starting (%d worker(s) x %s)", r.name, res.num_workers, per_worker)
    try:
        result = trainer.fit()
    except Exception as exc:  # recorded on the row: one model's failure must not stop the sweep
        log.error("%s: training failed: %s", r.name, _error_text(exc))
        return _row(r.name, "failed", None, r, None, _error_text(exc), time.time() - t0)
    ckpt = result.checkpoint
    metrics = _read_checkpoint_json(ckpt, FINAL_FILE) if ckpt is not None else None
    if metrics is None:
        return _row(r.name, "failed", None, r, None, "the run ended without a final adapter", time.time() - t0)
    adapter = storage.join(model_root, ADAPTER_DIR)
    storage.copy_dir(storage.join(ckpt.path, ADAPTER_DIR), adapter, source_filesystem=ckpt.filesystem)
    preflight_gib = planned.memory["gib"]["total"] if planned.memory else None
    row = _row(r.name, "done", metrics, r, adapter, None, time.time() - t0, preflight_gib)
    if tc.merge_adapters:
        from luxit_ray.train.merge import merge_adapter

        merged = storage.join(model_root, MERGED_DIR)
        merge_adapter(adapter, merged)
        row["merged"] = merged
    storage.write_json(storage.join(model_root, RESULT_FILE), row)
    log.info("%s: done in %.0f s (loss %s -> eval %s)", r.name, row["wall_s"], row["train_loss"], row["eval_loss"])
    return row


def results_markdown(rows: list[dict[str, Any]], title: str) -> str:
    """The results table as Markdown."""
    table = markdown_table(COLUMNS, [[row.get(c) for c in COLUMNS] for row in rows], right_align=[False] * len(COLUMNS))
    lines = [f"# {title}", "", table]
    errors = [r for r in rows if r.get("error")]
    if errors:
        lines += ["", "## Errors", ""] + [f"- {r['model']}: {r['error']}" for r in errors]
    return "\n".join(lines) + "\n"

def _data_for_workers(data: ChatData) -> dict[str, Any]:
    return {"train": data.train, "validation": data.validation}


def locate(cfg: JobConfig) -> tuple[Any, str, str]:
    """The run folder, the training data spec and the storage root of a train job.

    With ``train.data`` set, the run is created (or reopened with ``run.run_id``); without it, the
    newest run of this job that finished export (or ``run.run_id``) is used and its
    ``export/*.parquet`` is the data.
    """
    from luxit_ray.runs import EXPORT, TRAIN, RunDir

    tc = cfg.train
    assert tc is not None
    if tc.data or tc.grid is not None:  # a grid's data are its mixtures
        run = RunDir.create(cfg)
        data_spec = tc.data
    else:
        run = RunDir.for_step(cfg, EXPORT)
        data_spec = str(run.sub(EXPORT).resolve() / "*.parquet")
    root = storage.join(tc.storage_path, run.path.name) if tc.storage_path else str(run.sub(TRAIN).resolve())
    return run, data_spec, root


# Where `ray up` leaves the cluster YAML on the head node (the autoscaler v1 reads it there).
BOOTSTRAP_YAML = Path("~/ray_bootstrap_config.yaml")


def launcher_max_nodes(config: dict[str, Any]) -> int | None:
    """The most nodes a cluster YAML allows: head plus workers, None when it is not one we know.

    Reads a ``ray up`` config (``available_node_types`` with ``max_workers``, capped by the
    top-level ``max_workers``) or a KubeRay ``RayCluster`` (``workerGroupSpecs`` with
    ``maxReplicas`` x ``numOfHosts``). Groups at 0 replicas count with their maximum: the
    autoscaler starts them when work asks for their resources.
    """
    types = config.get("available_node_types")
    if isinstance(types, dict):
        head = config.get("head_node_type")
        workers = sum(int(t.get("max_workers", 0)) for name, t in types.items() if name != head)
        cap = config.get("max_workers")
        return 1 + (min(workers, int(cap)) if cap is not None else workers)
    spec = config.get("spec") or {}
    spec = spec.get("rayClusterSpec", spec)  # a RayJob wraps the RayCluster spec
    groups = spec.get("workerGroupSpecs")
    if isinstance(groups, list):
        return 1 + sum(
            int(g.get("maxReplicas", g.get("replicas", 0))) * int(g.get("numOfHosts", 1)) for g in groups
        )
    return None


def autoscaler_max_nodes(cluster_config: Any) -> int | None:
    """The most nodes the autoscaler's node groups allow (its ``ClusterConfig``), None without groups.

    A group with ``max_count`` -1 (no limit) counts as two nodes: all the check needs to know is
    that the cluster can grow past one node.
    """
    groups = _node_groups(cluster_config)
    if not groups:
        return None
    return sum(2 if g.max_count == -1 else max(g.max_count, g.min_count) for g in groups)


def _node_groups(cluster_config: Any) -> list[Any]:
    """The autoscaler's node groups in its ``ClusterConfig`` (none for None or a config without)."""
    return list(getattr(cluster_config, "node_group_configs", None) or [])


def _autoscaler_cluster_config() -> Any:
    """The autoscaler's node groups as the GCS holds them (autoscaler v2, KubeRay), or None.

    Ray has no public API for it in 2.60; ``ray._private.state`` is what Ray Data's own
    autoscaler reads. Guarded: a Ray without it gives None and a warning, and the check goes on.
    """
    try:
        from ray._private.state import state

        return state.get_cluster_config()
    except (ImportError, AttributeError, RuntimeError) as exc:
        log.warning("cannot read the autoscaler's node groups (%s); the storage and extras checks go on without them", exc)
        return None


def cluster_nodes(recipes: list[ModelRecipe], bootstrap_yaml: Path = BOOTSTRAP_YAML) -> tuple[int, list[str]]:
    """The most nodes this cluster can run the sweep on, and where each figure came from.

    Not only the nodes alive now: a head-only cluster whose GPU groups sit at 0 replicas has one
    node until the first trial asks for a GPU. The largest of: alive nodes; the autoscaler's
    configured node groups; the ``ray up`` YAML on the head; and one more than alive when a
    worker asks for a resource no alive node has (the autoscaler must start a node for it), unless
    this process started its Ray, which no node will join.
    """
    import ray

    counts = {"alive nodes": storage.alive_nodes()}
    from_gcs = autoscaler_max_nodes(_autoscaler_cluster_config())
    if from_gcs is not None:
        counts["autoscaler node groups"] = from_gcs
    path = bootstrap_yaml.expanduser()
    if path.is_file():
        import yaml

        from_yaml = launcher_max_nodes(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        if from_yaml is not None:
            counts[str(path)] = from_yaml
    have = ray.cluster_resources()
    absent = sorted({k for r in recipes for k in absent_resources(worker_resources(r.resources), have)})
    if absent and not _started_here():  # a Ray this process started never grows (the extras check says so)
        counts[f"worker resources no alive node has {absent}"] = counts["alive nodes"] + 1
    return max(counts.values()), [f"{k}: {v}" for k, v in counts.items()]


def storage_problems(cfg: JobConfig, nodes: int) -> list[str]:
    """Paths of a train job that only the driver's node sees, on a Ray cluster of ``nodes`` nodes."""
    tc = cfg.train
    assert tc is not None
    paths = {
        "run.output_dir": cfg.run.output_dir,
        "train.storage_path": tc.storage_path,
        "train.models_root": tc.models_root,
        "train.data": tc.data,
    }
    if tc.storage_path is None:
        paths["train.storage_path"] = f"{cfg.run.output_dir}/<run>/train (storage_path: null)"
    for r in tc.selected():
        if r.path.lower().startswith("smollm2"):
            continue  # converted from the installed wheel on each node that needs it
        if Path(r.path).is_absolute() or not tc.models_root:
            paths[f"train.models.{r.name}.path"] = r.path
    return storage.shared_storage_problems(paths, tc.shared_storage, nodes)


def run_train(cfg: JobConfig, crash_at: dict[str, int] | None = None) -> dict[str, Any]:
    """Run the job's training sweep and return a summary (tables for the CLI, rows, paths).

    Args:
        cfg: The validated job (its ``train`` section is required).
        crash_at: Tests only: {model name: step}; that model's worker raises after its
            checkpoint at this step (unless it is resuming), to exercise resuming.

    Raises:
        LuxitError: no train section, no data, or a model refused by the preflight checks.
    """
    import ray

    from luxit_ray.runs import TRAIN, init_ray

    tc = cfg.train
    if tc is None:
        raise LuxitError("the job has no `train` section")
    run, data_spec, storage_root = locate(cfg)
    run_id = run.path.name
    grid = None
    if tc.grid is not None:  # Latxa-style: one trial per backbone x mixture subset (luxit_ray/train/grid.py)
        from luxit_ray.train.grid import load_grid

        grid = load_grid(cfg, run.path)
        data, recipes = grid.combined(), grid.recipes
    else:
        data = load_chat_data(data_spec, tc.eval_fraction, tc.eval_seed, cfg.run.on_bad_input)
        recipes = tc.selected()
    log.info("data: %s", data.counts())

    done_rows: dict[str, dict[str, Any]] = {}
    todo: list[ModelRecipe] = []
    for r in recipes:
        prev = storage.read_json(storage.join(storage_root, r.name, RESULT_FILE))
        if prev and prev.get("status") == "done":
            done_rows[r.name] = {**prev, "status": "done (earlier)"}
        else:
            todo.append(r)
    planned = preflight(todo, tc.models_root) if todo else []

    rows_by_name: dict[str, dict[str, Any]] = dict(done_rows)
    started = time.time()
    if planned:
        init_ray(cfg)
        nodes, sources = cluster_nodes([p.recipe for p in planned])
        log.info("storage check: up to %d node(s) (%s)", nodes, "; ".join(sources))
        problems = storage_problems(cfg, nodes)
        if problems:
            problems.append(f"nodes counted from: {'; '.join(sources)}")
            raise ConfigError(problems, source="train preflight (storage)")
        check_worker_extras([p.recipe for p in planned])
        data_ref = ray.put(_data_for_workers(data)) if grid is None else None
        refs = {n: ray.put(_data_for_workers(d)) for n, d in grid.data.items()} if grid is not None else {}
        workers = tc.max_concurrent or len(planned)
        with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="luxit-train") as pool:
            futures = {
                pool.submit(fit_model, p, refs.get(p.recipe.name, data_ref), storage_root, tc, crash_at): p.recipe.name
                for p in planned
            }
            for fut in cf.as_completed(futures):
                rows_by_name[futures[fut]] = fut.result()
    wall = time.time() - started
    rows = [rows_by_name[r.name] for r in recipes]

    failed = [r["model"] for r in rows if r["status"] == "failed"]
    summary_doc = {
        "run_id": run_id,
        "storage": storage_root,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": wall,
        "data": data.counts(),
        "bad_examples": data.bad_examples,
        "models": rows,
    }
    out_dir = run.sub(TRAIN)
    out_dir.mkdir(parents=True, exist_ok=True)
    storage.write_json(str(out_dir / RESULTS_JSON), summary_doc)
    (out_dir / RESULTS_MD).write_text(results_markdown(rows, f"Training sweep {run_id}"), encoding="utf-8")
    if "://" in storage_root:
        storage.write_json(storage.join(storage_root, RESULTS_JSON), summary_doc)
    counts = {
        "models": len(rows),
        "done": len(rows) - len(failed),
        "failed": len(failed),
        "wall_s": round(wall, 1),
        **{k: v for k, v in data.counts().items() if k != "bad_reasons"},
    }
    if not failed:
        run.mark_done(TRAIN, counts)
    run.update_manifest(cfg, TRAIN, counts)

    table_rows = [[r.get(c) for c in CLI_COLUMNS] for r in rows]
    lines = [
        f"run: {run.path}",
        f"checkpoints and adapters: {storage_root}",
        f"results: {out_dir / RESULTS_JSON}, {out_dir / RESULTS_MD}",
    ]
    for r in rows:
        if r.get("error"):
            lines.append(f"[red]{r['model']} failed:[/red] {r['error']}")
    if failed:
        lines.append(f"resume with: luxit train <job.yaml> run.run_id={run_id}")
    return {
        "run_dir": str(run.path),
        "storage": storage_root,
        "rows": rows,
        "failed": failed,
        "tables": {"Training sweep": {"columns": CLI_COLUMNS, "rows": table_rows},
                   **({"Grid variants": grid.table(rows)} if grid is not None else {})},
        "lines": lines,
    }
