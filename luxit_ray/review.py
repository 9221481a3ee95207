"""The human-review round-trip: a sample sheet out, a native speaker's scores back in.

``export_review_sheet`` draws a seeded sample of judged pairs (kept and rejected alike: the
human checks the judge), stratified by source with proportional allocation, and writes it as
``review_sheet.csv`` and ``review_sheet.jsonl`` with the four criteria and a comment left empty.
The judge's scores are not in the sheet; they go to ``RUN_DIR/review/review_key.json``, which
the importer reads.

``import_review_sheet`` reads a filled sheet (CSV or JSONL) back, validates every cell and
compares the human with the judge per criterion: exact agreement, Cohen's kappa, quadratic
weighted kappa, a 3x3 confusion matrix, and how often each side gave a 1 (the paper's human
rejected more pairs for linguistic quality than the judge did).

Every reviewer's result is kept: ``RUN_DIR/review/agreement/<reviewer>.json`` and ``.md`` (the
reviewer is the sheet's ``reviewer`` column, as the review page writes it, or the file name; a
later import of the same reviewer replaces only that reviewer's). After each import
``RUN_DIR/review/agreement.json`` and ``agreement.md`` are rebuilt from all of them: each reviewer
against the judge, Cohen's kappa for each pair of reviewers on the pairs both scored, and
Krippendorff's alpha over all reviewers (any number per pair, missing ratings allowed); the report
picks them up.

Sheet rules: a row is either complete (every criterion 1, 2 or 3) or left empty on all four
criteria (skipped and counted). CSV may be comma-, semicolon- or tab-separated (the header
decides); its rows are numbered like a spreadsheet (the header is row 1), JSONL rows by line.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from luxit_ray import runs
from luxit_ray import schema as S
from luxit_ray.dataset.read import read_folder, score_bin, score_distribution
from luxit_ray.errors import InputError, LuxitError
from luxit_ray.textio import iter_jsonl, write_jsonl

log = logging.getLogger(__name__)

SHEET_CSV = "review_sheet.csv"
SHEET_JSONL = "review_sheet.jsonl"
KEY_FILE = "review_key.json"
AGREEMENT_JSON = "agreement.json"
AGREEMENT_MD = "agreement.md"
AGREEMENT_DIR = "agreement"
REVIEW_ID = "review_id"
COMMENT = "comment"
SHEET_COLUMNS = [REVIEW_ID, S.PAIR_ID, S.SOURCE_TYPE, S.INSTRUCTION, S.RESPONSE, *S.CRITERIA, COMMENT]
LABELS = (1, 2, 3)


# ==== agreement statistics ==============================================================


def confusion_matrix(a: Sequence[int], b: Sequence[int], labels: Sequence[int] = LABELS) -> list[list[int]]:
    """Counts of (a, b) label pairs: rows are ``a``'s labels, columns ``b``'s, in ``labels`` order."""
    index = {lab: i for i, lab in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for x, y in zip(a, b, strict=True):
        m[index[x]][index[y]] += 1
    return m


def cohen_kappa(a: Sequence[int], b: Sequence[int], labels: Sequence[int] = LABELS,
                weights: str | None = None) -> float | None:
    """Cohen's kappa of two raters, optionally weighted.

    kappa = 1 - sum(w * O) / sum(w * E), where O is the observed share of each label pair, E the
    share expected from the two raters' marginals, and w the disagreement weight: 1 off the
    diagonal (unweighted), or ((i - j) / (k - 1))^2 (quadratic).

    Args:
        a: one rater's labels.
        b: the other rater's labels, same length.
        labels: the label set, in order (the weights use positions in it).
        weights: None or "quadratic".

    Returns:
        kappa, or None when it is undefined (no items, or chance agreement is already total,
        e.g. both raters gave every item the same label).
    """
    if weights not in (None, "quadratic"):
        raise ValueError(f"weights must be None or 'quadratic', got {weights!r}")
    n = len(a)
    if n == 0:
        return None
    # Integer counts and integer weights ((i - j)^2: the 1/(k-1)^2 cancels), one division at the
    # end: kappa is exactly 0 at chance agreement, not 1e-16.
    obs = np.asarray(confusion_matrix(a, b, labels), dtype=np.int64)
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0))  # n times the expected counts
    k = len(labels)
    i, j = np.indices((k, k))
    w = (i != j).astype(np.int64) if weights is None else (i - j) ** 2
    denom = int((w * expected).sum())
    if denom == 0:
        return None
    return 1.0 - n * int((w * obs).sum()) / denom


def krippendorff_alpha(units: Sequence[Sequence[int]], metric: str = "nominal") -> float | None:
    """Krippendorff's alpha over any number of raters, each unit rated by some of them.

    alpha = 1 - D_o / D_e. From the coincidence matrix o (each unit with m >= 2 ratings adds
    1 / (m - 1) for every ordered pair of its ratings), n_c = sum_k o_ck and n = sum n_c:
    D_o = sum_ck o_ck d(c, k) / n and D_e = sum_ck n_c n_k d(c, k) / (n (n - 1)), with
    d = [c != k] (nominal) or (c - k)^2 (interval).

    Args:
        units: the ratings of each unit (units with fewer than two ratings are left out).
        metric: "nominal" or "interval".

    Returns:
        alpha, or None when it is undefined (no unit with two ratings, or a single value used).
    """
    if metric not in ("nominal", "interval"):
        raise ValueError(f"metric must be 'nominal' or 'interval', got {metric!r}")
    rated = [list(u) for u in units if len(u) >= 2]
    values = sorted({v for u in rated for v in u})
    if not rated or len(values) < 2:
        return None
    pos = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for u in rated:
        for a in range(len(u)):
            for b in range(len(u)):
                if a != b:
                    o[pos[u[a]], pos[u[b]]] += 1.0 / (len(u) - 1)
    v = np.asarray(values, dtype=float)
    d = (v[:, None] != v[None, :]).astype(float) if metric == "nominal" else (v[:, None] - v[None, :]) ** 2
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d_e = float((np.outer(n_c, n_c) * d).sum()) / (n * (n - 1))
    return 1.0 - (float((o * d).sum()) / n) / d_e


def between_reviewers(scores: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
    """Agreement between reviewers, per criterion.

    Args:
        scores: reviewer -> pair_id -> criterion -> score.

    Returns:
        ``pairs``: each pair of reviewers with ``n`` common pairs and, per criterion, exact
        agreement, Cohen's kappa and quadratic kappa; ``all``: per criterion the number of pairs
        scored by two or more reviewers and Krippendorff's alpha (nominal and interval).
    """
    names = sorted(scores)
    pairs = []
    for k, r1 in enumerate(names):
        for r2 in names[k + 1:]:
            common = sorted(set(scores[r1]) & set(scores[r2]))
            crit = {}
            for c in S.CRITERIA:
                a = [scores[r1][p][c] for p in common]
                b = [scores[r2][p][c] for p in common]
                crit[c] = {"exact_agreement": (sum(x == y for x, y in zip(a, b, strict=True)) / len(a)) if a else None,
                           "cohen_kappa": cohen_kappa(a, b), "quadratic_kappa": cohen_kappa(a, b, weights="quadratic")}
            pairs.append({"reviewers": [r1, r2], "n": len(common), "criteria": crit})
    every = sorted({p for r in names for p in scores[r]})
    overall = {}
    for c in S.CRITERIA:
        units = [[scores[r][p][c] for r in names if p in scores[r]] for p in every]
        overall[c] = {"pairs": sum(1 for u in units if len(u) >= 2),
                      "alpha_nominal": krippendorff_alpha(units), "alpha_interval": krippendorff_alpha(units, "interval")}
    return {"pairs": pairs, "all": overall}


# ==== sheet export ======================================================================


@dataclass
class ReviewSheet:
    """What ``export_review_sheet`` wrote."""

    csv_path: Path
    jsonl_path: Path
    key_path: Path
    n: int
    n_requested: int
    strata: dict[str, dict[str, int]]  # source -> {"population", "sampled"}
    excluded_unscored: int

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI."""
        rows = [[src, v["population"], v["sampled"]] for src, v in sorted(self.strata.items())]
        rows.append(["total", sum(v["population"] for v in self.strata.values()), self.n])
        lines = [f"review sheet: {self.csv_path} (also {self.jsonl_path.name}); judge scores kept in {self.key_path}"]
        if self.n < self.n_requested:
            lines.append(f"only {self.n} judged pairs with scores exist: sampled all of them (asked for {self.n_requested})")
        if self.excluded_unscored:
            lines.append(f"{self.excluded_unscored} judged pair(s) without scores (judge or pair error) were not eligible")
        return {"tables": {"Review sample": {"columns": ["source", "judged pairs", "sampled"], "rows": rows}},
                "lines": lines}


def proportional_allocation(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Split ``n`` over strata in proportion to their sizes, summing to exactly ``n``.

    Largest remainder: every stratum gets the floor of its share, and the units left over go
    to the largest fractional parts (ties: the larger stratum, then the name).
    """
    total = sum(sizes.values())
    if n > total:
        raise ValueError(f"cannot draw {n} from {total}")
    if total == 0:
        return {k: 0 for k in sizes}
    quotas = {k: n * v / total for k, v in sizes.items()}
    alloc = {k: int(q) for k, q in quotas.items()}
    left = n - sum(alloc.values())
    order = sorted(sizes, key=lambda k: (-(quotas[k] - alloc[k]), -sizes[k], k))
    for k in order[:left]:
        alloc[k] += 1
    return alloc


def _judged_columns() -> list[str]:
    return [S.PAIR_ID, S.DOC_ID, S.SOURCE, S.SOURCE_TYPE, S.INSTRUCTION, S.RESPONSE, *S.SCORE_COLUMNS,
            S.KEEP, S.JUDGE_ERROR]


def export_review_sheet(run_dir: str | Path, n: int = 100, seed: int = 0, out: str | Path | None = None,
                        force: bool = False) -> ReviewSheet:
    """Draw a seeded, source-stratified sample of judged pairs into a sheet for a human.

    Args:
        run_dir: the run folder (its judge step has finished).
        n: pairs to sample (all eligible pairs when fewer exist).
        seed: seed of the draw and of the sheet order.
        out: folder for the two sheets (default ``RUN_DIR/review``); the key always goes to
            ``RUN_DIR/review``.
        force: overwrite an existing sheet (which may already hold a person's work).

    Raises:
        LuxitError: no finished judge step, nothing to sample, or a sheet exists and not ``force``.
    """
    if n < 1:
        raise LuxitError(f"--n must be at least 1 (got {n})")
    run = runs.RunDir(run_dir)
    judged_dir = run.sub(runs.JUDGED)
    if not run.is_done(runs.JUDGED):
        raise LuxitError(f"run {run.path} has not finished judging (no {runs.JUDGED}/{runs.MARKER})")
    review_dir = run.sub(runs.REVIEW)
    out_dir = Path(out) if out is not None else review_dir
    csv_path, jsonl_path, key_path = out_dir / SHEET_CSV, out_dir / SHEET_JSONL, review_dir / KEY_FILE
    if not force:
        for p in (csv_path, jsonl_path, key_path):
            if p.exists():
                raise LuxitError(f"{p} exists (it may hold a reviewer's scores); pass --force to draw a new sample")

    rows = read_folder(judged_dir, _judged_columns()).to_pylist()
    eligible = [r for r in rows if r[S.JUDGE_ERROR] is None and all(r[c] is not None for c in S.SCORE_COLUMNS)]
    excluded = len(rows) - len(eligible)
    if not eligible:
        raise LuxitError(f"run {run.path} has no judged pairs with scores to review")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(eligible, key=lambda r: r[S.PAIR_ID]):
        by_source.setdefault(r[S.SOURCE], []).append(r)
    n_take = min(n, len(eligible))
    if n_take < n:
        log.warning("only %d judged pairs have scores; the sheet holds all of them", n_take)
    alloc = proportional_allocation({k: len(v) for k, v in by_source.items()}, n_take)
    rng = np.random.default_rng(seed)
    sample: list[dict[str, Any]] = []
    for src in sorted(by_source):
        pool = by_source[src]
        picks = rng.choice(len(pool), size=alloc[src], replace=False) if alloc[src] else []
        sample.extend(pool[int(i)] for i in picks)
    # Shuffle the sheet so sources (and kept/rejected) are interleaved for the reviewer.
    sample = [sample[int(i)] for i in rng.permutation(len(sample))]

    width = max(3, len(str(len(sample))))
    items, sheet_rows = [], []
    for i, r in enumerate(sample, start=1):
        rid = f"R{i:0{width}d}"
        sheet_rows.append({REVIEW_ID: rid, S.PAIR_ID: r[S.PAIR_ID], S.SOURCE_TYPE: r[S.SOURCE_TYPE],
                           S.INSTRUCTION: r[S.INSTRUCTION], S.RESPONSE: r[S.RESPONSE],
                           **{c: "" for c in S.CRITERIA}, COMMENT: ""})
        items.append({REVIEW_ID: rid, S.PAIR_ID: r[S.PAIR_ID], S.DOC_ID: r[S.DOC_ID], S.SOURCE: r[S.SOURCE],
                      S.SOURCE_TYPE: r[S.SOURCE_TYPE], S.KEEP: r[S.KEEP],
                      "scores": {c: r[S.score_column(c)] for c in S.CRITERIA}})

    out_dir.mkdir(parents=True, exist_ok=True)
    review_dir.mkdir(parents=True, exist_ok=True)
    # utf-8-sig: spreadsheet programs then read ë, é, ä correctly.
    with csv_path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=SHEET_COLUMNS)
        writer.writeheader()
        writer.writerows(sheet_rows)
    write_jsonl(jsonl_path, ({k: (None if v == "" else v) for k, v in row.items()} for row in sheet_rows))
    strata = {src: {"population": len(v), "sampled": alloc[src]} for src, v in by_source.items()}
    key = {
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seed": seed, "n_requested": n, "n": len(sample), "strata": strata,
        "excluded_unscored": excluded, "sheets": [str(csv_path), str(jsonl_path)], "items": items,
    }
    key_path.write_text(json.dumps(key, indent=2, ensure_ascii=False), encoding="utf-8")
    return ReviewSheet(csv_path, jsonl_path, key_path, len(sample), n, strata, excluded)


# ==== sheet import ======================================================================


def _read_sheet(path: Path) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """(columns, [(where, row)]) of a CSV or JSONL sheet; ``where`` is "row N" or "line N"."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError(str(path), "", "no such file")
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = fh.readline()
            fh.seek(0)
            # Spreadsheets in Luxembourgish, German or French locales save CSV with ';'.
            delimiter = max((",", ";", "\t"), key=lambda d: (len(header.split(d)), d == ","))
            reader = csv.DictReader(fh, delimiter=delimiter)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = []
            for i, raw in enumerate(reader, start=2):
                if None in raw:
                    raise InputError(str(path), f"row {i}", f"{len(columns) + len(raw[None])} cells but the header has {len(columns)}")
                rows.append((f"row {i}", {k.strip(): v for k, v in raw.items() if k is not None}))
        return columns, rows
    if suffix in (".jsonl", ".ndjson"):
        rows, columns = [], []
        for i, obj in iter_jsonl(path):
            for k in obj:
                if k not in columns:
                    columns.append(k)
            rows.append((f"line {i}", obj))
        return columns, rows
    raise InputError(str(path), "", f"unknown sheet format {suffix!r}: expected .csv or .jsonl")


def sheet_review_ids(path: Path) -> list[str]:
    """The review_ids of a sheet (CSV or JSONL), in its row order; the cells are not checked.

    Raises:
        InputError: unreadable sheet, or no review_id column.
    """
    columns, rows = _read_sheet(path)
    if REVIEW_ID not in columns:
        raise InputError(str(path), "header", f"missing column {REVIEW_ID}")
    return [str(r.get(REVIEW_ID) or "").strip() for _, r in rows]


def _parse_score(value: Any) -> int | None:
    """1, 2 or 3 from a cell; None when empty; raises ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int):
        if value in LABELS:
            return value
        raise ValueError
    if isinstance(value, float):
        if value.is_integer() and int(value) in LABELS:
            return int(value)
        raise ValueError
    text = str(value).strip()
    if text == "":
        return None
    if text in ("1", "2", "3"):
        return int(text)
    raise ValueError


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f"'{value}'"


def load_key(run: runs.RunDir) -> dict[str, Any]:
    """The review key written with the sheet."""
    p = run.sub(runs.REVIEW) / KEY_FILE
    if not p.is_file():
        raise LuxitError(f"{p} not found: run `luxit review export {run.path}` first")
    return json.loads(p.read_text(encoding="utf-8"))


def read_review_scores(sheet: Path, key: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """Validate a filled sheet against its key.

    Returns:
        (reviewed rows, skipped empty rows). A reviewed row holds review_id, pair_id, source,
        source_type, the human's ``human`` scores, the judge's ``judge`` scores and ``comment``.

    Raises:
        InputError: one line naming the row (or line) and column of the first bad cell.
    """
    columns, rows = _read_sheet(sheet)
    missing = [c for c in (REVIEW_ID, S.PAIR_ID, *S.CRITERIA) if c not in columns]
    if missing:
        where = "header" if sheet.suffix.lower() == ".csv" else "line 1"
        raise InputError(str(sheet), where, f"missing column(s) {', '.join(missing)}")
    items = {it[REVIEW_ID]: it for it in key["items"]}
    seen: dict[str, str] = {}
    reviewed, skipped = [], 0
    for where, row in rows:
        rid = row.get(REVIEW_ID)
        rid = str(rid).strip() if rid is not None else ""
        if rid not in items:
            raise InputError(str(sheet), f"{where}, column {REVIEW_ID}", f"{_show(rid)} is not in the review key")
        if rid in seen:
            raise InputError(str(sheet), f"{where}, column {REVIEW_ID}", f"{_show(rid)} repeats {seen[rid]}")
        seen[rid] = where
        item = items[rid]
        pid = str(row.get(S.PAIR_ID) or "").strip()
        if pid != item[S.PAIR_ID]:
            raise InputError(str(sheet), f"{where}, column {S.PAIR_ID}",
                             f"{_show(pid)} does not match the key's {item[S.PAIR_ID]!r} for {rid}")
        scores: dict[str, int | None] = {}
        for c in S.CRITERIA:
            try:
                scores[c] = _parse_score(row.get(c))
            except ValueError:
                raise InputError(str(sheet), f"{where}, column {c}", f"{_show(row.get(c))} is not one of 1, 2, 3") from None
        empty = [c for c in S.CRITERIA if scores[c] is None]
        if len(empty) == len(S.CRITERIA):
            skipped += 1
            continue
        if empty:
            raise InputError(str(sheet), f"{where}, column {empty[0]}",
                             "empty while other criteria of this row are filled (fill all four or none)")
        comment = row.get(COMMENT)
        reviewed.append({
            REVIEW_ID: rid, S.PAIR_ID: pid, S.SOURCE: item[S.SOURCE], S.SOURCE_TYPE: item[S.SOURCE_TYPE],
            "judge_keep": item[S.KEEP], "human": scores, "judge": item["scores"],
            COMMENT: (str(comment).strip() or None) if comment is not None else None,
        })
    return reviewed, skipped


@dataclass
class ReviewAgreement:
    """Human-vs-judge agreement on a reviewed sheet (see ``to_dict`` for the stored form)."""

    sheet: Path
    reviewed: int
    skipped_empty: int
    not_in_sheet: int
    min_score: float
    criteria: dict[str, dict[str, Any]]
    keep: dict[str, Any]
    human_rejects_more: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    reviewer: str = "reviewer"
    json_path: Path | None = None
    md_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The agreement.json content."""
        return {
            "reviewer": self.reviewer, "sheet": str(self.sheet), "reviewed": self.reviewed, "skipped_empty": self.skipped_empty,
            "not_in_sheet": self.not_in_sheet, "min_score": self.min_score, "criteria": self.criteria,
            "keep": self.keep, "human_rejects_more": self.human_rejects_more, "rows": self.rows,
        }

    def table_rows(self) -> list[list[Any]]:
        """One row per criterion: n, exact agreement, kappa, weighted kappa, 1s by human and judge."""
        return [[c, m["n"], m["exact_agreement"], m["cohen_kappa"], m["quadratic_kappa"],
                 m["human_score1"], m["judge_score1"], m["human_mean"], m["judge_mean"]]
                for c, m in self.criteria.items()]

    TABLE_COLUMNS = ["criterion", "n", "exact agreement", "kappa", "quadratic kappa",
                     "human 1s", "judge 1s", "human mean", "judge mean"]

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI."""
        lines = [f"reviewed {self.reviewed} pairs ({self.skipped_empty} left empty, {self.not_in_sheet} missing from the sheet)"]
        if self.human_rejects_more:
            lines.append("the human gave a 1 more often than the judge on: " + ", ".join(self.human_rejects_more))
        k = self.keep
        if k["n"]:
            lines.append(f"keep decision agrees on {k['agree']} of {k['n']}; judge kept but human would reject: "
                         f"{k['judge_kept_human_rejected']}; judge rejected but human would keep: {k['judge_rejected_human_kept']}")
        lines.append(f"wrote {self.json_path} and {self.md_path}; all reviewers: {AGREEMENT_JSON} beside {AGREEMENT_DIR}/")
        return {"tables": {"Human vs judge": {"columns": self.TABLE_COLUMNS, "rows": self.table_rows()}}, "lines": lines}


def agreement(rows: list[dict[str, Any]], min_score: float = 2.0) -> tuple[dict[str, dict[str, Any]], dict[str, Any], list[str]]:
    """Per-criterion agreement, the keep-decision agreement, and the criteria the human rejected
    (gave a 1) more often than the judge. Judge aggregates are binned with ``score_bin``."""
    per: dict[str, dict[str, Any]] = {}
    more: list[str] = []
    for c in S.CRITERIA:
        h = [r["human"][c] for r in rows]
        j = [score_bin(r["judge"][c]) for r in rows]
        n = len(rows)
        hd, jd = score_distribution(h), score_distribution([r["judge"][c] for r in rows])
        per[c] = {
            "n": n,
            "exact_agreement": (sum(x == y for x, y in zip(h, j, strict=True)) / n) if n else None,
            "cohen_kappa": cohen_kappa(h, j),
            "quadratic_kappa": cohen_kappa(h, j, weights="quadratic"),
            "confusion": confusion_matrix(h, j),
            "human_score1": hd["counts"]["1"], "judge_score1": jd["counts"]["1"],
            "human_mean": hd["mean"], "judge_mean": jd["mean"],
            "human": hd, "judge": jd,
        }
        if hd["counts"]["1"] > jd["counts"]["1"]:
            more.append(c)
    human_keep = [all(r["human"][c] >= min_score for c in S.CRITERIA) for r in rows]
    judge_keep = [bool(r["judge_keep"]) for r in rows]
    keep = {
        "n": len(rows),
        "human_kept": sum(human_keep),
        "judge_kept": sum(judge_keep),
        "agree": sum(a == b for a, b in zip(human_keep, judge_keep, strict=True)),
        "judge_kept_human_rejected": sum(b and not a for a, b in zip(human_keep, judge_keep, strict=True)),
        "judge_rejected_human_kept": sum(a and not b for a, b in zip(human_keep, judge_keep, strict=True)),
    }
    return per, keep, more


def reviewer_name(sheet: Path, columns: list[str], rows: list[tuple[str, dict[str, Any]]]) -> str:
    """Whose sheet: its ``reviewer`` column (one name), else the file name without ``sheet-``.

    Raises:
        InputError: the column holds several names, or the name is not a valid name.
    """
    from luxit_ray.web.store import ApiError, check_name

    names = {str(r.get("reviewer")).strip() for _, r in rows if r.get("reviewer")} if "reviewer" in columns else set()
    if len(names) > 1:
        raise InputError(str(sheet), "column reviewer", f"holds several reviewers ({', '.join(sorted(names))}): one sheet per reviewer")
    name = names.pop() if names else sheet.stem.removeprefix("sheet-")
    try:
        return check_name(name, "reviewer")
    except ApiError as exc:
        raise InputError(str(sheet), "reviewer", exc.message) from None


def combine_reviewers(run: runs.RunDir) -> dict[str, Any]:
    """Rebuild ``agreement.json`` and ``agreement.md`` from every reviewer's stored result."""
    review_dir = run.sub(runs.REVIEW)
    per = {}
    for p in sorted((review_dir / AGREEMENT_DIR).glob("*.json")):
        per[p.stem] = json.loads(p.read_text(encoding="utf-8"))
    scores = {r: {row[S.PAIR_ID]: row["human"] for row in d["rows"]} for r, d in per.items()}
    combined = {
        "reviewers": {r: {k: d[k] for k in ("sheet", "reviewed", "skipped_empty", "not_in_sheet", "criteria", "keep",
                                             "human_rejects_more")} for r, d in per.items()},
        "between_reviewers": between_reviewers(scores),
        "rows": [{**row, "reviewer": r} for r, d in per.items() for row in d["rows"]],
    }
    (review_dir / AGREEMENT_JSON).write_text(json.dumps(combined, indent=2, ensure_ascii=False), encoding="utf-8")
    (review_dir / AGREEMENT_MD).write_text(render_reviewers_md(combined), encoding="utf-8")
    return combined


REVIEWER_COLUMNS = ["reviewer", "criterion", "pairs", "exact agreement", "kappa", "quadratic kappa"]
BETWEEN_COLUMNS = ["reviewers", "criterion", "common pairs", "exact agreement", "kappa", "quadratic kappa"]
ALL_COLUMNS = ["criterion", "pairs with 2+ reviewers", "alpha (nominal)", "alpha (interval)"]


def reviewer_tables(combined: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The combined agreement as tables: each reviewer vs the judge, pairs of reviewers, all."""
    vs = [[r, c, m["n"], m["exact_agreement"], m["cohen_kappa"], m["quadratic_kappa"]]
          for r, d in combined["reviewers"].items() for c, m in d["criteria"].items()]
    between = [[" / ".join(p["reviewers"]), c, p["n"], m["exact_agreement"], m["cohen_kappa"], m["quadratic_kappa"]]
               for p in combined["between_reviewers"]["pairs"] for c, m in p["criteria"].items()]
    every = [[c, m["pairs"], m["alpha_nominal"], m["alpha_interval"]] for c, m in combined["between_reviewers"]["all"].items()]
    out = {"Each reviewer vs the judge": {"columns": REVIEWER_COLUMNS, "rows": vs}}
    if between:
        out["Between reviewers (Cohen's kappa)"] = {"columns": BETWEEN_COLUMNS, "rows": between}
        out["All reviewers (Krippendorff's alpha)"] = {"columns": ALL_COLUMNS, "rows": every}
    return out


def render_reviewers_md(combined: dict[str, Any]) -> str:
    """agreement.md: every reviewer against the judge, and the reviewers against each other."""
    from luxit_ray.textio import markdown_table

    out = ["# Human review: every reviewer", "",
           f"{len(combined['reviewers'])} reviewer(s); details per reviewer in `agreement/<reviewer>.md`. "
           "Cohen's kappa between two reviewers on the pairs both scored; Krippendorff's alpha over all reviewers.", ""]
    for title, t in reviewer_tables(combined).items():
        out += [f"## {title}", "", markdown_table(t["columns"], [[_fmt(v) for v in r] for r in t["rows"]]), ""]
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def render_agreement_md(result: ReviewAgreement) -> str:
    """agreement.md: the table, the confusion matrices and the keep decision."""
    out = [f"# Human review vs judge: {result.reviewer}", "",
           f"Sheet `{result.sheet}`: {result.reviewed} pairs reviewed, {result.skipped_empty} left empty, "
           f"{result.not_in_sheet} missing from the sheet. Judge scores are the aggregate, binned to 1/2/3 by "
           "their integer part.", "",
           "| " + " | ".join(ReviewAgreement.TABLE_COLUMNS) + " |",
           "|---|" + "---:|" * (len(ReviewAgreement.TABLE_COLUMNS) - 1)]
    for r in result.table_rows():
        out.append("| " + " | ".join(_fmt(v) for v in r) + " |")
    out += ["", "Human rejected (score 1) more often than the judge on: "
            + (", ".join(result.human_rejects_more) if result.human_rejects_more else "no criterion") + "."]
    k = result.keep
    out += ["", f"Keep rule (every score >= {result.min_score:g}): human keeps {k['human_kept']}, judge kept "
            f"{k['judge_kept']}, same decision on {k['agree']} of {k['n']}; judge kept but human would reject "
            f"{k['judge_kept_human_rejected']}; judge rejected but human would keep {k['judge_rejected_human_kept']}."]
    out += ["", "## Confusion matrices (rows: human, columns: judge)", ""]
    for c, m in result.criteria.items():
        out += [f"### {c}", "", "| human \\ judge | 1 | 2 | 3 |", "|---|---:|---:|---:|"]
        for lab, line in zip(LABELS, m["confusion"], strict=True):
            out.append(f"| {lab} | " + " | ".join(str(x) for x in line) + " |")
        out.append("")
    return "\n".join(out)


def import_review_sheet(run_dir: str | Path, sheet: str | Path) -> ReviewAgreement:
    """Read a filled sheet, validate it, and write the agreement with the judge.

    Args:
        run_dir: the run the sheet was drawn from.
        sheet: the filled CSV or JSONL sheet.

    Returns:
        The agreement (also written to ``RUN_DIR/review/agreement.json`` and ``.md``).

    Raises:
        InputError: a bad cell, naming the row and column.
        LuxitError: no review key in the run.
    """
    run = runs.RunDir(run_dir)
    sheet = Path(sheet)
    key = load_key(run)
    rows, skipped = read_review_scores(sheet, key)
    min_score = 2.0
    if (run.path / runs.CONFIG_FILE).is_file():
        cfg = run.config()
        if cfg.judge is not None:
            min_score = float(cfg.judge.min_score)
    per, keep, more = agreement(rows, min_score)
    not_in_sheet = len(key["items"]) - len(rows) - skipped
    reviewer = reviewer_name(sheet, *_read_sheet(sheet))
    result = ReviewAgreement(sheet=sheet, reviewed=len(rows), skipped_empty=skipped, not_in_sheet=not_in_sheet,
                             min_score=min_score, criteria=per, keep=keep, human_rejects_more=more, rows=rows,
                             reviewer=reviewer)
    per_dir = run.sub(runs.REVIEW) / AGREEMENT_DIR
    per_dir.mkdir(parents=True, exist_ok=True)
    result.json_path = per_dir / f"{reviewer}.json"
    result.md_path = per_dir / f"{reviewer}.md"
    result.json_path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    result.md_path.write_text(render_agreement_md(result), encoding="utf-8")
    combine_reviewers(run)
    log.info("review: %s: %d rows reviewed, %d skipped", reviewer, len(rows), skipped)
    return result
