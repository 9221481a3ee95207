"""The arena report's PNGs: scores with their intervals, and the win-rate matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from luxit_ray.arena.files import ASPECTS, ELO_BASE


def plot_scores(models: Sequence[str], scores: dict[str, dict[str, dict[str, Any]]], n_votes: int, path: Path) -> Path:
    """Per model (best overall at the top) and aspect: the Elo score and its 95% interval.

    Error bars are clamped at zero, so a score outside its interval (which the posterior never
    gives, but a hand-made report could) draws, and nothing can make matplotlib refuse them.
    """
    from matplotlib.figure import Figure

    from luxit_ray.plots import COLORS, _save

    order = sorted(models, key=lambda m: scores["overall"][m]["elo"])
    fig = Figure(figsize=(7.5, 1.6 + 0.6 * len(order)))
    ax = fig.add_subplot(111)
    width = 0.22
    for k, aspect in enumerate(ASPECTS):
        s = scores[aspect]
        y = np.arange(len(order)) + (1 - k) * width  # content on top, as in the legend
        x = np.array([s[m]["elo"] for m in order], dtype=float)
        lo = np.clip(x - np.array([s[m]["low"] for m in order], dtype=float), 0.0, None)
        hi = np.clip(np.array([s[m]["high"] for m in order], dtype=float) - x, 0.0, None)
        ax.errorbar(x, y, xerr=[lo, hi], fmt="o", color=COLORS[k], capsize=3, label=aspect)
    ax.axvline(ELO_BASE, color="#999", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(order)), order)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel("Bradley-Terry score (Elo scale), 95% posterior interval")
    ax.set_title(f"Arena ranking ({n_votes} votes)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def plot_win_rate(models: Sequence[str], win_rate: list[list[float | None]], path: Path) -> Path:
    """The row model's win rate against the column model (ties half); blank without votes."""
    from matplotlib.figure import Figure

    from luxit_ray.plots import _save

    k = len(models)
    m = np.array([[np.nan if x is None else x for x in row] for row in win_rate], dtype=float)
    fig = Figure(figsize=(2.6 + 1.1 * k, 1.8 + 0.9 * k))
    ax = fig.add_subplot(111)
    im = ax.imshow(np.ma.masked_invalid(m), cmap="RdYlGn", vmin=0, vmax=1)
    ax.set_xticks(range(k), models, rotation=30, ha="right")
    ax.set_yticks(range(k), models)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, "" if np.isnan(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center", fontsize=10)
    ax.set_xlabel("against")
    ax.set_title("Win rate of row model\n(overall, ties count half)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)
