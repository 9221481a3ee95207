"""Headline acceptability (ltzGLUE's HA task) built from a run's own news articles.

Does this headline belong to this article? From the prepared ``seeds/`` Parquet of a run (the
articles that passed the filters), the news rows (``source_type`` news) with a title and a text
are taken in ``doc_id`` order; titles that occur more than once are reduced to their first
article (exact duplicates removed, as ltzGLUE does). The articles are shuffled with a fixed seed;
the first half keep their headline (``correct``), the second half get the headline of the next
article of that half (a cyclic shift, so no article keeps its own and every title is used once;
``incorrect``). The examples are shuffled again and split into train / validation / test.

ltzGLUE picks each donor headline from the article's TF-IDF nearest neighbours at least 30 days
apart, so that negatives stay on topic; this builder draws them at random, which makes the task
easier. Output: ``headlines-<split>.jsonl`` task files (``id``, ``text`` = headline, ``text_pair``
= article, ``label``), which both ``luxit evaluate`` (``evaluate.tasks``) and the ``glue`` tasks
read, ``headlines-provenance.jsonl`` (which article and which headline each example joins) and
``headlines.json`` (counts, seed, split sizes).
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luxit_ray.errors import LuxitError
from luxit_ray.schema import DOC_ID, SOURCE_TYPE, TEXT, TITLE
from luxit_ray.textio import write_jsonl

log = logging.getLogger(__name__)

CORRECT = "correct"
INCORRECT = "incorrect"
LABELS = [CORRECT, INCORRECT]
NEWS = "news"
SPLIT_NAMES = ("train", "validation", "test")


@dataclass
class HeadlineTask:
    """What :func:`build_headline_task` wrote."""

    out_dir: Path
    counts: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The CLI summary: a counts table and the files."""
        rows = [[k, v] for k, v in self.counts.items() if not isinstance(v, dict)]
        rows += [[f"split {k}", v] for k, v in self.counts["splits"].items()]
        return {"tables": {"Headline acceptability task": {"columns": ["count", "value"], "rows": rows}},
                "lines": [f"{split}: {path}" for split, path in self.files.items()]}


def read_news(run_dir: str | Path) -> list[dict[str, str]]:
    """The run's kept news articles with a title and a text, in ``doc_id`` order."""
    from luxit_ray.runs import SEEDS, RunDir

    run = RunDir(str(run_dir))
    files = run.parquet_files(SEEDS)
    if not files:
        raise LuxitError(f"{run_dir}: no seeds/*.parquet; run `luxit prepare` first")
    rows: list[dict[str, str]] = []
    for f in files:
        table = run.read_parquet(f, columns=[DOC_ID, SOURCE_TYPE, TITLE, TEXT])
        for r in table.to_pylist():
            title, text = (r[TITLE] or "").strip(), (r[TEXT] or "").strip()
            if r[SOURCE_TYPE] == NEWS and title and text:
                rows.append({"doc_id": r[DOC_ID], "title": title, "text": text})
    rows.sort(key=lambda r: r["doc_id"])
    return rows


def make_examples(articles: list[dict[str, str]], seed: int, max_examples: int | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Pair headlines with articles: half their own, half another's (see the module docstring).

    Returns:
        The examples (shuffled) with ``id``, ``text``, ``text_pair``, ``label``, ``doc_id``,
        ``headline_doc_id``; and counts (``articles``, ``duplicate_titles``, ``examples``, ...).

    Raises:
        LuxitError: fewer than 4 articles with distinct titles.
    """
    seen: set[str] = set()
    unique = []
    for a in articles:
        if a["title"] not in seen:
            seen.add(a["title"])
            unique.append(a)
    rng = random.Random(seed)
    order = list(unique)
    rng.shuffle(order)
    if max_examples is not None:
        order = order[:max_examples]
    if len(order) < 4:
        raise LuxitError(f"need at least 4 news articles with distinct titles, found {len(order)}")
    n_neg = len(order) // 2
    pos, neg = order[: len(order) - n_neg], order[len(order) - n_neg :]
    examples = [{"text": a["title"], "text_pair": a["text"], "label": CORRECT, "doc_id": a["doc_id"],
                 "headline_doc_id": a["doc_id"]} for a in pos]
    for i, a in enumerate(neg):
        donor = neg[(i + 1) % len(neg)]
        examples.append({"text": donor["title"], "text_pair": a["text"], "label": INCORRECT, "doc_id": a["doc_id"],
                         "headline_doc_id": donor["doc_id"]})
    rng.shuffle(examples)
    for k, e in enumerate(examples):
        e["id"] = f"ha-{k:06d}"
    counts = {"articles": len(articles), "duplicate_titles": len(articles) - len(unique), "examples": len(examples),
              CORRECT: len(pos), INCORRECT: len(neg)}
    return examples, counts


def split_sizes(n: int, fractions: tuple[float, float, float]) -> dict[str, int]:
    """Rows per split: train and validation rounded down, test takes the rest."""
    total = sum(fractions)
    train = int(n * fractions[0] / total)
    validation = int(n * fractions[1] / total)
    return {"train": train, "validation": validation, "test": n - train - validation}


def build_headline_task(run_dir: str | Path, out_dir: str | Path, seed: int = 0, max_examples: int | None = None,
                        fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> HeadlineTask:
    """Build the task from a run's seeds and write it (see the module docstring).

    Args:
        run_dir: a run whose prepare step wrote ``seeds/``.
        out_dir: folder for the task files (created).
        seed: seed of both shuffles.
        max_examples: use at most this many articles (after duplicate removal).
        fractions: train / validation / test shares; a split left with no rows is not written.
    """
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise LuxitError(f"split fractions must be >= 0 and sum to more than 0, got {fractions}")
    examples, counts = make_examples(read_news(run_dir), seed, max_examples)
    sizes = split_sizes(len(examples), fractions)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = HeadlineTask(out, {**counts, "seed": seed, "splits": sizes})
    start = 0
    for split in SPLIT_NAMES:
        part = examples[start : start + sizes[split]]
        start += sizes[split]
        if not part:
            continue
        path = out / f"headlines-{split}.jsonl"
        write_jsonl(path, [{k: e[k] for k in ("id", "text", "text_pair", "label")} for e in part])
        task.files[split] = path
    prov = out / "headlines-provenance.jsonl"
    write_jsonl(prov, [{k: e[k] for k in ("id", "label", "doc_id", "headline_doc_id")} for e in examples])
    task.files["provenance"] = prov
    (out / "headlines.json").write_text(json.dumps({"run_dir": str(run_dir), **task.counts}, indent=2), encoding="utf-8")
    log.info("headline task: %s", task.counts)
    return task
