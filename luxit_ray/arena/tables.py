"""Vote tables: win rates, votes per model pair, and the position bias (wins of the left answer)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from luxit_ray.arena.ratings import Z95, outcomes
from luxit_ray.arena.votes import battle_key, winner


def win_matrix(votes: Sequence[dict[str, Any]], models: Sequence[str], aspect: str = "overall") -> list[list[float | None]]:
    """Row model's win rate against the column model (ties count half); None without votes."""
    k = len(models)
    wins = np.zeros((k, k))
    games = np.zeros((k, k))
    for i, j, s in outcomes(votes, models, aspect):
        wins[i, j] += s
        wins[j, i] += 1.0 - s
        games[i, j] += 1
        games[j, i] += 1
    return [[(float(wins[i, j] / games[i, j]) if games[i, j] else None) for j in range(k)] for i in range(k)]


def pair_counts(votes: Sequence[dict[str, Any]], aspect: str = "overall") -> list[dict[str, Any]]:
    """Votes per model pair: wins of each side, ties, both bad."""
    table: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for v in votes:
        _, lo, hi = battle_key(v["prompt_id"], v["model_a"], v["model_b"])
        w = winner(v, aspect)
        table[(lo, hi)]["votes"] += 1
        table[(lo, hi)][f"win:{w}" if w else v[aspect]] += 1
    return [{"model_1": lo, "model_2": hi, "votes": c["votes"], "wins_1": c[f"win:{lo}"], "wins_2": c[f"win:{hi}"],
             "ties": c["tie"], "both_bad": c["both_bad"]} for (lo, hi), c in sorted(table.items())]


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a share k/n (None when n is 0); it stays inside [0, 1]."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def position_bias(votes: Sequence[dict[str, Any]], aspect: str = "overall") -> dict[str, Any]:
    """How often the answer shown on the left (A) won, among the votes with a winner.

    Sides are drawn at random, so without a bias the share is 1/2.

    Returns:
        ``{"decisive", "left_wins", "share", "low", "high"}``: share and its 95% Wilson
        interval are None without decisive votes.
    """
    decisive = [v for v in votes if v[aspect] in ("a", "b")]
    left = sum(1 for v in decisive if v[aspect] == "a")
    ci = wilson_interval(left, len(decisive))
    return {"decisive": len(decisive), "left_wins": left, "share": (left / len(decisive)) if decisive else None,
            "low": ci[0] if ci else None, "high": ci[1] if ci else None}
