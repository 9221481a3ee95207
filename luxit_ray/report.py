"""The run report: the paper's tables regenerated from a run folder, as Markdown, JSON and PNG.

``build_report(run_dir)`` reads ``manifest.json`` and the Parquet folders the steps wrote and
writes ``RUN_DIR/report/``::

    report.md        the tables below, with the plots linked
    report.json      every number behind the tables, and the tables as printed (machine-readable)
    scores.png       score distribution per criterion (all judged / kept / human subset)
    filters.png      every document read per source: kept, or the filter that dropped it
    retention.png    documents and pairs kept per source
    cost.png         cost and tokens per stage and model

Tables: the filter table (documents read, dropped per filter, passed and sampled, per source);
generation errors by kind; Table 3 (per criterion: score 1/2/3 counts and shares, mean and median
for all judged pairs, kept pairs and the human-reviewed subset, plus all-3 and rejection counts);
judge-call parse errors and judge disagreement within an ensemble; tokens and cost per stage and
model; when reviews were imported, every reviewer against the judge and the reviewers against
each other (Cohen's kappa per pair of reviewers, Krippendorff's alpha for all).

Whatever a step did not write is left out, so a run that stopped after prepare still gets its
filter table. Aggregate scores are binned to 1/2/3 by their integer part (``score_bin``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luxit_ray import plots, runs
from luxit_ray import schema as S
from luxit_ray.dataset.read import all_top_count, read_folder, score_distribution
from luxit_ray.errors import InputError, LuxitError
from luxit_ray.review import AGREEMENT_JSON, reviewer_tables
from luxit_ray.textio import markdown_table

log = logging.getLogger(__name__)

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
SCORES_PNG = "scores.png"
RETENTION_PNG = "retention.png"
COST_PNG = "cost.png"
FILTERS_PNG = "filters.png"
PARSE_KINDS = ("parse", "schema")


@dataclass
class Report:
    """What ``build_report`` wrote, plus the tables for the terminal."""

    path: Path
    markdown: Path
    json_path: Path
    plots: list[Path]
    tables: dict[str, dict[str, Any]]  # title -> {"columns": [...], "rows": [[...]]}
    lines: list[str]
    data: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI (same shape as the pipeline's step summaries)."""
        return {"run_dir": str(self.path.parent), "tables": self.tables,
                "lines": [*self.lines, f"wrote {self.markdown}, {self.json_path.name} and {len(self.plots)} plot(s)"]}


# ==== numbers ===========================================================================


def _count_by(values: Sequence[Any]) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items()))


def filter_counts(run: runs.RunDir, manifest: dict[str, Any]) -> dict[str, Any] | None:
    """Per source: documents read, dropped per filter, passed filters, seeds, boilerplate lines.

    From the manifest's prepare step; without it, counted from rejects/ and seeds/.
    """
    prep = (manifest.get("steps") or {}).get("prepare")
    if prep:
        out = {k: dict(prep.get(k) or {}) for k in
               ("read", "kept", "seeds", "boilerplate_lines_removed", "read_detail", "boilerplate", "wiki_markup_left")}
        out["dropped"] = _in_filter_order({f: dict(per) for f, per in (prep.get("dropped") or {}).items()})
        out["warnings"] = list(prep.get("warnings") or [])
        return out
    if not (run.sub(runs.SEEDS).is_dir() or run.sub(runs.REJECTS).is_dir()):
        return None
    seeds = read_folder(run.sub(runs.SEEDS), [S.SOURCE], S.DOCUMENT_SCHEMA).column(S.SOURCE).to_pylist()
    rej = read_folder(run.sub(runs.REJECTS), [S.SOURCE, S.DROP_FILTER], S.REJECT_SCHEMA)
    dropped: dict[str, dict[str, int]] = defaultdict(dict)
    for (f, src), n in sorted(Counter(zip(rej.column(S.DROP_FILTER).to_pylist(), rej.column(S.SOURCE).to_pylist(), strict=True)).items(), key=str):
        dropped[str(f)][src] = n
    return {"read": {}, "kept": {}, "seeds": _count_by(seeds), "boilerplate_lines_removed": {},
            "dropped": _in_filter_order(dict(dropped)), "read_detail": {}, "boilerplate": {}, "warnings": []}


def _in_filter_order(dropped: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Drop counts ordered as the documents meet them: readers first, then FILTER_ORDER."""
    from luxit_ray.filters.stage import FILTER_ORDER
    from luxit_ray.sources.common import READER_FILTERS

    order = [*READER_FILTERS, *FILTER_ORDER]
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(dropped.items(), key=lambda kv: (rank.get(kv[0], len(order)), kv[0])))


def filter_table(fc: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Rows: read, one per filter (dropped; a reader's drops also per namespace or type), passed
    filters, seeds; a column per source + total."""
    sources = sorted(set(fc["read"]) | set(fc["kept"]) | set(fc["seeds"])
                     | {s for per in fc["dropped"].values() for s in per})
    rows: list[list[Any]] = []

    def add(label: str, per: dict[str, int]) -> None:
        rows.append([label, *[per.get(s, 0) for s in sources], sum(per.get(s, 0) for s in sources)])

    if fc["read"]:
        add("documents read", fc["read"])
    from luxit_ray.sources.common import NAMESPACE_FILTER, TYPE_FILTER

    detail = fc.get("read_detail") or {}
    for name, per in fc["dropped"].items():
        add(f"dropped: {name}", per)
        if name in (NAMESPACE_FILTER, TYPE_FILTER):
            labels = sorted({k for d in detail.values() for k in d
                             if k.startswith("namespace " if name == NAMESPACE_FILTER else "type=")})
            for label in labels:
                add(f"  of which {label}", {s: d.get(label, 0) for s, d in detail.items()})
    if fc["kept"]:
        add("passed filters", fc["kept"])
    if fc["seeds"]:
        add("sampled as seeds", fc["seeds"])
    if fc["boilerplate_lines_removed"]:
        add("boilerplate lines removed", fc["boilerplate_lines_removed"])
    return ["step", *sources, "total"], rows


def table3_block(rows: Sequence[dict[str, float | None]], min_score: float) -> dict[str, Any]:
    """One Table 3 block: per criterion the score distribution, plus all-3 and rejection counts.

    Args:
        rows: one dict per pair, criterion -> aggregate score (all present).
        min_score: the keep threshold; ``below_min`` counts scores under it per criterion.
    """
    return {
        "n": len(rows),
        "criteria": {c: score_distribution([r[c] for r in rows]) for c in S.CRITERIA},
        "all_top": all_top_count(rows),
        "below_min": {c: sum(1 for r in rows if r[c] < min_score) for c in S.CRITERIA},
        "rejected": sum(1 for r in rows if any(r[c] < min_score for c in S.CRITERIA)),
    }


def _share(n: int, total: int) -> str:
    return f"{n} ({100.0 * n / total:.1f}%)" if total else str(n)


def table3_rows(block: dict[str, Any]) -> list[list[Any]]:
    """Terminal/Markdown rows of a block: criterion, score 1/2/3 as 'count (share)', mean, median."""
    rows = []
    for c in S.CRITERIA:
        d = block["criteria"][c]
        rows.append([c, *[_share(d["counts"][k], d["n"]) for k in ("1", "2", "3")],
                     None if d["mean"] is None else round(d["mean"], 2),
                     None if d["median"] is None else round(d["median"], 2)])
    return rows


TABLE3_COLUMNS = ["criterion", "score 1", "score 2", "score 3", "mean", "median"]


def judge_details(judgements: Sequence[str | None], where: str = "judged") -> dict[str, Any]:
    """Judge-call errors (by judge and kind) and ensemble disagreement, from the judgements JSON.

    A pair counts for disagreement when at least two judges returned scores; it disagrees when
    two of them differ on some criterion.

    Raises:
        InputError: a judgements cell is not a JSON list of objects (names the row).
    """
    calls: Counter = Counter()
    failed: Counter = Counter()
    kinds: Counter = Counter()
    pairs = disagree = 0
    by_crit: Counter = Counter()
    n_judges: Counter = Counter()
    for row, raw in enumerate(judgements):
        try:
            items = json.loads(raw) if raw else []
        except json.JSONDecodeError as exc:
            raise InputError(where, f"row {row}, column {S.JUDGEMENTS}", f"invalid JSON: {exc.msg}") from None
        if not isinstance(items, list) or not all(isinstance(it, dict) for it in items):
            raise InputError(where, f"row {row}, column {S.JUDGEMENTS}", "expected a JSON list of judge records")
        n_judges[len(items)] += 1
        scored = []
        for it in items:
            name = str(it.get("judge"))
            calls[name] += 1
            if it.get("error"):
                failed[name] += 1
                kinds[str(it.get("error_kind") or str(it["error"]).split(":", 1)[0].strip())] += 1
            elif isinstance(it.get("scores"), dict):
                scored.append(it["scores"])
        if len(scored) >= 2:
            pairs += 1
            crits = [c for c in S.CRITERIA if len({s.get(c) for s in scored}) > 1]
            by_crit.update(crits)
            disagree += bool(crits)
    total_calls = sum(calls.values())
    parse_failed = sum(n for k, n in kinds.items() if k in PARSE_KINDS)
    return {
        "calls": total_calls,
        "failed_calls": sum(failed.values()),
        "parse_errors": parse_failed,
        "parse_error_rate": parse_failed / total_calls if total_calls else None,
        "by_judge": {j: {"calls": calls[j], "failed": failed[j]} for j in sorted(calls)},
        "by_kind": dict(sorted(kinds.items())),
        "ensemble": max(n_judges) > 1 if n_judges else False,
        "disagreement": {
            "pairs": pairs, "disagree": disagree, "rate": disagree / pairs if pairs else None,
            "by_criterion": {c: by_crit.get(c, 0) for c in S.CRITERIA},
        },
    }


USAGE_KEYS = ("requests", "sends", "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens",
              "cost_usd", "cost_this_attempt_usd", "cost_earlier_attempts_usd", "saved_usd", "cached_input_share")


def usage_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Per stage and model: requests, sends, tokens (cached input apart), this run's cost over
    all its attempts, the earlier attempts' part, and what the request cache saved (from the
    manifest's step usage, which the run's spend ledger fills)."""
    out = []
    for stage, step in (manifest.get("steps") or {}).items():
        usage = step.get("usage") if isinstance(step, dict) else None
        if not isinstance(usage, dict):
            continue
        for model, u in sorted(usage.items()):
            if not isinstance(u, dict):
                continue
            row = {"stage": stage, "model": model, **{k: u.get(k) for k in USAGE_KEYS}}
            for k in USAGE_KEYS:
                if row[k] is None and k != "cached_input_share":
                    row[k] = 0.0 if k.endswith("usd") else 0
            out.append(row)
    return out


def spend_lines(usage: Sequence[dict[str, Any]]) -> list[str]:
    """One line on what the run cost in all: every attempt, every send, and what the cache saved."""
    total = sum(float(u["cost_usd"] or 0.0) for u in usage)
    earlier = sum(float(u["cost_earlier_attempts_usd"] or 0.0) for u in usage)
    saved = sum(float(u["saved_usd"] or 0.0) for u in usage)
    prompt = sum(int(u["prompt_tokens"] or 0) for u in usage)
    cached = sum(int(u["cached_tokens"] or 0) for u in usage)
    share = f"{cached / prompt:.1%}" if prompt else "-"
    return [f"run total ${total:.4f} (earlier attempts ${earlier:.4f}; saved by the request cache ${saved:.4f};"
            f" cached input {share})"]


# ==== the report ========================================================================


def build_report(run_dir: str | Path) -> Report:
    """Write report.md, report.json and the PNG plots for a run; return them with CLI tables.

    Raises:
        LuxitError: the folder is not a run folder.
    """
    run = runs.RunDir(run_dir)
    if not (run.path / runs.CONFIG_FILE).is_file() and not (run.path / runs.MANIFEST_FILE).is_file():
        raise LuxitError(f"{run.path}: not a run folder (no {runs.CONFIG_FILE} or {runs.MANIFEST_FILE})")
    manifest = run.manifest()
    steps = manifest.get("steps") or {}
    cfg = run.config() if (run.path / runs.CONFIG_FILE).is_file() else None
    min_score = float(cfg.judge.min_score) if cfg is not None and cfg.judge is not None else 2.0
    out_dir = run.sub(runs.REPORT)
    out_dir.mkdir(parents=True, exist_ok=True)

    tables: dict[str, dict[str, Any]] = {}
    lines: list[str] = []
    md: list[str] = [f"# Run report: {run.path.name}", ""]
    data: dict[str, Any] = {"run_id": run.path.name, "config_hash": manifest.get("config_hash"),
                            "updated_at": manifest.get("updated_at"), "steps": sorted(steps)}
    md.append(f"Steps recorded: {', '.join(sorted(steps)) or 'none'}. Config hash `{manifest.get('config_hash')}`.")
    retention: dict[str, dict[str, Any]] = defaultdict(dict)

    # --- filters ---------------------------------------------------------------------------
    fc = filter_counts(run, manifest)
    data["filters"] = fc
    if fc:
        cols, rows = filter_table(fc)
        tables["Filters (documents per source)"] = {"columns": cols, "rows": rows}
        md += ["", "## Filters", "", markdown_table(cols, rows)]
        for src in cols[1:-1]:
            retention[src].update(read=fc["read"].get(src), passed_filters=fc["kept"].get(src), seeds=fc["seeds"].get(src))
        lines += fc.get("warnings") or []
        markup = fc.get("wiki_markup_left") or {}
        if markup:
            md += ["", "Kept wiki pages whose text still holds wiki markup: " + "; ".join(
                f"{src} {m['with_markup']} of {m['pages']}" + (f" ({m['by_mark']})" if m["by_mark"] else "")
                for src, m in markup.items()) + "."]
        bp_rows = [[src, t["line"], t["docs"], t["edge_share"], t["shape"]]
                   for src, b in sorted((fc.get("boilerplate") or {}).items()) for t in b.get("top_lines", [])]
        if fc.get("boilerplate"):
            bp_cols = ["source", "line", "documents", "share at start/end", "shape"]
            shares = "; ".join(f"{src}: {b['lines_learned']} line(s) learned, {b['lines_removed']} removed, "
                               f"{100.0 * b['removed_share']:.1f}% of {b['chars']:,} characters"
                               for src, b in sorted(fc["boilerplate"].items()))
            tables["Boilerplate: most frequent learned lines"] = {"columns": bp_cols, "rows": bp_rows}
            md += ["", "## Boilerplate", "", f"Removed: {shares}.", *[f"**{w}**" for w in fc.get("warnings") or []],
                   "", markdown_table(bp_cols, bp_rows) if bp_rows else "No line was learned."]

    # --- generation ------------------------------------------------------------------------
    gen = steps.get("generate")
    if gen:
        seeds_n = gen.get("seeds") or 0
        errors = gen.get("errors") or {}
        parse = sum(n for k, n in errors.items() if k in PARSE_KINDS)
        data["generate"] = {**{k: gen.get(k) for k in ("seeds", "pairs", "seeds_with_error", "cache_hits", "retries", "wall_s")},
                            "errors": errors, "parse_errors": parse,
                            "parse_error_rate": parse / seeds_n if seeds_n else None}
        rows = [["seeds", seeds_n], ["pairs generated", gen.get("pairs")],
                ["seeds with an error", _share(int(gen.get("seeds_with_error") or 0), seeds_n)]]
        rows += [[f"error: {k}", _share(int(n), seeds_n)] for k, n in sorted(errors.items())]
        rows += [["cache hits", gen.get("cache_hits")], ["retries", gen.get("retries")], ["wall time (s)", gen.get("wall_s")]]
        tables["Generation"] = {"columns": ["", "value"], "rows": rows}
        md += ["", "## Generation", "", markdown_table(["", "value"], rows), "",
               f"Generation parse-error rate (parse/schema errors per seed): {_share(parse, seeds_n)}."]

    # --- judging: Table 3 ------------------------------------------------------------------
    blocks: dict[str, dict[str, Any]] = {}
    if run.sub(runs.JUDGED).is_dir():
        t = read_folder(run.sub(runs.JUDGED), [S.SOURCE, *S.SCORE_COLUMNS, S.KEEP, S.JUDGE_ERROR, S.JUDGEMENTS])
        recs = t.to_pylist()
        scored = [r for r in recs if r[S.JUDGE_ERROR] is None and all(r[c] is not None for c in S.SCORE_COLUMNS)]
        as_scores = [{c: r[S.score_column(c)] for c in S.CRITERIA} for r in scored]
        kept = [{c: r[S.score_column(c)] for c in S.CRITERIA} for r in scored if r[S.KEEP]]
        n_kept_all = sum(1 for r in recs if r[S.KEEP])
        blocks["all"] = table3_block(as_scores, min_score)
        blocks["kept"] = table3_block(kept, min_score)
        for src, n in Counter(r[S.SOURCE] for r in recs).items():
            retention[src]["pairs_judged"] = n
        for src in retention:
            retention[src].setdefault("pairs_judged", 0)
            retention[src]["pairs_kept"] = sum(1 for r in recs if r[S.KEEP] and r[S.SOURCE] == src)
        details = judge_details([r[S.JUDGEMENTS] for r in recs], where=str(run.sub(runs.JUDGED)))
        judge_errors = sum(1 for r in recs if r[S.JUDGE_ERROR] is not None)
        data["judge"] = {
            "judged": len(recs), "scored": len(scored), "judge_errors": judge_errors,
            "unjudgeable": len(recs) - len(scored) - judge_errors,
            "kept": n_kept_all, "rejected": len(recs) - n_kept_all,
            "retention": n_kept_all / len(recs) if recs else None, "min_score": min_score, **details,
        }
    review_path = run.sub(runs.REVIEW) / AGREEMENT_JSON
    review = json.loads(review_path.read_text(encoding="utf-8")) if review_path.is_file() else None
    if review and review.get("rows"):
        # Every reviewer's scores: a pair scored by two reviewers counts twice.
        blocks["human"] = table3_block([r["human"] for r in review["rows"]], min_score)
    data["table3"] = blocks
    titles = {"all": "All judged pairs", "kept": "Kept pairs", "human": "Human review subset"}
    if blocks:
        md += ["", "## Judge scores (Table 3)", "",
               "Aggregate scores; a fractional aggregate counts in the bin of its integer part. Pairs without "
               "scores (every judge failed, or the pair itself was an error) are counted apart, under Judging."]
        for key, block in blocks.items():
            title = f"{titles[key]} ({block['n']})"
            rows = table3_rows(block)
            tables[f"Table 3: {title}"] = {"columns": TABLE3_COLUMNS, "rows": rows}
            md += ["", f"### {title}", "", markdown_table(TABLE3_COLUMNS, rows), "",
                   f"All criteria scored 3: {_share(block['all_top'], block['n'])}."]
            if key != "kept":
                md.append(f"Below the keep threshold ({min_score:g}) on some criterion: {_share(block['rejected'], block['n'])}; "
                          "by criterion (a pair can fail several): "
                          + ", ".join(f"{c} {block['below_min'][c]}" for c in S.CRITERIA) + ".")
    if "judge" in data:
        j = data["judge"]
        line = (f"kept {_share(j['kept'], j['judged'])} of {j['judged']} judged pairs; "
                f"{j['judge_errors']} without scores (every judge failed)"
                + (f", {j['unjudgeable']} not judgeable (pair error)" if j["unjudgeable"] else ""))
        lines.append(line)
        dis = j["disagreement"]
        rows = [
            ["pairs judged", j["judged"]], ["pairs kept", _share(j["kept"], j["judged"])],
            ["pairs rejected", _share(j["rejected"], j["judged"])], ["pairs without scores (judge error)", j["judge_errors"]],
        ]
        if j["unjudgeable"]:
            rows.append(["pairs not judgeable (pair error)", j["unjudgeable"]])
        rows += [
            ["judge calls", j["calls"]], ["judge calls failed", _share(j["failed_calls"], j["calls"])],
            ["judge parse errors", _share(j["parse_errors"], j["calls"])],
        ]
        rows += [[f"judge calls failed: {k}", n] for k, n in j["by_kind"].items()]
        if j["ensemble"]:
            rows.append(["pairs where judges disagree", f"{dis['disagree']} of {dis['pairs']} ({100.0 * (dis['rate'] or 0):.1f}%)"])
            rows += [[f"disagree on {c}", n] for c, n in dis["by_criterion"].items()]
        else:
            rows.append(["pairs where judges disagree", "n/a (one judge)"])
        tables["Judging"] = {"columns": ["", "value"], "rows": rows}
        md += ["", "## Judging", "", markdown_table(["", "value"], rows), "",
               "Disagreement counts pairs that at least two judges scored; it disagrees when two judges differ on "
               "some criterion (before aggregation)."]

    # --- human review: every reviewer -----------------------------------------------------
    if review and review.get("reviewers"):
        for title, t in reviewer_tables(review).items():
            tables[f"Human review: {title}"] = t
        md += ["", "## Human review", "",
               f"{len(review['reviewers'])} reviewer(s): each against the judge (judge scores binned to 1/2/3), "
               "Cohen's kappa for each pair of reviewers on the pairs both scored, Krippendorff's alpha over all. "
               "Details and confusion matrices: `../review/agreement/<reviewer>.md`."]
        for title, t in reviewer_tables(review).items():
            md += ["", f"### {title}", "", markdown_table(t["columns"], t["rows"])]
        more = {r: d.get("human_rejects_more") or [] for r, d in review["reviewers"].items()}
        md += ["", "Gave a 1 more often than the judge on: "
               + "; ".join(f"{r}: {', '.join(m) or 'no criterion'}" for r, m in more.items()) + "."]
        data["review"] = {"reviewers": review["reviewers"], "between_reviewers": review["between_reviewers"]}

    # --- tokens and cost -------------------------------------------------------------------
    usage = usage_rows(manifest)
    data["usage"] = usage
    if usage:
        cols = ["stage", "model", "requests", "sends", "prompt tokens", "cached input", "completion tokens",
                "reasoning tokens", "run cost (USD)", "earlier attempts (USD)", "saved (USD)"]

        def share(u: dict[str, Any]) -> str:
            return "-" if u["cached_input_share"] is None else f"{u['cached_input_share']:.1%}"

        rows = [[u["stage"], u["model"], u["requests"], u["sends"], u["prompt_tokens"], share(u), u["completion_tokens"],
                 u["reasoning_tokens"], u["cost_usd"], u["cost_earlier_attempts_usd"], u["saved_usd"]] for u in usage]
        total_cost = sum(float(u["cost_usd"] or 0.0) for u in usage)
        prompt = sum(int(u["prompt_tokens"] or 0) for u in usage)
        cached = sum(int(u["cached_tokens"] or 0) for u in usage)
        rows.append(["total", "", *[sum(int(u[k] or 0) for u in usage) for k in ("requests", "sends", "prompt_tokens")],
                     f"{cached / prompt:.1%}" if prompt else "-",
                     *[sum(int(u[k] or 0) for u in usage) for k in ("completion_tokens", "reasoning_tokens")],
                     round(total_cost, 6), round(sum(float(u["cost_earlier_attempts_usd"] or 0.0) for u in usage), 6),
                     round(sum(float(u["saved_usd"] or 0.0) for u in usage), 6)])
        tables["Tokens and cost"] = {"columns": cols, "rows": rows}
        md += ["", "## Tokens and cost", "", markdown_table(cols, rows), "",
               "The run cost counts every send an endpoint may bill (hedge copies and cancelled sends, their "
               "output estimated), over every attempt of the run (reruns included), from the run's spend "
               "ledger; cached input is the share of input tokens read from the provider's prompt cache. "
               "Completion tokens include reasoning tokens where the endpoint reports them that way."]
        lines.extend(spend_lines(usage))

    # --- plots -----------------------------------------------------------------------------
    pngs: list[Path] = []
    if fc and fc["read"]:
        pngs.append(plots.plot_filters(
            [{"source": s, "read": fc["read"].get(s, 0), "kept": fc["kept"].get(s, 0),
              "dropped": {f: per.get(s, 0) for f, per in fc["dropped"].items()}} for s in sorted(fc["read"])],
            out_dir / FILTERS_PNG))
    if blocks:
        labelled = {f"{titles[k]} ({b['n']})": b["criteria"] for k, b in blocks.items() if b["n"]}
        if labelled:
            pngs.append(plots.plot_score_distributions(labelled, S.CRITERIA, out_dir / SCORES_PNG))
    if retention:
        ret_rows = [{"source": s, **v} for s, v in sorted(retention.items())]
        data["retention"] = ret_rows
        pngs.append(plots.plot_retention(ret_rows, out_dir / RETENTION_PNG))
    if usage:
        pngs.append(plots.plot_costs(usage, out_dir / COST_PNG))
    if pngs:
        md += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in pngs]
    data["plots"] = [p.name for p in pngs]
    data["tables"] = tables

    md_path = out_dir / REPORT_MD
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")
    json_path = out_dir / REPORT_JSON
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return Report(path=out_dir, markdown=md_path, json_path=json_path, plots=pngs, tables=tables, lines=lines, data=data)
