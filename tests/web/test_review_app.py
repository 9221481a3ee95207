"""The review web app through its HTTP API (FastAPI's TestClient): sampling, hidden judge scores,
refused requests, the importable sheet, agreement, and the token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from luxit_ray import schema as S
from luxit_ray.cli import main
from luxit_ray.dataset.read import score_bin
from luxit_ray.errors import LuxitError
from luxit_ray.review import SHEET_COLUMNS, export_review_sheet, import_review_sheet
from luxit_ray.web.review_app import ReviewSession, create_review_app
from luxit_ray.web.server import resolve_token, server_url
from tests.fixtures_judged import DOCS, write_judged_run

# The apps allow only loopback Host headers: FastAPI's default "testserver" is refused (see
# test_host_header_checks).
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    return write_judged_run(tmp_path)


def _answer(rid: str, scores: tuple[int, int, int, int], reviewer: str = "anne", comment: str | None = None) -> dict:
    return {"reviewer": reviewer, "review_id": rid, **dict(zip(S.CRITERIA, scores, strict=True)), "comment": comment}


def test_sample_is_the_review_export_sample(tmp_path: Path):
    a = write_judged_run(tmp_path / "a")
    b = write_judged_run(tmp_path / "b")
    session = ReviewSession(a, n=6, seed=3)
    assert session.drew_sample and session.n == 6
    export_review_sheet(b, n=6, seed=3)
    key_b = json.loads((b / "review" / "review_key.json").read_text(encoding="utf-8"))
    assert [it["pair_id"] for it in session.items] == [it["pair_id"] for it in key_b["items"]]
    again = ReviewSession(a, n=50, seed=9)  # an existing sample is reused, not redrawn
    assert not again.drew_sample
    assert [it["review_id"] for it in again.items] == ["R001", "R002", "R003", "R004", "R005", "R006"]
    texts = {d["doc_id"]: (d["text"], d["title"], d["date"], d["url"]) for d in DOCS}
    for it in again.items:
        assert (it["source_text"], it["title"], it["date"], it["url"]) == texts[it["doc_id"]]


def test_existing_sheet_sets_the_pages(run_dir: Path, tmp_path: Path):
    export_review_sheet(run_dir, n=6, seed=0)
    sheet = tmp_path / "mine.jsonl"
    sheet.write_text('{"review_id": "R003"}\n{"review_id": "R001"}\n', encoding="utf-8")
    session = ReviewSession(run_dir, sheet=sheet)
    assert [it["review_id"] for it in session.items] == ["R003", "R001"]
    sheet.write_text('{"review_id": "R999"}\n', encoding="utf-8")
    with pytest.raises(LuxitError, match="review_id 'R999' is not in"):
        ReviewSession(run_dir, sheet=sheet)


def test_item_shows_texts_and_hides_the_judge_until_saved(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0, show_judge=True)
    c = TestClient(create_review_app(session), base_url=LOCAL)
    item = c.get("/api/item/0?reviewer=anne").json()
    it0 = session.items[0]
    assert (item["review_id"], item["pair_id"], item["judge"], item["saved"]) == ("R001", it0["pair_id"], None, None)
    assert item["source_text"] and item["title"] == it0["title"]
    assert "scores" not in item and "keep" not in item
    assert c.post("/api/answer", json=_answer("R001", (1, 2, 3, 3), comment="  Däitsch  ")).json() == \
        {"reviewer": "anne", "n": 6, "done": 1, "position": 1, "show_judge": True, "earlier": 0}
    item = c.get("/api/item/0?reviewer=anne").json()
    assert item["judge"] == {"scores": it0["scores"], "keep": it0["keep"]}
    assert item["saved"] == {**dict(zip(S.CRITERIA, (1, 2, 3, 3), strict=True)), "comment": "Däitsch"}
    assert c.get("/api/item/0?reviewer=ben").json()["judge"] is None  # ben has not scored it
    hidden = ReviewSession(run_dir)  # show_judge off: never sent
    c2 = TestClient(create_review_app(hidden), base_url=LOCAL)
    assert c2.get("/api/item/0?reviewer=anne").json()["judge"] is None


def test_bad_requests_get_4xx_and_change_nothing(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    c = TestClient(create_review_app(session), base_url=LOCAL)
    log = session.log.path
    ok = _answer("R001", (1, 2, 3, 3))
    cases = [
        ({**ok, "linguistic_quality": 4}, 422, "linguistic_quality: Input should be less than or equal to 3"),
        ({**ok, "factual_accuracy": 0}, 422, "factual_accuracy: Input should be greater than or equal to 1"),
        ({**ok, "helpfulness_relevance": "3x"}, 422, "helpfulness_relevance: Input should be a valid integer"),
        ({k: v for k, v in ok.items() if k != "instruction_adherence"}, 422, "instruction_adherence: Field required"),
        ({**ok, "judge": 3}, 422, "judge: Extra inputs are not permitted"),
        ({**ok, "comment": "x" * 4001}, 422, "comment: String should have at most 4000 characters"),
        ({**ok, "review_id": "R999"}, 404, "review_id 'R999' is not in this sample"),
        ({**ok, "reviewer": "../../etc"}, 400, "reviewer '../../etc' may hold only letters"),
        ({**ok, "reviewer": "a" * 41}, 422, "reviewer: String should have at most 40 characters"),
    ]
    for body, status, msg in cases:
        r = c.post("/api/answer", json=body)
        assert r.status_code == status and r.json()["error"].startswith(msg), (body, r.text)
    r = c.post("/api/answer", content=b"linguistic_quality=3", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()) == (422, {"error": "the request body is not valid JSON"})
    assert c.get("/api/item/6?reviewer=anne").json() == {"error": "pair 6 is out of range: the sample has 6 pairs (0 to 5)"}
    assert c.get("/api/item/-1?reviewer=anne").status_code == 404
    assert c.get("/api/item/x?reviewer=anne").status_code == 422
    assert c.get("/pairs?reviewer=").status_code == 400
    assert not log.exists()
    assert list((run_dir / "review").glob("web/sheet-*")) == []
    assert c.get("/api/state?reviewer=anne").json()["done"] == 0


def test_sheet_keeps_the_latest_answer_and_imports(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    c = TestClient(create_review_app(session), base_url=LOCAL)
    for body in (_answer("R002", (3, 3, 3, 3)), _answer("R001", (1, 1, 1, 1)), _answer("R001", (2, 2, 3, 3), comment="besser"),
                 _answer("R001", (3, 3, 3, 3), reviewer="ben")):
        assert c.post("/api/answer", json=body).status_code == 200
    assert len(session.log.path.read_text(encoding="utf-8").splitlines()) == 4
    sheet = session.sheet_path("anne")
    rows = [json.loads(x) for x in sheet.read_text(encoding="utf-8").splitlines()]
    assert [(r["review_id"], r["linguistic_quality"], r["comment"]) for r in rows] == [("R001", 2, "besser"), ("R002", 3, None)]
    assert set(SHEET_COLUMNS) <= set(rows[0])
    result = import_review_sheet(run_dir, sheet)
    assert (result.reviewed, result.skipped_empty, result.not_in_sheet) == (2, 0, 4)
    assert [r["human"]["instruction_adherence"] for r in result.rows] == [3, 3]
    # A restart replays the log: same state, same sheet.
    again = ReviewSession(run_dir)
    assert again.state("anne") == {"reviewer": "anne", "n": 6, "done": 2, "position": 2, "show_judge": False, "earlier": 0}
    assert again.state("ben")["position"] == 1
    assert again.sheet_path("anne").read_text(encoding="utf-8") == sheet.read_text(encoding="utf-8")


def test_agreement_with_the_judge_and_between_reviewers(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    c = TestClient(create_review_app(session), base_url=LOCAL)
    for it in session.items:
        judge = tuple(score_bin(it["scores"][k]) for k in S.CRITERIA)
        c.post("/api/answer", json=_answer(it["review_id"], judge))  # anne agrees with the judge
        lq = judge[0] % 3 + 1 if it["review_id"] in ("R001", "R002") else judge[0]  # ben differs on two
        ben = (lq, *judge[1:])
        c.post("/api/answer", json=_answer(it["review_id"], ben, reviewer="ben"))
    a = c.get("/api/agreement").json()
    assert a["reviewers"] == {"anne": 6, "ben": 6}
    assert a["vs_judge"]["anne"]["n"] == 6 and a["vs_judge"]["anne"]["keep_agree"] == 6
    assert all(v["exact_agreement"] == 1.0 for v in a["vs_judge"]["anne"]["criteria"].values())
    between = a["between_reviewers"]
    assert [b["reviewers"] for b in between] == [["anne", "ben"]]
    assert between[0]["n"] == 6
    assert between[0]["criteria"]["linguistic_quality"]["exact_agreement"] == pytest.approx(4 / 6)
    assert between[0]["criteria"]["factual_accuracy"]["exact_agreement"] == 1.0
    assert a["vs_judge"]["ben"]["criteria"]["linguistic_quality"]["exact_agreement"] == pytest.approx(4 / 6)
    page = c.get("/agreement").text
    assert "anne / ben" in page and "0.667" in page


def test_token_and_host_checks(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    token = "s3cret-token-0123456789"
    c = TestClient(create_review_app(session, host="0.0.0.0", token=token), base_url=LOCAL)
    assert c.get("/").status_code == 401
    assert c.get("/?token=wrong-token-000000000").status_code == 401
    assert c.post("/api/answer", json=_answer("R001", (1, 1, 1, 1))).status_code == 401
    assert not session.log.path.exists()
    r = c.get(f"/?token={token}")
    assert r.status_code == 200 and r.cookies.get("luxit_token_8765") == token
    assert c.get("/api/state?reviewer=anne").status_code == 200  # the cookie carries it now
    fresh = TestClient(create_review_app(session, host="0.0.0.0", token=token), base_url=LOCAL)
    assert fresh.get("/api/state?reviewer=anne", headers={"X-Luxit-Token": token}).status_code == 200
    local = TestClient(create_review_app(session), base_url="http://evil.example")
    assert local.get("/").status_code == 400  # DNS rebinding: a foreign Host on the loopback
    assert resolve_token("127.0.0.1", None) is None
    generated = resolve_token("0.0.0.0", None)
    assert generated is not None and len(generated) >= 24
    with pytest.raises(LuxitError, match="at least 16 characters"):
        resolve_token("0.0.0.0", "short")
    assert server_url("0.0.0.0", 8765, "abcdefghijklmnop") == "http://127.0.0.1:8765/?token=abcdefghijklmnop"
    assert server_url("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"


def test_cli_review_serve_errors(tmp_path: Path, capsys):
    assert main(["review", "serve", str(tmp_path / "nope")]) == 2
    out = capsys.readouterr()
    assert "does not exist" in out.out + out.err


def test_answers_follow_their_pair_when_the_sample_is_drawn_again(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    c = TestClient(create_review_app(session), base_url=LOCAL)
    old = {it["review_id"]: it["pair_id"] for it in session.items}
    assert c.post("/api/answer", json=_answer("R001", (1, 1, 1, 1), reviewer="Anne", comment="éischt")).status_code == 200
    assert c.post("/api/answer", json=_answer("R002", (2, 2, 2, 2), reviewer="anne")).status_code == 200
    # Another sample (seed 8): the old R001's pair is R004 now, the old R002's pair is not drawn,
    # and R001 names a pair anne never saw.
    export_review_sheet(run_dir, n=6, seed=8, force=True)
    again = ReviewSession(run_dir)
    new = {it["pair_id"]: it["review_id"] for it in again.items}
    assert (new[old["R001"]], old["R002"] in new, again.items[0]["pair_id"] in old.values()) == ("R004", False, False)
    assert again.state("anne") == {"reviewer": "anne", "n": 6, "done": 1, "position": 0, "show_judge": False, "earlier": 1}
    c2 = TestClient(create_review_app(again), base_url=LOCAL)
    assert c2.get("/api/item/0?reviewer=anne").json()["saved"] is None
    assert c2.get("/api/item/3?reviewer=anne").json()["saved"] == {**dict.fromkeys(S.CRITERIA, 1), "comment": "éischt"}
    sheet = [json.loads(x) for x in again.sheet_path("anne").read_text(encoding="utf-8").splitlines()]
    assert [(r["review_id"], r["pair_id"]) for r in sheet] == [("R004", old["R001"])]
    earlier = [json.loads(x) for x in again.earlier_path("anne").read_text(encoding="utf-8").splitlines()]
    assert [(r["review_id"], r["pair_id"]) for r in earlier] == [("R002", old["R002"])]
    assert again.agreement()["vs_judge"]["anne"]["n"] == 1
    assert import_review_sheet(run_dir, again.sheet_path("anne")).reviewed == 1
    assert "1 / 6 (and 1 answer(s) to pairs no longer in this sample, kept apart)" in " ".join(c2.get("/").text.split())


def test_names_are_case_folded_and_checked_in_the_form(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    c = TestClient(create_review_app(session), base_url=LOCAL)
    assert c.post("/api/answer", json=_answer("R001", (1, 1, 1, 1), reviewer="Anne")).status_code == 200
    assert c.get("/api/state?reviewer=ANNE").json()["done"] == 1
    assert session.sheet_path("anne").is_file() and not (session.web_dir / "sheet-Anne.jsonl").exists()
    r = c.get("/pairs?reviewer=Anne Marie")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "your name &#39;anne marie&#39; may hold only letters" in r.text and 'value="Anne Marie"' in r.text


def test_host_header_checks_ipv6_and_no_testserver(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    app = create_review_app(session)
    for base in ("http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765", "http://[::1]"):
        assert TestClient(app, base_url=base).get("/").status_code == 200, base
    for base in ("http://testserver", "http://evil.example:8765", "http://127.0.0.1.evil.example"):
        assert TestClient(app, base_url=base).get("/").status_code == 400, base


def test_two_servers_on_one_host_keep_their_own_cookie(run_dir: Path):
    session = ReviewSession(run_dir, n=6, seed=0)
    t1, t2 = "first-token-0123456789", "second-token-012345678"
    review = create_review_app(session, host="0.0.0.0", token=t1)
    other = create_review_app(session, host="0.0.0.0", token=t2)
    # One browser (one cookie jar per host), two ports: each server sets and reads its own cookie.
    async def both(scope, receive, send):  # the two servers, told apart by the port of the Host header
        host = dict(scope["headers"]).get(b"host", b"").decode()
        await (review if host.endswith(":8001") else other)(scope, receive, send)

    c = TestClient(both, base_url="http://example.lan:8001")
    assert c.get(f"http://example.lan:8001/?token={t1}").status_code == 200
    assert c.get(f"http://example.lan:8002/?token={t2}").status_code == 200
    assert {k: v for k, v in c.cookies.items()} == {"luxit_token_8001": t1, "luxit_token_8002": t2}
    assert c.get("http://example.lan:8001/api/state?reviewer=anne").status_code == 200
    assert c.get("http://example.lan:8002/api/state?reviewer=anne").status_code == 200
