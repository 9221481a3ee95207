"""PNG plots for the run report (matplotlib, Agg canvas: no display, no global pyplot state).

Each function takes plain numbers (what report.py computed) and writes one PNG with a title,
axis labels, readable criterion names and a legend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

log = logging.getLogger(__name__)

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]


def criterion_label(name: str) -> str:
    """``linguistic_quality`` -> ``Linguistic quality``."""
    return name.replace("_", " ").capitalize()


def _short_number(v: float) -> str:
    """12000 -> 12k, 3400000 -> 3.4M (tick labels that do not collide)."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    log.info("wrote %s", path)
    return path


def plot_score_distributions(blocks: dict[str, dict[str, dict[str, Any]]], criteria: Sequence[str], path: Path) -> Path:
    """One panel per criterion: share of pairs with score 1/2/3, one bar group per block.

    Args:
        blocks: block label (e.g. "All judged (66005)") -> criterion -> score_distribution dict.
        criteria: criteria in display order.
        path: PNG to write.
    """
    ncols = 2
    nrows = -(-len(criteria) // ncols)
    fig = Figure(figsize=(11, 3.6 * nrows + 0.8), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    labels = list(blocks)
    width = 0.8 / max(1, len(labels))
    for ax, crit in zip(axes, criteria, strict=False):
        for k, label in enumerate(labels):
            dist = blocks[label].get(crit)
            if not dist or not dist["n"]:
                continue
            xs = [s + (k - (len(labels) - 1) / 2) * width for s in (1, 2, 3)]
            shares = [100.0 * (dist["shares"][str(s)] or 0.0) for s in (1, 2, 3)]
            bars = ax.bar(xs, shares, width=width, color=COLORS[k % len(COLORS)], label=label)
            ax.bar_label(bars, labels=[str(dist["counts"][str(s)]) for s in (1, 2, 3)], fontsize=8, padding=2)
        ax.set_title(criterion_label(crit))
        ax.set_xticks([1, 2, 3], ["1 (low)", "2 (acceptable)", "3 (excellent)"])
        ax.set_xlabel("score")
        ax.set_ylabel("share of pairs (%)")
        ax.set_ylim(0, 112)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(criteria):]:
        ax.set_visible(False)
    handles, names = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncols=len(names), title="pairs (bar labels: counts)")
    fig.suptitle("Judge score distribution per criterion")
    return _save(fig, path)


def plot_retention(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per source: documents through the filters (left) and pairs through the judge (right).

    Args:
        rows: one dict per source with ``source`` and the counts ``read``, ``passed_filters``,
            ``seeds``, ``pairs_judged``, ``pairs_kept`` (None where unknown).
        path: PNG to write.
    """
    return _save(retention_figure(rows), path)


def retention_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """The figure of :func:`plot_retention` (legends below the axes, clear of the bar labels)."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    ax_docs, ax_pairs = fig.subplots(1, 2)
    sources = [r["source"] for r in rows]
    for ax, series, unit in (
        (ax_docs, [("read", "read"), ("passed_filters", "passed filters"), ("seeds", "seeds")], "documents"),
        (ax_pairs, [("pairs_judged", "judged"), ("pairs_kept", "kept")], "instruction/response pairs"),
    ):
        width = 0.8 / len(series)
        for k, (key, label) in enumerate(series):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(sources))]
            vals = [r.get(key) or 0 for r in rows]
            bars = ax.bar(xs, vals, width=width, color=COLORS[k], label=label)
            ax.bar_label(bars, fontsize=8, padding=2)
        ax.set_xticks(range(len(sources)), sources)
        ax.set_xlabel("source")
        ax.set_ylabel(f"number of {unit}")
        ax.set_ylim(bottom=0)
        ax.margins(y=0.15)
        ax.grid(axis="y", alpha=0.3)
        # Below the axes: inside, the legend covered the label of the tallest bar.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=len(series), frameon=False)
    ax_docs.set_title("Documents: read, passed filters, sampled as seeds")
    ax_pairs.set_title("Pairs: judged and kept")
    fig.suptitle("Retention by source")
    return fig


def plot_costs(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per stage and model: cost in USD (left) and tokens (right).

    Args:
        rows: dicts with ``stage``, ``model``, ``prompt_tokens``, ``cached_tokens``,
            ``completion_tokens``, ``reasoning_tokens``, ``cost_usd`` (None where unknown).
        path: PNG to write.
    """
    return _save(cost_figure(rows), path)


def cost_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """The figure of :func:`plot_costs`; both value axes start at 0, also when all is $0."""
    fig = Figure(figsize=(11, 1.2 + 0.7 * max(2, len(rows))), layout="constrained")
    ax_cost, ax_tok = fig.subplots(1, 2, sharey=True)
    names = [f"{r['stage']}: {r['model']}" for r in rows]
    ys = list(range(len(rows)))
    costs = [float(r.get("cost_usd") or 0.0) for r in rows]
    bars = ax_cost.barh(ys, costs, color=[COLORS[i % len(COLORS)] for i in ys])
    ax_cost.bar_label(bars, labels=[f"${c:,.4g}" for c in costs], fontsize=8, padding=2)
    ax_cost.set_yticks(ys, names)
    ax_cost.invert_yaxis()
    ax_cost.set_xlabel("cost (USD)")
    ax_cost.set_title(f"Cost per stage and model (total ${sum(costs):,.4g})")
    # All zero (a local endpoint): matplotlib centred the axis on 0 and drew negative dollars.
    top = max(costs, default=0.0)
    ax_cost.set_xlim(0, top * 1.3 if top > 0 else 1.0)
    ax_cost.grid(axis="x", alpha=0.3)
    series = [("prompt_tokens", "prompt"), ("cached_tokens", "of which cached"), ("completion_tokens", "completion"),
              ("reasoning_tokens", "of which reasoning")]
    h = 0.8 / len(series)
    for k, (key, label) in enumerate(series):
        vals = [int(r.get(key) or 0) for r in rows]
        ax_tok.barh([y + (k - (len(series) - 1) / 2) * h for y in ys], vals, height=h, color=COLORS[k], label=label)
    most = max((int(r.get(key) or 0) for r in rows for key, _ in series), default=0)
    # Nothing paid (every answer from the request cache): whole-number ticks, not 0.015 tokens.
    ax_tok.set_xlim(0, most * 1.05 if most else 1.0)
    ax_tok.set_xlabel("tokens")
    ax_tok.set_title("Tokens per stage and model")
    ax_tok.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax_tok.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short_number(v)))
    ax_tok.grid(axis="x", alpha=0.3)
    ax_tok.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="tokens")
    fig.suptitle("Token and cost summary")
    return fig


def plot_filters(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per source, everything read split into kept and each drop reason (one stacked bar).

    Args:
        rows: one dict per source: ``source``, ``read``, ``kept`` and ``dropped`` (reason ->
            documents, in the order to stack).
        path: PNG to write.
    """
    return _save(filters_figure(rows), path)


def filters_figure(rows: Sequence[dict[str, Any]]) -> Figure:
    """The figure of :func:`plot_filters`."""
    reasons = list(dict.fromkeys(k for r in rows for k in r["dropped"]))
    fig = Figure(figsize=(11, 1.6 + 0.8 * max(2, len(rows))), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(rows)))
    left = [0] * len(rows)
    segments = [("kept", [r.get("kept") or 0 for r in rows])]
    segments += [(f"dropped: {k}", [r["dropped"].get(k, 0) for r in rows]) for k in reasons]
    colors = ["#55A868", "#8C8C8C", "#4C72B0", "#DD8452", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
              "#CCB974", "#64B5CD", "#2F4B7C"]
    for k, (label, vals) in enumerate(segments):
        ax.barh(ys, vals, left=left, color=colors[k % len(colors)], label=label, height=0.6)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    for y, r in zip(ys, rows, strict=True):
        ax.text(left[y], y, f"  read {r.get('read') or 0:,}", va="center", fontsize=9)
    ax.set_yticks(ys, [r["source"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, max(left, default=0) * 1.2 or 1.0)
    ax.set_xlabel("documents")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short_number(v)))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=min(4, len(segments)), frameon=False,
              fontsize=8)
    ax.set_title("Every document read: kept, or the filter that dropped it")
    return fig
