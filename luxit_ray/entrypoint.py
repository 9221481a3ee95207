"""Run one job command from its arguments: ``<command> <job.yaml> [dotted overrides...]``.

The layer under both ways a job starts: the ``luxit`` CLI (:mod:`luxit_ray.cli`) and a job
submitted to a cluster (:mod:`luxit_ray.submit`, whose driver runs :func:`main`). Neither imports
the other, and nothing here imports the CLI: this module knows the job commands, loads and
validates the job, runs the work (imported lazily, as the CLI does) and prints its summary.

A :class:`~luxit_ray.errors.LuxitError` becomes one red line and exit code 2 in :func:`main`;
anything else keeps its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from luxit_ray.errors import LuxitError

log = logging.getLogger(__name__)


def _validate(cfg: Any) -> dict[str, Any]:
    sections = [k for k, v in cfg.model_dump().items() if v not in (None, [], {})]
    return {"lines": [f"valid ({', '.join(sections)})"]}


def _prepare(cfg: Any) -> dict[str, Any]:
    from luxit_ray import pipeline

    return pipeline.run_prepare(cfg)


def _generate(cfg: Any) -> dict[str, Any]:
    from luxit_ray import pipeline

    return pipeline.run_generate(cfg)


def _judge(cfg: Any) -> dict[str, Any]:
    from luxit_ray import pipeline

    return pipeline.run_judge(cfg)


def _run(cfg: Any) -> dict[str, Any]:
    from luxit_ray import pipeline

    return pipeline.run_all(cfg)


def _quickstart(cfg: Any) -> dict[str, Any]:
    from luxit_ray.quickstart import run_quickstart

    return run_quickstart(cfg)


def _evaluate(cfg: Any) -> dict[str, Any]:
    from luxit_ray.evaluate.runner import run_evaluate

    return run_evaluate(cfg)


def _train(cfg: Any) -> dict[str, Any]:
    from luxit_ray.train.sweep import run_train

    return run_train(cfg)


def _evaluate_glue(cfg: Any) -> dict[str, Any]:
    from luxit_ray.evaluate.glue_runner import run_glue_llm

    return run_glue_llm(cfg)


def _finetune_encoders(cfg: Any) -> dict[str, Any]:
    from luxit_ray.train.encoders import run_encoders

    return run_encoders(cfg)


def _magpie(cfg: Any) -> dict[str, Any]:
    from luxit_ray.pipeline import run_magpie

    return run_magpie(cfg)


def _export_mixture(cfg: Any) -> dict[str, Any]:
    from luxit_ray.pipeline import run_export_mixtures

    return run_export_mixtures(cfg)


# Command -> the work it runs on a validated job config (returns the CLI summary).
JOB_COMMANDS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "validate": _validate,
    "prepare": _prepare,
    "generate": _generate,
    "judge": _judge,
    "run": _run,
    "quickstart": _quickstart,
    "evaluate": _evaluate,
    "train": _train,
    "evaluate-glue": _evaluate_glue,
    "finetune-encoders": _finetune_encoders,
    "magpie": _magpie,
    "export-mixture": _export_mixture,
}


def run_job(command: str, job: str | Path, overrides: list[str] | None = None) -> tuple[dict[str, Any], int]:
    """Load and validate ``job`` with ``overrides``, then run ``command`` on it.

    Returns:
        The command's summary (``tables``, ``lines``) and the process exit code it calls for
        (1 for a training sweep with a failed model, else 0).

    Raises:
        LuxitError: an unknown command, an invalid job, or any failure the work reports as one.
    """
    if command not in JOB_COMMANDS:
        raise LuxitError(f"unknown job command {command!r}; one of: {', '.join(JOB_COMMANDS)}")
    from luxit_ray.config import load_job

    cfg = load_job(job, list(overrides or []))
    summary = JOB_COMMANDS[command](cfg)
    if command == "validate":
        summary = {"lines": [f"{job}: {line}" for line in summary["lines"]]}
    code = 1 if command in ("train", "finetune-encoders") and summary.get("failed") else 0
    return summary, code


def print_summary(summary: dict[str, Any]) -> None:
    """Print a command's summary: its tables, then its lines."""
    from luxit_ray.console import console, print_table

    for title, table in summary.get("tables", {}).items():
        print_table(title, table["columns"], table["rows"])
    for line in summary.get("lines", []):
        console.print(line)


def main(argv: list[str]) -> int:
    """Run ``<command> <job> [overrides...]`` as a process would: logging set up, the summary
    printed, a LuxitError shown as one line (exit 2).

    Args:
        argv: The command, the job YAML and its dotted overrides (flags before the command:
            ``-v``/``--verbose`` for debug logging).
    """
    args = list(argv)
    verbose = False
    while args and args[0] in ("-v", "--verbose"):
        verbose = True
        args.pop(0)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    from luxit_ray.console import print_error

    if len(args) < 2:
        print_error(f"usage: <{'|'.join(JOB_COMMANDS)}> JOB.yaml [overrides...] (got {argv!r})")
        return 2
    try:
        summary, code = run_job(args[0], args[1], args[2:])
    except LuxitError as exc:
        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    print_summary(summary)
    return code
