"""The vote log: battles, the store the arena page writes through, and undone votes.

``votes.jsonl`` is append-only and fsync'd. A vote is ``vote_id, voter, time, prompt_id,
answer_a, answer_b, model_a, model_b``, a choice per aspect (``CHOICES``) and an optional
``comment``. Undoing a vote appends ``{"undo": vote_id, "voter", "time"}``; every reader goes
through :func:`active_votes`, so an undone vote counts nowhere. A skip is not a vote: it is kept
in memory only, to show the voter other battles first.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from luxit_ray.arena.files import (
    ANSWERS_FILE,
    ASPECTS,
    CHOICES,
    PROMPTS_FILE,
    VOTES_FILE,
    arena_dir,
    now,
    read_jsonl,
)
from luxit_ray.errors import LuxitError

MAX_COMMENT = 2000


def battle_key(prompt_id: str, model_a: str, model_b: str) -> tuple[str, str, str]:
    """A battle regardless of the side each model was shown on."""
    lo, hi = sorted((model_a, model_b))
    return (prompt_id, lo, hi)


def winner(vote: dict[str, Any], aspect: str) -> str | None:
    """The model the vote prefers on ``aspect``; None for a tie or both bad."""
    c = vote[aspect]
    return vote["model_a"] if c == "a" else vote["model_b"] if c == "b" else None


def active_votes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The votes of a vote log, in order, without the undone ones and the undo records."""
    undone = {r["undo"] for r in records if "undo" in r}
    return [r for r in records if "undo" not in r and r.get("vote_id") not in undone]


def read_votes(run_dir: str | Path) -> list[dict[str, Any]]:
    """The active votes of a run's arena."""
    return active_votes(read_jsonl(arena_dir(run_dir) / VOTES_FILE))


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
        self.votes: list[dict[str, Any]] = active_votes(self.log.read()[0])
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._skipped: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        self._again: dict[str, dict[str, Any]] = {}  # voter -> the battle of an undone vote

    def voted(self, voter: str) -> set[tuple[str, str, str]]:
        """The battles ``voter`` has voted on."""
        return {battle_key(v["prompt_id"], v["model_a"], v["model_b"]) for v in self.votes if v["voter"] == voter}

    def progress(self, voter: str) -> dict[str, int]:
        """Votes by this voter, battles available, all votes."""
        return {"voted": len(self.voted(voter)), "battles": len(self.battles), "votes": len(self.votes)}

    def _show(self, pid: str, answer_a: str, answer_b: str) -> dict[str, Any]:
        a, b = self.answers[answer_a], self.answers[answer_b]
        return {"prompt_id": pid, "prompt": self.prompts[pid]["prompt"],
                "a": {"answer_id": a["answer_id"], "text": a["text"]},
                "b": {"answer_id": b["answer_id"], "text": b["text"]}}

    def next_battle(self, voter: str) -> dict[str, Any] | None:
        """A battle the voter has not voted on, among the least-voted ones, sides shuffled; no
        model names. Battles the voter skipped come last, in the order skipped; the battle of an
        undone vote comes first. None when the voter has voted on every battle."""
        with self._lock:
            again = self._again.pop(voter, None)
            if again is not None:
                return again
            done = self.voted(voter)
            counts = Counter(battle_key(v["prompt_id"], v["model_a"], v["model_b"]) for v in self.votes)
            skipped = [b for b in self._skipped[voter] if b not in done]
            open_ = [b for b in self.battles if b not in done and b not in skipped]
            if not open_:
                if not skipped:
                    return None
                self._skipped[voter] = skipped[1:]
                pid, m1, m2 = skipped[0]
            else:
                least = min(counts[b] for b in open_)
                pid, m1, m2 = self._rng.choice([b for b in open_ if counts[b] == least])
            left, right = (m1, m2) if self._rng.random() < 0.5 else (m2, m1)
        return self._show(pid, self.current[pid][left], self.current[pid][right])

    def _pair(self, answer_a: str, answer_b: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for aid in (answer_a, answer_b):
            if aid not in self.answers or self.answers[aid].get("text") is None:
                raise ValueError(f"answer {aid!r} is not an answer of this arena")
        a, b = self.answers[answer_a], self.answers[answer_b]
        if a["prompt_id"] != b["prompt_id"]:
            raise ValueError("the two answers belong to different prompts")
        if a["model"] == b["model"]:
            raise ValueError("the two answers come from the same model")
        return a, b

    def skip(self, voter: str, answer_a: str, answer_b: str) -> None:
        """Show this battle to ``voter`` again only after every other open one.

        Raises:
            ValueError: the answers are not a battle of this arena.
        """
        a, b = self._pair(answer_a, answer_b)
        key = battle_key(a["prompt_id"], a["model"], b["model"])
        with self._lock:
            if key in self._skipped[voter]:
                self._skipped[voter].remove(key)
            self._skipped[voter].append(key)

    def vote(self, voter: str, answer_a: str, answer_b: str, choices: dict[str, str],
             comment: str | None = None) -> dict[str, Any]:
        """Record one vote durably (fsync'd line) and return it.

        Raises:
            ValueError: unknown answers, answers of different prompts or of one model, a choice
                outside ``CHOICES``, a comment over ``MAX_COMMENT`` characters, or a second vote by
                this voter on the same battle; nothing is written then.
        """
        a, b = self._pair(answer_a, answer_b)
        if set(choices) != set(ASPECTS):
            raise ValueError(f"a vote needs exactly the aspects {', '.join(ASPECTS)}")
        for k, v in choices.items():
            if v not in CHOICES:
                raise ValueError(f"{k}: {v!r} is not one of {', '.join(CHOICES)}")
        comment = (comment or "").strip() or None
        if comment is not None and len(comment) > MAX_COMMENT:
            raise ValueError(f"the comment is longer than {MAX_COMMENT} characters")
        rec = {"vote_id": uuid.uuid4().hex[:16], "voter": voter, "time": now(), "prompt_id": a["prompt_id"],
               "answer_a": answer_a, "answer_b": answer_b, "model_a": a["model"], "model_b": b["model"],
               **{k: choices[k] for k in ASPECTS}, "comment": comment}
        with self._lock:
            if battle_key(a["prompt_id"], a["model"], b["model"]) in self.voted(voter):
                raise ValueError("this voter has already voted on these two answers")
            self.log.append(rec)
            self.votes.append(rec)
        return rec

    def undo(self, voter: str) -> dict[str, Any] | None:
        """Take back ``voter``'s last vote (an undo record is appended) and offer its battle next,
        sides as shown. Returns the undone vote, or None when the voter has no vote left."""
        with self._lock:
            mine = [v for v in self.votes if v["voter"] == voter]
            if not mine:
                return None
            last = mine[-1]
            self.log.append({"undo": last["vote_id"], "voter": voter, "time": now()})
            self.votes.remove(last)
            self._again[voter] = self._show(last["prompt_id"], last["answer_a"], last["answer_b"])
        return last
