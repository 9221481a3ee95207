"""The blind model arena: answers generated ahead of time, pairwise votes, Bradley-Terry ranks.

Flow (all files under ``RUN_DIR/arena/``)::

    luxit arena generate RUN_DIR --model base=vllm --model tuned=vllm:luxit-lora   # answers, paid once
    luxit arena serve RUN_DIR                                                    # people vote
    luxit arena report RUN_DIR                                                   # ranks, tables, PNGs
    luxit arena export RUN_DIR                                                   # DPO preferences

    prompts.jsonl   prompt_id, prompt, origin (the export's validation split, or a prompt file);
                    every prompt ever generated for
    answers.jsonl   answer_id, prompt_id, model, served_model, base_url, text, error, usage;
                    every answer ever generated (votes point at answer ids, so none is dropped)
    votes.jsonl     append-only, fsync'd: vote_id, voter, time, prompt_id, answer_a, answer_b,
                    model_a, model_b, and a choice per aspect (content, language, overall):
                    "a", "b", "tie" or "both_bad"
    report/         arena.md, arena.json, bt_scores.png, win_rate.png
    preferences/    preferences.parquet and preferences.jsonl (prompt, chosen, rejected, metadata)

Answers go through :class:`~luxit_ray.llm.LLMClient` with the run's request cache
(``cache.uri`` or ``<output_dir>/.cache/llm``), so a rerun of ``generate`` pays nothing for an
answer it already has.

Ranking: Bradley-Terry, P(i beats j) = 1 / (1 + exp(s_j - s_i)), fitted by maximum likelihood
with ``choix`` (a weak L2 prior keeps the scores finite when a model never loses). A tie and
"both bad" count as half a win for each side. Scores are shown on the Elo scale,
1000 + 400 * s / ln(10), with percentile intervals from a seeded bootstrap over votes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import math
import os
import random
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from luxit_ray import runs
from luxit_ray.errors import InputError, LuxitError
from luxit_ray.review import cohen_kappa
from luxit_ray.stages.export import VALIDATION, _md_table, parquet_files
from luxit_ray.textio import write_jsonl

log = logging.getLogger(__name__)

ARENA = "arena"
PROMPTS_FILE = "prompts.jsonl"
ANSWERS_FILE = "answers.jsonl"
VOTES_FILE = "votes.jsonl"
REPORT_DIR = "report"
PREFERENCES_DIR = "preferences"
CHOICES = ("a", "b", "tie", "both_bad")
ASPECTS = ("content", "language", "overall")
ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)
DEFAULT_ALPHA = 0.01


def arena_dir(run_dir: str | Path) -> Path:
    """``RUN_DIR/arena``."""
    return Path(run_dir) / ARENA


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _sha(*parts: str, n: int = 16) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:n]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file written by this module (torn lines skipped, see AppendLog)."""
    from luxit_ray.web.store import AppendLog

    return AppendLog(path).read()[0]


# ==== prompts ===========================================================================


def load_prompts(run_dir: str | Path, prompt_file: str | Path | None = None, n: int | None = None,
                 seed: int = 0) -> list[dict[str, Any]]:
    """The arena's prompts: the exported validation split's instructions, or a prompt file.

    Args:
        run_dir: the run folder.
        prompt_file: ``.txt`` (one prompt per line) or ``.jsonl`` (objects with ``prompt`` or
            ``instruction``, optional ``id``); None: ``RUN_DIR/export/validation-*.parquet``.
        n: keep a seeded sample of this many (None: all).
        seed: seed of that sample.

    Returns:
        ``[{prompt_id, prompt, origin}]`` without duplicates, in file order (sample: sorted by id).

    Raises:
        LuxitError: no validation split, an empty or unreadable file.
    """
    rows: list[dict[str, Any]] = []
    if prompt_file is None:
        export = Path(run_dir) / runs.EXPORT
        files = [p for p in parquet_files(export) if p.name.startswith(VALIDATION)] if export.is_dir() else []
        if not files:
            raise LuxitError(f"no validation split in {export}: export with splits.validation_fraction > 0 "
                             "(`luxit export RUN_DIR splits.validation_fraction=0.05`) or pass --prompts FILE")
        import pyarrow.parquet as pq

        for f in files:
            for r in pq.read_table(f, columns=["pair_id", "instruction"]).to_pylist():
                rows.append({"prompt": r["instruction"], "origin": f"validation:{r['pair_id']}"})
    else:
        path = Path(prompt_file)
        if not path.is_file():
            raise InputError(str(path), "", "no such file")
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(str(path), f"line {i}", f"invalid JSON: {exc.msg}") from None
                text = obj.get("prompt", obj.get("instruction")) if isinstance(obj, dict) else None
                if not isinstance(text, str) or not text.strip():
                    raise InputError(str(path), f"line {i}", "needs a non-empty 'prompt' (or 'instruction') string")
                rows.append({"prompt": text.strip(), "origin": f"{path.name}:{obj.get('id', i)}"})
        else:
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    rows.append({"prompt": line.strip(), "origin": f"{path.name}:{i}"})
    out, seen = [], set()
    for r in rows:
        pid = "p" + _sha(r["prompt"], n=12)
        if pid not in seen:
            seen.add(pid)
            out.append({"prompt_id": pid, **r})
    if not out:
        raise LuxitError(f"no prompts found in {prompt_file or Path(run_dir) / runs.EXPORT}")
    if n is not None and n < len(out):
        rng = np.random.default_rng(seed)
        out = [out[int(i)] for i in sorted(rng.choice(len(out), size=n, replace=False))]
    return out


# ==== answers ===========================================================================


@dataclass
class ArenaModel:
    """One contestant: a name shown in reports (never to voters) and its endpoint."""

    name: str
    endpoint_name: str
    endpoint: Any  # EndpointConfig


def parse_model_spec(spec: str, endpoints: dict[str, Any]) -> ArenaModel:
    """``NAME=ENDPOINT`` or ``NAME=ENDPOINT:MODEL`` (an endpoint of the run's config, optionally
    with another served model, e.g. a LoRA adapter's name), or ``NAME=URL#MODEL``.

    Raises:
        LuxitError: malformed spec or unknown endpoint.
    """
    from luxit_ray.config.llm import EndpointConfig
    from luxit_ray.web.store import ApiError, check_name

    name, sep, target = spec.partition("=")
    if not sep or not target:
        raise LuxitError(f"--model {spec!r}: expected NAME=ENDPOINT, NAME=ENDPOINT:MODEL or NAME=URL#MODEL")
    try:
        name = check_name(name, "model name")
    except ApiError as exc:
        raise LuxitError(f"--model {spec!r}: {exc.message}") from None
    if "://" in target:
        url, _, model = target.rpartition("#")
        if not url or not model:
            raise LuxitError(f"--model {spec!r}: a URL needs the served model after '#', e.g. http://127.0.0.1:8000/v1#my-model")
        return ArenaModel(name, url, EndpointConfig(base_url=url, model=model))
    ep_name, _, model = target.partition(":")
    if ep_name not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        raise LuxitError(f"--model {spec!r}: no endpoint {ep_name!r} in the run's config (known: {known})")
    ep = endpoints[ep_name]
    if model:
        ep = ep.model_copy(update={"model": model})
    return ArenaModel(name, ep_name, ep)


def _cache_uri(run_dir: Path) -> str | None:
    """The run's request cache (as the pipeline resolves it): cache.uri or <output_dir>/.cache/llm."""
    cfg_path = run_dir / runs.CONFIG_FILE
    if not cfg_path.is_file():
        return os.path.abspath(os.path.join(run_dir.parent, ".cache", "llm"))
    cfg = runs.RunDir(run_dir).config()
    if not cfg.cache.enabled:
        return None
    if cfg.cache.uri:
        return cfg.cache.uri if "://" in cfg.cache.uri else os.path.abspath(cfg.cache.uri)
    return os.path.abspath(os.path.join(cfg.run.output_dir, ".cache", "llm"))


@dataclass
class ArenaGeneration:
    """What ``generate_answers`` did, per model."""

    prompts: int
    per_model: dict[str, dict[str, int]]
    answers_path: Path

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI."""
        rows = [[m, v["ok"], v["errors"], v["cache_hits"], v["completion_tokens"]] for m, v in self.per_model.items()]
        return {"tables": {"Arena answers": {"columns": ["model", "answers", "errors", "from cache", "output tokens"],
                                             "rows": rows}},
                "lines": [f"{self.prompts} prompts; answers in {self.answers_path}"]}


def generate_answers(run_dir: str | Path, model_specs: Sequence[str], prompt_file: str | Path | None = None,
                     n: int | None = None, seed: int = 0, max_tokens: int | None = None,
                     system: str | None = None) -> ArenaGeneration:
    """Generate every model's answer to every prompt, through the run's request cache.

    Args:
        run_dir: the run folder.
        model_specs: two or more ``--model`` specs (see :func:`parse_model_spec`).
        prompt_file: prompts instead of the validation split.
        n: number of prompts (seeded sample).
        seed: seed of the prompt sample.
        max_tokens: output budget per answer (None: the endpoint's default).
        system: an optional system message sent before each prompt.

    Raises:
        LuxitError: fewer than two models, duplicate names, unknown endpoints, no prompts.
    """
    from luxit_ray.config.llm import SamplingConfig
    from luxit_ray.llm import LLMClient, RequestCache

    run_dir = Path(run_dir)
    endpoints = runs.RunDir(run_dir).config().endpoints if (run_dir / runs.CONFIG_FILE).is_file() else {}
    models = [parse_model_spec(s, endpoints) for s in model_specs]
    names = [m.name for m in models]
    if len(models) < 2:
        raise LuxitError("the arena needs at least two --model specs")
    if len(set(names)) != len(names):
        raise LuxitError(f"model names repeat: {', '.join(sorted(k for k, v in Counter(names).items() if v > 1))}")
    prompts = load_prompts(run_dir, prompt_file, n, seed)
    adir = arena_dir(run_dir)
    adir.mkdir(parents=True, exist_ok=True)
    # Prompts accumulate like answers: votes on an earlier prompt set keep their text.
    known = {p["prompt_id"]: p for p in read_jsonl(adir / PROMPTS_FILE)}
    known.update({p["prompt_id"]: p for p in prompts})
    write_jsonl(adir / PROMPTS_FILE, list(known.values()))
    uri = _cache_uri(run_dir)
    sampling = SamplingConfig(max_tokens=max_tokens) if max_tokens else None
    # Every answer ever generated stays (votes point at them); a regenerated one moves to the end,
    # where ArenaStore looks for each model's current answer.
    by_id = {a["answer_id"]: a for a in read_jsonl(adir / ANSWERS_FILE)}
    per_model = {}
    for m in models:
        cache = RequestCache(uri) if uri else None
        try:
            with LLMClient(m.endpoint_name, m.endpoint, cache=cache, stage=f"arena:{m.name}") as client:
                reqs = [(([{"role": "system", "content": system}] if system else [])
                         + [{"role": "user", "content": p["prompt"]}], None) for p in prompts]
                comps = client.chat_many(reqs, sampling)
        finally:
            if cache is not None:
                cache.close()
        stats = {"ok": 0, "errors": 0, "cache_hits": 0, "completion_tokens": 0}
        for p, c in zip(prompts, comps, strict=True):
            text = c.content.strip() if c.ok and c.content else None
            error = c.error if not c.ok else (None if text else "empty: no answer text")
            aid = "a" + _sha(m.name, m.endpoint.model, p["prompt_id"], text or "", error or "", n=15)
            stats["ok" if error is None else "errors"] += 1
            stats["cache_hits"] += int(c.cache_hit)
            stats["completion_tokens"] += c.completion_tokens
            rec = {"answer_id": aid, "prompt_id": p["prompt_id"], "model": m.name, "served_model": m.endpoint.model,
                   "base_url": m.endpoint.base_url, "text": text, "error": error, "finish_reason": c.finish_reason,
                   "usage": json.loads(c.usage_json()), "created_at": _now()}
            by_id.pop(aid, None)
            by_id[aid] = rec
        per_model[m.name] = stats
        log.info("arena: %s answered %d of %d prompts", m.name, stats["ok"], len(prompts))
    write_jsonl(adir / ANSWERS_FILE, list(by_id.values()))
    return ArenaGeneration(len(prompts), per_model, adir / ANSWERS_FILE)


# ==== votes =============================================================================


def battle_key(prompt_id: str, model_a: str, model_b: str) -> tuple[str, str, str]:
    """A battle regardless of the side each model was shown on."""
    lo, hi = sorted((model_a, model_b))
    return (prompt_id, lo, hi)


def winner(vote: dict[str, Any], aspect: str) -> str | None:
    """The model the vote prefers on ``aspect``; None for a tie or both bad."""
    c = vote[aspect]
    return vote["model_a"] if c == "a" else vote["model_b"] if c == "b" else None


class ArenaStore:
    """Prompts, current answers and the vote log of one run's arena.

    Args:
        run_dir: the run folder (``luxit arena generate`` has run).
        seed: seed of the battle order (None: random).

    Raises:
        LuxitError: no answers yet, or fewer than two models answered a prompt.
    """

    def __init__(self, run_dir: str | Path, seed: int | None = None) -> None:
        from luxit_ray.web.store import AppendLog

        self.run_dir = Path(run_dir)
        self.dir = arena_dir(run_dir)
        if not (self.dir / ANSWERS_FILE).is_file():
            raise LuxitError(f"no arena answers in {self.dir}: run `luxit arena generate {run_dir} --model A=... --model B=...` first")
        self.prompts = {p["prompt_id"]: p for p in read_jsonl(self.dir / PROMPTS_FILE)}
        self.answers = {a["answer_id"]: a for a in read_jsonl(self.dir / ANSWERS_FILE)}
        # The latest ok answer of each model per prompt (answers.jsonl is in generation order).
        self.current: dict[str, dict[str, str]] = defaultdict(dict)
        for a in self.answers.values():
            if a.get("error") is None and a.get("text") and a["prompt_id"] in self.prompts:
                self.current[a["prompt_id"]][a["model"]] = a["answer_id"]
        self.battles = [(pid, m1, m2) for pid in self.prompts for m1, m2 in combinations(sorted(self.current.get(pid, {})), 2)]
        if not self.battles:
            raise LuxitError(f"no prompt in {self.dir} has answers from two models: check the errors in {ANSWERS_FILE}")
        self.models = sorted({m for _, m1, m2 in self.battles for m in (m1, m2)})
        self.log = AppendLog(self.dir / VOTES_FILE)
        self.votes: list[dict[str, Any]] = self.log.read()[0]
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def voted(self, voter: str) -> set[tuple[str, str, str]]:
        """The battles ``voter`` has voted on."""
        return {battle_key(v["prompt_id"], v["model_a"], v["model_b"]) for v in self.votes if v["voter"] == voter}

    def progress(self, voter: str) -> dict[str, int]:
        """Votes by this voter, battles available, all votes."""
        return {"voted": len(self.voted(voter)), "battles": len(self.battles), "votes": len(self.votes)}

    def next_battle(self, voter: str) -> dict[str, Any] | None:
        """A battle the voter has not voted on, among the least-voted ones, sides shuffled; no
        model names. None when the voter has voted on every battle."""
        with self._lock:
            done = self.voted(voter)
            counts = Counter(battle_key(v["prompt_id"], v["model_a"], v["model_b"]) for v in self.votes)
            open_ = [b for b in self.battles if b not in done]
            if not open_:
                return None
            least = min(counts[b] for b in open_)
            pid, m1, m2 = self._rng.choice([b for b in open_ if counts[b] == least])
            left, right = (m1, m2) if self._rng.random() < 0.5 else (m2, m1)
        a, b = self.answers[self.current[pid][left]], self.answers[self.current[pid][right]]
        return {"prompt_id": pid, "prompt": self.prompts[pid]["prompt"],
                "a": {"answer_id": a["answer_id"], "text": a["text"]},
                "b": {"answer_id": b["answer_id"], "text": b["text"]}}

    def vote(self, voter: str, answer_a: str, answer_b: str, choices: dict[str, str]) -> dict[str, Any]:
        """Record one vote durably (fsync'd line) and return it.

        Raises:
            ValueError: unknown answers, answers of different prompts or of one model, a choice
                outside ``CHOICES``, or a second vote by this voter on the same battle; nothing
                is written then.
        """
        for aid in (answer_a, answer_b):
            if aid not in self.answers or self.answers[aid].get("text") is None:
                raise ValueError(f"answer {aid!r} is not an answer of this arena")
        a, b = self.answers[answer_a], self.answers[answer_b]
        if a["prompt_id"] != b["prompt_id"]:
            raise ValueError("the two answers belong to different prompts")
        if a["model"] == b["model"]:
            raise ValueError("the two answers come from the same model")
        if set(choices) != set(ASPECTS):
            raise ValueError(f"a vote needs exactly the aspects {', '.join(ASPECTS)}")
        for k, v in choices.items():
            if v not in CHOICES:
                raise ValueError(f"{k}: {v!r} is not one of {', '.join(CHOICES)}")
        rec = {"vote_id": uuid.uuid4().hex[:16], "voter": voter, "time": _now(), "prompt_id": a["prompt_id"],
               "answer_a": answer_a, "answer_b": answer_b, "model_a": a["model"], "model_b": b["model"],
               **{k: choices[k] for k in ASPECTS}}
        with self._lock:
            if battle_key(a["prompt_id"], a["model"], b["model"]) in self.voted(voter):
                raise ValueError("this voter has already voted on these two answers")
            self.log.append(rec)
            self.votes.append(rec)
        return rec


# ==== Bradley-Terry =====================================================================


def outcomes(votes: Sequence[dict[str, Any]], models: Sequence[str], aspect: str = "overall") -> list[tuple[int, int, float]]:
    """``(i, j, s)`` per vote: s = 1 when model i won, 0 when j won, 0.5 for a tie or both bad."""
    idx = {m: k for k, m in enumerate(models)}
    out = []
    for v in votes:
        c = v[aspect]
        s = 1.0 if c == "a" else 0.0 if c == "b" else 0.5
        out.append((idx[v["model_a"]], idx[v["model_b"]], s))
    return out


def fit_bradley_terry(n_models: int, results: Sequence[tuple[int, int, float]], alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Bradley-Terry log-strengths (centred to mean 0) by maximum likelihood with ``choix``.

    A half win is fitted as one win each way at half weight: every result enters twice (a win as
    two wins, a tie as one win each way), which leaves the maximum-likelihood point unchanged.

    Args:
        n_models: number of models (indices 0..n-1).
        results: ``(i, j, s)`` with s in {0, 0.5, 1}.
        alpha: L2 penalty on the scores (0: plain maximum likelihood, which diverges when a
            model never loses).
    """
    import choix

    data: list[tuple[int, int]] = []
    for i, j, s in results:
        if s == 1.0:
            data += [(i, j), (i, j)]
        elif s == 0.0:
            data += [(j, i), (j, i)]
        else:
            data += [(i, j), (j, i)]
    if not data:
        return np.zeros(n_models)
    params = np.asarray(choix.opt_pairwise(n_models, data, alpha=alpha), dtype=float)
    return params - params.mean()


def to_elo(params: np.ndarray) -> np.ndarray:
    """Log-strengths on the Elo scale (1000 + 400 log10 of the strength)."""
    return ELO_BASE + ELO_SCALE * np.asarray(params)


def bootstrap_bt(n_models: int, results: Sequence[tuple[int, int, float]], rounds: int = 1000, seed: int = 0,
                 alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Elo-scale scores refitted on ``rounds`` resamples of the votes (rows: rounds)."""
    rng = np.random.default_rng(seed)
    res = list(results)
    out = np.empty((rounds, n_models))
    for r in range(rounds):
        pick = rng.integers(0, len(res), size=len(res))
        out[r] = to_elo(fit_bradley_terry(n_models, [res[int(k)] for k in pick], alpha))
    return out


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


# ==== report ============================================================================


@dataclass
class ArenaReport:
    """What ``arena_report`` computed and wrote."""

    models: list[str]
    n_votes: int
    scores: dict[str, dict[str, Any]]  # aspect -> model -> {elo, low, high, votes}
    win_rate: list[list[float | None]]
    pairs: list[dict[str, Any]]
    agreement: dict[str, dict[str, Any]]
    files: list[Path] = field(default_factory=list)

    def ranking(self, aspect: str = "overall") -> list[list[Any]]:
        """Rows: rank, model, Elo, 95% interval, votes; best first."""
        s = self.scores[aspect]
        order = sorted(self.models, key=lambda m: -s[m]["elo"])
        return [[k + 1, m, round(s[m]["elo"], 1), f"{s[m]['low']:.1f} to {s[m]['high']:.1f}", s[m]["votes"]]
                for k, m in enumerate(order)]

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI."""
        return {"tables": {"Arena (overall)": {"columns": ["rank", "model", "Elo", "95% interval", "votes"],
                                               "rows": self.ranking()}},
                "lines": [f"{self.n_votes} votes; wrote {', '.join(str(p) for p in self.files)}"]}


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def render_report_md(rep: ArenaReport, rounds: int) -> str:
    """arena.md: ranking per aspect, win rates, votes per pair, agreement between voters."""
    out = ["# Model arena", "",
           f"{rep.n_votes} blind pairwise votes on {len(rep.models)} models. Bradley-Terry scores on the Elo "
           f"scale (1000 + 400 log10 strength), 95% intervals from {rounds} bootstrap resamples of the votes; "
           "a tie or 'both bad' counts as half a win for each side.", ""]
    for aspect in ASPECTS:
        out += [f"## Ranking: {aspect}", "", _md_table(["rank", "model", "Elo", "95% interval", "votes"], rep.ranking(aspect)), ""]
    out += ["## Win rate (overall): row model against column model", "",
            _md_table(["model", *rep.models], [[m, *[_fmt(x) for x in row]] for m, row in zip(rep.models, rep.win_rate, strict=True)]), ""]
    out += ["## Votes per model pair (overall)", "",
            _md_table(["model 1", "model 2", "votes", "model 1 wins", "model 2 wins", "ties", "both bad"],
                      [[p["model_1"], p["model_2"], p["votes"], p["wins_1"], p["wins_2"], p["ties"], p["both_bad"]] for p in rep.pairs]), ""]
    out += ["## Agreement between voters", ""]
    rows = []
    for aspect in ASPECTS:
        ag = rep.agreement[aspect]
        rows.append([aspect, "all", ag["n"], _fmt(ag["agreement"]), ""])
        rows += [[aspect, " / ".join(p["voters"]), p["n"], _fmt(p["agreement"]), _fmt(p["kappa"])] for p in ag["pairs"]]
    out += [_md_table(["aspect", "voters", "common battles", "agreement", "kappa"], rows), ""]
    return "\n".join(out)


def _plot_scores(rep: ArenaReport, path: Path) -> Path:
    from matplotlib.figure import Figure

    from luxit_ray.plots import COLORS, _save

    fig = Figure(figsize=(7.5, 1.2 + 0.55 * len(rep.models) * len(ASPECTS) / 2))
    ax = fig.add_subplot(111)
    order = [r[1] for r in rep.ranking()][::-1]
    width = 0.25
    for k, aspect in enumerate(ASPECTS):
        s = rep.scores[aspect]
        y = np.arange(len(order)) + (k - 1) * width
        x = np.array([s[m]["elo"] for m in order])
        lo = x - np.array([s[m]["low"] for m in order])
        hi = np.array([s[m]["high"] for m in order]) - x
        ax.errorbar(x, y, xerr=[lo, hi], fmt="o", color=COLORS[k], capsize=3, label=aspect)
    ax.axvline(ELO_BASE, color="#999", lw=0.8, ls="--")
    ax.set_yticks(np.arange(len(order)), order)
    ax.set_xlabel("Bradley-Terry score (Elo scale), 95% bootstrap interval")
    ax.set_title(f"Arena ranking ({rep.n_votes} votes)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _plot_win_rate(rep: ArenaReport, path: Path) -> Path:
    from matplotlib.figure import Figure

    from luxit_ray.plots import _save

    k = len(rep.models)
    m = np.array([[np.nan if x is None else x for x in row] for row in rep.win_rate], dtype=float)
    fig = Figure(figsize=(2.2 + 1.1 * k, 1.6 + 0.9 * k))
    ax = fig.add_subplot(111)
    im = ax.imshow(m, cmap="RdYlGn", vmin=0, vmax=1)
    ax.set_xticks(range(k), rep.models, rotation=30, ha="right")
    ax.set_yticks(range(k), rep.models)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, "" if np.isnan(m[i, j]) else f"{m[i, j]:.2f}", ha="center", va="center", fontsize=10)
    ax.set_xlabel("against")
    ax.set_title("Win rate of row model (overall, ties half)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return _save(fig, path)


def arena_report(run_dir: str | Path, rounds: int = 1000, seed: int = 0, alpha: float = DEFAULT_ALPHA) -> ArenaReport:
    """Rank the models from the votes and write ``RUN_DIR/arena/report/``.

    Raises:
        LuxitError: no votes yet.
    """
    adir = arena_dir(run_dir)
    votes = read_jsonl(adir / VOTES_FILE)
    if not votes:
        raise LuxitError(f"no votes in {adir / VOTES_FILE}: vote first (`luxit arena serve {run_dir}`)")
    models = sorted({v["model_a"] for v in votes} | {v["model_b"] for v in votes})
    per_model_votes = Counter(m for v in votes for m in (v["model_a"], v["model_b"]))
    scores: dict[str, dict[str, Any]] = {}
    for aspect in ASPECTS:
        res = outcomes(votes, models, aspect)
        elo = to_elo(fit_bradley_terry(len(models), res, alpha))
        boot = bootstrap_bt(len(models), res, rounds, seed, alpha)
        low, high = np.percentile(boot, 2.5, axis=0), np.percentile(boot, 97.5, axis=0)
        scores[aspect] = {m: {"elo": float(elo[k]), "low": float(low[k]), "high": float(high[k]),
                              "votes": per_model_votes[m]} for k, m in enumerate(models)}
    rep = ArenaReport(models=models, n_votes=len(votes), scores=scores, win_rate=win_matrix(votes, models),
                      pairs=pair_counts(votes), agreement={a: voter_agreement(votes, a) for a in ASPECTS})
    out = adir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / "arena.md", out / "arena.json"
    md.write_text(render_report_md(rep, rounds), encoding="utf-8")
    js.write_text(json.dumps({"models": models, "votes": len(votes), "bootstrap_rounds": rounds, "seed": seed,
                              "alpha": alpha, "scores": scores, "win_rate": rep.win_rate, "pairs": rep.pairs,
                              "agreement": rep.agreement}, indent=2, ensure_ascii=False), encoding="utf-8")
    rep.files = [md, js, _plot_scores(rep, out / "bt_scores.png"), _plot_win_rate(rep, out / "win_rate.png")]
    return rep


# ==== preferences =======================================================================


PREFERENCE_COLUMNS = ["prompt", "chosen", "rejected", "chosen_model", "rejected_model", "prompt_id", "chosen_id",
                      "rejected_id", "vote_id", "voter", "time", "aspect", "content", "language", "overall"]


@dataclass
class PreferenceExport:
    """What ``export_preferences`` wrote."""

    rows: int
    skipped: dict[str, int]
    files: list[Path]

    def summary(self) -> dict[str, Any]:
        """Lines for the CLI."""
        return {"lines": [f"{self.rows} preference pairs ({self.skipped['tie']} ties and {self.skipped['both_bad']} "
                          f"'both bad' left out); wrote {', '.join(str(p) for p in self.files)}"]}


def export_preferences(run_dir: str | Path, aspect: str = "overall", out: str | Path | None = None) -> PreferenceExport:
    """Write the decisive votes as a DPO preference dataset (Parquet and JSONL).

    Columns: ``prompt``, ``chosen``, ``rejected`` (the texts), the two models and answer ids,
    and the vote's metadata (``vote_id``, ``voter``, ``time``, ``aspect`` used, and the three
    choices). Ties and "both bad" on ``aspect`` carry no preference and are left out.

    Raises:
        LuxitError: unknown aspect, or no votes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if aspect not in ASPECTS:
        raise LuxitError(f"--aspect must be one of {', '.join(ASPECTS)} (got {aspect!r})")
    adir = arena_dir(run_dir)
    votes = read_jsonl(adir / VOTES_FILE)
    if not votes:
        raise LuxitError(f"no votes in {adir / VOTES_FILE}")
    prompts = {p["prompt_id"]: p for p in read_jsonl(adir / PROMPTS_FILE)}
    answers = {a["answer_id"]: a for a in read_jsonl(adir / ANSWERS_FILE)}
    rows, skipped = [], Counter()
    for v in votes:
        c = v[aspect]
        if c not in ("a", "b"):
            skipped[c] += 1
            continue
        win, lose = (v["answer_a"], v["answer_b"]) if c == "a" else (v["answer_b"], v["answer_a"])
        rows.append({"prompt": prompts[v["prompt_id"]]["prompt"], "chosen": answers[win]["text"],
                     "rejected": answers[lose]["text"], "chosen_model": answers[win]["model"],
                     "rejected_model": answers[lose]["model"], "prompt_id": v["prompt_id"], "chosen_id": win,
                     "rejected_id": lose, "vote_id": v["vote_id"], "voter": v["voter"], "time": v["time"],
                     "aspect": aspect, "content": v["content"], "language": v["language"], "overall": v["overall"]})
    dest = Path(out) if out is not None else adir / PREFERENCES_DIR
    dest.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.string()) for c in PREFERENCE_COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    pq_path, jl_path = dest / "preferences.parquet", dest / "preferences.jsonl"
    pq.write_table(table, pq_path)
    write_jsonl(jl_path, rows)
    return PreferenceExport(len(rows), {"tie": skipped["tie"], "both_bad": skipped["both_bad"]}, [pq_path, jl_path])
