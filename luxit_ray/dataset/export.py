"""Export: the kept pairs of a run become the published dataset.

``export_run`` reads ``RUN_DIR/kept/`` (Parquet written by the judge step), checks the run's
generate and judge error rates against the configured limits, and writes ``RUN_DIR/export/``::

    export/
      README.md                     dataset card (counts, sources, models, filters, scores)
      train-00000-of-00001.parquet  one file per split and format (rows_per_file rows each)
      train-00000-of-00001.jsonl
      validation-...                only when splits are on (and validation is not empty)
      _SUCCESS                      counts, written last

Files sit directly in the folder, so ``RUN_DIR/export/*.parquet`` (what training reads) is the
whole dataset; with splits on, every row also carries its ``split``.

The data is at most a few hundred thousand rows, so this step runs on pyarrow in one process
(no Ray). Output rows are sorted by source, doc_id, pair_index so a rerun writes identical data files.

Exported columns (see ``EXPORT_COLUMN_DOCS`` for what each holds): the paper's four
(``instruction``, ``response``, ``conversations``, ``source_type``), optional ``messages``,
provenance (``pair_id``, ``doc_id``, ``source``, ``pair_index``, ``title``, ``url``, ``date``,
``generator_model``, ``generator_prompt_sha``), the aggregate judge scores (``score_<criterion>``)
and every judge's own scores in ``judge_scores`` (a list of structs, one per judge, so a user can
re-filter with another rule without parsing JSON), optional raw ``judgements`` JSON, and
``split`` when splits are on.

The Parquet readers and score statistics it shares with the review and the report live in
:mod:`luxit_ray.dataset.read`.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from luxit_ray import runs
from luxit_ray import schema as S
from luxit_ray.config.export import ExportConfig
from luxit_ray.config.job import JobConfig
from luxit_ray.config.llm import GenerateConfig, JudgeConfig
from luxit_ray.dataset.read import all_top_count, read_folder, score_distribution
from luxit_ray.errors import ErrorRateExceeded, InputError, LuxitError
from luxit_ray.textio import markdown_table, write_jsonl

log = logging.getLogger(__name__)
# The dataset card shows scores and shares with two decimals.
_md_table = partial(markdown_table, float_format=".2f")

GENERATOR_MODEL = "generator_model"
GENERATOR_PROMPT_SHA = "generator_prompt_sha"
JUDGE_SCORES = "judge_scores"
TRAIN = "train"
VALIDATION = "validation"

# Columns read from kept/ (JUDGED_SCHEMA names).
KEPT_INPUT_COLUMNS = [
    S.PAIR_ID, S.DOC_ID, S.SOURCE, S.SOURCE_TYPE, S.TITLE, S.URL, S.DATE, S.PAIR_INDEX,
    S.INSTRUCTION, S.RESPONSE, S.PROMPT_NAME, S.PROMPT_SHA, S.MODEL, *S.SCORE_COLUMNS,
    S.JUDGEMENTS, S.KEEP, S.JUDGE_ERROR,
]

EXPORT_COLUMN_DOCS: dict[str, str] = {
    S.INSTRUCTION: "the instruction (user turn)",
    S.RESPONSE: "the response (assistant turn)",
    S.CONVERSATIONS: 'ShareGPT turns: [{"from": "human", "value": instruction}, {"from": "gpt", "value": response}]',
    S.MESSAGES: 'OpenAI chat turns: [{"role": "user", "content": ...}, {"role": "assistant", "content": ...}]',
    S.SOURCE_TYPE: "kind of seed text: wikipedia, news or text",
    S.PAIR_ID: "stable id of the pair",
    S.DOC_ID: "id of the seed article (<source>:<native id>); every pair of an article is in the same split",
    S.SOURCE: "configured source name the article came from",
    S.PAIR_INDEX: "position of the pair in the generator's answer for its article",
    S.TITLE: "title of the seed article",
    S.URL: "URL of the seed article (null when the source has none)",
    S.DATE: "publication date of the seed article, ISO 8601 (null when unknown)",
    GENERATOR_MODEL: "model that wrote the pair",
    GENERATOR_PROMPT_SHA: "hash of the generation prompt template",
    **{S.score_column(c): f"aggregate judge score for {c} (1-3; a mean of judges can be fractional)" for c in S.CRITERIA},
    JUDGE_SCORES: "one struct per judge: judge, model, prompt_sha, error, and its integer score per criterion",
    S.JUDGEMENTS: "the judges' raw JSON records (raw output, reasoning, usage)",
    S.SPLIT: "train or validation",
}


# ==== error-rate gate ===================================================================


@dataclass
class StageErrorRate:
    """Failed units of one stage against its limit."""

    stage: str
    unit: str
    failed: int
    total: int
    limit: float

    @property
    def rate(self) -> float:
        """Share of failed units (0 when nothing ran)."""
        return self.failed / self.total if self.total else 0.0

    @property
    def exceeded(self) -> bool:
        """True when the rate passes the limit."""
        return self.rate > self.limit + 1e-12

    def describe(self) -> str:
        """One line, e.g. ``generate: 12 of 100 seeds failed (12.0%), limit generate.max_error_rate=10.0%``."""
        return (
            f"{self.stage}: {self.failed} of {self.total} {self.unit} failed ({self.rate:.1%}), "
            f"limit {self.stage}.max_error_rate={self.limit:.1%}"
        )


def _default_limit(model: type, name: str = "max_error_rate") -> float:
    return float(model.model_fields[name].default)


def error_rates(run: runs.RunDir, cfg: JobConfig) -> list[StageErrorRate]:
    """The generate and judge error rates of a run, from its manifest (or its data when the
    manifest lacks the step), with the limits from the run's config (the field defaults when the
    config has no such section)."""
    steps = run.manifest().get("steps", {})
    out = []
    gen = steps.get("generate") or {}
    gen_limit = cfg.generate.max_error_rate if cfg.generate else _default_limit(GenerateConfig)
    if "seeds" in gen and "seeds_with_error" in gen:
        out.append(StageErrorRate("generate", "seeds", int(gen["seeds_with_error"]), int(gen["seeds"]), gen_limit))
    elif run.is_done(runs.SEEDS) and run.sub(runs.GENERATE_ERRORS).is_dir():
        seeds = read_folder(run.sub(runs.SEEDS), [S.DOC_ID], S.DOCUMENT_SCHEMA).num_rows
        errs = read_folder(run.sub(runs.GENERATE_ERRORS), [S.DOC_ID], S.PAIR_SCHEMA)
        failed = len(set(errs.column(S.DOC_ID).to_pylist()))
        out.append(StageErrorRate("generate", "seeds", failed, seeds, gen_limit))
    judge = steps.get("judge") or {}
    judge_limit = cfg.judge.max_error_rate if cfg.judge else _default_limit(JudgeConfig)
    if "pairs" in judge and "judge_errors" in judge:
        out.append(StageErrorRate("judge", "pairs", int(judge["judge_errors"]), int(judge["pairs"]), judge_limit))
    elif run.sub(runs.JUDGED).is_dir():
        t = read_folder(run.sub(runs.JUDGED), [S.JUDGE_ERROR])
        failed = t.num_rows - t.column(S.JUDGE_ERROR).null_count
        out.append(StageErrorRate("judge", "pairs", failed, t.num_rows, judge_limit))
    return out


def check_error_rates(run: runs.RunDir, cfg: JobConfig) -> list[StageErrorRate]:
    """Raise when a stage's error rate passes its configured limit.

    Raises:
        ErrorRateExceeded: naming every stage over its limit.
    """
    rates = error_rates(run, cfg)
    over = [r for r in rates if r.exceeded]
    if over:
        raise ErrorRateExceeded("; ".join(r.describe() for r in over) + f" (run {run.path})")
    for r in rates:
        log.info("%s", r.describe())
    return rates


# ==== export ============================================================================


@dataclass
class ExportResult:
    """What ``export_run`` wrote."""

    path: Path
    rows: int
    counts: dict[str, dict[str, int]]  # split -> source -> pairs
    articles: dict[str, int]  # split -> distinct doc_ids
    files: list[Path] = field(default_factory=list)
    card: Path | None = None
    error_rates: list[StageErrorRate] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI (same shape as the pipeline's step summaries)."""
        sources = sorted({s for per in self.counts.values() for s in per})
        splits = sorted(self.counts, key=lambda s: (s != TRAIN, s))
        rows = [[src, *[self.counts[sp].get(src, 0) for sp in splits], sum(self.counts[sp].get(src, 0) for sp in splits)] for src in sources]
        rows.append(["total", *[sum(self.counts[sp].values()) for sp in splits], self.rows])
        rows.append(["articles", *[self.articles.get(sp, 0) for sp in splits], sum(self.articles.values())])
        lines = [r.describe() for r in self.error_rates]
        lines.append(f"exported {self.rows} pairs to {self.path} ({len(self.files)} data files)")
        return {
            "run_dir": str(self.path.parent),
            "tables": {"Exported pairs": {"columns": ["source", *splits, "total"], "rows": rows}},
            "lines": lines,
        }


def _conversation_types(include_messages: bool) -> dict[str, pa.DataType]:
    types = {S.CONVERSATIONS: pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))}
    if include_messages:
        types[S.MESSAGES] = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return types


JUDGE_SCORE_TYPE = pa.list_(
    pa.struct(
        [("judge", pa.string()), ("model", pa.string()), ("prompt_sha", pa.string()), ("error", pa.string())]
        + [(c, pa.int8()) for c in S.CRITERIA]
    )
)


def _judge_scores(raw: str | None, pair_id: str, where: str) -> list[dict[str, Any]]:
    """The judgements JSON of one pair as a list of flat structs (one per judge)."""
    if raw is None or raw == "":
        return []
    try:
        items = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(where, f"pair {pair_id}, column {S.JUDGEMENTS}", f"invalid JSON: {exc.msg}") from None
    if not isinstance(items, list):
        raise InputError(where, f"pair {pair_id}, column {S.JUDGEMENTS}", "expected a JSON list of judge records")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise InputError(where, f"pair {pair_id}, column {S.JUDGEMENTS}", "a judge record is not an object")
        scores = item.get("scores") or {}
        rec = {
            "judge": item.get("judge"),
            "model": item.get("model"),
            "prompt_sha": item.get("prompt_sha"),
            "error": item.get("error"),
        }
        for c in S.CRITERIA:
            v = scores.get(c) if isinstance(scores, dict) else None
            rec[c] = int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        out.append(rec)
    return out


def assign_splits(doc_ids: Sequence[str], sources: Sequence[str], fraction: float, seed: int) -> list[str]:
    """Split labels for rows, grouped by article.

    Per source, the source's articles are shuffled with ``seed`` and taken into validation one
    whole article at a time, skipping an article that would overshoot more than it helps or
    take the source's last train pairs, until that source's validation pairs reach
    ``round(fraction * pairs)``. The draw depends only on the articles, their pair counts and the seed.

    Args:
        doc_ids: the article of each row.
        sources: the source of each row.
        fraction: target validation share of pairs (0 puts everything in train).
        seed: shuffle seed.

    Returns:
        "train" or "validation" per row, in row order.
    """
    per_source: dict[str, Counter] = defaultdict(Counter)
    for d, s in zip(doc_ids, sources, strict=True):
        per_source[s][d] += 1
    validation: set[str] = set()
    for src in sorted(per_source):
        docs = sorted(per_source[src])
        target = round(fraction * sum(per_source[src].values()))
        # One generator per source, seeded from the seed and the source name, so adding a source
        # does not reshuffle the others.
        rng = np.random.default_rng([seed, *src.encode("utf-8")])
        total = sum(per_source[src].values())
        taken = 0
        for i in rng.permutation(len(docs)):
            if taken >= target:
                break
            n = per_source[src][docs[i]]
            # Take the article when it brings the count closer to the target, and never the
            # source's last train pairs.
            if taken + n - target < target - taken and taken + n < total:
                validation.add(docs[i])
                taken += n
    return [VALIDATION if d in validation else TRAIN for d in doc_ids]


def build_export_table(kept: pa.Table, ecfg: ExportConfig, where: str = "kept") -> pa.Table:
    """Kept pairs (JUDGED_SCHEMA columns) -> the exported table, rows sorted, columns ordered.

    Raises:
        InputError: a row is not a kept, complete pair (names the pair_id and column), or a
            pair_id repeats.
    """
    rows = kept.to_pylist()
    seen: set[str] = set()
    for r in rows:
        pid = r[S.PAIR_ID]
        if pid in seen:
            raise InputError(where, f"pair {pid}", "pair_id occurs twice")
        seen.add(pid)
        if r[S.KEEP] is not True:
            raise InputError(where, f"pair {pid}, column {S.KEEP}", f"expected true, got {r[S.KEEP]!r}")
        if r[S.JUDGE_ERROR] is not None:
            raise InputError(where, f"pair {pid}, column {S.JUDGE_ERROR}", "a kept pair has a judge error")
        for col in (S.INSTRUCTION, S.RESPONSE, S.DOC_ID, S.SOURCE, S.SOURCE_TYPE):
            if not r[col]:
                raise InputError(where, f"pair {pid}, column {col}", "empty")
    rows.sort(key=lambda r: (r[S.SOURCE], r[S.DOC_ID], r[S.PAIR_INDEX] if r[S.PAIR_INDEX] is not None else -1, r[S.PAIR_ID]))

    cols: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        ins, resp = r[S.INSTRUCTION], r[S.RESPONSE]
        cols[S.INSTRUCTION].append(ins)
        cols[S.RESPONSE].append(resp)
        cols[S.CONVERSATIONS].append([{"from": "human", "value": ins}, {"from": "gpt", "value": resp}])
        if ecfg.include_messages:
            cols[S.MESSAGES].append([{"role": "user", "content": ins}, {"role": "assistant", "content": resp}])
        for c in (S.SOURCE_TYPE, S.PAIR_ID, S.DOC_ID, S.SOURCE, S.PAIR_INDEX, S.TITLE, S.URL, S.DATE):
            cols[c].append(r[c])
        cols[GENERATOR_MODEL].append(r[S.MODEL])
        cols[GENERATOR_PROMPT_SHA].append(r[S.PROMPT_SHA])
        for c in S.SCORE_COLUMNS:
            cols[c].append(r[c])
        cols[JUDGE_SCORES].append(_judge_scores(r[S.JUDGEMENTS], r[S.PAIR_ID], where))
        if ecfg.include_judgements:
            cols[S.JUDGEMENTS].append(r[S.JUDGEMENTS])

    types: dict[str, pa.DataType] = {S.INSTRUCTION: pa.string(), S.RESPONSE: pa.string()}
    types.update(_conversation_types(ecfg.include_messages))
    types.update({c: pa.string() for c in (S.SOURCE_TYPE, S.PAIR_ID, S.DOC_ID, S.SOURCE)})
    types[S.PAIR_INDEX] = pa.int32()
    types.update({c: pa.string() for c in (S.TITLE, S.URL, S.DATE, GENERATOR_MODEL, GENERATOR_PROMPT_SHA)})
    types.update({c: pa.float64() for c in S.SCORE_COLUMNS})
    types[JUDGE_SCORES] = JUDGE_SCORE_TYPE
    if ecfg.include_judgements:
        types[S.JUDGEMENTS] = pa.string()
    arrays = [pa.array(cols[name] if rows else [], type=t) for name, t in types.items()]
    table = pa.Table.from_arrays(arrays, schema=pa.schema([pa.field(n, t) for n, t in types.items()]))
    if ecfg.splits.validation_fraction > 0:
        labels = assign_splits(cols[S.DOC_ID], cols[S.SOURCE], ecfg.splits.validation_fraction, ecfg.splits.seed)
        table = table.append_column(S.SPLIT, pa.array(labels, type=pa.string()))
    return table


def _write_data(table: pa.Table, data_dir: Path, ecfg: ExportConfig) -> list[Path]:
    if S.SPLIT in table.column_names:
        labels = table.column(S.SPLIT).to_pylist()
        parts = {sp: table.filter(pa.array([lab == sp for lab in labels])) for sp in (TRAIN, VALIDATION)}
    else:
        parts = {TRAIN: table}
    files = []
    for split, part in parts.items():
        if part.num_rows == 0:
            # An empty file would not load (datasets cannot read a zero-row Parquet file).
            continue
        n_files = max(1, math.ceil(part.num_rows / ecfg.rows_per_file))
        for i in range(n_files):
            chunk = part.slice(i * ecfg.rows_per_file, ecfg.rows_per_file)
            stem = f"{split}-{i:05d}-of-{n_files:05d}"
            if "parquet" in ecfg.formats:
                p = data_dir / f"{stem}.parquet"
                pq.write_table(chunk, p, compression="zstd")
                files.append(p)
            if "jsonl" in ecfg.formats:
                p = data_dir / f"{stem}.jsonl"
                write_jsonl(p, (row for b in chunk.to_batches(max_chunksize=5000) for row in b.to_pylist()))
                files.append(p)
    return files


def _replace_dir(tmp: Path, final: Path) -> None:
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def export_run(run_dir: str | Path, export_cfg: ExportConfig | None = None) -> ExportResult:
    """Write the run's kept pairs as a dataset under ``RUN_DIR/<export_cfg.dir_name>/``.

    Args:
        run_dir: the run folder (config.yaml, manifest.json, kept/ ...).
        export_cfg: export settings; default: the run config's ``export`` section, else defaults.

    Returns:
        What was written, with counts per split and source.

    Raises:
        LuxitError: the run folder is missing, the judge step has not finished, or nothing was kept.
        ErrorRateExceeded: the generate or judge error rate passed its configured limit.
        InputError: a kept row is not a valid pair.
    """
    run = runs.RunDir(run_dir)
    if not (run.path / runs.CONFIG_FILE).is_file():
        raise LuxitError(f"{run.path}: not a run folder (no {runs.CONFIG_FILE})")
    cfg = run.config()
    ecfg = export_cfg or cfg.export or ExportConfig()
    if not run.is_done(runs.KEPT):
        raise LuxitError(f"run {run.path} has not finished judging (no {runs.KEPT}/{runs.MARKER}); run `luxit judge` first")
    rates = check_error_rates(run, cfg)

    kept = read_folder(run.sub(runs.KEPT), KEPT_INPUT_COLUMNS)
    table = build_export_table(kept, ecfg, where=str(run.sub(runs.KEPT)))
    if table.num_rows == 0:
        raise LuxitError(f"run {run.path}: no kept pairs to export ({runs.KEPT}/ is empty)")
    log.info("exporting %d kept pairs", table.num_rows)

    final = run.sub(ecfg.dir_name)
    tmp = final.with_name(final.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    files = _write_data(table, tmp, ecfg)

    sources = table.column(S.SOURCE).to_pylist()
    docs = table.column(S.DOC_ID).to_pylist()
    splits = table.column(S.SPLIT).to_pylist() if S.SPLIT in table.column_names else [TRAIN] * table.num_rows
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for (sp, src), n in sorted(Counter(zip(splits, sources, strict=True)).items()):
        counts[sp][src] = n
    articles = {sp: len({d for d, s in zip(docs, splits, strict=True) if s == sp}) for sp in set(splits)}
    card = None
    if ecfg.dataset_card:
        text = render_card(run, cfg, ecfg, table, dict(counts), articles)
        (tmp / "README.md").write_text(text, encoding="utf-8")
        card = final / "README.md"
    totals = {
        "rows": table.num_rows,
        "splits": {sp: sum(v.values()) for sp, v in counts.items()},
        "by_source": {sp: dict(v) for sp, v in counts.items()},
        "articles": articles,
        "formats": list(ecfg.formats),
        "error_rates": {r.stage: {"failed": r.failed, "total": r.total, "limit": r.limit} for r in rates},
    }
    (tmp / runs.MARKER).write_text(json.dumps(totals, indent=2, ensure_ascii=False), encoding="utf-8")
    _replace_dir(tmp, final)
    run.update_manifest(cfg, "export", totals)
    return ExportResult(
        path=final,
        rows=table.num_rows,
        counts={k: dict(v) for k, v in counts.items()},
        articles=articles,
        files=[final / f.relative_to(tmp) for f in files],
        card=card,
        error_rates=rates,
    )


# ==== the dataset card ==================================================================


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def _pct(n: int, total: int) -> str:
    return f"{n} ({n / total:.1%})" if total else str(n)


def render_card(
    run: runs.RunDir,
    cfg: JobConfig,
    ecfg: ExportConfig,
    table: pa.Table,
    counts: dict[str, dict[str, int]],
    articles: dict[str, int],
) -> str:
    """The dataset card (README.md with Hugging Face metadata) for an exported table."""
    steps = run.manifest().get("steps", {})
    prep = steps.get("prepare") or {}
    gen = steps.get("generate") or {}
    judge_m = steps.get("judge") or {}
    splits = sorted(counts, key=lambda s: (s != TRAIN, s))
    data_ext = "parquet" if "parquet" in ecfg.formats else "jsonl"
    language = cfg.generate.language if cfg.generate else (cfg.judge.language if cfg.judge else "the target language")

    meta = [
        "---",
        f"pretty_name: {json.dumps(ecfg.dataset_name, ensure_ascii=False)}",
        f"license: {ecfg.licence}",
        "language:",
        *[f"- {code}" for code in ecfg.languages],
        "task_categories:",
        "- text-generation",
        "size_categories:",
        f"- {_size_category(table.num_rows)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
    ]
    for sp in splits:
        meta += [f"  - split: {sp}", f"    path: {sp}-*.{data_ext}"]
    meta.append("---")

    out = [*meta, "", f"# {ecfg.dataset_name}", ""]
    out.append(
        f"{table.num_rows} instruction/response pairs in {language}, generated by an LLM from native "
        f"{language} seed texts and kept after an LLM judge scored them on four criteria "
        f"(the LuxIT method). Run `{run.path.name}`, exported "
        f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d')}."
    )
    out += ["", "## Counts", ""]

    # Per source: documents read -> passed filters -> seeds -> pairs judged -> kept, per split.
    judged = read_folder(run.sub(runs.JUDGED), [S.SOURCE, S.SOURCE_TYPE]) if run.sub(runs.JUDGED).is_dir() else None
    judged_by_src = Counter(judged.column(S.SOURCE).to_pylist()) if judged is not None else Counter()
    types: dict[str, str] = {}
    for src, st in zip(table.column(S.SOURCE).to_pylist(), table.column(S.SOURCE_TYPE).to_pylist(), strict=True):
        types.setdefault(src, st)
    if judged is not None:
        for src, st in zip(judged.column(S.SOURCE).to_pylist(), judged.column(S.SOURCE_TYPE).to_pylist(), strict=True):
            types.setdefault(src, st)
    names = sorted(set(types) | set(prep.get("read", {})) | {s.name for s in cfg.sources})
    rows = []
    for src in names:
        kept_src = sum(counts.get(sp, {}).get(src, 0) for sp in splits)
        rows.append([
            src, types.get(src, ""), prep.get("read", {}).get(src), prep.get("kept", {}).get(src),
            prep.get("seeds", {}).get(src), judged_by_src.get(src, 0), kept_src,
            *[counts.get(sp, {}).get(src, 0) for sp in splits],
        ])
    out.append(_md_table(
        ["source", "type", "articles read", "passed filters", "seeds", "pairs judged", "pairs kept", *splits], rows
    ))
    n_judged = sum(judged_by_src.values())
    out += ["", f"Kept {_pct(table.num_rows, n_judged)} of {n_judged} judged pairs. "
            + ", ".join(f"{sp}: {sum(counts[sp].values())} pairs from {articles.get(sp, 0)} articles" for sp in splits) + "."]
    if ecfg.splits.validation_fraction > 0:
        out.append(
            f"Validation holds about {ecfg.splits.validation_fraction:.0%} of each source's pairs, drawn by whole "
            f"article (seed {ecfg.splits.seed}): no article has pairs in both splits."
        )

    out += ["", "## Models and prompts", ""]
    mrows = []
    gen_models = Counter(table.column(GENERATOR_MODEL).to_pylist())
    gen_shas = Counter(table.column(GENERATOR_PROMPT_SHA).to_pylist())
    for model, n in sorted(gen_models.items(), key=lambda kv: str(kv[0])):
        mrows.append(["generator", model, cfg.generate.prompt if cfg.generate else "", ", ".join(str(s) for s in gen_shas), n])
    judge_counts: Counter = Counter()
    judge_shas: dict[tuple[str, str], set[str]] = defaultdict(set)
    for recs in table.column(JUDGE_SCORES).to_pylist():
        for rec in recs:
            key = (rec["judge"], rec["model"])
            judge_counts[key] += 1
            if rec["prompt_sha"]:
                judge_shas[key].add(rec["prompt_sha"])
    prompts = {j.name: j.prompt for j in cfg.judge.judges} if cfg.judge else {}
    for (name, model), n in sorted(judge_counts.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
        mrows.append([f"judge {name}", model, prompts.get(name, ""), ", ".join(sorted(judge_shas[(name, model)])), n])
    out.append(_md_table(["role", "model", "prompt", "prompt sha", "pairs"], mrows))
    if cfg.judge:
        out += ["", f"Judges' scores are combined per criterion by `{cfg.judge.aggregate}`; a pair is kept when "
                f"every combined score is at least {cfg.judge.min_score:g}."]
    usage_lines = []
    for stage, m in (("generate", gen), ("judge", judge_m)):
        for model, u in sorted((m.get("usage") or {}).items()):
            usage_lines.append([stage, model, u.get("requests"), u.get("prompt_tokens"), u.get("completion_tokens"),
                                u.get("reasoning_tokens"), u.get("cost_usd")])
    if usage_lines:
        out += ["", _md_table(["stage", "model", "requests", "prompt tokens", "completion tokens", "reasoning tokens", "cost (USD)"], usage_lines)]

    out += ["", "## Filters", ""]
    f = cfg.filters
    out.append(
        f"Seed texts had at least {f.min_chars} characters; Wikipedia page kinds dropped: "
        f"{', '.join(f.drop_page_kinds) or 'none'}; language ID "
        f"{'on (' + f.langid.label + ' >= ' + format(f.langid.threshold, 'g') + ', for ' + ', '.join(f.langid.source_types) + ')' if f.langid.enabled else 'off'}; "
        f"boilerplate removal {'on' if f.boilerplate.enabled else 'off'}; non-prose filter {'on' if f.nonprose.enabled else 'off'}; "
        f"duplicates: exact {'on' if f.dedup.exact else 'off'}, near {'on (Jaccard >= ' + format(f.dedup.threshold, 'g') + ')' if f.dedup.near else 'off'}."
    )
    if cfg.sample.quotas:
        out.append(f"Seeds were sampled per source with seed {cfg.sample.seed}: "
                   + ", ".join(f"{k}: {v}" for k, v in sorted(cfg.sample.quotas.items())) + ".")
    dropped = prep.get("dropped") or {}
    if dropped:
        srcs = sorted({s for per in dropped.values() for s in per})
        out += ["", _md_table(["filter", *srcs, "total"],
                              [[name, *[per.get(s, 0) for s in srcs], sum(per.values())] for name, per in dropped.items()])]

    out += ["", "## Score distribution", "",
            "Aggregate judge scores of the exported pairs (a fractional mean counts in the bin of its integer part):", ""]
    srows = []
    for c in S.CRITERIA:
        d = score_distribution(table.column(S.score_column(c)).to_pylist())
        srows.append([c, *[_pct(d["counts"][k], d["n"]) for k in ("1", "2", "3")], d["mean"], d["median"]])
    out.append(_md_table(["criterion", "score 1", "score 2", "score 3", "mean", "median"], srows))
    score_rows = [{c: v for c, v in zip(S.CRITERIA, vals, strict=True)}
                  for vals in zip(*[table.column(S.score_column(c)).to_pylist() for c in S.CRITERIA], strict=True)]
    out += ["", f"Pairs scored 3 on every criterion: {_pct(all_top_count(score_rows), table.num_rows)}."]

    out += ["", "## Columns", ""]
    for name in table.column_names:
        out.append(f"- `{name}`: {EXPORT_COLUMN_DOCS.get(name, '')}")

    out += ["", "## Licence", "",
            f"Licence field: `{ecfg.licence}`. The pairs restate content of the seed texts, so the terms of every "
            "source above apply (for example, Wikipedia text is CC BY-SA 4.0; news articles keep their publisher's terms).",
            "", "## Loading", "", "```python", "from datasets import load_dataset", "",
            f'ds = load_dataset("{data_ext if data_ext == "parquet" else "json"}", data_files='
            + "{" + ", ".join(f'"{sp}": "{sp}-*.{data_ext}"' for sp in splits) + "})",
            "```", ""]
    return "\n".join(out)
