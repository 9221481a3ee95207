"""``luxit arena serve``: blind pairwise votes between models, keyboard first.

The voter gives a name, then sees one prompt and two answers side by side (random sides, model
names never sent to the page; the texts rendered from Markdown with raw HTML off) and votes A,
B, tie or both bad on content, language and overall, with an optional comment. The voter can skip
a battle (it comes back after the others) and undo the last vote (the battle is shown again with
its choices). Votes are validated and appended, fsync'd, to ``RUN_DIR/arena/votes.jsonl`` by
:class:`luxit_ray.arena.ArenaStore`; ``/leaderboard`` shows vote counts only (rankings come from
``luxit arena report``, so voters are not nudged).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from luxit_ray.arena import ASPECTS, ArenaStore
from luxit_ray.arena.votes import MAX_COMMENT
from luxit_ray.web.markdown import render_markdown
from luxit_ray.web.server import TEMPLATES, ApiError, base_app, check_name, start_page

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


class BattleIn(BaseModel):
    """A battle named by its two answers, as shown (the skip body)."""

    model_config = ConfigDict(extra="forbid")

    voter: str = Field(min_length=1, max_length=40)
    answer_a: str = Field(min_length=1, max_length=64)
    answer_b: str = Field(min_length=1, max_length=64)


class VoteIn(BattleIn):
    """One vote (the POST body)."""

    content: Choice
    language: Choice
    overall: Choice
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class VoterIn(BaseModel):
    """Who asks (the undo body)."""

    model_config = ConfigDict(extra="forbid")

    voter: str = Field(min_length=1, max_length=40)


def _with_html(battle: dict[str, Any] | None) -> dict[str, Any] | None:
    if battle is None:
        return None
    return {**battle, "prompt_html": render_markdown(battle["prompt"]),
            "a": {**battle["a"], "html": render_markdown(battle["a"]["text"])},
            "b": {**battle["b"], "html": render_markdown(battle["b"]["text"])}}


def create_arena_app(store: ArenaStore, host: str = "127.0.0.1", token: str | None = None) -> FastAPI:
    """The arena web app over ``store``.

    Routes: ``GET /`` (name), ``GET /vote?voter=`` (the voting page), ``GET /leaderboard``
    (vote counts), ``GET /api/next``, ``POST /api/vote``, ``POST /api/skip``, ``POST /api/undo``.
    """
    app = base_app("luxit arena", host, token)
    run = store.run_dir.name

    def voters() -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for v in store.votes:
            counts[v["voter"]] = counts.get(v["voter"], 0) + 1
        return [{"name": k, "done": n} for k, n in sorted(counts.items())]

    def start(request: Request, error: str | None = None, given: str = "") -> HTMLResponse:
        return start_page(request, {"mode": "arena", "title": "Arena", "target": "/vote", "param": "voter",
                                    "people": voters(), "n": len(store.battles), "run": run}, error, given)

    @app.get("/", response_class=HTMLResponse)
    def start_route(request: Request) -> HTMLResponse:
        return start(request)

    @app.get("/vote", response_class=HTMLResponse)
    def vote_page(request: Request, voter: str = "") -> HTMLResponse:
        try:
            name = check_name(voter, "your name")
        except ApiError as exc:
            return start(request, exc.message, voter)
        aspects = [{"name": a, "help": ASPECT_HELP[a],
                    "choices": [{"value": c, "label": CHOICE_LABELS[c], "key": k} for c, k in zip(CHOICE_LABELS, KEYS[a], strict=True)]}
                   for a in ASPECTS]
        return TEMPLATES.TemplateResponse(request, "arena.html", {"voter": name, "aspects": aspects, "run": run,
                                                                  "max_comment": MAX_COMMENT})

    @app.get("/leaderboard", response_class=HTMLResponse)
    def leaderboard(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "arena_votes.html", {
            "run": run, "voters": voters(), "votes": len(store.votes), "battles": len(store.battles),
            "models": len(store.models)})

    @app.get("/api/next")
    def api_next(voter: str = "") -> dict[str, Any]:
        name = check_name(voter, "voter")
        return {"battle": _with_html(store.next_battle(name)), "progress": store.progress(name)}

    @app.post("/api/vote")
    def api_vote(vote: VoteIn) -> dict[str, Any]:
        name = check_name(vote.voter, "voter")
        try:
            store.vote(name, vote.answer_a, vote.answer_b, {a: getattr(vote, a) for a in ASPECTS}, vote.comment)
        except ValueError as exc:
            raise ApiError(409 if "already voted" in str(exc) else 400, str(exc)) from None
        return {"progress": store.progress(name)}

    @app.post("/api/skip")
    def api_skip(battle: BattleIn) -> dict[str, Any]:
        name = check_name(battle.voter, "voter")
        try:
            store.skip(name, battle.answer_a, battle.answer_b)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        return {"progress": store.progress(name)}

    @app.post("/api/undo")
    def api_undo(who: VoterIn) -> dict[str, Any]:
        name = check_name(who.voter, "voter")
        undone = store.undo(name)
        if undone is None:
            raise ApiError(409, "no vote to undo")
        return {"undone": {"vote_id": undone["vote_id"], "comment": undone.get("comment"),
                           **{a: undone[a] for a in ASPECTS}}, "progress": store.progress(name)}

    return app
