"""The whole mission on one machine, for `make quickstart`.

serve a real vLLM server (SmolLM2 on CPU) -> prepare -> generate -> judge -> Magpie (instructions
sampled from SmolLM2's own template, filtered, answered, judged, in a run folder of their own) ->
export both -> draw the mixture of LuxIT and Magpie pairs -> report -> stop the server -> LoRA
fine-tune SmolLM2 on the mixture -> evaluate base vs. adapter on the sample exam. Everything runs in one run folder on the embedded local Ray; each step is the same code a
user runs step by step (`luxit run`, `luxit export`, `luxit report`, `luxit train`, `luxit
evaluate`), composed here in fixed order.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from luxit_ray.config import JobConfig
from luxit_ray.errors import ConfigError

log = logging.getLogger(__name__)


def _check(cfg: JobConfig) -> None:
    missing = [s for s in ("generate", "judge", "export", "train", "evaluate", "serve") if getattr(cfg, s) is None]
    if missing:
        raise ConfigError([f"{s}: the quickstart needs this section" for s in missing], source="job")
    finetuned = [m for m in cfg.evaluate.models if m.group == "fine-tuned"]
    if not finetuned:
        raise ConfigError(["evaluate.models: the quickstart needs one model of group fine-tuned"], source="job")


def _shown(path: str | Path) -> Path:
    """``path`` relative to the working directory when it lies below it (shorter commands)."""
    full = Path(path).resolve()
    try:
        return full.relative_to(Path.cwd())
    except ValueError:
        return full


def next_steps(cfg: JobConfig, run_dir: str | Path, adapter: str | Path) -> list[str]:
    """The commands that put people in the loop on this run folder, ready to paste.

    The review page needs nothing more. The arena needs answers from the base model and the
    fine-tuned adapter, so vLLM is started again from the run's saved config with the adapter
    as a LoRA module under the fine-tuned model's name (plain chat: the JSON-schema flags of
    generation are not needed), and both are asked through the generate step's endpoint. The
    adapter's path is absolute: vLLM runs in the luxit cache folder, not here.
    """
    run = _shown(run_dir)
    tuned = next(m.name for m in cfg.evaluate.models if m.group == "fine-tuned")
    endpoint = cfg.generate.endpoint
    lora = f"serve.extra_args=[--enable-lora, --lora-modules, {tuned}={Path(adapter).resolve()}]"
    return [
        "people in the loop (README: the review page and the model arena):",
        f"  luxit review serve {run}",
        f"  luxit serve local --job {run / 'config.yaml'} '{lora}'",
        f"  luxit arena generate {run} --model base={endpoint} --model tuned={endpoint}:{tuned}",
        f"  luxit serve stop --port {cfg.serve.port}",
        f"  luxit arena serve {run}",
        f"  luxit arena report {run}",
        f"  luxit arena export {run}",
    ]


def mixture_for_training(cfg: JobConfig, run_dir: str | Path, magpie_dir: str | Path | None) -> Path | None:
    """Write the job's first mixture (its part paths may name ``{run}`` and ``{magpie_run}``, the
    two run folders) into the run folder and point ``train.data`` at it; None: the job has none."""
    from luxit_ray.dataset.mixture import export_mixture

    if not cfg.mixtures:
        return None
    name, mix = next(iter(cfg.mixtures.items()))
    for part in mix.parts:
        part.path = part.path.format(run=Path(run_dir).resolve(), magpie_run=Path(magpie_dir or "").resolve())
    ecfg = cfg.export
    folder = export_mixture(run_dir, name, mix, licence=ecfg.licence if ecfg else "other",
                            languages=ecfg.languages if ecfg else None)
    cfg.train.data = str(folder.resolve())
    return folder


def held_out_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Validation loss before and after fine-tuning, per trained model (the evidence it learned).

    Both figures come from the training worker: the same held-out conversations, tokens and
    assistant-only label masks as training, before the first update and after the last.
    """
    out = []
    for r in rows:
        before, after = r.get("eval_loss_before"), r.get("eval_loss")
        validation = ((r.get("data") or {}).get("validation") or {})
        out.append([
            r["model"], validation.get("examples"), validation.get("label_tokens"), r.get("steps"),
            None if before is None else round(before, 4), None if after is None else round(after, 4),
            None if before is None or after is None else round(after - before, 4),
        ])
    return {"columns": ["model", "validation examples", "label tokens", "steps", "loss before", "loss after", "change"],
            "rows": out}


def run_quickstart(cfg: JobConfig) -> dict[str, Any]:
    """Run every step in one run folder and return a summary for the CLI."""
    from luxit_ray import pipeline, runs, serve
    from luxit_ray.dataset.export import export_run
    from luxit_ray.evaluate.runner import run_evaluate
    from luxit_ray.report import build_report
    from luxit_ray.train.sweep import run_train

    _check(cfg)
    t0 = time.monotonic()
    timings: list[list[Any]] = []
    tables: dict[str, Any] = {}
    lines: list[str] = []

    def step(name: str, t: float) -> None:
        timings.append([name, round(time.monotonic() - t, 1)])

    t = time.monotonic()
    with serve.local_server(cfg.serve) as handle:
        step("serve: vLLM ready", t)
        log.info("local vLLM server at %s", handle.base_url)
        t = time.monotonic()
        summary = pipeline.run_all(cfg)
        step("prepare -> generate -> judge", t)
        magpie = None
        if cfg.magpie is not None:
            t = time.monotonic()
            magpie = pipeline.run_magpie(cfg)
            step("magpie: sample -> filter -> answer -> judge", t)
            tables.update(magpie.get("tables", {}))
    tables.update(summary.get("tables", {}))
    run = runs.RunDir(summary["run_dir"])

    t = time.monotonic()
    exported = export_run(run.path, cfg.export)
    magpie_export = export_run(magpie["run_dir"], cfg.export) if magpie else None
    mixture = mixture_for_training(cfg, run.path, magpie["run_dir"] if magpie else None)
    step("export", t)
    t = time.monotonic()
    report = build_report(run.path)
    step("report", t)

    t = time.monotonic()
    trained = run_train(cfg)
    step("train (LoRA)", t)
    tables.update(trained.get("tables", {}))
    tables["held-out loss (validation split), before and after fine-tuning"] = held_out_table(trained.get("rows", []))
    adapters = [r["adapter"] for r in trained.get("rows", []) if r.get("adapter")]
    if not adapters:
        raise ConfigError(["train: the sweep wrote no adapter"], source="quickstart")

    t = time.monotonic()
    for spec in cfg.evaluate.models:
        if spec.group == "fine-tuned":
            spec.adapter = adapters[0]
    evaluated = run_evaluate(cfg)
    step("evaluate", t)
    tables.update(evaluated.get("tables", {}))
    timings.append(["total", round(time.monotonic() - t0, 1)])
    tables["quickstart: wall time per step (s)"] = {"columns": ["step", "seconds"], "rows": timings}

    lines += [
        f"run folder: {run.path}",
        f"dataset:    {Path(exported.path)} ({exported.rows} pairs)",
        *([f"magpie:     {Path(magpie_export.path)} ({magpie_export.rows} pairs)"] if magpie_export else []),
        *([f"mixture:    {mixture} (trained on; origins in its README.md)"] if mixture else []),
        f"report:     {report.markdown}",
        f"plots:      {', '.join(str(p) for p in report.plots)}",
        f"adapter:    {adapters[0]}",
        f"evaluation: {run.sub(runs.EVALUATION)}",
        f"manifest:   {run.path / runs.MANIFEST_FILE}",
        *next_steps(cfg, run.path, adapters[0]),
    ]
    return {"run_dir": str(run.path), "tables": tables, "lines": lines}
