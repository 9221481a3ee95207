"""``luxit review serve``: score the review sample pair by pair in a browser.

The sample is the one ``luxit review export`` draws (seeded, source-stratified): the server uses
``RUN_DIR/review/review_key.json`` when it exists (an existing sheet) and draws it otherwise.
``sheet=`` restricts the page to the rows of a given sheet, in its order.

Storage (all under ``RUN_DIR/review/web/``)::

    answers.jsonl          every saved answer, fsync'd, append-only (the source of truth):
                           reviewer, review_id, pair_id, the four criteria, comment, saved_at
    sheet-<reviewer>.jsonl the reviewer's latest answer per pair in the sheet format
                           (`luxit review import RUN_DIR .../sheet-<reviewer>.jsonl` reads it);
                           rewritten atomically after each answer and rebuilt from answers.jsonl
                           at start-up, so a kill between the two loses nothing
    earlier-<reviewer>.jsonl the reviewer's answers to pairs that are no longer in the sample
                           (``luxit review export --force`` drew another one), kept apart

Answers belong to a pair (``pair_id``), never to a ``review_id``: a re-drawn sample gives R001 to
another pair, and an answer given to the old R001 must not show up, or count, there. Reviewer
names are case-folded (``check_name``), so "Anne" and "anne" are one reviewer.

The judge's scores for a pair are sent only after the reviewer saved that pair, and only when the
server runs with ``show_judge`` (calibration); by default they never reach the page.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from luxit_ray import review, runs
from luxit_ray import schema as S
from luxit_ray.dataset.read import read_folder
from luxit_ray.errors import LuxitError
from luxit_ray.web.server import (
    TEMPLATES,
    ApiError,
    AppendLog,
    base_app,
    check_name,
    start_page,
    write_atomic,
)

log = logging.getLogger(__name__)

WEB_DIR = "web"
ANSWERS_FILE = "answers.jsonl"
MAX_COMMENT = 4000

# Key per (criterion, score): rows of a keyboard, left hand, one row per criterion.
KEYS: dict[str, tuple[str, str, str]] = {
    "linguistic_quality": ("1", "2", "3"),
    "factual_accuracy": ("q", "w", "e"),
    "instruction_adherence": ("a", "s", "d"),
    "helpfulness_relevance": ("z", "x", "c"),
}

# The judge prompt's rubric (prompts/judge.jinja), shortened for the page; {language} and
# {contact} come from the run's config.
RUBRIC: dict[str, dict[str, Any]] = {
    "linguistic_quality": {"question": "Is this good {language}?", "levels": {
        1: "Many grammar or spelling mistakes, clumsy wording; or really {contact} instead of {language}.",
        2: "Good {language} with a few small mistakes, a stiff tone or needless borrowed words.",
        3: "Correct, idiomatic {language}, as a native speaker writes it."}},
    "factual_accuracy": {"question": "Is what it says true?", "levels": {
        1: "States something the source contradicts, or plainly false or made up.",
        2: "Essentially right, with small inaccuracies or notable gaps.",
        3: "Everything agrees with the source text and well-established knowledge."}},
    "instruction_adherence": {"question": "Does the response do what the instruction asks?", "levels": {
        1: "Misses the core task.",
        2: "Does the main task but ignores a stated constraint (number, format, length, tone).",
        3: "Does the task and respects every constraint."}},
    "helpfulness_relevance": {"question": "Is the pair worth learning from?", "levels": {
        1: "The instruction makes no sense, or the response is unhelpful or off topic.",
        2: "A reasonable but ordinary instruction, answered adequately but without depth.",
        3: "A useful or interesting instruction, answered thoroughly and helpfully."}},
}


def rubric_for(language: str, contact: list[str]) -> dict[str, dict[str, Any]]:
    """The rubric with the run's language filled in, plus each level's key."""
    out = {}
    for c in S.CRITERIA:
        r = RUBRIC[c]
        fill = {"language": language, "contact": " or ".join(contact)}
        out[c] = {"question": r["question"].format(**fill), "keys": list(KEYS[c]),
                  "levels": {str(k): v.format(**fill) for k, v in r["levels"].items()}}
    return out


class AnswerIn(BaseModel):
    """One reviewer's scores for one pair (the POST body)."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(min_length=1, max_length=40)
    review_id: str = Field(min_length=1, max_length=40)
    linguistic_quality: int = Field(ge=1, le=3)
    factual_accuracy: int = Field(ge=1, le=3)
    instruction_adherence: int = Field(ge=1, le=3)
    helpfulness_relevance: int = Field(ge=1, le=3)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class ReviewSession:
    """The review sample, its texts, and every reviewer's answers (replayed from the log).

    Args:
        run_dir: the run folder (judge step finished).
        n: sample size when no sample was drawn yet (as ``luxit review export --n``).
        seed: seed of that draw.
        sheet: an existing sheet (CSV/JSONL) whose rows, in order, are the pages.
        show_judge: show the judge's scores after the reviewer saved a pair.

    Raises:
        LuxitError: the run has not finished judging, or the sheet does not match the key.
    """

    def __init__(self, run_dir: str | Path, n: int = 100, seed: int = 0, sheet: str | Path | None = None,
                 show_judge: bool = False) -> None:
        self.run = runs.RunDir(run_dir)
        if not self.run.path.is_dir():
            raise LuxitError(f"run folder {self.run.path} does not exist")
        key_path = self.run.sub(runs.REVIEW) / review.KEY_FILE
        self.drew_sample = False
        if not key_path.is_file():
            review.export_review_sheet(self.run.path, n=n, seed=seed)
            self.drew_sample = True
        self.key = review.load_key(self.run)
        items = self.key["items"]
        if sheet is not None:
            by_id = {it[review.REVIEW_ID]: it for it in items}
            ids = review.sheet_review_ids(Path(sheet))
            unknown = [i for i in ids if i not in by_id]
            if unknown:
                raise LuxitError(f"{sheet}: review_id {unknown[0]!r} is not in {key_path}")
            items = [by_id[i] for i in ids]
        self.show_judge = show_judge
        self.items = self._load_texts(items)
        self.index = {it[review.REVIEW_ID]: i for i, it in enumerate(self.items)}
        self.by_pair = {it[S.PAIR_ID]: i for i, it in enumerate(self.items)}
        cfg = self.run.config() if (self.run.path / runs.CONFIG_FILE).is_file() else None
        language = cfg.generate.language if cfg is not None and cfg.generate is not None else "the target language"
        contact = ["German", "French"]
        if cfg is not None and cfg.generate is not None:
            contact = list(cfg.generate.prompt_vars.get("contact_languages", contact))
        self.language = language
        self.rubric = rubric_for(language, contact)
        self.web_dir = self.run.sub(runs.REVIEW) / WEB_DIR
        self.log = AppendLog(self.web_dir / ANSWERS_FILE)
        self._lock = threading.Lock()
        self.answers: dict[str, dict[str, dict[str, Any]]] = {}  # reviewer -> pair_id -> answer
        self.earlier: dict[str, dict[str, dict[str, Any]]] = {}  # the same, for pairs not in the sample
        records, self.torn_lines = self.log.read()
        for rec in records:
            try:
                reviewer = check_name(rec.get("reviewer"), "reviewer")
            except ApiError:
                continue
            pid = rec.get(S.PAIR_ID)
            if pid in self.by_pair:
                self.answers.setdefault(reviewer, {})[pid] = rec
            elif pid:
                self.earlier.setdefault(reviewer, {})[pid] = rec
        for reviewer in sorted(set(self.answers) | set(self.earlier)):
            self._write_sheet(reviewer)

    # -- texts ---------------------------------------------------------------------------
    def _load_texts(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = {it[S.PAIR_ID] for it in items}
        judged = read_folder(self.run.sub(runs.JUDGED), [S.PAIR_ID, S.DOC_ID, S.TITLE, S.URL, S.DATE,
                                                          S.INSTRUCTION, S.RESPONSE]).to_pylist()
        pairs = {r[S.PAIR_ID]: r for r in judged if r[S.PAIR_ID] in wanted}
        docs: dict[str, dict[str, Any]] = {}
        seeds = self.run.sub(runs.SEEDS)
        if seeds.is_dir():
            doc_ids = {r[S.DOC_ID] for r in pairs.values()}
            for r in read_folder(seeds, [S.DOC_ID, S.TEXT], S.DOCUMENT_SCHEMA).to_pylist():
                if r[S.DOC_ID] in doc_ids:
                    docs[r[S.DOC_ID]] = r
        out = []
        for it in items:
            p = pairs.get(it[S.PAIR_ID])
            if p is None:
                raise LuxitError(f"pair {it[S.PAIR_ID]} of the review key is not in {self.run.sub(runs.JUDGED)}")
            out.append({**it, S.INSTRUCTION: p[S.INSTRUCTION], S.RESPONSE: p[S.RESPONSE], S.TITLE: p[S.TITLE],
                        S.URL: p[S.URL], S.DATE: p[S.DATE],
                        "source_text": docs.get(p[S.DOC_ID], {}).get(S.TEXT)})
        return out

    # -- state ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Pairs in the sample."""
        return len(self.items)

    def sheet_path(self, reviewer: str) -> Path:
        """The reviewer's importable sheet (the name was checked by ``check_name``)."""
        return self.web_dir / f"sheet-{reviewer}.jsonl"

    def earlier_path(self, reviewer: str) -> Path:
        """The reviewer's answers to pairs no longer in the sample."""
        return self.web_dir / f"earlier-{reviewer}.jsonl"

    def state(self, reviewer: str) -> dict[str, Any]:
        """Progress and where to resume: the first pair the reviewer has not saved; ``earlier``
        counts the reviewer's answers to pairs no longer in the sample."""
        done = self.answers.get(reviewer, {})
        position = next((i for i, it in enumerate(self.items) if it[S.PAIR_ID] not in done), self.n)
        return {"reviewer": reviewer, "n": self.n, "done": len(done), "position": position,
                "show_judge": self.show_judge, "earlier": len(self.earlier.get(reviewer, {}))}

    def item(self, reviewer: str, index: int) -> dict[str, Any]:
        """The page for pair ``index`` (0-based): texts, the reviewer's saved answer, and the judge's
        scores only when shown and already answered."""
        if not 0 <= index < self.n:
            raise ApiError(404, f"pair {index} is out of range: the sample has {self.n} pairs (0 to {self.n - 1})")
        it = self.items[index]
        saved = self.answers.get(reviewer, {}).get(it[S.PAIR_ID])
        out = {"index": index, review.REVIEW_ID: it[review.REVIEW_ID], S.PAIR_ID: it[S.PAIR_ID],
               S.SOURCE: it[S.SOURCE], S.SOURCE_TYPE: it[S.SOURCE_TYPE], S.INSTRUCTION: it[S.INSTRUCTION],
               S.RESPONSE: it[S.RESPONSE], S.TITLE: it[S.TITLE], S.DATE: it[S.DATE], S.URL: it[S.URL],
               "source_text": it["source_text"],
               "saved": ({c: saved[c] for c in S.CRITERIA} | {review.COMMENT: saved.get(review.COMMENT)}) if saved else None,
               "judge": None}
        if saved is not None and self.show_judge:
            out["judge"] = {"scores": it["scores"], "keep": it[S.KEEP]}
        return out

    def save(self, answer: AnswerIn) -> dict[str, Any]:
        """Validate and store one answer durably; returns the new state.

        Raises:
            ApiError: bad reviewer name or unknown review_id (nothing is written).
        """
        reviewer = check_name(answer.reviewer, "reviewer")
        rid = answer.review_id
        if rid not in self.index:
            raise ApiError(404, f"review_id {rid!r} is not in this sample")
        it = self.items[self.index[rid]]
        comment = (answer.comment or "").strip() or None
        rec = {"reviewer": reviewer, review.REVIEW_ID: rid, S.PAIR_ID: it[S.PAIR_ID],
               **{c: getattr(answer, c) for c in S.CRITERIA}, review.COMMENT: comment,
               "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")}
        with self._lock:
            self.log.append(rec)
            self.answers.setdefault(reviewer, {})[it[S.PAIR_ID]] = rec
            self._write_sheet(reviewer)
        return self.state(reviewer)

    def _write_sheet(self, reviewer: str) -> None:
        done = self.answers.get(reviewer, {})
        lines = []
        for it in self.items:
            a = done.get(it[S.PAIR_ID])
            if a is None:
                continue
            # The sample's review_id, not the one the answer was given under (an older sample's).
            row = {review.REVIEW_ID: it[review.REVIEW_ID], S.PAIR_ID: a[S.PAIR_ID], S.SOURCE_TYPE: it[S.SOURCE_TYPE],
                   S.INSTRUCTION: it[S.INSTRUCTION], S.RESPONSE: it[S.RESPONSE],
                   **{c: a[c] for c in S.CRITERIA}, review.COMMENT: a.get(review.COMMENT),
                   "reviewer": reviewer, "saved_at": a.get("saved_at")}
            lines.append(json.dumps(row, ensure_ascii=False))
        write_atomic(self.sheet_path(reviewer), "".join(line + "\n" for line in lines))
        earlier = self.earlier.get(reviewer)
        if earlier:
            write_atomic(self.earlier_path(reviewer),
                         "".join(json.dumps(a, ensure_ascii=False) + "\n" for _, a in sorted(earlier.items())))

    # -- agreement -----------------------------------------------------------------------
    def agreement(self) -> dict[str, Any]:
        """Each reviewer against the judge, and each pair of reviewers, per criterion."""
        min_score = 2.0
        cfg = self.run.config() if (self.run.path / runs.CONFIG_FILE).is_file() else None
        if cfg is not None and cfg.judge is not None:
            min_score = float(cfg.judge.min_score)
        vs_judge = {}
        for reviewer, done in sorted(self.answers.items()):
            rows = [{"human": {c: a[c] for c in S.CRITERIA}, "judge": self.items[self.by_pair[pid]]["scores"],
                     "judge_keep": self.items[self.by_pair[pid]][S.KEEP]} for pid, a in done.items()]
            per, keep, _more = review.agreement(rows, min_score)
            vs_judge[reviewer] = {"n": len(rows), "criteria": {
                c: {k: per[c][k] for k in ("exact_agreement", "cohen_kappa", "quadratic_kappa")} for c in S.CRITERIA},
                "keep_agree": keep["agree"]}
        between = review.between_reviewers(
            {r: {p: {c: a[c] for c in S.CRITERIA} for p, a in done.items()} for r, done in self.answers.items()})
        return {"n": self.n, "reviewers": {r: len(d) for r, d in sorted(self.answers.items())},
                "vs_judge": vs_judge, "between_reviewers": between["pairs"],
                "all_reviewers": between["all"]}


def create_review_app(session: ReviewSession, host: str = "127.0.0.1", token: str | None = None) -> FastAPI:
    """The review web app over ``session``.

    Routes: ``GET /`` (name), ``GET /pairs?reviewer=`` (the scoring page), ``GET /agreement``,
    ``GET /api/state``, ``GET /api/item/{index}``, ``POST /api/answer``, ``GET /api/agreement``.
    """
    app = base_app("luxit review", host, token)

    def start(request: Request, error: str | None = None, given: str = "") -> HTMLResponse:
        names = sorted(set(session.answers) | set(session.earlier))
        reviewers = [{"name": r, "done": len(session.answers.get(r, {})), "earlier": len(session.earlier.get(r, {}))}
                     for r in names]
        return start_page(request, {"mode": "review", "title": "Review", "target": "/pairs", "param": "reviewer",
                                    "people": reviewers, "n": session.n, "run": session.run.path.name}, error, given)

    @app.get("/", response_class=HTMLResponse)
    def start_route(request: Request) -> HTMLResponse:
        return start(request)

    @app.get("/pairs", response_class=HTMLResponse)
    def pairs(request: Request, reviewer: str = "") -> HTMLResponse:
        try:
            name = check_name(reviewer, "your name")
        except ApiError as exc:
            return start(request, exc.message, reviewer)
        return TEMPLATES.TemplateResponse(request, "review.html", {
            "reviewer": name, "n": session.n, "rubric": session.rubric, "criteria": list(S.CRITERIA),
            "language": session.language, "run": session.run.path.name, "show_judge": session.show_judge})

    @app.get("/agreement", response_class=HTMLResponse)
    def agreement_page(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "agreement.html", {
            "a": session.agreement(), "criteria": list(S.CRITERIA), "run": session.run.path.name})

    @app.get("/api/state")
    def api_state(reviewer: str = "") -> dict[str, Any]:
        return session.state(check_name(reviewer, "reviewer"))

    @app.get("/api/item/{index}")
    def api_item(index: int, reviewer: str = "") -> dict[str, Any]:
        return session.item(check_name(reviewer, "reviewer"), index)

    @app.post("/api/answer")
    def api_answer(answer: AnswerIn) -> dict[str, Any]:
        return session.save(answer)

    @app.get("/api/agreement")
    def api_agreement() -> dict[str, Any]:
        return session.agreement()

    return app
