"""Bradley-Terry ratings that hold on few votes: a Gaussian prior and its posterior's spread.

P(i beats j) = 1 / (1 + exp(s_j - s_i)). Each log-strength has the prior N(0, ``PRIOR_SD``^2);
a tie or "both bad" counts as half a win for each side. The scores are the posterior mode (found
by Newton's method: the log posterior is strictly concave), and their uncertainty is the Laplace
approximation: the inverse Hessian of the negative log posterior at the mode. So

- a 5-0 result between two models is a modest gap (about 280 Elo points with ``PRIOR_SD`` = 1,
  where a near-flat prior gives about 900), and no number of unanimous votes is infinite;
- the interval is widest without votes (the prior alone) and narrows as votes come in, whatever
  they say (a bootstrap of unanimous votes has zero width exactly when uncertainty is largest);
- the interval is symmetric around the score, so it always holds it and error bars are never
  negative.

Scores are centred (mean 0) and shown on the Elo scale, 1000 + 400 * s / ln(10).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from luxit_ray.arena.files import ELO_BASE, ELO_SCALE

PRIOR_SD = 1.0
Z95 = 1.959963984540054


def outcomes(votes: Sequence[dict[str, Any]], models: Sequence[str], aspect: str = "overall") -> list[tuple[int, int, float]]:
    """``(i, j, s)`` per vote: s = 1 when model i won, 0 when j won, 0.5 for a tie or both bad."""
    idx = {m: k for k, m in enumerate(models)}
    out = []
    for v in votes:
        c = v[aspect]
        s = 1.0 if c == "a" else 0.0 if c == "b" else 0.5
        out.append((idx[v["model_a"]], idx[v["model_b"]], s))
    return out


def _newton(n_models: int, results: Sequence[tuple[int, int, float]], prior_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """The posterior mode and the Hessian of the negative log posterior there."""
    if not 0.0 < prior_sd < float("inf"):
        raise ValueError(f"prior_sd must be positive and finite, got {prior_sd}")
    s = np.zeros(n_models)
    hess = np.eye(n_models) / prior_sd**2
    for _ in range(100):
        grad = -s / prior_sd**2
        hess = np.eye(n_models) / prior_sd**2
        for i, j, y in results:
            p = 1.0 / (1.0 + np.exp(s[j] - s[i]))
            grad[i] += y - p
            grad[j] -= y - p
            w = p * (1.0 - p)
            hess[i, i] += w
            hess[j, j] += w
            hess[i, j] -= w
            hess[j, i] -= w
        step = np.linalg.solve(hess, grad)
        s = s + step
        if np.max(np.abs(step)) < 1e-12:
            break
    return s, hess


def fit_bradley_terry(n_models: int, results: Sequence[tuple[int, int, float]], prior_sd: float = PRIOR_SD) -> np.ndarray:
    """Posterior-mode log-strengths, centred to mean 0.

    Args:
        n_models: number of models (indices 0..n-1).
        results: ``(i, j, s)`` with s in {0, 0.5, 1}.
        prior_sd: standard deviation of each log-strength's Gaussian prior (finite: plain maximum
            likelihood diverges when a model never loses; a large value comes close to it).
    """
    s, _ = _newton(n_models, results, prior_sd)
    return s - s.mean()


def posterior(n_models: int, results: Sequence[tuple[int, int, float]], prior_sd: float = PRIOR_SD) -> tuple[np.ndarray, np.ndarray]:
    """Centred posterior-mode log-strengths and their standard deviations (Laplace approximation).

    The covariance of the centred scores is C H^-1 C with C = I - 1/k, H the Hessian at the mode.
    """
    s, hess = _newton(n_models, results, prior_sd)
    c = np.eye(n_models) - 1.0 / n_models
    cov = c @ np.linalg.inv(hess) @ c
    return s - s.mean(), np.sqrt(np.clip(np.diag(cov), 0.0, None))


def to_elo(params: np.ndarray) -> np.ndarray:
    """Log-strengths on the Elo scale (1000 + 400 log10 of the strength)."""
    return ELO_BASE + ELO_SCALE * np.asarray(params)


def elo_intervals(n_models: int, results: Sequence[tuple[int, int, float]],
                  prior_sd: float = PRIOR_SD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elo scores with the low and high ends of their 95% posterior intervals."""
    s, sd = posterior(n_models, results, prior_sd)
    elo = to_elo(s)
    half = Z95 * ELO_SCALE * sd
    return elo, elo - half, elo + half


def elo_scores(votes: Sequence[dict[str, Any]], aspect: str = "overall",
               prior_sd: float = PRIOR_SD) -> dict[str, dict[str, Any]]:
    """Per model that got votes (sorted by name): its Elo on ``aspect`` with the 95% interval
    (``elo``, ``low``, ``high``) and how many votes it was in, fitted on every vote."""
    models = sorted({v["model_a"] for v in votes} | {v["model_b"] for v in votes})
    per_model = Counter(m for v in votes for m in (v["model_a"], v["model_b"]))
    elo, low, high = elo_intervals(len(models), outcomes(votes, models, aspect), prior_sd)
    return {m: {"elo": float(elo[k]), "low": float(low[k]), "high": float(high[k]), "votes": per_model[m]}
            for k, m in enumerate(models)}
