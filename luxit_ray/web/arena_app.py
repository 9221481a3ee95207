"""``luxit arena serve``: blind pairwise votes between models, keyboard first.

The voter gives a name, then sees one prompt and two answers side by side (random sides, model
names never sent to the page) and votes A, B, tie or both bad on content, language and overall.
Votes are validated and appended, fsync'd, to ``RUN_DIR/arena/votes.jsonl`` by
:class:`luxit_ray.arena.ArenaStore`; ``/leaderboard`` shows vote counts only (rankings come from
``luxit arena report``, so voters are not nudged).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from luxit_ray.arena import ASPECTS, ArenaStore
from luxit_ray.web.server import TEMPLATES, ApiError, base_app, check_name

Choice = Literal["a", "b", "tie", "both_bad"]

# Key per (aspect, choice): one keyboard row per aspect.
KEYS: dict[str, tuple[str, str, str, str]] = {
    "content": ("1", "2", "3", "4"),
    "language": ("q", "w", "e", "r"),
    "overall": ("a", "s", "d", "f"),
}
CHOICE_LABELS = {"a": "A is better", "b": "B is better", "tie": "tie", "both_bad": "both bad"}
ASPECT_HELP = {"content": "correct, complete, does what was asked",
               "language": "fluent, correct language, no needless loan words",
               "overall": "which answer would you rather get"}


class VoteIn(BaseModel):
    """One vote (the POST body)."""

    model_config = ConfigDict(extra="forbid")

    voter: str = Field(min_length=1, max_length=40)
    answer_a: str = Field(min_length=1, max_length=64)
    answer_b: str = Field(min_length=1, max_length=64)
    content: Choice
    language: Choice
    overall: Choice


def create_arena_app(store: ArenaStore, host: str = "127.0.0.1", token: str | None = None) -> FastAPI:
    """The arena web app over ``store``.

    Routes: ``GET /`` (name), ``GET /vote?voter=`` (the voting page), ``GET /leaderboard``
    (vote counts), ``GET /api/next``, ``POST /api/vote``.
    """
    app = base_app("luxit arena", host, token)
    run = store.run_dir.name

    def voters() -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for v in store.votes:
            counts[v["voter"]] = counts.get(v["voter"], 0) + 1
        return [{"name": k, "done": n} for k, n in sorted(counts.items())]

    @app.get("/", response_class=HTMLResponse)
    def start(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "start.html", {
            "mode": "arena", "title": "Arena", "target": "/vote", "param": "voter", "people": voters(),
            "n": len(store.battles), "run": run})

    @app.get("/vote", response_class=HTMLResponse)
    def vote_page(request: Request, voter: str = "") -> HTMLResponse:
        name = check_name(voter, "voter")
        aspects = [{"name": a, "help": ASPECT_HELP[a],
                    "choices": [{"value": c, "label": CHOICE_LABELS[c], "key": k} for c, k in zip(CHOICE_LABELS, KEYS[a], strict=True)]}
                   for a in ASPECTS]
        return TEMPLATES.TemplateResponse(request, "arena.html", {"voter": name, "aspects": aspects, "run": run})

    @app.get("/leaderboard", response_class=HTMLResponse)
    def leaderboard(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "arena_votes.html", {
            "run": run, "voters": voters(), "votes": len(store.votes), "battles": len(store.battles),
            "models": len(store.models)})

    @app.get("/api/next")
    def api_next(voter: str = "") -> dict[str, Any]:
        name = check_name(voter, "voter")
        return {"battle": store.next_battle(name), "progress": store.progress(name)}

    @app.post("/api/vote")
    def api_vote(vote: VoteIn) -> dict[str, Any]:
        name = check_name(vote.voter, "voter")
        try:
            store.vote(name, vote.answer_a, vote.answer_b, {a: getattr(vote, a) for a in ASPECTS})
        except ValueError as exc:
            raise ApiError(409 if "already voted" in str(exc) else 400, str(exc)) from None
        return {"progress": store.progress(name)}

    return app
