"""The review page and the arena in a real browser (Playwright driving Debian's chromium).

The servers run as the CLI runs them (``luxit review serve`` / ``luxit arena serve`` in a
subprocess on uvicorn); everything is done with the keyboard. Screenshots go to the test's
folder, and to docs/ with ``LUXIT_UPDATE_SCREENSHOTS=1`` (how docs/review.png and docs/arena.png
were made).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from luxit_ray import schema as S
from luxit_ray.cli import main
from luxit_ray.review import KEY_FILE
from tests.openai_server import start_server
from tests.web.helpers import REPO, exported_run, free_port, scripted_answer, spawn_cli, stop

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs it (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # launch() gives every run a fresh temporary profile (user data dir).
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("LUXIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(path, REPO / "docs" / name)
    return path


def _score(page, keys: str, comment: str | None = None) -> None:
    """Press one key per criterion, optionally write a comment, then Enter."""
    for k in keys:
        page.keyboard.press(k)
    if comment:
        page.keyboard.press("m")
        page.keyboard.type(comment)
        page.keyboard.press("Escape")
    page.keyboard.press("Enter")


def _expect_text(page, selector: str, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(selector)).to_have_text(text, timeout=10_000)


def test_review_page_keyboard_resume_two_reviewers_import(tmp_path: Path, browser) -> None:
    run = exported_run(tmp_path)
    port = free_port()
    proc = spawn_cli(["review", "serve", str(run), "--n", "6", "--seed", "0"], port)
    base = f"http://127.0.0.1:{port}"
    key = json.loads((run / "review" / KEY_FILE).read_text(encoding="utf-8"))
    ids = [it["review_id"] for it in key["items"]]
    assert ids == ["R001", "R002", "R003", "R004", "R005", "R006"]
    try:
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        page.goto(base + "/")
        page.fill("#name", "anne")
        page.keyboard.press("Enter")
        _expect_text(page, "#progress", "0 / 6")
        _expect_text(page, "#rid", "R001")
        # lq 1-3, fa q-e, ia a-d, hr z-c
        _score(page, "1qaz", comment="Däitsch Wierder")
        _expect_text(page, "#rid", "R002")
        _expect_text(page, "#progress", "1 / 6")
        _score(page, "2wsx")
        _expect_text(page, "#rid", "R003")
        # Enter with a criterion missing saves nothing and says which one.
        page.keyboard.press("3")
        page.keyboard.press("Enter")
        _expect_text(page, "#message", "Score every criterion first (missing: factual_accuracy, instruction_adherence, helpfulness_relevance).")
        _score(page, "edc")
        _expect_text(page, "#progress", "3 / 6")
        _expect_text(page, "#rid", "R004")
        # Back to the first pair: its saved scores are shown.
        for _ in range(3):
            page.keyboard.press("ArrowLeft")
        _expect_text(page, "#rid", "R001")
        assert page.locator("button.level.on").evaluate_all("bs => bs.map(b => b.dataset.key)") == ["1", "q", "a", "z"]
        assert page.input_value("#comment") == "Däitsch Wierder"
        # Reload: resumes at the first unscored pair.
        page.reload()
        _expect_text(page, "#progress", "3 / 6")
        _expect_text(page, "#rid", "R004")
        ctx.close()

        # The server restarts (now showing the judge after each save, for calibration); a fresh
        # browser (no cookies, no storage) resumes too.
        stop(proc)
        proc = spawn_cli(["review", "serve", str(run), "--show-judge"], port)
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        page.goto(base + "/pairs?reviewer=anne")
        _expect_text(page, "#progress", "3 / 6")
        _expect_text(page, "#rid", "R004")
        page.keyboard.press("2")
        page.keyboard.press("w")
        page.keyboard.press("t")  # open the source text
        _screenshot(page, tmp_path, "review.png")
        assert page.locator("#judge").is_hidden()
        page.keyboard.press("s")
        page.keyboard.press("x")
        page.keyboard.press("Enter")
        # R004 is rtl:5001 #0, judged 2333 by both judges: shown only now, then Enter moves on.
        _expect_text(page, "#judge", "Judge: linguistic_quality 2 · factual_accuracy 3 · "
                                     "instruction_adherence 3 · helpfulness_relevance 3 (kept)")
        _expect_text(page, "#rid", "R004")
        page.keyboard.press("Enter")
        _expect_text(page, "#rid", "R005")
        _expect_text(page, "#progress", "4 / 6")
        assert page.locator("#judge").is_hidden()
        ctx.close()

        # A second reviewer scores the first two pairs (Enter once more past each judge panel).
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(base + "/")
        page.fill("#name", "ben")
        page.keyboard.press("Enter")
        _expect_text(page, "#rid", "R001")
        _score(page, "1qaz")
        _expect_text(page, "#message", "Saved. The judge's scores are below; Enter for the next pair.")
        page.keyboard.press("Enter")
        _expect_text(page, "#rid", "R002")
        _score(page, "3wsx")
        _expect_text(page, "#progress", "2 / 6")
        page.goto(base + "/agreement")
        row = page.locator("table").nth(1).locator("tr").nth(1).locator("td")
        assert row.nth(0).inner_text() == "anne / ben"
        assert row.nth(1).inner_text() == "2"
        # linguistic_quality: anne 1, 2 and ben 1, 3: p_o = 1/2, p_e = 1/4, kappa = 1/3
        assert row.nth(2).inner_text() == "0.500 · 0.333"
        # factual_accuracy: both 1, 2: p_o = 1, p_e = 1/2, kappa = 1
        assert row.nth(3).inner_text() == "1.000 · 1.000"
        ctx.close()
    finally:
        stop(proc)

    # Every keystroke's answer is in the log, and anne's sheet imports with `luxit review import`.
    log_lines = (run / "review" / "web" / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    assert [(json.loads(x)["reviewer"], json.loads(x)["review_id"]) for x in log_lines] == [
        ("anne", "R001"), ("anne", "R002"), ("anne", "R003"), ("anne", "R004"), ("ben", "R001"), ("ben", "R002")]
    assert main(["review", "import", str(run), str(run / "review" / "web" / "sheet-anne.jsonl")]) == 0
    agreement = json.loads((run / "review" / "agreement" / "anne.json").read_text(encoding="utf-8"))
    assert agreement["reviewed"] == 4
    assert agreement["not_in_sheet"] == 2
    assert [r["human"] for r in agreement["rows"]] == [
        dict(zip(S.CRITERIA, (1, 1, 1, 1), strict=True)),
        dict(zip(S.CRITERIA, (2, 2, 2, 2), strict=True)),
        dict(zip(S.CRITERIA, (3, 3, 3, 3), strict=True)),
        dict(zip(S.CRITERIA, (2, 2, 2, 2), strict=True)),
    ]
    assert agreement["rows"][0]["comment"] == "Däitsch Wierder"


def test_arena_vote_flow_and_report(tmp_path: Path, browser) -> None:
    run = exported_run(tmp_path)
    with start_server(scripted_answer) as srv:
        assert main(["arena", "generate", str(run), "--model", f"base={srv.base_url}#smollm2",
                     "--model", f"tuned={srv.base_url}#luxit-lora"]) == 0
        assert len(srv.requests) == 12  # 6 validation prompts x 2 models
    port = free_port()
    proc = spawn_cli(["arena", "serve", str(run)], port)
    base = f"http://127.0.0.1:{port}"
    try:
        for voter, n_votes in (("anne", 3), ("ben", 2)):
            ctx = browser.new_context(viewport={"width": 1200, "height": 820})
            page = ctx.new_page()
            page.goto(base + "/")
            page.fill("#name", voter)
            page.keyboard.press("Enter")
            _expect_text(page, "#progress", "0 / 6 voted")
            for k in range(n_votes):
                a_text = page.locator("#answer-a").inner_text()
                tuned_is_a = a_text.startswith("Kuerz gesot:")
                assert tuned_is_a or a_text.startswith("Ech mengen:")
                page.keyboard.press("1" if tuned_is_a else "2")  # content: the fine-tuned one
                page.keyboard.press("e")  # language: tie
                page.keyboard.press("a" if tuned_is_a else "s")  # overall: the fine-tuned one
                if voter == "anne" and k == n_votes - 1:
                    _screenshot(page, tmp_path, "arena.png")
                page.keyboard.press("Enter")
                _expect_text(page, "#progress", f"{k + 1} / 6 voted")
            ctx.close()
    finally:
        stop(proc)

    votes = [json.loads(x) for x in (run / "arena" / "votes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [v["voter"] for v in votes] == ["anne", "anne", "anne", "ben", "ben"]
    assert all(v["overall"] == ("a" if v["model_a"] == "tuned" else "b") for v in votes)
    assert all(v["language"] == "tie" for v in votes)
    assert main(["arena", "report", str(run), "--prior-sd", "1.0"]) == 0
    rep = json.loads((run / "arena" / "report" / "arena.json").read_text(encoding="utf-8"))
    assert rep["votes"] == 5
    assert rep["pairs"] == [{"model_1": "base", "model_2": "tuned", "votes": 5, "wins_1": 0, "wins_2": 5,
                             "ties": 0, "both_bad": 0}]
    assert rep["win_rate"] == [[None, 0.0], [1.0, None]]
    assert rep["scores"]["overall"]["tuned"]["elo"] > rep["scores"]["overall"]["base"]["elo"]
    assert rep["scores"]["language"]["tuned"]["elo"] == pytest.approx(1000.0)
    for png in ("bt_scores.png", "win_rate.png"):
        assert (run / "arena" / "report" / png).stat().st_size > 5000


def _arena_run(tmp_path: Path) -> Path:
    run = exported_run(tmp_path)
    with start_server(scripted_answer) as srv:
        assert main(["arena", "generate", str(run), "--model", f"base={srv.base_url}#smollm2",
                     "--model", f"tuned={srv.base_url}#luxit-lora", "--system", "Äntwert op Lëtzebuergesch."]) == 0
    return run


def _lit(page) -> list[str]:
    return page.locator("button.choice.on").evaluate_all("bs => bs.map(b => b.dataset.key)")


def test_arena_skip_undo_comment_and_keys_typed_during_a_save(tmp_path: Path, browser) -> None:
    run = _arena_run(tmp_path)
    answers = [json.loads(x) for x in (run / "arena" / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {a["system"] for a in answers} == {"Äntwert op Lëtzebuergesch."}  # the settings go with the answers
    port = free_port()
    proc = spawn_cli(["arena", "serve", str(run)], port)
    try:
        ctx = browser.new_context(viewport={"width": 1200, "height": 820})
        page = ctx.new_page()
        # Every vote takes 0.8 s to reach the server: time to type during the save.
        page.add_init_script("""(() => { const f = window.fetch; window.fetch = (u, o) => String(u).includes('/api/vote')
            ? new Promise((r) => setTimeout(r, 800)).then(() => f(u, o)) : f(u, o); })();""")
        page.goto(f"http://127.0.0.1:{port}/")
        page.fill("#name", "Anne")
        page.keyboard.press("Enter")
        _expect_text(page, "#progress", "0 / 6 voted")
        first = page.locator("#prompt").inner_text()
        page.keyboard.press("k")  # skip
        _expect_text(page, "#message", "Skipped; that pair comes back after the others.")
        assert page.locator("#prompt").inner_text() != first
        second = page.locator("#prompt").inner_text()
        for k in "1ea":
            page.keyboard.press(k)
        page.keyboard.press("m")
        page.keyboard.type("A ass besser")
        page.keyboard.press("Escape")
        page.keyboard.press("Enter")
        for k in "2ws":  # typed while the vote is on its way: they belong to the next pair
            page.keyboard.press(k)
        _expect_text(page, "#progress", "1 / 6 voted")
        assert page.locator("#prompt").inner_text() not in (first, second)
        assert sorted(_lit(page)) == ["2", "s", "w"]
        _expect_text(page, "#message", "")  # the replayed keys cleared "Vote saved"
        assert page.input_value("#comment") == ""
        page.keyboard.press("u")  # undo: the voted pair again, its choices and comment shown
        _expect_text(page, "#message", "Last vote taken back: here it is again.")
        _expect_text(page, "#progress", "0 / 6 voted")
        assert page.locator("#prompt").inner_text() == second
        assert sorted(_lit(page)) == ["1", "a", "e"]
        assert page.input_value("#comment") == "A ass besser"
        page.keyboard.press("Enter")
        _expect_text(page, "#progress", "1 / 6 voted")
        _expect_text(page, "#message", "Vote saved; this is the next pair.")
        page.keyboard.press("3")
        _expect_text(page, "#message", "")  # no stale "Vote saved" under the next pair
        ctx.close()
    finally:
        stop(proc)
    records = [json.loads(x) for x in (run / "arena" / "votes.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [("undo" in r, r.get("voter"), r.get("comment")) for r in records] == [
        (False, "anne", "A ass besser"), (True, "anne", None), (False, "anne", "A ass besser")]
    assert records[1]["undo"] == records[0]["vote_id"]
    assert [(r["content"], r["language"], r["overall"]) for r in (records[0], records[2])] == [("a", "tie", "a")] * 2


def test_two_servers_on_one_host_with_different_tokens(tmp_path: Path, browser) -> None:
    run = _arena_run(tmp_path)
    p1, p2 = free_port(), free_port()
    t1, t2 = "review-token-0123456789", "arena-token-01234567890"
    review = spawn_cli(["review", "serve", str(run), "--n", "6", "--token", t1], p1)
    arena_proc = spawn_cli(["arena", "serve", str(run), "--token", t2], p2)
    try:
        ctx = browser.new_context()  # one browser: one cookie jar for 127.0.0.1, both ports
        rv, ar = ctx.new_page(), ctx.new_page()
        rv.goto(f"http://127.0.0.1:{p1}/?token={t1}")
        ar.goto(f"http://127.0.0.1:{p2}/?token={t2}")
        names = sorted(c["name"] for c in ctx.cookies())
        assert names == sorted([f"luxit_token_{p1}", f"luxit_token_{p2}"])
        rv.fill("#name", "anne")
        rv.keyboard.press("Enter")
        _expect_text(rv, "#rid", "R001")
        _score(rv, "1qaz")
        _expect_text(rv, "#progress", "1 / 6")
        ar.fill("#name", "anne")
        ar.keyboard.press("Enter")
        _expect_text(ar, "#progress", "0 / 6 voted")
        for k in "1qa":
            ar.keyboard.press(k)
        ar.keyboard.press("Enter")
        _expect_text(ar, "#progress", "1 / 6 voted")
        ctx.close()
    finally:
        stop(review)
        stop(arena_proc)


def test_review_page_after_the_sample_is_drawn_again(tmp_path: Path, browser) -> None:
    run = exported_run(tmp_path)
    port = free_port()
    proc = spawn_cli(["review", "serve", str(run), "--n", "6", "--seed", "0"], port)
    base = f"http://127.0.0.1:{port}"
    try:
        ctx = browser.new_context(viewport={"width": 1200, "height": 900})
        page = ctx.new_page()
        page.goto(base + "/pairs?reviewer=anne")
        _expect_text(page, "#rid", "R001")
        _score(page, "1qaz")
        _expect_text(page, "#rid", "R002")
        _score(page, "2wsx")
        _expect_text(page, "#progress", "2 / 6")
        stop(proc)
        # A new sample (seed 8): the old R001's pair is R004 now, the old R002's pair is gone.
        assert main(["review", "export", str(run), "--n", "6", "--seed", "8", "--force"]) == 0
        proc = spawn_cli(["review", "serve", str(run)], port)
        page.goto(base + "/pairs?reviewer=anne")
        _expect_text(page, "#progress", "1 / 6")
        _expect_text(page, "#rid", "R001")
        assert page.locator("#saved-flag").is_hidden() and _level_keys(page) == []
        assert "1 earlier answer(s) of yours belong to pairs that are no longer in this sample" in \
            page.locator("#earlier").inner_text()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        _expect_text(page, "#rid", "R004")
        assert page.locator("#saved-flag").is_visible() and _level_keys(page) == ["1", "q", "a", "z"]
        ctx.close()
    finally:
        stop(proc)


def _level_keys(page) -> list[str]:
    return page.locator("button.level.on").evaluate_all("bs => bs.map(b => b.dataset.key)")
