"""Agreement between voters on the battles two of them voted on (sides normalised)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any

from luxit_ray.arena.votes import battle_key, winner
from luxit_ray.review import cohen_kappa


def _label(vote: dict[str, Any], aspect: str) -> int:
    """0: the alphabetically first model won, 1: the other, 2: tie, 3: both bad."""
    w = winner(vote, aspect)
    if w is None:
        return 2 if vote[aspect] == "tie" else 3
    return 0 if w == min(vote["model_a"], vote["model_b"]) else 1


def voter_agreement(votes: Sequence[dict[str, Any]], aspect: str = "overall") -> dict[str, Any]:
    """Agreement between voters on battles two of them voted on.

    Returns:
        ``pairs``: voter pairs with ``n`` common battles, ``agreement`` (share of identical
        choices, sides normalised) and Cohen's ``kappa`` over the four outcomes; ``overall``:
        the same share over all common (battle, voter pair) cases.
    """
    by_voter: dict[str, dict[tuple[str, str, str], int]] = defaultdict(dict)
    for v in votes:
        by_voter[v["voter"]][battle_key(v["prompt_id"], v["model_a"], v["model_b"])] = _label(v, aspect)
    pairs, agree, total = [], 0, 0
    for v1, v2 in combinations(sorted(by_voter), 2):
        common = sorted(set(by_voter[v1]) & set(by_voter[v2]))
        if not common:
            continue
        a = [by_voter[v1][b] for b in common]
        b = [by_voter[v2][b] for b in common]
        same = sum(x == y for x, y in zip(a, b, strict=True))
        agree += same
        total += len(common)
        pairs.append({"voters": [v1, v2], "n": len(common), "agreement": same / len(common),
                      "kappa": cohen_kappa(a, b, labels=(0, 1, 2, 3))})
    return {"pairs": pairs, "n": total, "agreement": (agree / total) if total else None}
