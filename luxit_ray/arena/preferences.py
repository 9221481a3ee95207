"""``luxit arena export``: the votes as a DPO preference dataset, one row per pair of answers.

Rule for contradictory votes: all votes on the same two answers are pooled. On the chosen
aspect each vote prefers one answer or neither (a tie or "both bad"). The pair becomes a row when
one answer has more votes than the other answer and more than "neither" (a strict plurality);
otherwise it is dropped: ``tied`` when the two answers have equally many votes, or when the top
count is shared with "neither"; ``no_preference`` when "neither" has the most. Every row keeps
its vote counts, voters and vote ids.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxit_ray.arena.files import (
    ANSWERS_FILE,
    ASPECTS,
    PREFERENCES_DIR,
    PROMPTS_FILE,
    VOTES_FILE,
    arena_dir,
    read_jsonl,
)
from luxit_ray.arena.votes import read_votes
from luxit_ray.errors import LuxitError
from luxit_ray.textio import write_jsonl

PREFERENCE_COLUMNS = ["prompt", "chosen", "rejected", "chosen_model", "rejected_model", "prompt_id", "chosen_id",
                      "rejected_id", "aspect", "votes", "votes_chosen", "votes_rejected", "votes_neither", "voters",
                      "vote_ids", "comments"]
_INT_COLUMNS = ("votes", "votes_chosen", "votes_rejected", "votes_neither")
_LIST_COLUMNS = ("voters", "vote_ids", "comments")


@dataclass
class PreferenceExport:
    """What ``export_preferences`` wrote, and how the pairs of answers were resolved."""

    rows: int
    counts: dict[str, int]  # pairs, unanimous, majority, tied, no_preference, votes
    files: list[Path]

    def summary(self) -> dict[str, Any]:
        """Lines for the CLI."""
        c = self.counts
        return {"lines": [
            f"{c['votes']} votes on {c['pairs']} pairs of answers -> {self.rows} preference rows "
            f"({c['unanimous']} unanimous, {c['majority']} by majority); dropped {c['tied']} tied and "
            f"{c['no_preference']} where most votes were a tie or 'both bad'",
            f"wrote {', '.join(str(p) for p in self.files)}"]}


def resolve(votes: list[dict[str, Any]], aspect: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Pool the votes per pair of answers and apply the rule (see the module docstring).

    Returns:
        (one decision per kept pair: ``prompt_id, chosen_id, rejected_id, votes, votes_chosen,
        votes_rejected, votes_neither, voters, vote_ids, comments``; the counts).
    """
    pools: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for v in votes:
        lo, hi = sorted((v["answer_a"], v["answer_b"]))
        pools[(v["prompt_id"], lo, hi)].append(v)
    counts = {"votes": len(votes), "pairs": len(pools), "unanimous": 0, "majority": 0, "tied": 0, "no_preference": 0}
    out = []
    for (pid, lo, hi), pool in pools.items():
        n = {lo: 0, hi: 0, None: 0}
        for v in pool:
            c = v[aspect]
            n[v["answer_a"] if c == "a" else v["answer_b"] if c == "b" else None] += 1
        top = max(n.values())
        leaders = [k for k, x in n.items() if x == top]
        if leaders == [None]:
            counts["no_preference"] += 1
            continue
        if len(leaders) > 1:
            counts["tied"] += 1
            continue
        win = leaders[0]
        lose = hi if win == lo else lo
        counts["unanimous" if n[win] == len(pool) else "majority"] += 1
        out.append({"prompt_id": pid, "chosen_id": win, "rejected_id": lose, "votes": len(pool),
                    "votes_chosen": n[win], "votes_rejected": n[lose], "votes_neither": n[None],
                    "voters": sorted({v["voter"] for v in pool}), "vote_ids": [v["vote_id"] for v in pool],
                    "comments": [v["comment"] for v in pool if v.get("comment")]})
    return out, counts


def export_preferences(run_dir: str | Path, aspect: str = "overall", out: str | Path | None = None) -> PreferenceExport:
    """Write the resolved votes as a DPO preference dataset (Parquet and JSONL).

    Raises:
        LuxitError: unknown aspect, or no votes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if aspect not in ASPECTS:
        raise LuxitError(f"--aspect must be one of {', '.join(ASPECTS)} (got {aspect!r})")
    adir = arena_dir(run_dir)
    votes = read_votes(run_dir)
    if not votes:
        raise LuxitError(f"no votes in {adir / VOTES_FILE}")
    prompts = {p["prompt_id"]: p for p in read_jsonl(adir / PROMPTS_FILE)}
    answers = {a["answer_id"]: a for a in read_jsonl(adir / ANSWERS_FILE)}
    decisions, counts = resolve(votes, aspect)
    rows = [{"prompt": prompts[d["prompt_id"]]["prompt"], "chosen": answers[d["chosen_id"]]["text"],
             "rejected": answers[d["rejected_id"]]["text"], "chosen_model": answers[d["chosen_id"]]["model"],
             "rejected_model": answers[d["rejected_id"]]["model"], "aspect": aspect, **d} for d in decisions]
    rows = [{c: r[c] for c in PREFERENCE_COLUMNS} for r in rows]
    dest = Path(out) if out is not None else adir / PREFERENCES_DIR
    dest.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.int64() if c in _INT_COLUMNS else pa.list_(pa.string()) if c in _LIST_COLUMNS
                         else pa.string()) for c in PREFERENCE_COLUMNS])
    pq_path, jl_path = dest / "preferences.parquet", dest / "preferences.jsonl"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), pq_path)
    write_jsonl(jl_path, rows)
    return PreferenceExport(len(rows), counts, [pq_path, jl_path])
