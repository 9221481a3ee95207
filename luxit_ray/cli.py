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
    from luxit_ray.entrypoint import print_summary

    print_summary(summary)


def _job_command(args: argparse.Namespace) -> int:
    """The commands that run a job YAML: the work lives in :mod:`luxit_ray.entrypoint`, which a
    submitted job's driver runs too."""
    from luxit_ray.entrypoint import run_job

    summary, code = run_job(args.command, args.job, args.overrides)
    _print_summary(summary)
    return code


for _name in ("validate", "prepare", "generate", "judge", "run", "quickstart"):
    command(_name)(_job_command)


# ---- export / review / report (dataset, human check, the paper's tables) ---------------


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    from luxit_ray.config.base import apply_overrides, validate
    from luxit_ray.config.export import ExportConfig
    from luxit_ray.dataset.export import export_run
    from luxit_ray.runs import CONFIG_FILE, RunDir

    base = RunDir(args.run_dir).config().export if (args.run_dir / CONFIG_FILE).is_file() else None
    data = (base or ExportConfig()).model_dump(mode="json")
    overrides = [o.removeprefix("export.") for o in args.overrides]
    ecfg = validate(ExportConfig, apply_overrides(data, overrides), source="export overrides")
    _print_summary(export_run(args.run_dir, ecfg).summary())
    return 0


@command("review")
def cmd_review(args: argparse.Namespace) -> int:
    from luxit_ray import review

    if args.review_command == "serve":
        return _serve_review(args)
    if args.review_command == "export":
        result = review.export_review_sheet(args.run_dir, n=args.n, seed=args.seed, out=args.out, force=args.force)
    else:
        result = review.import_review_sheet(args.run_dir, args.sheet)
    _print_summary(result.summary())
    return 0


def _serve_review(args: argparse.Namespace) -> int:
    from luxit_ray.console import console
    from luxit_ray.web.review_app import ReviewSession, create_review_app
    from luxit_ray.web.server import resolve_token, run_uvicorn, server_url

    token = resolve_token(args.host, args.token)
    session = ReviewSession(args.run_dir, n=args.n, seed=args.seed, sheet=args.sheet, show_judge=args.show_judge)
    app = create_review_app(session, host=args.host, token=token)
    if session.drew_sample:
        console.print(f"drew the review sample ({session.n} pairs, seed {args.seed}) as `luxit review export` does")
    console.print(f"review {session.n} pairs at {server_url(args.host, args.port, token)}")
    _print_bind_note(args.host)
    console.print(f"answers: {session.log.path}; import one reviewer's sheet with "
                  f"`luxit review import {args.run_dir} {session.web_dir}/sheet-NAME.jsonl`")
    run_uvicorn(app, args.host, args.port)
    return 0


# ---- arena (blind pairwise votes between models) -----------------------------------------


@command("arena")
def cmd_arena(args: argparse.Namespace) -> int:
    from luxit_ray import arena

    if args.arena_command == "generate":
        result = arena.generate_answers(args.run_dir, args.model, prompt_file=args.prompts, n=args.n, seed=args.seed,
                                        max_tokens=args.max_tokens, system=args.system)
    elif args.arena_command == "serve":
        from luxit_ray.console import console
        from luxit_ray.web.arena_app import create_arena_app
        from luxit_ray.web.server import resolve_token, run_uvicorn, server_url

        token = resolve_token(args.host, args.token)
        store = arena.ArenaStore(args.run_dir)
        app = create_arena_app(store, host=args.host, token=token)
        console.print(f"arena: {len(store.models)} models, {len(store.battles)} pairs to vote on, at "
                      f"{server_url(args.host, args.port, token)}")
        _print_bind_note(args.host)
        console.print(f"votes: {store.log.path}")
        run_uvicorn(app, args.host, args.port)
        return 0
    elif args.arena_command == "report":
        result = arena.arena_report(args.run_dir, prior_sd=args.prior_sd)
    else:
        result = arena.export_preferences(args.run_dir, aspect=args.aspect, out=args.out)
    _print_summary(result.summary())
    return 0


def _print_bind_note(host: str) -> None:
    from luxit_ray.console import console
    from luxit_ray.web.server import is_loopback

    if not is_loopback(host):
        console.print(f"bound to {host}: from another machine, use this machine's address in the same URL (token included)")


def _web_args(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; any other needs a token)")
    p.add_argument("--port", type=int, default=port, help=f"TCP port (default {port})")
    p.add_argument("--token", default=None, help="access token (default: generated when --host is not the loopback)")


@command("report")
def cmd_report(args: argparse.Namespace) -> int:
    from luxit_ray.report import build_report

    _print_summary(build_report(args.run_dir).summary())
    return 0


# ---- evaluate (exam / task harness) ------------------------------------------------------


command("evaluate")(_job_command)
command("evaluate-glue")(_job_command)
command("finetune-encoders")(_job_command)


@command("report-grid")
def cmd_report_grid(args: argparse.Namespace) -> int:
    from luxit_ray.config import load_job
    from luxit_ray.evaluate.grid_report import write_grid_report

    cfg = load_job(args.job) if args.job else None
    _print_summary(write_grid_report(args.run_dir, cfg, prior_sd=args.prior_sd))
    return 0


@command("build-headlines")
def cmd_build_headlines(args: argparse.Namespace) -> int:
    from luxit_ray.evaluate.headlines import build_headline_task

    out = args.out or args.run_dir / "glue" / "headlines"
    task = build_headline_task(args.run_dir, out, seed=args.seed, max_examples=args.max_examples,
                               fractions=tuple(args.fractions))
    _print_summary(task.summary())
    return 0


@command("export-lm-eval")
def cmd_export_lm_eval(args: argparse.Namespace) -> int:
    from luxit_ray.console import console
    from luxit_ray.errors import ConfigError
    from luxit_ray.evaluate.lm_eval_export import export_lm_eval

    cfg = _load(args)
    if cfg.evaluate is None:
        raise ConfigError(["evaluate: the section is missing"], source=str(args.job))
    result = export_lm_eval(cfg.evaluate, args.out, prefix=args.prefix)
    console.print(f"lm-eval tasks in {result['dir']}: groups {result['groups']}, tasks {result['tasks']}")
    console.print(f"run: lm_eval --include_path {result['dir']} --tasks {','.join(result['entry_points'])} --apply_chat_template ...")
    console.print(f"one command per model, prompted as in training (thinking, system prompt): {result['dir']}/runs.json")
    return 0


# ---- train (LoRA sweep on Ray Train) / merge ----------------------------------------------


command("train")(_job_command)
command("magpie")(_job_command)
command("export-mixture")(_job_command)


@command("merge")
def cmd_merge(args: argparse.Namespace) -> int:
    from luxit_ray.console import console
    from luxit_ray.train.merge import merge_adapter

    out = merge_adapter(str(args.adapter_dir), str(args.out), base=str(args.base) if args.base else None)
    console.print(f"merged model written to {out}")
    return 0


# ---- serve (local vLLM server) / submit, status, stop, logs (Ray job server) -------------


@command("serve")
def cmd_serve(args: argparse.Namespace) -> int:
    from luxit_ray import serve
    from luxit_ray.config.serve import ServeConfig
    from luxit_ray.console import console

    if args.serve_command == "stop":
        ports = [args.port] if args.port is not None else [h.port for h in serve.list_servers()]
        if not ports:
            console.print("no luxit vLLM server is recorded as running")
        for port in ports:
            stopped = serve.stop_local_server(port)
            console.print(f"port {port}: {'stopped' if stopped else 'no server was running'}")
        return 0
    base = _load(args).serve if args.job else None
    data = (base or ServeConfig()).model_dump()
    for key in ("port", "model", "max_model_len", "startup_timeout_s", "venv"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    handle = serve.start_local_server(ServeConfig(**data))
    console.print(f"vLLM serves {handle.model!r} at {handle.base_url} (pid {handle.pid}, ready after {handle.ready_after_s:.0f} s)")
    console.print(f"endpoint: base_url={handle.base_url} model={handle.model} structured_output=json_schema")
    console.print(f"log: {handle.log_path}")
    console.print(f"stop it with: luxit serve stop --port {handle.port}")
    return 0


@command("submit")
def cmd_submit(args: argparse.Namespace) -> int:
    import json

    from luxit_ray import submit
    from luxit_ray.console import console, print_error

    plan = submit.plan_submission(
        args.job, args.overrides, address=args.address, working_dir=args.working_dir, pip=args.pip,
        env_names=args.env, allow_missing_secrets=args.allow_missing_secrets,
        submission_id=args.submission_id, resolve=not args.dry_run,
    )
    if args.dry_run:
        console.print(f"entrypoint: {plan.entrypoint}")
        console.print("runtime_env: " + json.dumps(plan.runtime_env, indent=2), markup=False)
        console.print("metadata: " + json.dumps(plan.masked_metadata(), indent=2), markup=False)
        return 0
    job_id = submit.submit(plan)
    if args.no_wait:
        console.print(job_id, markup=False)
        return 0
    console.print(f"submitted {job_id} to {plan.address}; following its logs (Ctrl-C stops following, not the job)")
    try:
        status = submit.follow(plan.address, job_id, lambda line: console.print(line, markup=False, soft_wrap=True))
    except KeyboardInterrupt:
        console.print(f"stopped following; the job keeps running: luxit status {job_id} / luxit stop {job_id}")
        return 130
    info = submit.job_info(plan.address, job_id)
    if status == "SUCCEEDED":
        console.print(f"job {job_id} SUCCEEDED")
    else:
        print_error(f"job {job_id} {status}: {info['message']}")
    return submit.exit_code(status)


def _job_address(args: argparse.Namespace) -> str:
    import os

    from luxit_ray.submit import resolve_address

    return resolve_address(args.address or os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS"))


@command("status")
def cmd_status(args: argparse.Namespace) -> int:
    from luxit_ray import submit
    from luxit_ray.console import print_table

    info = submit.job_info(_job_address(args), args.job_id)
    rows = [[k, str(v)] for k, v in info.items() if k != "metadata"] + [[k, v] for k, v in info["metadata"].items()]
    print_table(f"job {args.job_id}", ["field", "value"], rows)
    return 0 if info["status"] in ("SUCCEEDED", "RUNNING", "PENDING") else 1


@command("stop")
def cmd_stop(args: argparse.Namespace) -> int:
    from luxit_ray import submit
    from luxit_ray.console import console

    status = submit.stop(_job_address(args), args.job_id, wait_s=args.wait)
    console.print(f"job {args.job_id}: {status}")
    return 0


@command("logs")
def cmd_logs(args: argparse.Namespace) -> int:
    from luxit_ray import submit
    from luxit_ray.console import console

    address = _job_address(args)
    if args.follow:
        status = submit.follow(address, args.job_id, lambda line: console.print(line, markup=False, soft_wrap=True))
        return submit.exit_code(status)
    console.print(submit.logs(address, args.job_id), markup=False, soft_wrap=True, end="")
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
    _job_parser(sub, "quickstart", "the whole mission on this machine: serve, run, export, report, train, evaluate")
    _job_parser(sub, "magpie", "Magpie: sample instructions from a self-hosted model's template, filter, answer, judge")
    _job_parser(sub, "export-mixture", "draw the job's mixtures (pairs, other sets, raw text) into RUN_DIR/mixture-<name>")
    # --- further commands register their parsers below -----------------------------------
    p = sub.add_parser("export", help="write the kept pairs as a dataset (Parquet/JSONL, card) into RUN_DIR/export")
    p.add_argument("run_dir", type=Path, help="run folder whose judge step has finished")
    p.add_argument("overrides", nargs="*", help="export settings, e.g. splits.validation_fraction=0.05 formats=[parquet]")
    p = sub.add_parser("review", help="human review: draw a sheet to score, or import a scored sheet")
    rsub = p.add_subparsers(dest="review_command", required=True)
    rp = rsub.add_parser("export", help="draw a seeded, source-stratified sample into CSV/JSONL sheets")
    rp.add_argument("run_dir", type=Path, help="run folder whose judge step has finished")
    rp.add_argument("--n", type=int, default=100, help="pairs to sample (default 100)")
    rp.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    rp.add_argument("--out", type=Path, default=None, help="folder for the sheets (default RUN_DIR/review)")
    rp.add_argument("--force", action="store_true", help="overwrite an existing sheet and key")
    rp = rsub.add_parser("import", help="validate a scored sheet and report agreement with the judge")
    rp.add_argument("run_dir", type=Path, help="run folder the sheet was drawn from")
    rp.add_argument("sheet", type=Path, help="the scored .csv or .jsonl sheet")
    rp = rsub.add_parser("serve", help="score the review sample in a browser (keyboard first, saved as you go)")
    rp.add_argument("run_dir", type=Path, help="run folder whose judge step has finished")
    rp.add_argument("--n", type=int, default=100, help="pairs to sample when no sheet was drawn yet (default 100)")
    rp.add_argument("--seed", type=int, default=0, help="seed of that draw (default 0)")
    rp.add_argument("--sheet", type=Path, default=None, help="review the rows of this existing sheet, in its order")
    rp.add_argument("--show-judge", action="store_true", help="show the judge's scores after each saved pair (calibration)")
    _web_args(rp, 8780)
    p = sub.add_parser("arena", help="blind pairwise model arena: generate answers, vote, report, export preferences")
    asub = p.add_subparsers(dest="arena_command", required=True)
    ap = asub.add_parser("generate", help="answer the prompts with every model, through the request cache")
    ap.add_argument("run_dir", type=Path, help="run folder (prompts: its export's validation split)")
    ap.add_argument("--model", action="append", required=True, metavar="NAME=ENDPOINT[:MODEL]",
                    help="a contestant: an endpoint of the run's config (optionally another served model, e.g. a "
                         "LoRA adapter), or NAME=URL#MODEL; repeat for each model (two or more)")
    ap.add_argument("--prompts", type=Path, default=None, help="prompt file (.txt lines or .jsonl with 'prompt') instead of the validation split")
    ap.add_argument("--n", type=int, default=None, help="use a seeded sample of this many prompts")
    ap.add_argument("--seed", type=int, default=0, help="seed of the prompt sample (default 0)")
    ap.add_argument("--max-tokens", type=int, default=None, help="output token budget per answer")
    ap.add_argument("--system", default=None, help="system message sent before every prompt")
    ap = asub.add_parser("serve", help="vote in a browser: two answers side by side, models hidden")
    ap.add_argument("run_dir", type=Path, help="run folder with arena answers")
    _web_args(ap, 8781)
    ap = asub.add_parser("report", help="Bradley-Terry ranking with posterior intervals (a prior keeps few votes modest), "
                                             "win rates, position bias, voter agreement")
    ap.add_argument("run_dir", type=Path, help="run folder with arena votes")
    ap.add_argument("--prior-sd", type=float, default=1.0,
                    help="standard deviation of the prior on each model's log-strength (default 1.0; smaller: "
                         "more votes needed before two models are told apart)")
    ap = asub.add_parser("export", help="write the decisive votes as a DPO preference dataset (Parquet + JSONL); "
                                             "the votes on one pair of answers are pooled: kept when one answer has "
                                             "a strict majority, dropped on a tie (counts printed)")
    ap.add_argument("run_dir", type=Path, help="run folder with arena votes")
    ap.add_argument("--aspect", default="overall", help="content, language or overall (default overall)")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default RUN_DIR/arena/preferences)")
    p = sub.add_parser("report", help="write the run report (tables as Markdown/JSON, PNG plots) and print it")
    p.add_argument("run_dir", type=Path, help="run folder")
    _job_parser(sub, "evaluate", "score models on the exam and tasks (Table 4 layout, invalid rates, deltas)")
    _job_parser(sub, "evaluate-glue", "prompt LLMs on the glue tasks (label set in the prompt, malformed outputs counted)")
    _job_parser(sub, "finetune-encoders", "fine-tune encoders on the glue tasks on Ray Train, one run per seed")
    p = sub.add_parser("report-grid", help="put a train.grid's variants side by side in the evaluation report: exam, "
                                           "tasks, arena, and what each mixture part adds")
    p.add_argument("run_dir", type=Path, help="run folder the grid was trained and evaluated in")
    p.add_argument("--job", type=Path, default=None,
                   help="job YAML with train.grid and its mixture (default: the run's config.yaml)")
    p.add_argument("--prior-sd", type=float, default=None, help="arena prior, as `luxit arena report --prior-sd` (default 1.0)")
    p = sub.add_parser("build-headlines", help="build the headline acceptability task from a run's news seeds")
    p.add_argument("run_dir", type=Path, help="run folder whose prepare step wrote seeds/")
    p.add_argument("--out", type=Path, default=None, help="folder for the task files (default RUN_DIR/glue/headlines)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffles (default 0)")
    p.add_argument("--max-examples", type=int, default=None, help="use at most this many articles")
    p.add_argument("--fractions", type=float, nargs=3, default=[0.7, 0.1, 0.2], metavar=("TRAIN", "VAL", "TEST"),
                   help="split shares (default 0.7 0.1 0.2)")
    p = _job_parser(sub, "export-lm-eval", "write the exam and tasks as lm-evaluation-harness tasks")
    p.add_argument("--out", type=Path, required=True, help="folder for the task YAMLs and data (lm_eval --include_path)")
    p.add_argument("--prefix", default="luxit_", help="task-name prefix (default luxit_)")
    p = _job_parser(sub, "train", "LoRA-fine-tune the job's models concurrently on Ray Train (reruns resume)")
    p = sub.add_parser("merge", help="merge a LoRA adapter into its base model and save a standalone model")
    p.add_argument("adapter_dir", help="adapter folder or URI (RUN_DIR/train/<model>/adapter)")
    p.add_argument("out", help="output folder or URI for the merged model")
    p.add_argument("--base", type=Path, default=None, help="base model folder (default: the one the adapter records)")
    # serve / submit / status / stop / logs
    p = sub.add_parser("serve", help="run the local vLLM OpenAI-compatible server (SmolLM2 on CPU by default)")
    ssub = p.add_subparsers(dest="serve_command", required=True)
    sp = ssub.add_parser("local", help="start vLLM on 127.0.0.1 and return once it answers /v1/models")
    sp.add_argument("--job", type=Path, default=None, help="take settings from this job's `serve` section")
    sp.add_argument("overrides", nargs="*", help="dotted overrides of the job (with --job)")
    sp.add_argument("--port", type=int, default=None, help="TCP port (default 8000; 0 picks a free one)")
    sp.add_argument("--model", default=None, help="`smollm2` (default) or a local model folder")
    sp.add_argument("--max-model-len", type=int, default=None, help="context window in tokens (default 4096)")
    sp.add_argument("--startup-timeout-s", type=float, default=None, help="seconds to wait for start-up (default 600)")
    sp.add_argument("--venv", default=None, help="virtualenv with vllm (default .venv-vllm next to the repo)")
    sp = ssub.add_parser("stop", help="stop a server started by `luxit serve local` (all of them without --port)")
    sp.add_argument("--port", type=int, default=None, help="port of the server to stop")
    p = sub.add_parser("submit", help="validate a job YAML and run it on a Ray cluster via the job server")
    p.add_argument("job", type=Path, help="job YAML (inside the working dir, e.g. jobs/...)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, passed on to the job")
    p.add_argument("--address", default=None, help="job server, e.g. http://HEAD:8265 (default: RAY_ADDRESS, then run.ray.address)")
    p.add_argument("--no-wait", action="store_true", help="print the job id and return without following the logs")
    p.add_argument("--pip", action="store_true", help="install the project's dependencies via runtime_env (image lacks them)")
    p.add_argument("--working-dir", type=Path, default=None, help="folder uploaded as the job's working dir (default: the repo)")
    p.add_argument("--env", action="append", default=[], metavar="NAME", help="also forward this environment variable (repeatable)")
    p.add_argument("--allow-missing-secrets", action="store_true", help="submit even if an api_key_env variable is unset here")
    p.add_argument("--submission-id", default=None, help="job id to use (default luxit-<name>-<time>-<hex>)")
    p.add_argument("--dry-run", action="store_true", help="print the entrypoint and the masked runtime_env; submit nothing")
    for name, help_ in (("status", "show a submitted job's status"), ("stop", "stop a submitted job"), ("logs", "print a submitted job's logs")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("job_id", help="submission id printed by `luxit submit`")
        p.add_argument("--address", default=None, help="job server, e.g. http://HEAD:8265 (default: RAY_ADDRESS)")
        if name == "stop":
            p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the job to end (default 60)")
        if name == "logs":
            p.add_argument("--follow", "-f", action="store_true", help="stream the logs until the job ends")
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
