"""Export the exam and tasks as lm-evaluation-harness tasks (YAML + JSONL + a small utils.py).

Layout of the output folder (pass it to lm-eval with ``--include_path``)::

    utils.py                     data loader (relative to this folder) + scoring functions
    <prefix><exam>.yaml          group: the exam, accuracy aggregated over its levels
    <prefix><exam>_<level>.yaml  one multiple_choice task per level, data <...>.jsonl
    <prefix><task>.yaml          one multiple_choice task per classification task

Each document carries ``query`` (the same user message as our log-likelihood scorer),
``choices`` and ``gold``. Metrics: ``acc`` (raw log-likelihood), ``acc_norm`` (per-character
normalised: our ``loglik`` scorer with ``length_norm: char``) and, for tasks, ``macro_f1`` over
the per-character-normalised predictions. Run with ``--apply_chat_template`` for chat models so
the question is asked in the same chat format as here; ``query_plain`` holds the prompt our
harness uses for models without a chat template.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from luxit_ray.config.evaluate import EvaluateConfig
from luxit_ray.evaluate import chat
from luxit_ray.evaluate.items import KIND_EXAM, EvalItem
from luxit_ray.evaluate.runner import load_items
from luxit_ray.evaluate.scorers import LOGLIK, user_message
from luxit_ray.textio import write_jsonl

log = logging.getLogger(__name__)

UTILS_PY = '''"""Written by luxit-ray: loads the JSONL beside this file and scores like luxit's loglik scorer."""

import json
from pathlib import Path

import datasets

HERE = Path(__file__).parent


def load_split(data_file=None, **_):
    """The JSONL next to this file as the `test` split (no download, no cache)."""
    with open(HERE / data_file, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def _argmax(values):
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _predictions(doc, results):
    lls = [r[0] if isinstance(r, (tuple, list)) else r for r in results]
    pred_norm = _argmax([ll / max(1, len(c)) for ll, c in zip(lls, doc["choices"])])
    return int(doc["gold"]), _argmax(lls), pred_norm


def process_results(doc, results):
    """acc (raw log-likelihood) and acc_norm (per character of the option)."""
    gold, pred, pred_norm = _predictions(doc, results)
    return {"acc": float(pred == gold), "acc_norm": float(pred_norm == gold)}


def process_results_f1(doc, results):
    """As process_results, plus the (gold, prediction) pair macro-F1 aggregates."""
    gold, pred, pred_norm = _predictions(doc, results)
    return {"acc": float(pred == gold), "acc_norm": float(pred_norm == gold), "macro_f1": (gold, pred_norm)}


def macro_f1(items):
    """Macro-F1 over the classes seen as gold or prediction (as luxit-ray reports it)."""
    golds = [g for g, _ in items]
    preds = [p for _, p in items]
    scores = []
    for c in sorted(set(golds) | set(preds)):
        tp = sum(1 for g, p in zip(golds, preds) if g == c and p == c)
        n_pred = sum(1 for p in preds if p == c)
        n_gold = sum(1 for g in golds if g == c)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        scores.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(scores) / len(scores) if scores else 0.0
'''

_ACC = [
    {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
]


class _FunctionTag(str):
    """A string dumped as an lm-eval ``!function`` tag."""


def _function_representer(dumper: yaml.SafeDumper, data: _FunctionTag) -> yaml.Node:
    return dumper.represent_scalar("!function", str(data))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_FunctionTag, _function_representer)


def _doc(item: EvalItem, prompt: dict[str, Any]) -> dict[str, Any]:
    query = user_message(item, prompt, LOGLIK)
    return {
        "id": item.id,
        "level": item.level,
        "category": item.category,
        "query": query,
        "query_plain": f"{query}\n\n{prompt['answer_prefix']}",
        "choices": list(item.choices),
        "gold": item.answer,
    }


def _task_yaml(name: str, data_file: str, with_f1: bool) -> dict[str, Any]:
    metrics = [dict(m) for m in _ACC]
    if with_f1:
        metrics.append({"metric": "macro_f1", "aggregation": _FunctionTag("utils.macro_f1"), "higher_is_better": True})
    return {
        "task": name,
        "custom_dataset": _FunctionTag("utils.load_split"),
        "dataset_kwargs": {"data_file": data_file},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "query",
        "doc_to_choice": "choices",
        "doc_to_target": "gold",
        "target_delimiter": " ",
        "process_results": _FunctionTag("utils.process_results_f1" if with_f1 else "utils.process_results"),
        "metric_list": metrics,
        "metadata": {"version": 1.0},
    }


def _write(path: Path, data: Any) -> None:
    path.write_text(yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True), encoding="utf-8")


def lm_eval_model_runs(settings: EvaluateConfig, task_dir: str | Path, entry_points: list[str]) -> list[dict[str, Any]]:
    """One ``lm_eval`` command per configured model, prompted the way training (and our harness) does.

    The chat setup comes from :func:`luxit_ray.evaluate.chat.resolve_setup` (config, else the
    ``luxit_train.json`` beside the adapter): Qwen3 gets ``enable_thinking`` in ``model_args`` with
    training's value (lm-eval's HF model renders the chat template with it), the recipe's system
    prompt goes to ``--system_instruction``, and chat models get ``--apply_chat_template``.
    """
    runs = []
    for m in settings.models:
        setup = chat.resolve_setup(m.path, m.adapter, m.family, m.thinking, settings.thinking)
        args: dict[str, Any] = {"pretrained": m.path}
        if m.adapter:
            args["peft"] = m.adapter
        args["dtype"] = "bfloat16" if settings.dtype == "auto" else settings.dtype
        if setup.family == "qwen3":
            args["enable_thinking"] = setup.thinking
        model_args = ",".join(f"{k}={v}" for k, v in args.items())
        argv = ["lm_eval", "--model", "hf", "--model_args", model_args, "--tasks", ",".join(entry_points),
                "--include_path", str(task_dir)]
        if m.group != "base":
            argv.append("--apply_chat_template")
            if setup.system_prompt:
                argv += ["--system_instruction", setup.system_prompt]
        runs.append({"name": m.name, "model_args": model_args, "argv": argv})
    return runs


def export_lm_eval(settings: EvaluateConfig, out_dir: str | Path, prefix: str = "luxit_") -> dict[str, Any]:
    """Write the configured exam and tasks as lm-eval tasks into ``out_dir``.

    Returns:
        ``{"dir", "groups", "tasks", "entry_points", "files", "runs"}``: entry points are what to
        pass to ``lm_eval --tasks`` (the exam group and each classification task); ``runs`` (also
        written to ``runs.json``) holds one ``lm_eval`` command per model (see
        :func:`lm_eval_model_runs`).

    Raises:
        InputError: a bad exam or task row.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prompt = settings.prompt.model_dump()
    items = load_items(settings)
    files: list[Path] = [out / "utils.py"]
    (out / "utils.py").write_text(UTILS_PY, encoding="utf-8")
    groups: list[str] = []
    tasks: list[str] = []
    entry_points: list[str] = []

    exam_items = [it for it in items if it.kind == KIND_EXAM]
    if exam_items and settings.exam is not None:
        group = f"{prefix}{settings.exam.name}"
        children = []
        for level in settings.exam.levels:
            rows = [_doc(it, prompt) for it in exam_items if it.level == level]
            if not rows:
                continue
            name = f"{group}_{level.lower()}"
            write_jsonl(out / f"{name}.jsonl", rows)
            _write(out / f"{name}.yaml", _task_yaml(name, f"{name}.jsonl", with_f1=False))
            files += [out / f"{name}.jsonl", out / f"{name}.yaml"]
            children.append(name)
        _write(
            out / f"{group}.yaml",
            {
                "group": group,
                "task": children,
                "aggregate_metric_list": [
                    {"metric": "acc", "aggregation": "mean", "weight_by_size": True},
                    {"metric": "acc_norm", "aggregation": "mean", "weight_by_size": True},
                ],
                "metadata": {"version": 1.0},
            },
        )
        files.append(out / f"{group}.yaml")
        groups.append(group)
        entry_points.append(group)
        tasks += children

    for task in settings.tasks:
        rows = [_doc(it, prompt) for it in items if it.source == task.name]
        name = f"{prefix}{task.name}"
        write_jsonl(out / f"{name}.jsonl", rows)
        _write(out / f"{name}.yaml", _task_yaml(name, f"{name}.jsonl", with_f1=True))
        files += [out / f"{name}.jsonl", out / f"{name}.yaml"]
        tasks.append(name)
        entry_points.append(name)
    runs = lm_eval_model_runs(settings, out, entry_points)
    (out / "runs.json").write_text(json.dumps(runs, indent=2, ensure_ascii=False), encoding="utf-8")
    files.append(out / "runs.json")
    log.info("wrote %d lm-eval task(s) and %d group(s) to %s", len(tasks), len(groups), out)
    return {
        "dir": str(out), "groups": groups, "tasks": tasks, "entry_points": entry_points,
        "files": [str(f) for f in files], "runs": runs,
    }
