"""`luxit evaluate-glue`: prompted LLMs on ltzGLUE-style tasks, zero-shot, the label set given.

One Ray actor per model (as ``luxit evaluate``) loads the model once and answers every selected
task's test rows greedily. Each answer is parsed (:mod:`~luxit_ray.evaluate.glue_parse`); the
malformed ones are counted by reason and scored both ways (:mod:`~luxit_ray.evaluate.glue_scores`).

Outputs under ``<run>/glue/llm/``: ``samples/<model>.jsonl`` (one record per row: prompt, raw
output, parsed value or malformed reason, gold), ``report.json``, ``report.md``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from luxit_ray.config import JobConfig
from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.errors import ConfigError, LuxitError
from luxit_ray.evaluate.backends import Backend, make_backend
from luxit_ray.evaluate.glue_parse import parse_label, parse_tags
from luxit_ray.evaluate.glue_prompt import allowed_outputs, user_message
from luxit_ray.evaluate.glue_scores import score_task
from luxit_ray.glue_data import load_split
from luxit_ray.textio import markdown_table, write_jsonl

log = logging.getLogger(__name__)

GLUE_DIR = "glue"
LLM_DIR = "llm"
STEP = "glue_llm"
BackendFactory = Callable[[dict[str, Any], dict[str, Any]], Backend]
COLUMNS = ["model", "task", "n", "malformed", "macro_f1", "macro_f1_drop", "macro_f1_wrong", "micro_f1_drop", "micro_f1_wrong"]


def backend_settings(llm: dict[str, Any]) -> dict[str, Any]:
    """The settings :func:`~luxit_ray.evaluate.backends.make_backend` reads, from ``glue.llm``."""
    return {
        "backend": llm["backend"], "num_gpus_per_model": llm["num_gpus_per_model"], "thinking": llm["thinking"],
        "dtype": llm["dtype"], "batch_size": llm["batch_size"], "gpu_memory_utilization": llm["gpu_memory_utilization"],
        "prompt": {"answer_prefix": "Answer:"},
    }


def prompt_task(backend: Backend, task: GlueTaskConfig, rows: list[dict[str, Any]], rules: str, max_new_tokens: int) -> list[dict[str, Any]]:
    """Ask the model about every row of one task and parse its answers into records."""
    rendered = [backend.render_prompt(user_message(task, r, rules)) for r in rows]
    gens = backend.generate([text for text, _ in rendered], max_new_tokens)
    if len(gens) != len(rows):
        raise RuntimeError(f"backend returned {len(gens)} generations for {len(rows)} prompts")
    allowed = allowed_outputs(task)
    records = []
    for row, (text, _), gen in zip(rows, rendered, gens, strict=True):
        if task.kind == "sequence":
            parsed = parse_label(gen.text, allowed)
            gold: Any = row["label"]
        else:
            parsed = parse_tags(gen.text, len(row["tokens"]), allowed, task.merge_types)
            gold = row["tags"]
        note = parsed.note if not (parsed.malformed and gen.finish_reason == "length") else f"{parsed.note}+length"
        records.append({
            "task": task.name, "kind": task.kind, "item_id": row["id"], "gold": gold, "predicted": parsed.value,
            "note": note, "prompt": text, "raw_output": gen.raw, "output_text": gen.text,
            "finish_reason": gen.finish_reason, "n_tokens": gen.n_tokens,
        })
    return records


class GlueModelEvaluator:
    """Prompts one model on every task: built once per actor (the model loads in ``__init__``).

    Args:
        spec: the model spec dump (``path`` resolved).
        llm: the ``glue.llm`` dump.
        tasks: the task dumps to run.
        backend_factory: builds the backend (default :func:`make_backend`).
    """

    def __init__(self, spec: dict[str, Any], llm: dict[str, Any], tasks: list[dict[str, Any]],
                 backend_factory: BackendFactory | None = None) -> None:
        if backend_factory is None:
            import torch

            torch.set_num_threads(max(1, int(llm["num_cpus_per_model"])))
        self.spec, self.llm = spec, llm
        self.tasks = [GlueTaskConfig.model_validate(t) for t in tasks]
        started = time.monotonic()
        self.backend = (backend_factory or make_backend)(spec, backend_settings(llm))
        self.load_s = time.monotonic() - started

    def run(self, rows: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Every task's rows: ``{"records", "backend", "load_s", "score_s"}``."""
        started = time.monotonic()
        records: list[dict[str, Any]] = []
        for task in self.tasks:
            recs = prompt_task(self.backend, task, rows[task.name], self.llm["rules"], self.llm["max_new_tokens"])
            log.info("model %s, task %s: %d answers, %d malformed", self.spec["name"], task.name, len(recs),
                     sum(r["predicted"] is None for r in recs))
            records += recs
        for r in records:
            r["model"] = self.spec["name"]
        self.backend.close()
        return {"records": records, "backend": self.backend.kind, "load_s": round(self.load_s, 2),
                "score_s": round(time.monotonic() - started, 2)}


def build_report(records: list[dict[str, Any]], tasks: list[GlueTaskConfig], models: list[str], policy: str,
                 strict: bool) -> dict[str, Any]:
    """Per model and task: malformed counts and scores under both policies; ``macro_f1`` is the headline."""
    rows = []
    for model in models:
        for task in tasks:
            mine = [r for r in records if r["model"] == model and r["task"] == task.name]
            s = score_task(task, mine, strict)
            rows.append({"model": model, "task": task.name, "kind": task.kind, "policy": policy,
                         "macro_f1": s[policy]["macro_f1"], **s})
    return {"malformed_policy": policy, "strict_iob2": strict, "rows": rows}


def table_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The report as rows of :data:`COLUMNS`."""
    return [[r["model"], r["task"], r["n"], r["malformed"], r["macro_f1"], r["drop"]["macro_f1"], r["wrong"]["macro_f1"],
             r["drop"]["micro_f1"], r["wrong"]["micro_f1"]] for r in report["rows"]]


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    lines = [
        "# ltzGLUE-style tasks: prompted LLMs", "",
        f"Headline `macro_f1`: malformed answers {'left out before scoring' if report['malformed_policy'] == 'drop' else 'scored as wrong'} "
        "(`malformed: " + report["malformed_policy"] + "`); both treatments are shown. Token tasks: entity-level F1 "
        f"(seqeval's definition{', strict IOB2' if report['strict_iob2'] else ''}).", "",
        markdown_table(COLUMNS, table_rows(report)), "",
    ]
    notes = [f"- {r['model']} / {r['task']}: {r['malformed_notes']}" for r in report["rows"] if r["malformed"]]
    if notes:
        lines += ["## Malformed answers by reason", "", *notes, ""]
    return "\n".join(lines)


def run_glue_llm(cfg: JobConfig, backend_factory: BackendFactory | None = None) -> dict[str, Any]:
    """Prompt every ``glue.llm`` model on the selected tasks' test splits and write the report.

    Args:
        cfg: the job (``glue`` with ``llm`` required).
        backend_factory: build backends here instead of Ray actors (tests use scripted models).

    Raises:
        ConfigError: no ``glue.llm`` section.
        InputError: a bad task row (before any model loads).
        LuxitError: a model failed (the others are saved).
    """
    from luxit_ray.runs import RunDir

    if cfg.glue is None or cfg.glue.llm is None:
        raise ConfigError(["glue.llm: the section is missing"], source="job")
    llm = cfg.glue.llm
    tasks = cfg.glue.selected_tasks(llm.tasks)
    rows = {t.name: load_split(t, "test", llm.max_items) for t in tasks}
    llm_dump = llm.model_dump(mode="json")
    task_dumps = [t.model_dump(mode="json") for t in tasks]
    specs = [m.model_dump(mode="json") for m in llm.models]
    if backend_factory is None:
        from luxit_ray.evaluate.runner import _resolve

        specs = [_resolve(s) for s in specs]

    run = RunDir.create(cfg)
    out_dir = run.sub(GLUE_DIR) / LLM_DIR
    samples = out_dir / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    failures: dict[str, str] = {}

    def done(spec: dict[str, Any], result: dict[str, Any]) -> None:
        write_jsonl(samples / f"{spec['name']}.jsonl", result["records"])
        records.extend(result["records"])

    if backend_factory is not None or not llm.use_ray:
        for spec in specs:
            try:
                done(spec, GlueModelEvaluator(spec, llm_dump, task_dumps, backend_factory).run(rows))
            except LuxitError as exc:
                failures[spec["name"]] = str(exc)
    else:
        failures = _run_ray(cfg, specs, llm_dump, task_dumps, rows, done)
    if failures:
        listed = "; ".join(f"{k}: {v}" for k, v in failures.items())
        raise LuxitError(f"evaluate-glue failed for {len(failures)} model(s) (finished ones are in {samples}): {listed}")

    report = build_report(records, tasks, [s["name"] for s in specs], llm.malformed, llm.strict_iob2)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(report), encoding="utf-8")
    counts = {"models": len(specs), "tasks": len(tasks), "records": len(records),
              "malformed": sum(r["predicted"] is None for r in records)}
    run.update_manifest(cfg, STEP, counts)
    return {
        "tables": {"ltzGLUE-style tasks (prompted LLMs)": {"columns": COLUMNS, "rows": table_rows(report)}},
        "lines": [f"report: {out_dir / 'report.md'}", f"samples: {samples}"],
        "report": report, "run_dir": str(run.path),
    }


def _run_ray(cfg: JobConfig, specs: list[dict[str, Any]], llm: dict[str, Any], tasks: list[dict[str, Any]],
             rows: dict[str, list[dict[str, Any]]], done: Callable[[dict[str, Any], dict[str, Any]], None]) -> dict[str, str]:
    import ray

    from luxit_ray.runs import init_ray

    init_ray(cfg)
    rows_ref = ray.put(rows)
    actor_cls = ray.remote(GlueModelEvaluator)
    pending = {}
    for spec in specs:
        cpus = spec.get("num_cpus") or llm["num_cpus_per_model"]
        gpus = llm["num_gpus_per_model"] if spec.get("num_gpus") is None else spec["num_gpus"]
        actor = actor_cls.options(num_cpus=cpus, num_gpus=gpus).remote(spec, llm, tasks)
        pending[actor.run.remote(rows_ref)] = (spec, actor)
    failures: dict[str, str] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        spec, actor = pending.pop(ready[0])
        try:
            done(spec, ray.get(ready[0]))
        except ray.exceptions.RayError as exc:
            failures[spec["name"]] = str(exc).strip().splitlines()[-1]
        finally:
            ray.kill(actor)
    return failures

