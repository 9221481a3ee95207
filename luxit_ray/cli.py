"""The `luxit` command. Thin: parses arguments, imports the work lazily, prints results.

A LuxitError becomes one clear red line and a non-zero exit; anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from luxit_ray.errors import LuxitError

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str) -> Callable[[Callable[[argparse.Namespace], int]], Callable[[argparse.Namespace], int]]:
    """Register a handler for a sub-command."""

    def deco(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = fn
        return fn

    return deco


def _load(args: argparse.Namespace):
    from luxit_ray.config import load_job

    return load_job(args.job, args.overrides)


# ---- prepare / generate / judge / run ---------------------------------------------------


def _print_summary(summary: dict) -> None:
    from luxit_ray.console import console, print_table

    for title, table in summary.get("tables", {}).items():
        print_table(title, table["columns"], table["rows"])
    for line in summary.get("lines", []):
        console.print(line)


@command("validate")
def cmd_validate(args: argparse.Namespace) -> int:
    from luxit_ray.console import console

    cfg = _load(args)
    sections = [k for k, v in cfg.model_dump().items() if v not in (None, [], {})]
    console.print(f"{args.job}: valid ({', '.join(sections)})")
    return 0


@command("prepare")
def cmd_prepare(args: argparse.Namespace) -> int:
    from luxit_ray import pipeline

    _print_summary(pipeline.run_prepare(_load(args)))
    return 0


@command("generate")
def cmd_generate(args: argparse.Namespace) -> int:
    from luxit_ray import pipeline

    _print_summary(pipeline.run_generate(_load(args)))
    return 0


@command("judge")
def cmd_judge(args: argparse.Namespace) -> int:
    from luxit_ray import pipeline

    _print_summary(pipeline.run_judge(_load(args)))
    return 0


@command("run")
def cmd_run(args: argparse.Namespace) -> int:
    from luxit_ray import pipeline

    _print_summary(pipeline.run_all(_load(args)))
    return 0


def _job_parser(sub: argparse._SubParsersAction, name: str, help_: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_)
    p.add_argument("job", type=Path, help="job YAML under jobs/")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. filters.min_chars=1000")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luxit", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    _job_parser(sub, "validate", "validate a job YAML and exit")
    _job_parser(sub, "prepare", "read, filter and sample the corpora into seed articles")
    _job_parser(sub, "generate", "generate instruction/response pairs from the seeds")
    _job_parser(sub, "judge", "score the pairs with the judge(s) and keep or reject them")
    _job_parser(sub, "run", "prepare -> generate -> judge (finished steps are skipped)")
    # --- further commands register their parsers below -----------------------------------
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return COMMANDS[args.command](args)
    except LuxitError as exc:
        from luxit_ray.console import print_error

        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
