"""The only place stages are composed, in fixed order: prepare -> generate -> judge.

Each step reads the Parquet the step before it wrote, runs on Ray Data (embedded local Ray by
default, a cluster via RAY_ADDRESS), writes its own Parquet plus a completion marker, and records
its counts in the run's manifest.json. A finished step is skipped on a rerun of the same run id.

Every ``run_*`` function returns a summary dict for the CLI: ``{"run_dir": str, "tables":
{title: {"columns": [...], "rows": [[...]]}}, "lines": [str, ...]}``.
"""

from __future__ import annotations

import logging
from typing import Any

import pyarrow.compute as pc

from luxit_ray import runs, schema
from luxit_ray.config import JobConfig

log = logging.getLogger(__name__)


# ==== prepare (owned by the lead) ========================================================

DOCUMENTS = "documents"  # parsed documents of every source, before filtering (all rows kept)
FILTERED = "filtered"  # every document with drop_filter/drop_reason set by the filters


def _write(ds, path) -> None:
    """Replace a step's Parquet folder with the dataset's rows."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    ds.write_parquet(str(path))


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
    an InputError naming file and position); ``filtered/`` the same rows with boilerplate lines
    removed and drop_filter/drop_reason set by the filters in FILTER_ORDER; then ``rejects/``
    (every dropped row with its reason) and ``seeds/`` (the kept rows drawn by per-source
    quotas).
    """
    import time

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
    try:
        if not run.is_done(DOCUMENTS):
            docs = sources.read_sources(cfg.sources, cfg.run.on_bad_input)
            _write(docs, run.sub(DOCUMENTS))
            run.mark_done(DOCUMENTS)
        if not run.is_done(FILTERED):
            import ray

            ds = ray.data.read_parquet(str(run.sub(DOCUMENTS)))
            bp = cfg.filters.boilerplate
            if bp.enabled:
                lines = filters.learn_boilerplate(ds, bp)
                ds = ds.map_batches(
                    filters.BoilerplateStage,
                    fn_constructor_kwargs={"lines_by_source": lines},
                    batch_format="pyarrow",
                    concurrency=(1, max(1, int(ray.available_resources().get("CPU", 1)))),
                )
            ds = ds.map_batches(
                filters.FilterStage,
                fn_constructor_kwargs={"filters_cfg": cfg.filters.model_dump(mode="json")},
                batch_format="pyarrow",
                concurrency=(1, max(1, int(ray.available_resources().get("CPU", 1)))),
            )
            ds = filters.dedup(ds, cfg.filters.dedup)
            _write(ds, run.sub(FILTERED))
            run.mark_done(FILTERED)
        import ray
        from ray.data.expressions import col

        filtered = ray.data.read_parquet(str(run.sub(FILTERED)))
        _write(filtered.filter(expr=col(schema.DROP_REASON).is_not_null()), run.sub(runs.REJECTS))
        run.mark_done(runs.REJECTS)
        keys = _read_columns(run.sub(FILTERED), [schema.DOC_ID, schema.SOURCE, schema.DROP_FILTER])
        live = keys.filter(pc.is_null(keys[schema.DROP_FILTER]))
        ids_by_source: dict[str, list[str]] = {}
        for src, doc in zip(live[schema.SOURCE].to_pylist(), live[schema.DOC_ID].to_pylist(), strict=True):
            ids_by_source.setdefault(src, []).append(doc)
        drawn = sampling.draw(ids_by_source, cfg.sample.quotas, cfg.sample.seed)
        keep = [d for ids in drawn.values() for d in ids]
        seeds = filtered.filter(expr=col(schema.DROP_REASON).is_null()).map_batches(
            sampling.KeepIdsStage, fn_constructor_kwargs={"keep": keep}, batch_format="pyarrow",
            concurrency=1,
        ).drop_columns([schema.DROP_FILTER, schema.DROP_REASON])
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


def run_generate(cfg: JobConfig) -> dict[str, Any]:
    """Generate pairs from the run's seeds: writes pairs/ and generate_errors/."""
    raise NotImplementedError("generate is being written")


def run_judge(cfg: JobConfig) -> dict[str, Any]:
    """Judge the run's pairs: writes judged/, kept/ and rejected_pairs/."""
    raise NotImplementedError("judge is being written")


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
