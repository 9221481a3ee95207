"""``luxit arena report``: ranks, tables and plots from the votes, in ``RUN_DIR/arena/report/``.

Writes ``arena.md``, ``arena.json``, ``bt_scores.png`` and ``win_rate.png``: the ranking per
aspect with 95% posterior intervals (:mod:`luxit_ray.arena.ratings`), the win rates, the votes
per model pair, the position bias (wins of the left answer), the agreement between voters and
the settings the answers were generated with.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from luxit_ray.arena.agreement import voter_agreement
from luxit_ray.arena.files import (
    ASPECTS,
    GENERATION_FILE,
    REPORT_DIR,
    VOTES_FILE,
    arena_dir,
    read_jsonl,
)
from luxit_ray.arena.plots import plot_scores, plot_win_rate
from luxit_ray.arena.ratings import PRIOR_SD, elo_scores
from luxit_ray.arena.tables import pair_counts, position_bias, win_matrix
from luxit_ray.arena.votes import read_votes
from luxit_ray.errors import LuxitError
from luxit_ray.textio import markdown_table

log = logging.getLogger(__name__)
_md_table = partial(markdown_table, float_format=".2f")


@dataclass
class ArenaReport:
    """What ``arena_report`` computed and wrote."""

    models: list[str]
    n_votes: int
    scores: dict[str, dict[str, Any]]  # aspect -> model -> {elo, low, high, votes}
    win_rate: list[list[float | None]]
    pairs: list[dict[str, Any]]
    agreement: dict[str, dict[str, Any]]
    position_bias: dict[str, Any] = field(default_factory=dict)
    generation: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def ranking(self, aspect: str = "overall") -> list[list[Any]]:
        """Rows: rank, model, Elo, 95% interval, votes; best first."""
        s = self.scores[aspect]
        order = sorted(self.models, key=lambda m: -s[m]["elo"])
        return [[k + 1, m, round(s[m]["elo"], 1), f"{s[m]['low']:.1f} to {s[m]['high']:.1f}", s[m]["votes"]]
                for k, m in enumerate(order)]

    def position_line(self) -> str:
        """One sentence on the wins of the left answer."""
        pb = self.position_bias
        if not pb.get("decisive"):
            return "Position bias: no vote with a winner yet."
        return (f"Position bias: the left answer (A) won {pb['left_wins']} of {pb['decisive']} votes with a winner "
                f"({100 * pb['share']:.1f}%, 95% interval {100 * pb['low']:.1f}% to {100 * pb['high']:.1f}%; "
                "50% without a bias, sides are drawn at random).")

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI."""
        return {"tables": {"Arena (overall)": {"columns": ["rank", "model", "Elo", "95% interval", "votes"],
                                               "rows": self.ranking()}},
                "lines": [f"{self.n_votes} votes", self.position_line(),
                          f"wrote {', '.join(str(p) for p in self.files)}"]}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_report_md(rep: ArenaReport, prior_sd: float) -> str:
    """arena.md: ranking per aspect, win rates, votes per pair, position bias, agreement, settings."""
    out = ["# Model arena", "",
           f"{rep.n_votes} blind pairwise votes on {len(rep.models)} models. Bradley-Terry scores on the Elo scale "
           f"(1000 + 400 log10 strength) with a N(0, {prior_sd:g}) prior on each log-strength, so a few votes move "
           "a score only a little; 95% intervals from the posterior (Laplace approximation), wide on few votes. "
           "A tie or 'both bad' counts as half a win for each side.", ""]
    for aspect in ASPECTS:
        out += [f"## Ranking: {aspect}", "", _md_table(["rank", "model", "Elo", "95% interval", "votes"], rep.ranking(aspect)), ""]
    out += ["## Win rate (overall): row model against column model", "",
            _md_table(["model", *rep.models], [[m, *[_fmt(x) for x in row]] for m, row in zip(rep.models, rep.win_rate, strict=True)]), ""]
    out += ["## Votes per model pair (overall)", "",
            _md_table(["model 1", "model 2", "votes", "model 1 wins", "model 2 wins", "ties", "both bad"],
                      [[p["model_1"], p["model_2"], p["votes"], p["wins_1"], p["wins_2"], p["ties"], p["both_bad"]] for p in rep.pairs]), ""]
    out += ["## Position bias", "", rep.position_line(), ""]
    out += ["## Agreement between voters", ""]
    rows = []
    for aspect in ASPECTS:
        ag = rep.agreement[aspect]
        rows.append([aspect, "all", ag["n"], _fmt(ag["agreement"]), ""])
        rows += [[aspect, " / ".join(p["voters"]), p["n"], _fmt(p["agreement"]), _fmt(p["kappa"])] for p in ag["pairs"]]
    out += [_md_table(["aspect", "voters", "common battles", "agreement", "kappa"], rows), ""]
    if rep.generation:
        out += ["## How the answers were generated", "",
                _md_table(["time", "model", "served model", "system prompt", "sampling"],
                          [[g["time"], m["model"], m["served_model"], g.get("system") or "(none)",
                            json.dumps(m.get("sampling") or {}, sort_keys=True)] for g in rep.generation for m in g["models"]]), ""]
    return "\n".join(out)


def arena_report(run_dir: str | Path, prior_sd: float = PRIOR_SD) -> ArenaReport:
    """Rank the models from the votes and write ``RUN_DIR/arena/report/``.

    Args:
        run_dir: the run folder.
        prior_sd: standard deviation of the prior on each log-strength.

    Raises:
        LuxitError: no votes yet.
    """
    adir = arena_dir(run_dir)
    votes = read_votes(run_dir)
    if not votes:
        raise LuxitError(f"no votes in {adir / VOTES_FILE}: vote first (`luxit arena serve {run_dir}`)")
    models = sorted({v["model_a"] for v in votes} | {v["model_b"] for v in votes})
    scores = {aspect: elo_scores(votes, aspect, prior_sd) for aspect in ASPECTS}
    rep = ArenaReport(models=models, n_votes=len(votes), scores=scores, win_rate=win_matrix(votes, models),
                      pairs=pair_counts(votes), agreement={a: voter_agreement(votes, a) for a in ASPECTS},
                      position_bias=position_bias(votes), generation=read_jsonl(adir / GENERATION_FILE))
    out = adir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "arena.md", out / "arena.json"
    md.write_text(render_report_md(rep, prior_sd), encoding="utf-8")
    js.write_text(json.dumps({"models": models, "votes": len(votes), "prior_sd": prior_sd, "interval": "laplace-95",
                              "scores": scores, "win_rate": rep.win_rate, "pairs": rep.pairs,
                              "position_bias": rep.position_bias, "agreement": rep.agreement,
                              "generation": rep.generation}, indent=2, ensure_ascii=False), encoding="utf-8")
    rep.files = [md, js, plot_scores(models, scores, len(votes), out / "bt_scores.png"),
                 plot_win_rate(models, rep.win_rate, out / "win_rate.png")]
    return rep
