"""The only place stages are composed, in fixed order: prepare -> generate -> judge.

Each step reads the Parquet the step before it wrote, runs on Ray Data (embedded local Ray by
default, a cluster via RAY_ADDRESS), writes its own Parquet plus a completion marker, and records
its counts in the run's manifest.json. A finished step is skipped on a rerun of the same run id.

Every ``run_*`` function returns a summary dict for the CLI: ``{"run_dir": str, "tables":
{title: {"columns": [...], "rows": [[...]]}}, "lines": [str, ...]}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from luxit_ray import runs, schema
from luxit_ray.config import JobConfig

log = logging.getLogger(__name__)


# ==== prepare (owned by the lead) ========================================================

DOCUMENTS = "documents"  # parsed documents of every source, before filtering (all rows kept)
SCREENED = "_screened"  # documents after boilerplate removal and the row filters, before dedup
FILTERED = "filtered"  # every document with drop_filter/drop_reason set by the filters
# CPUs reserved per screening actor (one actor per CPU). At 1 CPU each the actors take every CPU
# of a 2-CPU Ray and the read tasks feeding them wait for ever ("backpressured: ResourceBudget");
# half a CPU each leaves room for the tasks (an actor still uses a whole core when it is free).
ACTOR_CPUS = 0.5
BOILERPLATE_FILE = "boilerplate.json"  # what learning found (kept for a resumed run's manifest)


class _StepClock:
    """Wall seconds of each named step of a run (recorded in the manifest, logged as they end)."""

    def __init__(self, run_step: str) -> None:
        self.run_step = run_step
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        t = time.monotonic()
        yield
        self.seconds[name] = round(time.monotonic() - t, 1)
        log.info("%s: %s took %.1f s", self.run_step, name, self.seconds[name])


def _io_task_cpus() -> float | None:
    """CPUs for the read and write tasks around the screening actors (None: Ray's 1).

    Ray Data spreads the actors (one per CPU at ACTOR_CPUS each) over the nodes, so a node keeps
    about half its CPUs free. A node with a single CPU keeps half a CPU, where a whole-CPU task
    never fits: the two-node test (1 CPU each) hung with nothing running. There the tasks take
    half a CPU too; elsewhere they keep a whole one, since oversubscribing a 2-CPU machine cost
    ~15% more CPU time for the same work.
    """
    import ray

    cpus = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    return ACTOR_CPUS if any(0 < c < 2 for c in cpus) else None


def _write(ds, path, num_cpus: float | None = None) -> None:
    """Replace a step's Parquet folder with the dataset's rows (write tasks of ``num_cpus``)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    ds.write_parquet(str(path), ray_remote_args={"num_cpus": num_cpus} if num_cpus is not None else None)


def _read_columns(path, columns: list[str]):
    """A few columns of a written Parquet folder as one pyarrow Table (no Ray needed)."""
    import pyarrow.dataset as pads

    return pads.dataset(str(path), format="parquet").to_table(columns=columns)


def _count_by(table, *keys: str) -> dict:
    """Nested counts ``{k1: {k2: n}}`` (or ``{k1: n}``) over a pyarrow table's key columns."""
    out: dict = {}
    if table.num_rows == 0:
        return out
    grouped = table.group_by(list(keys)).aggregate([([], "count_all")]).to_pylist()
    for row in grouped:
        node = out
        for k in keys[:-1]:
            node = node.setdefault(row[k], {})
        node[row[keys[-1]]] = node.get(row[keys[-1]], 0) + row["count_all"]
    return out


def _prepare_summary(run, counts: dict) -> dict[str, Any]:
    """The closing table: a row per step (read, each drop in the order documents meet them, with
    the readers' drops split per namespace and type, kept, seeds), a column per source + total."""
    from luxit_ray.filters import FILTER_ORDER
    from luxit_ray.sources.common import NAMESPACE_FILTER, READER_FILTERS, TYPE_FILTER

    order = (*READER_FILTERS, *FILTER_ORDER)
    sources = sorted(counts["read"])
    drop_names = [f for f in order if f in counts["dropped"]] + sorted(set(counts["dropped"]) - set(order))
    detail = counts.get("read_detail") or {}
    rows = []

    def add(label: str, per: dict) -> None:
        rows.append([label, *[per.get(s, 0) for s in sources], sum(per.get(s, 0) for s in sources)])

    add("read", counts["read"])
    for f in drop_names:
        add(f"-{f}", counts["dropped"].get(f, {}))
        if f in (NAMESPACE_FILTER, TYPE_FILTER):
            prefix = "namespace " if f == NAMESPACE_FILTER else "type="
            for label in sorted({k for d in detail.values() for k in d if k.startswith(prefix)}):
                add(f"  {label}", {s: d.get(label, 0) for s, d in detail.items()})
    add("kept", counts["kept"])
    add("seeds", counts["seeds"])
    return {
        "run_dir": str(run.path),
        "tables": {
            "prepare: documents per filter and source": {"columns": ["step", *sources, "total"], "rows": rows}
        },
        "lines": [
            *counts.get("warnings", []),
            f"seeds: {run.sub(runs.SEEDS)}",
            f"rejects (with reasons): {run.sub(runs.REJECTS)}",
            f"manifest: {run.path / runs.MANIFEST_FILE}",
        ],
    }


def run_prepare(cfg: JobConfig) -> dict[str, Any]:
    """Read sources, filter, sample, and write seeds/ rejects/ with counts in the manifest.

    Steps (each a Parquet folder of the run, skipped on a rerun once its marker exists):
    ``documents/`` every parsed document (bad input quarantined as rows, or the run stops with
    an InputError naming file and position); ``_screened/`` (temporary) the same rows with
    boilerplate lines removed, drop_filter/drop_reason set by the row filters and the dedup
    signature columns (one ``ScreenStage`` pass); ``filtered/`` those rows with duplicates
    marked too (FILTER_ORDER), found from the signature columns alone; then ``rejects/``
    (every dropped row with its reason) and ``seeds/`` (the kept rows drawn by per-source
    quotas). Each step's wall seconds go to the manifest as ``step_s``.
    """
    import shutil

    from luxit_ray import filters, sampling, sources
    from luxit_ray.errors import ConfigError, unwrap_ray_error

    if not cfg.sources:
        raise ConfigError(["sources: at least one source is needed to prepare"], source="job")
    run = runs.RunDir.create(cfg)
    if run.is_done(runs.SEEDS):
        log.info("prepare already finished in %s: skipped", run.path)
        return _prepare_summary(run, run.manifest()["steps"]["prepare"])
    runs.init_ray(cfg)
    t0 = time.monotonic()
    clock = _StepClock("prepare")
    try:
        if not run.is_done(DOCUMENTS):
            with clock.step("read"):
                docs = sources.read_sources(cfg.sources, cfg.run.on_bad_input)
                _write(docs, run.sub(DOCUMENTS))
            run.mark_done(DOCUMENTS)
        if not run.is_done(FILTERED):
            import ray

            if not run.is_done(SCREENED):
                # Written once: dedup reads its input twice (signatures, then marks), and the
                # boilerplate and language filters are the costly part of preparation.
                io_cpus = _io_task_cpus()
                ds = ray.data.read_parquet(str(run.sub(DOCUMENTS)), num_cpus=io_cpus)
                pool = max(1, int(ray.cluster_resources().get("CPU", 1)))
                # Repeated native ids stop the run here (fail), before any filter runs, or the
                # later copies are quarantined; ids made from file and position never repeat.
                ids = _read_columns(run.sub(DOCUMENTS), [schema.DOC_ID, schema.ORIGIN, schema.DROP_FILTER])
                repeats = sources.check_doc_ids(ids, cfg.run.on_bad_input)
                if repeats.num_rows:
                    ds = ds.map_batches(sources.quarantine_at, fn_kwargs={"drops": ray.put(repeats)},
                                        batch_format="pyarrow", udf_modifying_row_count=False)
                bp = cfg.filters.boilerplate
                lines: dict[str, list[str]] = {}
                if bp.enabled:
                    with clock.step("learn_boilerplate"):
                        learned = filters.learn_boilerplate_stats(ds, bp)
                    lines = learned.lines
                    (run.path / BOILERPLATE_FILE).write_text(json.dumps(
                        {"docs": learned.docs, "chars": learned.chars, "learned": {s: len(v) for s, v in lines.items()},
                         "top_lines": learned.top(bp.report_lines)}, ensure_ascii=False, indent=1), encoding="utf-8")
                ds = ds.map_batches(
                    filters.ScreenStage,
                    fn_constructor_kwargs={
                        "filters_cfg": cfg.filters.model_dump(mode="json"),
                        "lines_by_source": lines,
                    },
                    batch_format="pyarrow",
                    # A fixed pool: from min_size=1 Ray Data kept one actor for the whole pass on
                    # 2 CPUs (one core idle: screening 58 s instead of ~40 s for 70k documents).
                    compute=ray.data.ActorPoolStrategy(size=pool),
                    num_cpus=ACTOR_CPUS,
                )
                with clock.step("screen"):
                    _write(ds, run.sub(SCREENED), num_cpus=io_cpus)
                run.mark_done(SCREENED)
            with clock.step("dedup"):
                ds = filters.dedup_signed(ray.data.read_parquet(str(run.sub(SCREENED))), cfg.filters.dedup)
            with clock.step("write_filtered"):
                _write(ds, run.sub(FILTERED))
            run.mark_done(FILTERED)
            shutil.rmtree(run.sub(SCREENED), ignore_errors=True)
        import ray
        from ray.data.expressions import col

        filtered = ray.data.read_parquet(str(run.sub(FILTERED)))
        with clock.step("write_rejects"):
            _write(filtered.filter(expr=col(schema.DROP_REASON).is_not_null()), run.sub(runs.REJECTS))
        run.mark_done(runs.REJECTS)
        with clock.step("sample"):
            keys = _read_columns(run.sub(FILTERED), [schema.DOC_ID, schema.SOURCE, schema.DROP_FILTER, schema.DROP_REASON])
            live = keys.filter(pc.is_null(keys[schema.DROP_FILTER]))
            ids_by_source: dict[str, list[str]] = {}
            for src, doc in zip(live[schema.SOURCE].to_pylist(), live[schema.DOC_ID].to_pylist(), strict=True):
                ids_by_source.setdefault(src, []).append(doc)
            drawn = sampling.draw(ids_by_source, cfg.sample.quotas, cfg.sample.seed)
            keep = [d for ids in drawn.values() for d in ids]
        seeds = filtered.filter(expr=col(schema.DROP_REASON).is_null())
        if len(keep) < live.num_rows:  # a quota left some out (with "all" everywhere, nothing to do)
            keep_ref = ray.put(pa.array(keep, pa.string()))
            seeds = seeds.map_batches(sampling.keep_ids, fn_kwargs={"keep": keep_ref}, batch_format="pyarrow")
        seeds = seeds.drop_columns([schema.DROP_FILTER, schema.DROP_REASON])
        with clock.step("write_seeds"):
            _write(seeds, run.sub(runs.SEEDS))
    except Exception as exc:  # Ray wraps our InputError/LuxitError raised in tasks: unwrap it.
        cause = unwrap_ray_error(exc)
        if cause is not exc:
            raise cause from None
        raise
    counts = {
        "read": _count_by(keys, schema.SOURCE),
        "dropped": _count_by(keys.filter(pc.invert(pc.is_null(keys[schema.DROP_FILTER]))), schema.DROP_FILTER, schema.SOURCE),
        "kept": {s: len(ids) for s, ids in ids_by_source.items()},
        "seeds": {s: len(ids) for s, ids in drawn.items()},
        "sample": {"seed": cfg.sample.seed, "quotas": dict(cfg.sample.quotas)},
        "wall_s": round(time.monotonic() - t0, 1),
        "step_s": clock.seconds,
    }
    counts["read_detail"] = _read_detail(keys)
    counts["wiki_markup_left"] = _markup_counts(run.sub(FILTERED))
    counts["unaccounted"] = _unaccounted(counts)
    meta = _read_columns(run.sub(FILTERED), [schema.SOURCE, schema.METADATA])
    lines_removed, chars_removed = _boilerplate_counts(meta)
    counts["boilerplate_lines_removed"] = lines_removed
    learned_path = run.path / BOILERPLATE_FILE
    learned_info = json.loads(learned_path.read_text(encoding="utf-8")) if learned_path.is_file() else {}
    counts["boilerplate"], counts["warnings"] = _boilerplate_summary(
        learned_info, lines_removed, chars_removed, cfg.filters.boilerplate.max_removed_share)
    run.update_manifest(cfg, "prepare", counts)
    run.mark_done(runs.SEEDS, {"seeds": sum(counts["seeds"].values())})
    return _prepare_summary(run, counts)


def _boilerplate_counts(meta) -> tuple[dict[str, int], dict[str, int]]:
    """Lines and characters removed as boilerplate per source (BoilerplateStage's metadata keys)."""
    from luxit_ray.filters.boilerplate import CHARS_KEY, REMOVED_KEY

    lines: dict[str, int] = {}
    chars: dict[str, int] = {}
    for src, m in zip(meta[schema.SOURCE].to_pylist(), meta[schema.METADATA].to_pylist(), strict=True):
        data = json.loads(m) if m else {}
        if not isinstance(data, dict) or not data.get(REMOVED_KEY):
            continue
        lines[src] = lines.get(src, 0) + int(data[REMOVED_KEY])
        chars[src] = chars.get(src, 0) + int(data.get(CHARS_KEY) or 0)
    return lines, chars


def _boilerplate_summary(
    learned: dict, lines_removed: dict[str, int], chars_removed: dict[str, int], max_share: float
) -> tuple[dict[str, dict], list[str]]:
    """Per source: documents, characters, lines learned and removed, share of characters removed,
    the most frequent learned lines; and one warning line per source over ``max_share``."""
    out: dict[str, dict] = {}
    warnings: list[str] = []
    for src, chars in sorted((learned.get("chars") or {}).items()):
        removed = chars_removed.get(src, 0)
        share = removed / chars if chars else 0.0
        out[src] = {"docs": learned["docs"].get(src, 0), "chars": chars, "chars_removed": removed,
                    "removed_share": round(share, 4), "lines_learned": learned["learned"].get(src, 0),
                    "lines_removed": lines_removed.get(src, 0), "top_lines": learned["top_lines"].get(src, [])}
        if share > max_share:
            msg = (f"warning: boilerplate removal took {share:.1%} of {src}'s characters (over "
                   f"filters.boilerplate.max_removed_share={max_share:g}); if real sentences went, raise "
                   "filters.boilerplate.min_doc_fraction or sentence_doc_fraction (learned lines: manifest.json)")
            log.warning(msg)
            warnings.append(msg)
    return out, warnings


def _markup_counts(path) -> dict[str, dict]:
    """Per wiki source: kept pages, and those whose text still holds wiki markup (by mark).

    Streams the kept wiki rows' texts batch by batch (never the whole corpus in memory).
    """
    import pyarrow.dataset as pads

    from luxit_ray.sources.wikipedia import WIKI_SOURCE_TYPE
    from luxit_ray.sources.wikitext import markup_left

    out: dict[str, dict] = {}
    wanted = (pads.field(schema.SOURCE_TYPE) == WIKI_SOURCE_TYPE) & pads.field(schema.DROP_FILTER).is_null()
    dataset = pads.dataset(str(path), format="parquet")
    for batch in dataset.to_batches(columns=[schema.SOURCE, schema.TEXT], filter=wanted):
        for src, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            entry = out.setdefault(src, {"pages": 0, "with_markup": 0, "by_mark": {}})
            entry["pages"] += 1
            marks = markup_left(text or "")
            if marks:
                entry["with_markup"] += 1
                for m in marks:
                    entry["by_mark"][m] = entry["by_mark"].get(m, 0) + 1
    return dict(sorted(out.items()))


def _read_detail(keys) -> dict[str, dict[str, int]]:
    """Per source, what the readers set aside: bad input, redirects, each namespace, each type."""
    from luxit_ray.sources.common import NAMESPACE_FILTER, READER_FILTERS, TYPE_FILTER

    out: dict[str, dict[str, int]] = {}
    for src, filt, reason in zip(keys[schema.SOURCE].to_pylist(), keys[schema.DROP_FILTER].to_pylist(),
                                 keys[schema.DROP_REASON].to_pylist(), strict=True):
        if filt in READER_FILTERS:
            label = reason if filt in (NAMESPACE_FILTER, TYPE_FILTER) and reason else filt
            out.setdefault(src, {})[label] = out.get(src, {}).get(label, 0) + 1
    return {s: dict(sorted(d.items())) for s, d in sorted(out.items())}


def _unaccounted(counts: dict) -> dict[str, int]:
    """Per source, read - kept - every drop; logged as an error when not zero (it must be)."""
    out = {}
    for src, n in counts["read"].items():
        diff = n - counts["kept"].get(src, 0) - sum(per.get(src, 0) for per in counts["dropped"].values())
        if diff:
            log.error("prepare: %d document(s) of %s read but neither kept nor dropped", diff, src)
            out[src] = diff
    return out


# ==== generate / judge ===================================================================
#
# Both run through one runner (luxit_ray.steps.runner): alone, or streamed one into the next in
# a single Ray Data pipeline; every billed response is recorded in the request cache first, so a
# rerun after a crash pays for nothing it already has (see the runner's docstring).


def run_generate(cfg: JobConfig) -> dict[str, Any]:
    """Generate pairs from the run's seeds: writes pairs/ and generate_errors/.

    Reads ``seeds/``, runs :class:`~luxit_ray.stages.generate.GenerateStage` on Ray Data and
    writes the rows without error to ``pairs/`` and the error rows (with raw output and reason)
    to ``generate_errors/``; records counts, usage and cost in the manifest and marks
    ``pairs/`` done. A finished step is skipped.

    Raises:
        ConfigError: no generate section, or its prompt does not render.
        AuthError: the endpoint refused the credentials (or the key variable is unset).
        ErrorRateExceeded: more seeds than ``generate.max_error_rate`` failed (after the
            outputs were written; the step is then not marked done).
    """
    from luxit_ray.steps.generate import GenerateStep
    from luxit_ray.steps.runner import run_llm_steps

    return run_llm_steps(cfg, [GenerateStep(cfg)])[0]


def run_judge(cfg: JobConfig) -> dict[str, Any]:
    """Judge the run's pairs: writes judged/, kept/ and rejected_pairs/.

    Reads ``pairs/`` (joined with the seed texts when the judges see the source), runs
    :class:`~luxit_ray.stages.judge.JudgeStage` (every configured judge) on Ray Data, writes
    every judged row to ``judged/`` and splits it into ``kept/`` and ``rejected_pairs/``;
    records counts, usage and cost per judge in the manifest and marks ``judged/`` done. A
    finished step is skipped.

    Raises:
        ConfigError: no judge section, or a judge prompt does not render.
        AuthError: an endpoint refused the credentials.
        ErrorRateExceeded: more pairs than ``judge.max_error_rate`` got no score from any
            judge (after the outputs were written; the step is then not marked done).
    """
    from luxit_ray.steps.judge import JudgeStep
    from luxit_ray.steps.runner import run_llm_steps

    return run_llm_steps(cfg, [JudgeStep(cfg)])[0]


# ==== the whole chain ====================================================================


def run_all(cfg: JobConfig) -> dict[str, Any]:
    """prepare -> generate -> judge in one run folder; finished steps are skipped.

    Generation and judging run as one streamed Ray Data pipeline: pairs are judged while the
    generator is still writing others, and both steps' folders, counts and markers come out
    as ``luxit generate`` and ``luxit judge`` write them.
    """
    from luxit_ray.steps.generate import GenerateStep
    from luxit_ray.steps.judge import JudgeStep
    from luxit_ray.steps.runner import run_llm_steps

    run_id = cfg.run.run_id
    seeds_ready = bool(run_id) and runs.RunDir.at(cfg.run.output_dir, run_id).is_done(runs.SEEDS)
    # A run whose seeds came from elsewhere (no sources in this job) goes straight to the LLM steps.
    summaries = [] if seeds_ready and not cfg.sources else [run_prepare(cfg)]
    llm_steps = [s(cfg) for s, section in ((GenerateStep, cfg.generate), (JudgeStep, cfg.judge)) if section is not None]
    if llm_steps:
        summaries.extend(run_llm_steps(cfg, llm_steps))
    merged: dict[str, Any] = {"run_dir": summaries[-1].get("run_dir"), "tables": {}, "lines": []}
    for s in summaries:
        merged["tables"].update(s.get("tables", {}))
        merged["lines"].extend(s.get("lines", []))
    return merged


# ==== Magpie: a second generator =========================================================


def magpie_job(cfg: JobConfig) -> JobConfig:
    """The job of a Magpie run: its own run folder ``<magpie.run_prefix>-<run id>`` (so no step of
    the LuxIT job mistakes it for one of its runs), no generate section, and judges that see no
    source text (a Magpie pair has none)."""
    from luxit_ray.errors import ConfigError

    if cfg.magpie is None:
        raise ConfigError(["magpie: the section is missing"], source="job")
    prefix = cfg.magpie.run_prefix
    base = cfg.run.run_id or cfg.run.resolved_run_id()
    data = cfg.model_dump(mode="json")
    data["run"]["name"] = f"{prefix}-{cfg.run.name}"
    data["run"]["run_id"] = base if base.startswith(f"{prefix}-") else f"{prefix}-{base}"
    data["generate"] = None
    if data.get("judge"):
        data["judge"]["include_source"] = False
    return JobConfig.model_validate(data)


def run_magpie(cfg: JobConfig) -> dict[str, Any]:
    """Sample instructions with Magpie, filter the whole set, answer them and judge the pairs.

    Writes the Magpie run folder (:func:`magpie_job`): ``magpie_plan/`` (one row per sample id),
    ``magpie_instructions/`` + ``magpie_rejects/`` + ``magpie_errors/``, then ``pairs/`` +
    ``generate_errors/`` and, with a ``judge`` section, ``judged/`` + ``kept/`` +
    ``rejected_pairs/``; ``luxit export`` and mixtures read it like any run. Finished steps are
    skipped; recorded requests are answered from the request cache.

    Raises:
        ConfigError: no magpie section, an endpoint in batch mode, a prompt that does not render.
        ErrorRateExceeded: a step's error rate passed ``magpie.max_error_rate`` (or the judge's).
    """
    from luxit_ray.stages.magpie import sample_id
    from luxit_ray.steps.judge import JudgeStep
    from luxit_ray.steps.magpie import PLAN, MagpieAnswerStep, MagpieQueryStep
    from luxit_ray.steps.runner import run_llm_steps

    mcfg = magpie_job(cfg)
    run = runs.RunDir.create(mcfg)
    if not run.is_done(PLAN):
        run.clear(PLAN)
        plan = pa.table({schema.DOC_ID: [sample_id(i) for i in range(mcfg.magpie.instructions)]})
        run.write_parquet(PLAN, "part-00000.parquet", plan)
        run.mark_done(PLAN, {"samples": plan.num_rows})
    summaries = run_llm_steps(mcfg, [MagpieQueryStep(mcfg)])
    summaries += run_llm_steps(mcfg, [MagpieAnswerStep(mcfg)])
    if mcfg.judge is not None:
        summaries += run_llm_steps(mcfg, [JudgeStep(mcfg)])
    merged: dict[str, Any] = {"run_dir": str(run), "tables": {}, "lines": []}
    for s in summaries:
        merged["tables"].update(s.get("tables", {}))
        merged["lines"].extend(s.get("lines", []))
    return merged


def run_export_mixtures(cfg: JobConfig) -> dict[str, Any]:
    """:func:`run_export_mixture` for every mixture of the job (``luxit export-mixture``)."""
    from luxit_ray.errors import ConfigError

    if not cfg.mixtures:
        raise ConfigError(["mixtures: the job defines none"], source="job")
    merged: dict[str, Any] = {"run_dir": None, "tables": {}, "lines": []}
    for name in cfg.mixtures:
        s = run_export_mixture(cfg, name)
        merged["run_dir"] = s["run_dir"]
        merged["tables"].update(s["tables"])
        merged["lines"] += s["lines"]
    return merged


def run_export_mixture(cfg: JobConfig, name: str) -> dict[str, Any]:
    """Draw the job's mixture ``name`` and write it as a dataset into the run folder
    (``mixture-<name>/``: Parquet per split, ``mixture.json``, a card naming every example's origin).

    Raises:
        ConfigError: no such mixture, a part with too few rows.
    """
    from luxit_ray.config.export import ExportConfig
    from luxit_ray.dataset.mixture import export_mixture
    from luxit_ray.errors import ConfigError

    if name not in cfg.mixtures:
        raise ConfigError([f"mixtures: no mixture {name!r} (have {sorted(cfg.mixtures)})"], source="job")
    run = runs.RunDir.create(cfg)
    ecfg = cfg.export or ExportConfig()
    folder = export_mixture(run.path, name, cfg.mixtures[name], licence=ecfg.licence, languages=ecfg.languages)
    doc = json.loads((folder / "mixture.json").read_text(encoding="utf-8"))
    run.update_manifest(cfg, f"mixture:{name}", {"rows": doc["rows"], "counts": doc["counts"]})
    rows = [[o, c["train"], c["validation"]] for o, c in doc["counts"].items()]
    return {"run_dir": str(run.path), "tables": {f"mixture {name}: examples by origin": {
        "columns": ["origin", "train", "validation"], "rows": rows}}, "lines": [f"mixture: {folder}"]}
