"""The only place stages are composed, in fixed order: prepare -> generate -> judge.

Each step reads the Parquet the step before it wrote, runs on Ray Data (embedded local Ray by
default, a cluster via RAY_ADDRESS), writes its own Parquet plus a completion marker, and records
its counts in the run's manifest.json. A finished step is skipped on a rerun of the same run id.

Every ``run_*`` function returns a summary dict for the CLI: ``{"run_dir": str, "tables":
{title: {"columns": [...], "rows": [[...]]}}, "lines": [str, ...]}``.
"""

from __future__ import annotations

import contextlib
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
    from luxit_ray.filters import FILTER_ORDER

    sources = sorted(counts["read"])
    drop_names = [f for f in FILTER_ORDER if f in counts["dropped"]] + sorted(
        set(counts["dropped"]) - set(FILTER_ORDER)
    )
    rows = []
    for src in sources:
        row = [src, counts["read"].get(src, 0)]
        row += [counts["dropped"].get(f, {}).get(src, 0) for f in drop_names]
        row += [counts["kept"].get(src, 0), counts["seeds"].get(src, 0)]
        rows.append(row)
    total = ["total"] + [sum(r[i] for r in rows) for i in range(1, len(drop_names) + 4)]
    rows.append(total)
    return {
        "run_dir": str(run.path),
        "tables": {
            "prepare: documents per source and filter": {
                "columns": ["source", "read", *[f"-{f}" for f in drop_names], "kept", "seeds"],
                "rows": rows,
            }
        },
        "lines": [
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
    from luxit_ray.errors import ConfigError

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
                bp = cfg.filters.boilerplate
                lines: dict[str, list[str]] = {}
                if bp.enabled:
                    with clock.step("learn_boilerplate"):
                        lines = filters.learn_boilerplate(ds, bp)
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
            keys = _read_columns(run.sub(FILTERED), [schema.DOC_ID, schema.SOURCE, schema.DROP_FILTER])
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
        cause = sources.unwrap_ray_error(exc)
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
    meta = _read_columns(run.sub(FILTERED), [schema.SOURCE, schema.METADATA])
    counts["boilerplate_lines_removed"] = _boilerplate_counts(meta)
    run.update_manifest(cfg, "prepare", counts)
    run.mark_done(runs.SEEDS, {"seeds": sum(counts["seeds"].values())})
    return _prepare_summary(run, counts)


def _boilerplate_counts(meta) -> dict[str, int]:
    """Lines removed as boilerplate per source (recorded by BoilerplateStage in metadata)."""
    import json

    out: dict[str, int] = {}
    for src, m in zip(meta[schema.SOURCE].to_pylist(), meta[schema.METADATA].to_pylist(), strict=True):
        n = json.loads(m).get("boilerplate_lines_removed", 0) if m else 0
        if n:
            out[src] = out.get(src, 0) + n
    return out


# ==== generate / judge ===================================================================
#
# Exactly-once spending: every billed response is recorded in the durable request cache
# (luxit_ray.llm.RequestCache, keyed by endpoint, model, rendered messages, sampling and output
# format) before the stage uses it. A rerun of a step (after a crash, a kill, or by hand) reads
# its whole input again, renders the same requests, answers the recorded ones from the cache and
# sends only the rest; the step's output folders are replaced, so no row is lost or duplicated.
# A request that was in flight when the job died has no recorded response: it is sent again.
# ray.data.checkpoint is not used: its unit is the written output block (calls in an unwritten
# block would be paid again without the cache, and with the cache they are free anyway), it
# keeps every finished id in memory, re-reads the whole input on resume too, and its filter actor
# (1 CPU) stalled small clusters (SPEC.md).

PROGRESS_EVERY_S = 5.0
_GENERATE_TMP = "_generate_all"  # every output row of the stage, split into pairs/ + generate_errors/


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
    import shutil
    import time

    from luxit_ray.errors import ConfigError
    from luxit_ray.prompts import PromptTemplate
    from luxit_ray.stages.generate import GenerateStage

    if cfg.generate is None:
        raise ConfigError(["generate: the section is missing"], source="job")
    g = cfg.generate
    run = runs.RunDir.for_step(cfg, needs=runs.SEEDS)
    if run.is_done(runs.PAIRS):
        log.info("generate already finished in %s: skipped", run.path)
        return _generate_summary(run, run.manifest().get("steps", {}).get("generate", {}))
    endpoint = cfg.endpoints[g.endpoint]
    _check_key(g.endpoint, endpoint)
    template = PromptTemplate.load(g.prompt)
    prompt_vars = dict(g.prompt_vars)
    for date in ("2024-03-01", None):  # fail before Ray starts if the template needs other variables
        template.render(language=g.language, n_pairs=g.pairs_per_seed, title="T", text="X", date=date,
                        source_type="news", wrap_output=True, **prompt_vars)
    seeds_dir = run.sub(runs.SEEDS).resolve()
    n_seeds = _count_rows(seeds_dir)
    runs.init_ray(cfg)
    import ray

    from luxit_ray.llm import get_accountant, get_rate_limiter

    accountant = get_accountant(run.path.name)
    kwargs = {
        "endpoint_name": g.endpoint,
        "endpoint": endpoint.model_dump(mode="json"),
        "prompt_name": template.name,
        "prompt_source": template.source,
        "language": g.language,
        "pairs_per_seed": g.pairs_per_seed,
        "max_source_chars": g.max_source_chars,
        "sampling": g.sampling.model_dump(mode="json") if g.sampling else None,
        "cache_uri": _cache_uri(cfg),
        "accountant": accountant,
        "limiter": get_rate_limiter(g.endpoint, endpoint.requests_per_minute, endpoint.tokens_per_minute),
        "prompt_vars": prompt_vars,
    }
    tmp = run.sub(_GENERATE_TMP).resolve()
    for folder in (tmp, run.sub(runs.PAIRS), run.sub(runs.GENERATE_ERRORS)):
        shutil.rmtree(folder, ignore_errors=True)
    log.info("generate: %d seeds -> %s (endpoint %s, model %s, prompt %s@%s)",
             n_seeds, run.path, g.endpoint, endpoint.model, template.name, template.sha)
    t0 = time.monotonic()
    with _original_errors(), _Progress(accountant, "generate", n_seeds, "seeds"):
        ds = ray.data.read_parquet(str(seeds_dir)).map_batches(
            GenerateStage,
            fn_constructor_kwargs=kwargs,
            compute=_actor_pool(g.concurrency, endpoint.max_in_flight, g.batch_size),
            num_cpus=g.num_cpus,
            batch_size=g.batch_size,
            batch_format="pyarrow",
        )
        ds.write_parquet(str(tmp))
    parts = _split_parquet(
        tmp, schema.PAIR_SCHEMA,
        {run.sub(runs.PAIRS): lambda t: pc.is_null(t[schema.ERROR]),
         run.sub(runs.GENERATE_ERRORS): lambda t: pc.invert(pc.is_null(t[schema.ERROR]))},
    )
    counts = _generate_counts(tmp, n_seeds, {g.endpoint: endpoint})
    counts.update(prompt=template.name, prompt_sha=template.sha, model=endpoint.model,
                  wall_s=round(time.monotonic() - t0, 1))
    shutil.rmtree(tmp, ignore_errors=True)
    run.update_manifest(cfg, "generate", counts)
    rate = counts["seeds_with_error"] / n_seeds if n_seeds else 0.0
    _check_rate("generate", rate, g.max_error_rate,
                f"{counts['seeds_with_error']} of {n_seeds} seeds produced no pair", run.sub(runs.GENERATE_ERRORS))
    run.mark_done(runs.GENERATE_ERRORS, {"rows": parts[run.sub(runs.GENERATE_ERRORS)]})
    run.mark_done(runs.PAIRS, {"pairs": counts["pairs"], "seeds": n_seeds})
    return _generate_summary(run, counts)


def run_judge(cfg: JobConfig) -> dict[str, Any]:
    """Judge the run's pairs: writes judged/, kept/ and rejected_pairs/.

    Reads ``pairs/``, runs :class:`~luxit_ray.stages.judge.JudgeStage` (every configured
    judge) on Ray Data, writes every judged row to ``judged/`` and splits it into ``kept/`` and
    ``rejected_pairs/``; records counts (score-1 counts per criterion, rejections by criterion,
    all-3 pairs, judge errors), usage and cost per judge in the manifest and marks ``judged/``
    done. A finished step is skipped.

    Raises:
        ConfigError: no judge section, or a judge prompt does not render.
        AuthError: an endpoint refused the credentials.
        ErrorRateExceeded: more pairs than ``judge.max_error_rate`` got no score from any
            judge (after the outputs were written; the step is then not marked done).
    """
    import shutil
    import time

    import pyarrow as pa
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from luxit_ray.errors import ConfigError
    from luxit_ray.prompts import PromptTemplate, cut_text
    from luxit_ray.stages.judge import JudgeStage

    if cfg.judge is None:
        raise ConfigError(["judge: the section is missing"], source="job")
    jc = cfg.judge
    run = runs.RunDir.for_step(cfg, needs=runs.PAIRS)
    if run.is_done(runs.JUDGED):
        log.info("judge already finished in %s: skipped", run.path)
        return _judge_summary(run, run.manifest().get("steps", {}).get("judge", {}))
    include_source = jc.include_source
    prompt_vars = dict(jc.prompt_vars)
    judges = []
    for spec in jc.judges:
        endpoint = cfg.endpoints[spec.endpoint]
        _check_key(spec.endpoint, endpoint)
        template = PromptTemplate.load(spec.prompt)
        for src in ("X", None):
            template.render(language=jc.language, instruction="I", response="R", source_text=src,
                            title="T", date="2024-03-01", **prompt_vars)
        judges.append({
            "name": spec.name, "endpoint_name": spec.endpoint, "endpoint": endpoint.model_dump(mode="json"),
            "prompt_name": template.name, "prompt_source": template.source,
            "sampling": spec.sampling.model_dump(mode="json") if spec.sampling else None,
        })
    pairs_dir = run.sub(runs.PAIRS).resolve()
    n_pairs = _count_rows(pairs_dir)
    max_chars = cfg.generate.max_source_chars if cfg.generate else 12000
    runs.init_ray(cfg)
    import ray

    from luxit_ray.llm import get_accountant, get_rate_limiter

    source_ref = None
    if include_source and run.sub(runs.SEEDS).is_dir():
        # The judges see the seed text; one copy goes to the object store, shared by the actors.
        seeds = pads.dataset(str(run.sub(runs.SEEDS)), format="parquet").to_table(columns=[schema.DOC_ID, schema.TEXT])
        texts = [cut_text(t or "", max_chars)[0] for t in seeds[schema.TEXT].to_pylist()]
        source_ref = ray.put(pa.table({schema.DOC_ID: seeds[schema.DOC_ID], schema.TEXT: pa.array(texts, pa.string())}))
        del seeds, texts
    accountant = get_accountant(run.path.name)
    limiters = {}
    for spec in jc.judges:
        ep = cfg.endpoints[spec.endpoint]
        limiters[spec.endpoint] = get_rate_limiter(spec.endpoint, ep.requests_per_minute, ep.tokens_per_minute)
    kwargs = {
        "judges": judges,
        "language": jc.language,
        "aggregate": jc.aggregate,
        "min_score": jc.min_score,
        "include_source": include_source,
        "source_texts": source_ref,
        "max_source_chars": max_chars,
        "cache_uri": _cache_uri(cfg),
        "accountant": accountant,
        "limiters": limiters,
        "prompt_vars": prompt_vars,
    }
    judged = run.sub(runs.JUDGED).resolve()
    for folder in (judged, run.sub(runs.KEPT), run.sub(runs.REJECTED_PAIRS)):
        shutil.rmtree(folder, ignore_errors=True)
    log.info("judge: %d pairs in %s, judges %s (aggregate %s, keep if every criterion >= %g)",
             n_pairs, run.path, [j["name"] for j in judges], jc.aggregate, jc.min_score)
    t0 = time.monotonic()
    with _original_errors(), _Progress(accountant, "judge", n_pairs, "pairs"):
        in_flight = max(cfg.endpoints[s.endpoint].max_in_flight for s in jc.judges)
        ds = ray.data.read_parquet(str(pairs_dir)).map_batches(
            JudgeStage,
            fn_constructor_kwargs=kwargs,
            compute=_actor_pool(jc.concurrency, in_flight, jc.batch_size),
            num_cpus=jc.num_cpus,
            batch_size=jc.batch_size,
            batch_format="pyarrow",
        )
        ds.write_parquet(str(judged))
    if not list(judged.glob("*.parquet")):
        judged.mkdir(parents=True, exist_ok=True)
        pq.write_table(schema.JUDGED_SCHEMA.empty_table(), judged / "part-00000.parquet")
    _split_parquet(
        judged, schema.JUDGED_SCHEMA,
        {run.sub(runs.KEPT): lambda t: pc.equal(t[schema.KEEP], True),
         run.sub(runs.REJECTED_PAIRS): lambda t: pc.invert(pc.equal(t[schema.KEEP], True))},
    )
    counts = _judge_counts(judged, n_pairs, jc, cfg.endpoints)
    counts["wall_s"] = round(time.monotonic() - t0, 1)
    run.update_manifest(cfg, "judge", counts)
    rate = counts["judge_errors"] / n_pairs if n_pairs else 0.0
    _check_rate("judge", rate, jc.max_error_rate,
                f"{counts['judge_errors']} of {n_pairs} pairs got no score from any judge", run.sub(runs.REJECTED_PAIRS))
    run.mark_done(runs.KEPT, {"rows": counts["kept"]})
    run.mark_done(runs.REJECTED_PAIRS, {"rows": counts["rejected"]})
    run.mark_done(runs.JUDGED, {"pairs": n_pairs, "kept": counts["kept"]})
    return _judge_summary(run, counts)


# ---- helpers of generate / judge --------------------------------------------------------


def _actor_pool(actors: int, max_in_flight: int, batch_size: int) -> Any:
    """A fixed actor pool whose actors each run enough batches at once to keep
    ``max_in_flight`` requests going.

    The stages' ``__call__`` is a coroutine, so Ray Data overlaps up to 4 batches of one task
    on the actor's event loop; but a task holds only the rows of its input blocks (often a
    single batch), and a plain actor runs one task at a time. Allowing
    ``ceil(max_in_flight / batch_size)`` concurrent calls per actor keeps the client's
    ``max_in_flight`` requests in flight between and across tasks (measured here: with
    4-row blocks and batch_size 4, one call at a time kept 4 rows in flight, 4 calls kept 16).
    """
    import math

    import ray

    calls = max(1, math.ceil(max_in_flight / batch_size))
    return ray.data.ActorPoolStrategy(size=actors, max_concurrent_calls_per_actor=calls if calls > 1 else None)


def _cache_uri(cfg: JobConfig) -> str | None:
    """The request cache location (None when disabled): cache.uri or <output_dir>/.cache/llm."""
    import os

    if not cfg.cache.enabled:
        return None
    if cfg.cache.uri:
        return cfg.cache.uri if "://" in cfg.cache.uri else os.path.abspath(cfg.cache.uri)
    return os.path.abspath(os.path.join(cfg.run.output_dir, ".cache", "llm"))


def _check_key(name: str, endpoint: Any) -> None:
    """Fail before Ray starts when the endpoint's key variable is named but unset."""
    import os

    from luxit_ray.errors import AuthError

    if endpoint.api_key_env and not os.environ.get(endpoint.api_key_env):
        raise AuthError(f"endpoint {name!r}: environment variable {endpoint.api_key_env} is not set")


def _count_rows(folder: Any) -> int:
    """Rows of a Parquet folder from the file footers (no data read)."""
    import pyarrow.dataset as pads

    if not folder.is_dir() or not list(folder.glob("*.parquet")):
        return 0
    return pads.dataset(str(folder), format="parquet").count_rows()


class _original_errors:  # noqa: N801 - used like a function: ``with _original_errors():``
    """Build and run Ray Data jobs inside this block: a LuxitError raised in an actor
    (AuthError, InputError, ...) reaches the caller as itself, a one-line error for the CLI.

    Ray Data normally re-raises a UDF's exception as ``UserCodeException`` whose cause does not
    survive the trip to the driver; ``raise_original_map_exception`` keeps the original inside
    Ray's ``RayTaskError``, which :func:`~luxit_ray.llm.unwrap_ray_error` then unwraps.
    """

    def __enter__(self) -> None:
        import ray

        self._ctx = ray.data.DataContext.get_current()
        self._before = self._ctx.raise_original_map_exception
        self._ctx.raise_original_map_exception = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from luxit_ray.errors import LuxitError
        from luxit_ray.llm import unwrap_ray_error

        self._ctx.raise_original_map_exception = self._before
        if isinstance(exc, Exception):
            cause = unwrap_ray_error(exc)
            if isinstance(cause, LuxitError) and cause is not exc:
                raise cause from None


def _check_rate(step: str, rate: float, limit: float, what: str, where: Any) -> None:
    from luxit_ray.errors import ErrorRateExceeded

    if rate > limit:
        raise ErrorRateExceeded(
            f"{step}: {what} ({rate:.1%} > {step}.max_error_rate {limit:.1%}); the rows and their reasons "
            f"are in {where}. Rerun with {step}.max_error_rate=... to accept them (recorded calls are not paid again)."
        )


def _split_parquet(src: Any, out_schema: Any, outputs: dict[Any, Any]) -> dict[Any, int]:
    """Write the rows of every Parquet file in ``src`` to each output folder whose mask selects
    them, file by file (one output file per input file keeps the read parallelism of the next
    step). Every output folder gets at least one (possibly empty) file with ``out_schema``.

    Returns:
        Rows written per output folder.
    """
    import pyarrow.parquet as pq

    written = {folder: 0 for folder in outputs}
    for folder in outputs:
        folder.mkdir(parents=True, exist_ok=True)
    files = sorted(src.glob("*.parquet")) if src.is_dir() else []
    for i, f in enumerate(files):
        table = pq.read_table(f, schema=out_schema)
        for folder, mask in outputs.items():
            part = table.filter(mask(table))
            if part.num_rows:
                pq.write_table(part, folder / f"part-{i:05d}.parquet")
                written[folder] += part.num_rows
    for folder, n in written.items():
        if n == 0:
            pq.write_table(out_schema.empty_table(), folder / "part-00000.parquet")
    return written


def _usage_slot() -> dict[str, Any]:
    return {"requests": 0, "cache_hits": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0,
            "reasoning_tokens": 0, "errors": 0, "cost_usd": 0.0}


def _add_usage(slot: dict[str, Any], usage: dict[str, Any], endpoint: Any, error_kind: str | None) -> None:
    """Count one request: tokens and cost only for calls paid in this run (not cache hits)."""
    if usage.get("cached"):
        slot["cache_hits"] += 1
    else:
        slot["requests"] += 1
        slot["retries"] += int(usage.get("retries") or 0)
        for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
            slot[k] += int(usage.get(k) or 0)
        slot["cost_usd"] += (int(usage.get("prompt_tokens") or 0) * endpoint.price_input_per_mtok
                             + int(usage.get("completion_tokens") or 0) * endpoint.price_output_per_mtok) / 1e6
    if error_kind:
        slot["errors"] += 1


def _generate_counts(tmp: Any, n_seeds: int, endpoints: dict[str, Any]) -> dict[str, Any]:
    """Counts of the generate step from every row the stage wrote (usage once per seed)."""
    import json
    from collections import Counter

    import pyarrow.parquet as pq

    cols = [schema.PAIR_ID, schema.DOC_ID, schema.ERROR_KIND, schema.USAGE, schema.MODEL, schema.ENDPOINT]
    pairs_per_doc: Counter[str] = Counter()
    error_kinds_per_doc: dict[str, list[str]] = {}
    model_of_doc: dict[str, str] = {}
    error_rows: Counter[str] = Counter()
    usage: dict[str, dict[str, Any]] = {}
    pair_ids: set[str] = set()
    dup_ids = 0
    for f in sorted(tmp.glob("*.parquet")) if tmp.is_dir() else []:
        for r in pq.read_table(f, columns=cols).to_pylist():
            dup_ids += r[schema.PAIR_ID] in pair_ids
            pair_ids.add(r[schema.PAIR_ID])
            doc = r[schema.DOC_ID]
            if doc not in model_of_doc:
                # One request per seed; its usage is repeated on each of its rows: count it once.
                model_of_doc[doc] = r[schema.MODEL]
                u = json.loads(r[schema.USAGE]) if r[schema.USAGE] else {}
                _add_usage(usage.setdefault(r[schema.MODEL], _usage_slot()), u, endpoints[r[schema.ENDPOINT]], None)
            if r[schema.ERROR_KIND] is None:
                pairs_per_doc[doc] += 1
            else:
                error_rows[r[schema.ERROR_KIND]] += 1
                error_kinds_per_doc.setdefault(doc, []).append(r[schema.ERROR_KIND])
    # A seed failed when it produced no pair at all; its kind is that of its first error row.
    failed = {d: kinds for d, kinds in error_kinds_per_doc.items() if pairs_per_doc[d] == 0}
    failed_by_kind = Counter(kinds[0] for kinds in failed.values())
    for d in failed:
        usage[model_of_doc[d]]["errors"] += 1
    for slot in usage.values():
        slot["cost_usd"] = round(slot["cost_usd"], 6)
    seen = len(model_of_doc)
    if seen != n_seeds or dup_ids:
        log.error("generate: %d seeds in, %d seen in the output, %d duplicate pair ids", n_seeds, seen, dup_ids)
    return {
        "seeds": n_seeds,
        "seeds_accounted": seen,
        "pairs": sum(pairs_per_doc.values()),
        "error_rows": sum(error_rows.values()),
        "seeds_with_error": len(failed),
        "seeds_partial": sum(1 for d in error_kinds_per_doc if pairs_per_doc[d] > 0),
        "errors": dict(sorted(failed_by_kind.items())),
        "error_rows_by_kind": dict(sorted(error_rows.items())),
        "duplicate_pair_ids": dup_ids,
        "cache_hits": sum(s["cache_hits"] for s in usage.values()),
        "retries": sum(s["retries"] for s in usage.values()),
        "usage": usage,
        "cost_usd": round(sum(s["cost_usd"] for s in usage.values()), 6),
    }


def _judge_counts(judged: Any, n_pairs: int, jc: Any, endpoints: dict[str, Any]) -> dict[str, Any]:
    """Counts of the judge step from judged/ (scores per criterion, keep/reject, per-judge usage)."""
    import json
    from collections import Counter

    import pyarrow.parquet as pq

    endpoint_of = {s.name: endpoints[s.endpoint] for s in jc.judges}
    score_cols = list(schema.SCORE_COLUMNS)
    kept = judge_errors = pair_errors = all3 = 0
    below: Counter[str] = Counter()
    dist: dict[str, Counter[str]] = {c: Counter() for c in schema.CRITERIA}
    by_judge: dict[str, dict[str, Any]] = {}
    judge_error_kinds: Counter[str] = Counter()
    disagreements = 0
    for f in sorted(judged.glob("*.parquet")):
        t = pq.read_table(f, columns=[schema.KEEP, schema.KEEP_REASON, schema.JUDGE_ERROR, schema.JUDGEMENTS, *score_cols])
        for r in t.to_pylist():
            kept += bool(r[schema.KEEP])
            if r[schema.JUDGE_ERROR] is not None:
                judge_errors += 1
            elif (r[schema.KEEP_REASON] or "").startswith("pair_error"):
                pair_errors += 1
            else:
                scores = {c: r[schema.score_column(c)] for c in schema.CRITERIA}
                for c, v in scores.items():
                    dist[c][f"{v:g}"] += 1
                    below[c] += v < jc.min_score
                all3 += all(v == 3 for v in scores.values())
            answered = []
            for j in json.loads(r[schema.JUDGEMENTS] or "[]"):
                slot = by_judge.setdefault(j["judge"], {"model": j.get("model"), **_usage_slot(), "errors_by_kind": {}})
                _add_usage(slot, j.get("usage") or {}, endpoint_of.get(j["judge"]) or _FREE, j.get("error_kind"))
                if j.get("error_kind"):
                    kinds = slot["errors_by_kind"]
                    kinds[j["error_kind"]] = kinds.get(j["error_kind"], 0) + 1
                    judge_error_kinds[j["error_kind"]] += 1
                if j.get("scores"):
                    answered.append(tuple(j["scores"][c] for c in schema.CRITERIA))
            disagreements += len(set(answered)) > 1
    usage: dict[str, dict[str, Any]] = {}
    for slot in by_judge.values():
        slot["cost_usd"] = round(slot["cost_usd"], 6)
        m = usage.setdefault(slot["model"], _usage_slot())
        for k in m:
            m[k] += slot[k]
    judged_ok = n_pairs - judge_errors - pair_errors
    return {
        "pairs": n_pairs,
        "judged": judged_ok,
        "kept": kept,
        "rejected": n_pairs - kept,
        "kept_share": round(kept / n_pairs, 4) if n_pairs else None,
        "judge_errors": judge_errors,
        "pair_errors": pair_errors,
        "judge_request_errors": dict(sorted(judge_error_kinds.items())),
        "aggregate": jc.aggregate,
        "min_score": jc.min_score,
        "rejected_by_criterion": {c: below[c] for c in schema.CRITERIA},
        "score_1": {c: dist[c].get("1", 0) for c in schema.CRITERIA},
        "score_counts": {c: dict(sorted(dist[c].items())) for c in schema.CRITERIA},
        "all_3": all3,
        "judge_disagreements": disagreements,
        "usage_by_judge": by_judge,
        "usage": usage,
        "cache_hits": sum(s["cache_hits"] for s in by_judge.values()),
        "retries": sum(s["retries"] for s in by_judge.values()),
        "cost_usd": round(sum(s["cost_usd"] for s in by_judge.values()), 6),
    }


class _FreeEndpoint:
    price_input_per_mtok = 0.0
    price_output_per_mtok = 0.0


_FREE = _FreeEndpoint()


def _usage_table(usage: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    cols = [key, "requests", "cached", "retries", "tok in", "tok out", "reasoning", "USD"]
    rows = [[name, u["requests"], u["cache_hits"], u["retries"], u["prompt_tokens"], u["completion_tokens"],
             u["reasoning_tokens"], round(u["cost_usd"], 4)] for name, u in sorted(usage.items())]
    return {"columns": cols, "rows": rows}


def _generate_summary(run: Any, c: dict[str, Any]) -> dict[str, Any]:
    if not c:
        return {"run_dir": str(run.path), "tables": {}, "lines": [f"generate: done earlier in {run.path}"]}
    tables = {
        "generate: seeds and pairs": {
            "columns": ["seeds", "pairs", "failed", "partial", "err rows", "cached", "retries", "USD", "wall s"],
            "rows": [[c["seeds"], c["pairs"], c["seeds_with_error"], c["seeds_partial"], c["error_rows"],
                      c["cache_hits"], c["retries"], round(c["cost_usd"], 4), c.get("wall_s")]],
        },
        "generate: usage per model": _usage_table(c.get("usage", {}), "model"),
    }
    if c.get("error_rows_by_kind"):
        tables["generate: errors by kind"] = {
            "columns": ["error_kind", "rows", "seeds failed"],
            "rows": [[k, n, c["errors"].get(k, 0)] for k, n in c["error_rows_by_kind"].items()],
        }
    lines = [f"generate: {c['pairs']} pairs from {c['seeds']} seeds -> {run.sub(runs.PAIRS)}"
             f" (errors -> {run.sub(runs.GENERATE_ERRORS)})"]
    return {"run_dir": str(run.path), "tables": tables, "lines": lines}


def _judge_summary(run: Any, c: dict[str, Any]) -> dict[str, Any]:
    if not c:
        return {"run_dir": str(run.path), "tables": {}, "lines": [f"judge: done earlier in {run.path}"]}
    share = f"{c['kept_share']:.1%}" if c.get("kept_share") is not None else "-"
    tables = {
        "judge: pairs": {
            "columns": ["pairs", "kept", "kept %", "rejected", "errors", "all 3", "disagree", "USD", "wall s"],
            "rows": [[c["pairs"], c["kept"], share, c["rejected"], c["judge_errors"], c["all_3"],
                      c["judge_disagreements"], round(c["cost_usd"], 4), c.get("wall_s")]],
        },
        f"judge: scores per criterion ({c['aggregate']})": {
            "columns": ["criterion", "score 1", "score 2", "score 3", f"< {c['min_score']:g} (rejects)"],
            "rows": [[k, c["score_1"][k], c["score_counts"][k].get("2", 0), c["score_counts"][k].get("3", 0),
                      c["rejected_by_criterion"][k]] for k in schema.CRITERIA],
        },
        "judge: usage per judge": _usage_table(c.get("usage_by_judge", {}), "judge"),
    }
    lines = [f"judge: kept {c['kept']} of {c['pairs']} pairs ({share}) -> {run.sub(runs.KEPT)}"
             f" (rejected -> {run.sub(runs.REJECTED_PAIRS)})"]
    return {"run_dir": str(run.path), "tables": tables, "lines": lines}


class _Progress:
    """Logs one progress line every few seconds while a step's dataset executes: rows done,
    requests, cache hits, errors, tokens, cost so far, projected total cost and ETA (from the
    run's Accountant actor, counting only this step's stage labels)."""

    def __init__(self, accountant: Any, stage: str, total_rows: int, unit: str, every_s: float = PROGRESS_EVERY_S) -> None:
        self.accountant = accountant
        self.stage = stage
        self.total = total_rows
        self.unit = unit
        self.every_s = every_s
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{stage}", daemon=True)
        self._base: dict[str, Any] = {}
        self._t0 = 0.0

    def __enter__(self) -> _Progress:
        import time

        self._t0 = time.monotonic()
        try:
            self._base = self._totals()
        except Exception as exc:  # progress must never break the job
            log.warning("%s: no live progress (the run's accountant did not answer: %s)", self.stage, exc)
            self._stop.set()
            return self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        started = self._thread.is_alive()
        self._stop.set()
        if started:
            self._thread.join(timeout=10)
        if exc[0] is None and started:
            # The actors push their last counts fire-and-forget: give them a moment to land.
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    if self._totals()["rows"] - self._base.get("rows", 0) >= self.total:
                        break
                except Exception:  # the final line is best effort; report() says why it is missing
                    break
                time.sleep(0.1)
            self.report()

    def _totals(self) -> dict[str, Any]:
        snap = self.accountant.snapshot()
        out = {"rows": snap.get("rows", {}).get(self.stage, 0), "requests": 0, "cache_hits": 0, "retries": 0,
               "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0, "cost_usd": 0.0}
        for label, models in snap.get("by_stage", {}).items():
            if label == self.stage or label.startswith(self.stage + ":"):
                for m in models.values():
                    for k in out:
                        if k != "rows":
                            out[k] += m.get(k, 0)
        return out

    def line(self) -> str:
        """The current progress line."""
        import time

        now = self._totals()
        d = {k: now[k] - self._base.get(k, 0) for k in now}
        elapsed = time.monotonic() - self._t0
        frac = d["rows"] / self.total if self.total else 1.0
        text = (
            f"{self.stage}: {d['rows']}/{self.total} {self.unit} ({frac:.0%}) | requests {d['requests']}"
            f" (cache {d['cache_hits']}, retries {d['retries']}, errors {d['errors']})"
            f" | tokens in {d['prompt_tokens']:,} out {d['completion_tokens']:,} (reasoning {d['reasoning_tokens']:,})"
            f" | cost ${d['cost_usd']:.4f}"
        )
        if 0 < frac < 1:
            text += f", projected ${d['cost_usd'] / frac:.2f}, eta {elapsed * (1 - frac) / frac / 60:.1f} min"
        return text

    def report(self) -> None:
        try:
            log.info("%s", self.line())
        except Exception as exc:  # progress must never break the job; say why it is missing
            log.debug("progress unavailable: %s", exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.report()


# ==== the whole chain ====================================================================


def run_all(cfg: JobConfig) -> dict[str, Any]:
    """prepare -> generate -> judge in one run folder; finished steps are skipped."""
    summaries = [run_prepare(cfg)]
    if cfg.generate is not None:
        summaries.append(run_generate(cfg))
    if cfg.judge is not None:
        summaries.append(run_judge(cfg))
    merged: dict[str, Any] = {"run_dir": summaries[-1].get("run_dir"), "tables": {}, "lines": []}
    for s in summaries:
        merged["tables"].update(s.get("tables", {}))
        merged["lines"].extend(s.get("lines", []))
    return merged
