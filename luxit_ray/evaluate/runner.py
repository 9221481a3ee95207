"""`luxit evaluate`: load the exam and tasks, score every model side by side, write the report.

One Ray actor per model (its CPUs / GPUs from config) loads the model once and runs every
scorer over all items. Each model's per-sample log is written as soon as it finishes, with a
fingerprint of everything that shaped it, so a rerun of the same run skips finished models.

Outputs under ``<run>/evaluation/``: ``samples/<model>.jsonl`` (one record per item and scorer:
prompt, raw output, parse result, outcome), ``report.json``, ``report.md``, ``report.png``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from luxit_ray import storage
from luxit_ray.config import JobConfig
from luxit_ray.errors import ConfigError, LuxitError
from luxit_ray.evaluate import report as report_mod
from luxit_ray.evaluate.backends import Backend, adapter_rank, is_remote, make_backend
from luxit_ray.evaluate.items import EvalItem, load_exam, load_task
from luxit_ray.evaluate.scorers import CORRECT, INVALID, WRONG, evaluate_items
from luxit_ray.textio import read_jsonl, write_jsonl

log = logging.getLogger(__name__)

SAMPLES = "samples"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
REPORT_PNG = "report.png"

BackendFactory = Callable[[dict[str, Any], dict[str, Any]], Backend]


def load_items(settings: Any) -> list[EvalItem]:
    """The exam's items, then each task's, validated (raises InputError naming file and row)."""
    items: list[EvalItem] = []
    if settings.exam is not None:
        items += load_exam(settings.exam, settings.prompt, settings.max_items)
    for task in settings.tasks:
        items += load_task(task, settings.prompt, settings.max_items)
    return items


class ModelEvaluator:
    """Scores one model: built once per actor (the model loads in ``__init__``).

    Args:
        spec: the model spec dump with ``path`` resolved to a local folder.
        settings: the evaluate config dump.
        num_cpus: CPUs reserved for it (torch threads are capped to that).
        backend_factory: builds the backend (default :func:`make_backend`).
    """

    def __init__(
        self, spec: dict[str, Any], settings: dict[str, Any], num_cpus: float = 1.0,
        backend_factory: BackendFactory | None = None,
    ) -> None:
        if backend_factory is None:
            import torch

            # One actor per model on a shared machine: use the CPUs reserved, not every core.
            torch.set_num_threads(max(1, int(num_cpus)))
        self.spec = spec
        self.settings = settings
        started = time.monotonic()
        self.backend = (backend_factory or make_backend)(spec, settings)
        self.load_seconds = time.monotonic() - started

    def run(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """Every configured scorer over the items: ``{"records", "backend", "load_s", "score_s"}``."""
        started = time.monotonic()
        records = evaluate_items(self.backend, [EvalItem.from_dict(d) for d in items], self.settings)
        for r in records:
            r["model"] = self.spec["name"]
            r["group"] = self.spec["group"]
        self.backend.close()
        return {
            "records": records,
            "backend": self.backend.kind,
            "load_s": round(self.load_seconds, 2),
            "score_s": round(time.monotonic() - started, 2),
        }


def _fingerprint(spec: dict[str, Any], settings: dict[str, Any], items: list[dict[str, Any]]) -> str:
    shaping = {k: v for k, v in settings.items() if k not in ("models", "use_ray", "chart", "num_cpus_per_model")}
    blob = json.dumps({"spec": spec, "settings": shaping, "items": items}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _resolve(spec: dict[str, Any]) -> dict[str, Any]:
    from luxit_ray.models import resolve_model_path

    out = dict(spec)
    out["path"] = str(resolve_model_path(spec["path"]))
    adapter = spec.get("adapter")
    if adapter and is_remote(adapter):
        # Where training stored it (s3://..., gs://...): checked here, fetched by the actor that loads it.
        if not storage.exists(storage.join(adapter, "adapter_config.json")):
            raise LuxitError(f"adapter {adapter}: no adapter_config.json (expected a peft LoRA folder)")
    elif adapter:
        local = adapter.removeprefix("file://")
        adapter_rank(local)
        out["adapter"] = str(Path(local).resolve())
    return out


def held_out_losses(specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Training's validation loss before and after fine-tuning, per model with an adapter.

    Read from ``result.json`` beside the adapter, where ``luxit train`` writes it (local or a
    storage URI); models whose training left none are not listed.
    """
    out: dict[str, dict[str, Any]] = {}
    for s in specs:
        adapter = s.get("adapter")
        if not adapter:
            continue
        row = storage.read_json(storage.join(str(adapter).rstrip("/").rsplit("/", 1)[0], "result.json"))
        if not row or row.get("eval_loss") is None:
            continue
        validation = (row.get("data") or {}).get("validation") or {}
        out[s["name"]] = {
            "trained_as": row.get("model"),
            "before": row.get("eval_loss_before"),
            "after": row.get("eval_loss"),
            "examples": validation.get("examples"),
            "label_tokens": validation.get("label_tokens"),
            "steps": row.get("steps"),
        }
    return out


def _run_local(
    todo: list[dict[str, Any]], settings: dict[str, Any], items: list[dict[str, Any]],
    factory: BackendFactory | None, on_done: Callable[[dict[str, Any], dict[str, Any]], None],
) -> dict[str, str]:
    failures: dict[str, str] = {}
    for spec in todo:
        try:
            on_done(spec, ModelEvaluator(spec, settings, settings["num_cpus_per_model"], factory).run(items))
        except LuxitError as exc:
            failures[spec["name"]] = str(exc)
            log.error("model %s failed: %s", spec["name"], exc)
    return failures


def _run_ray(
    cfg: JobConfig, todo: list[dict[str, Any]], settings: dict[str, Any], items: list[dict[str, Any]],
    on_done: Callable[[dict[str, Any], dict[str, Any]], None],
) -> dict[str, str]:
    import ray

    from luxit_ray.runs import init_ray
    from luxit_ray.storage import alive_nodes

    init_ray(cfg)
    problems = storage_problems(cfg, todo, alive_nodes())
    if problems:
        raise ConfigError(problems, source="evaluate preflight (storage)")
    items_ref = ray.put(items)
    actor_cls = ray.remote(ModelEvaluator)
    pending: dict[Any, tuple[dict[str, Any], Any]] = {}
    for spec in todo:
        cpus = spec.get("num_cpus") or settings["num_cpus_per_model"]
        gpus = settings["num_gpus_per_model"] if spec.get("num_gpus") is None else spec["num_gpus"]
        actor = actor_cls.options(num_cpus=cpus, num_gpus=gpus, resources=settings["resources"] or None).remote(
            spec, settings, cpus
        )
        pending[actor.run.remote(items_ref)] = (spec, actor)
    failures: dict[str, str] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        spec, actor = pending.pop(ready[0])
        try:
            on_done(spec, ray.get(ready[0]))
        except ray.exceptions.RayError as exc:
            # Recorded and raised once the other models have finished and been saved.
            failures[spec["name"]] = str(exc).strip().splitlines()[-1]
            log.error("model %s failed: %s", spec["name"], exc)
        finally:
            ray.kill(actor)
    return failures


def storage_problems(cfg: JobConfig, specs: list[dict[str, Any]], nodes: int) -> list[str]:
    """Paths of an evaluate job that only the driver's node sees, on a Ray cluster of ``nodes`` nodes.

    Model folders and adapters are resolved on the driver but loaded by actors on other nodes.
    """
    from luxit_ray.storage import shared_storage_problems

    ev = cfg.evaluate
    assert ev is not None
    paths: dict[str, str | None] = {"run.output_dir": cfg.run.output_dir}
    for s in specs:
        if not str(s["path"]).lower().startswith("smollm2"):
            paths[f"evaluate.models.{s['name']}.path"] = s["path"]
        paths[f"evaluate.models.{s['name']}.adapter"] = s.get("adapter")
    return shared_storage_problems(paths, ev.shared_storage, nodes)


def run_evaluate(cfg: JobConfig, backend_factory: BackendFactory | None = None) -> dict[str, Any]:
    """Evaluate every configured model on the exam and tasks and write the report.

    Args:
        cfg: the job config (its ``evaluate`` section is required).
        backend_factory: build backends in this process instead of :func:`make_backend` in Ray
            actors (tests use scripted models this way); model paths are then not resolved.

    Returns:
        ``{"tables": {...}, "lines": [...], "report": {...}, "run_dir": str}`` for the CLI.

    Raises:
        ConfigError: no evaluate section.
        InputError: a bad exam or task row (before anything is loaded).
        LuxitError: a model could not be evaluated (the others are still saved).
    """
    from luxit_ray.runs import EVALUATION, RunDir

    if cfg.evaluate is None:
        raise ConfigError(["evaluate: the section is missing"], source="job")
    ev = cfg.evaluate
    items = load_items(ev)
    settings = ev.model_dump(mode="json")
    specs = [m.model_dump(mode="json") for m in ev.models]
    if backend_factory is None:
        specs = [_resolve(s) for s in specs]
    item_dicts = [it.to_dict() for it in items]

    run = RunDir.create(cfg)
    out_dir = run.sub(EVALUATION)
    samples_dir = out_dir / SAMPLES
    samples_dir.mkdir(parents=True, exist_ok=True)

    records: list[dict[str, Any]] = []
    info: dict[str, dict[str, Any]] = {}
    todo = []
    for spec in specs:
        fp = _fingerprint(spec, settings, item_dicts)
        meta_path = samples_dir / f"{spec['name']}.meta.json"
        log_path = samples_dir / f"{spec['name']}.jsonl"
        if meta_path.is_file() and log_path.is_file():
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("fingerprint") == fp:
                log.info("model %s already evaluated in this run (fingerprint %s): reusing its samples", spec["name"], fp)
                records += read_jsonl(log_path)
                info[spec["name"]] = meta | {"reused": True}
                continue
        todo.append(spec | {"_fingerprint": fp})

    def on_done(spec: dict[str, Any], result: dict[str, Any]) -> None:
        name = spec["name"]
        write_jsonl(samples_dir / f"{name}.jsonl", result["records"])
        meta = {
            "fingerprint": spec["_fingerprint"], "backend": result["backend"], "load_s": result["load_s"],
            "score_s": result["score_s"], "n_records": len(result["records"]),
        }
        (samples_dir / f"{name}.meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        records.extend(result["records"])
        info[name] = meta
        log.info("model %s done: %d records in %.1f s (+%.1f s load)", name, len(result["records"]), result["score_s"], result["load_s"])

    failures: dict[str, str] = {}
    if todo and (backend_factory is not None or not ev.use_ray):
        failures = _run_local(todo, settings, item_dicts, backend_factory, on_done)
    elif todo:
        failures = _run_ray(cfg, todo, settings, item_dicts, on_done)
    if failures:
        listed = "; ".join(f"{k}: {v}" for k, v in failures.items())
        raise LuxitError(f"evaluation failed for {len(failures)} model(s) (finished ones are saved in {samples_dir}): {listed}")

    models = [s | {"backend": info[s["name"]]["backend"]} for s in specs]
    report = report_mod.build_report(records, models, items, settings, held_out_losses(specs))
    (out_dir / REPORT_JSON).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / REPORT_MD).write_text(report_mod.render_markdown(report), encoding="utf-8")
    lines = [f"report: {out_dir / REPORT_MD}", f"samples: {samples_dir}"]
    if ev.chart and report_mod.plot_report(report, out_dir / REPORT_PNG):
        lines.append(f"chart: {out_dir / REPORT_PNG}")

    outcome_counts = {s: {CORRECT: 0, WRONG: 0, INVALID: 0} for s in ev.scorers}
    for r in records:
        outcome_counts[r["scorer"]][r["outcome"]] += 1
    counts = {
        "items": len(items),
        "models": len(specs),
        "records": len(records),
        "outcomes": outcome_counts,
        "per_model": info,
    }
    run.mark_done(EVALUATION, counts)
    run.update_manifest(cfg, EVALUATION, counts)
    tables = report_mod.summary_tables(report)
    if cfg.train is not None and cfg.train.grid is not None:
        # A grid's variants side by side (exam, tasks, arena); ``luxit report-grid`` redoes it later.
        from luxit_ray.evaluate.grid_report import write_grid_report

        try:
            grid = write_grid_report(run.path, cfg)
        except LuxitError as exc:
            lines.append(f"grid: not written ({exc})")
        else:
            tables.update(grid["tables"])
            lines += grid["lines"]
    return {"tables": tables, "lines": lines, "report": report, "run_dir": str(run.path)}
