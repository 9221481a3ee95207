"""The arena's core: prompts, answers through the request cache, votes (skip, undo), Bradley-Terry
with a prior, report, preference export. Every expected number is worked out in the comments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from luxit_ray import arena
from luxit_ray.cli import main
from luxit_ray.config.llm import EndpointConfig
from luxit_ray.errors import InputError, LuxitError
from luxit_ray.web.arena_app import create_arena_app
from tests.fixtures_judged import write_judged_run
from tests.openai_server import Reply, start_server
from tests.web.helpers import exported_run, scripted_answer

LN2 = math.log(2.0)


def _vote(a: str, b: str, overall: str, voter: str = "anne", prompt: str = "p1", content: str | None = None,
          language: str = "tie") -> dict:
    return {"vote_id": f"{voter}-{prompt}-{a}{b}", "voter": voter, "time": "2026-01-01T00:00:00Z", "prompt_id": prompt,
            "answer_a": f"{prompt}-{a}", "answer_b": f"{prompt}-{b}", "model_a": a, "model_b": b,
            "content": content or overall, "language": language, "overall": overall}


# ---- Bradley-Terry ----------------------------------------------------------------------


def test_bradley_terry_known_example():
    # Strengths 4 : 2 : 1 give P(x>y) = 2/3, P(y>z) = 2/3, P(x>z) = 4/5. Counts in exactly those
    # proportions (2:1, 2:1, 4:1) are fitted exactly: log-strengths ln4, ln2, 0, centred.
    results = [(0, 1, 1.0)] * 2 + [(0, 1, 0.0)] + [(1, 2, 1.0)] * 2 + [(1, 2, 0.0)] + [(0, 2, 1.0)] * 4 + [(0, 2, 0.0)]
    params = arena.fit_bradley_terry(3, results, prior_sd=1e6)
    assert params == pytest.approx([LN2, 0.0, -LN2], abs=1e-5)
    # Elo scale: 1000 + 400 log10(2) = 1120.41
    assert arena.to_elo(params) == pytest.approx([1120.412, 1000.0, 879.588], abs=1e-2)


def test_bradley_terry_ties_count_half():
    # One win and one tie: 1.5 of 2 for model 0, P = 3/4, so s0 - s1 = ln 3, centred +-ln(3)/2.
    params = arena.fit_bradley_terry(2, [(0, 1, 1.0), (0, 1, 0.5)], prior_sd=1e6)
    assert params == pytest.approx([math.log(3) / 2, -math.log(3) / 2], abs=1e-5)
    # All ties: equal strengths; no votes at all: zeros.
    assert arena.fit_bradley_terry(2, [(0, 1, 0.5)] * 3, prior_sd=1e6) == pytest.approx([0.0, 0.0], abs=1e-6)
    assert list(arena.fit_bradley_terry(3, [])) == [0.0, 0.0, 0.0]


def test_five_nil_is_a_modest_gap():
    # With N(0, 1) priors, d = s0 - s1 has the prior N(0, 2) and the mode solves
    # 5 (1 - sigmoid(d)) = d / 2: d = 1.6335, 283.8 Elo points (a near-flat prior gave about 900).
    s = arena.fit_bradley_terry(2, [(0, 1, 1.0)] * 5)
    d = s[0] - s[1]
    assert 5 * (1 - 1 / (1 + math.exp(-d))) == pytest.approx(d / 2, abs=1e-9)
    assert d == pytest.approx(1.63351, abs=1e-5)
    assert arena.ELO_SCALE * d == pytest.approx(283.77, abs=0.01)


def test_without_votes_the_interval_is_the_prior():
    # Two models, no votes: each centred score has variance 1 * (1 - 1/2), sd sqrt(1/2);
    # 1.96 * 173.72 * 0.7071 = 240.76 Elo points either side of 1000.
    elo, low, high = arena.elo_intervals(2, [])
    assert list(elo) == [1000.0, 1000.0]
    assert list(high - elo) == pytest.approx([240.756, 240.756], abs=1e-3)
    assert list(elo - low) == pytest.approx([240.756, 240.756], abs=1e-3)


def test_unanimous_votes_still_have_a_wide_interval():
    # A bootstrap of 3 unanimous votes had zero width; the posterior does not.
    elo, low, high = arena.elo_intervals(2, [(0, 1, 1.0)] * 3)
    assert high[0] - low[0] == pytest.approx(339.29, abs=0.01)
    assert low[0] < elo[0] < high[0]


# ---- tables# ---- tables -----------------------------------------------------------------------------

VOTES = [
    _vote("x", "y", "a", prompt="p1"),  # x wins
    _vote("y", "x", "a", prompt="p2"),  # y wins
    _vote("x", "y", "tie", prompt="p3"),
    _vote("x", "z", "b", prompt="p4"),  # z wins
    _vote("z", "x", "both_bad", prompt="p5"),
]


def test_win_matrix_and_pair_counts():
    # x-y: x has 1 win + 1/2 tie of 3 games = 0.5; x-z: x has 1/2 (both bad) of 2 = 0.25; y-z: no votes.
    assert arena.win_matrix(VOTES, ["x", "y", "z"]) == [[None, 0.5, 0.25], [0.5, None, None], [0.75, None, None]]
    assert arena.pair_counts(VOTES) == [
        {"model_1": "x", "model_2": "y", "votes": 3, "wins_1": 1, "wins_2": 1, "ties": 1, "both_bad": 0},
        {"model_1": "x", "model_2": "z", "votes": 2, "wins_1": 0, "wins_2": 1, "ties": 0, "both_bad": 1},
    ]


def test_voter_agreement_normalises_sides():
    votes = [
        _vote("x", "y", "a", voter="anne", prompt="p1"),  # x
        _vote("x", "y", "tie", voter="anne", prompt="p2"),  # tie
        _vote("x", "z", "b", voter="anne", prompt="p3"),  # z
        _vote("y", "x", "b", voter="ben", prompt="p1"),  # x (sides swapped): agrees
        _vote("x", "y", "a", voter="ben", prompt="p2"),  # x: disagrees with the tie
        _vote("z", "x", "a", voter="ben", prompt="p3"),  # z: agrees
        _vote("x", "y", "a", voter="cleo", prompt="p9"),  # nobody else voted on p9
    ]
    ag = arena.voter_agreement(votes)
    # labels anne [0, 2, 1], ben [0, 0, 1]: p_o = 2/3; marginals (1/3, 1/3, 1/3) and (2/3, 1/3, 0):
    # p_e = 2/9 + 1/9 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 1/2
    assert ag["n"] == 3
    assert ag["agreement"] == pytest.approx(2 / 3)
    assert ag["pairs"] == [{"voters": ["anne", "ben"], "n": 3, "agreement": pytest.approx(2 / 3), "kappa": pytest.approx(0.5)}]
    assert arena.voter_agreement(votes[:3]) == {"pairs": [], "n": 0, "agreement": None}


# ---- prompts and answers ----------------------------------------------------------------


def test_load_prompts_from_validation_split_and_files(tmp_path: Path):
    run = exported_run(tmp_path / "a")
    prompts = arena.load_prompts(run)
    assert len(prompts) == 6
    assert prompts[0]["prompt"] == "Firwat sinn um Stauséi vun der Uewersauer keng Motorbooter erlaabt?"
    assert prompts[0]["origin"].startswith("validation:")
    assert [p["prompt_id"] for p in arena.load_prompts(run, n=2, seed=1)] == \
        [p["prompt_id"] for p in arena.load_prompts(run, n=2, seed=1)]
    assert len(arena.load_prompts(run, n=2, seed=1)) == 2
    txt = tmp_path / "prompts.txt"
    txt.write_text("Wat ass Kachkéis?\n\nWat ass Kachkéis?\nWou läit Veianen?\n", encoding="utf-8")
    assert [(p["prompt"], p["origin"]) for p in arena.load_prompts(run, txt)] == [
        ("Wat ass Kachkéis?", "prompts.txt:1"), ("Wou läit Veianen?", "prompts.txt:4")]
    jl = tmp_path / "prompts.jsonl"
    jl.write_text('{"id": "k1", "prompt": "Wat ass Kachkéis?"}\n{"instruction": "Wou?"}\n', encoding="utf-8")
    assert [(p["prompt"], p["origin"]) for p in arena.load_prompts(run, jl)] == [
        ("Wat ass Kachkéis?", "prompts.jsonl:k1"), ("Wou?", "prompts.jsonl:2")]
    jl.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"prompts.jsonl:line 2: needs a non-empty 'prompt'"):
        arena.load_prompts(run, jl)
    bare = write_judged_run(tmp_path / "b")
    with pytest.raises(LuxitError, match="no validation split"):
        arena.load_prompts(bare)


def test_parse_model_spec():
    eps = {"vllm": EndpointConfig(base_url="http://127.0.0.1:8000/v1", model="smollm2")}
    m = arena.parse_model_spec("base=vllm", eps)
    assert (m.name, m.endpoint_name, m.endpoint.model) == ("base", "vllm", "smollm2")
    m = arena.parse_model_spec("tuned=vllm:luxit-lora", eps)
    assert (m.name, m.endpoint.base_url, m.endpoint.model) == ("tuned", "http://127.0.0.1:8000/v1", "luxit-lora")
    assert eps["vllm"].model == "smollm2"  # the config's endpoint is not changed
    m = arena.parse_model_spec("x=http://h:1/v1#m", eps)
    assert (m.endpoint.base_url, m.endpoint.model) == ("http://h:1/v1", "m")
    with pytest.raises(LuxitError, match="no endpoint 'openai' in the run's config \\(known: vllm\\)"):
        arena.parse_model_spec("a=openai", eps)
    with pytest.raises(LuxitError, match="needs the served model after '#'"):
        arena.parse_model_spec("a=http://h:1/v1", eps)
    with pytest.raises(LuxitError, match="expected NAME=ENDPOINT"):
        arena.parse_model_spec("vllm", eps)
    with pytest.raises(LuxitError, match="may hold only letters"):
        arena.parse_model_spec("../x=vllm", eps)


def test_generate_pays_each_answer_once_and_keeps_errors(tmp_path: Path):
    run = exported_run(tmp_path)

    def script(req):
        if req.model == "luxit-lora" and "Tram" in req.user_text and "dacks" in req.user_text:
            return Reply(status=400, error_message="context too long")
        return scripted_answer(req)

    specs = None
    with start_server(script) as srv:
        specs = [f"base={srv.base_url}#smollm2", f"tuned={srv.base_url}#luxit-lora"]
        g = arena.generate_answers(run, specs)
        assert g.per_model["base"] == {"ok": 6, "errors": 0, "cache_hits": 0, "completion_tokens": g.per_model["base"]["completion_tokens"]}
        assert (g.per_model["tuned"]["ok"], g.per_model["tuned"]["errors"]) == (5, 1)
        assert len(srv.requests) == 12
        # A rerun answers the 11 from the request cache and re-sends only the failed request.
        g2 = arena.generate_answers(run, specs)
        assert len(srv.requests) == 13
        assert (g2.per_model["base"]["cache_hits"], g2.per_model["tuned"]["cache_hits"]) == (6, 5)
        # Another prompt set adds to the arena; earlier prompts (and votes on them) keep their text.
        extra = tmp_path / "extra.txt"
        extra.write_text("Wat ass Kachkéis?\n", encoding="utf-8")
        assert arena.generate_answers(run, specs, prompt_file=extra).prompts == 1
        assert len(srv.requests) == 15  # the new prompt, once per model
    assert len(arena.read_jsonl(run / "arena" / "prompts.jsonl")) == 7
    answers = arena.read_jsonl(run / "arena" / "answers.jsonl")
    assert len(answers) == 14  # the 13 answers and the error, each kept once
    err = [a for a in answers if a["error"]]
    assert len(err) == 1 and err[0]["model"] == "tuned" and err[0]["text"] is None
    store = arena.ArenaStore(run, seed=0)
    assert store.models == ["base", "tuned"]
    assert len(store.battles) == 6  # 7 prompts; the one tuned failed on has no battle
    with pytest.raises(LuxitError, match="at least two"):
        arena.generate_answers(run, specs[:1])
    with pytest.raises(LuxitError, match="model names repeat: base"):
        arena.generate_answers(run, [specs[0], specs[0]])


# ---- votes, the app, report, export -----------------------------------------------------


@pytest.fixture()
def arena_run(tmp_path: Path) -> Path:
    run = exported_run(tmp_path)
    with start_server(scripted_answer) as srv:
        arena.generate_answers(run, [f"base={srv.base_url}#smollm2", f"tuned={srv.base_url}#luxit-lora",
                                     f"other={srv.base_url}#llama-1b"])
    return run


def test_store_refuses_bad_votes_and_writes_nothing(arena_run: Path):
    store = arena.ArenaStore(arena_run, seed=1)
    b = store.next_battle("anne")
    ok = {"content": "a", "language": "tie", "overall": "a"}
    by_model = {}
    for a in store.answers.values():
        by_model.setdefault(a["prompt_id"], {})[a["model"]] = a["answer_id"]
    p1, p2 = list(by_model)[:2]
    cases = [
        (("anne", "nope", b["b"]["answer_id"], ok), "'nope' is not an answer"),
        (("anne", by_model[p1]["base"], by_model[p2]["tuned"], ok), "different prompts"),
        (("anne", b["a"]["answer_id"], b["a"]["answer_id"], ok), "same model"),
        (("anne", b["a"]["answer_id"], b["b"]["answer_id"], {**ok, "overall": "A"}), "overall: 'A' is not one of"),
        (("anne", b["a"]["answer_id"], b["b"]["answer_id"], {"content": "a"}), "exactly the aspects"),
    ]
    for args, msg in cases:
        with pytest.raises(ValueError, match=msg):
            store.vote(*args)
    assert not (arena_run / "arena" / "votes.jsonl").exists()
    store.vote("anne", b["a"]["answer_id"], b["b"]["answer_id"], ok)
    with pytest.raises(ValueError, match="already voted"):
        store.vote("anne", b["b"]["answer_id"], b["a"]["answer_id"], ok)  # same battle, sides swapped
    assert len(arena.read_jsonl(arena_run / "arena" / "votes.jsonl")) == 1


def test_next_battle_is_blind_and_covers_every_pair(arena_run: Path):
    store = arena.ArenaStore(arena_run, seed=2)
    assert len(store.battles) == 18  # 6 prompts x 3 model pairs
    seen = set()
    while (b := store.next_battle("anne")) is not None:
        assert set(b) == {"prompt_id", "prompt", "a", "b"} and set(b["a"]) == {"answer_id", "text"}
        text = json.dumps(b)
        assert not any(name in text for name in ('"base"', '"tuned"', '"other"', "smollm2", "luxit-lora", "llama-1b"))
        seen.add(arena.battle_key(b["prompt_id"], store.answers[b["a"]["answer_id"]]["model"],
                                  store.answers[b["b"]["answer_id"]]["model"]))
        store.vote("anne", b["a"]["answer_id"], b["b"]["answer_id"], {"content": "a", "language": "a", "overall": "b"})
    assert len(seen) == 18
    assert store.progress("anne") == {"voted": 18, "battles": 18, "votes": 18}
    # A second voter first gets battles nobody else voted on twice: all have 1 vote, any is fine.
    assert store.next_battle("ben") is not None


def test_arena_api_validates_and_hides_models(arena_run: Path):
    store = arena.ArenaStore(arena_run, seed=0)
    c = TestClient(create_arena_app(store), base_url="http://127.0.0.1:8765")
    assert c.get("/").status_code == 200
    assert c.get("/vote?voter=anne").status_code == 200
    nxt = c.get("/api/next?voter=anne").json()
    assert nxt["progress"] == {"voted": 0, "battles": 18, "votes": 0}
    b = nxt["battle"]
    good = {"voter": "anne", "answer_a": b["a"]["answer_id"], "answer_b": b["b"]["answer_id"],
            "content": "a", "language": "both_bad", "overall": "tie"}
    bad = [
        ({**good, "overall": "c"}, 422, "overall: Input should be 'a', 'b', 'tie' or 'both_bad'"),
        ({k: v for k, v in good.items() if k != "language"}, 422, "language: Field required"),
        ({**good, "model": "base"}, 422, "model: Extra inputs are not permitted"),
        ({**good, "voter": "a/b"}, 400, "voter 'a/b' may hold only letters"),
        ({**good, "answer_a": "zzz"}, 400, "answer 'zzz' is not an answer of this arena"),
    ]
    for body, status, msg in bad:
        r = c.post("/api/vote", json=body)
        assert r.status_code == status and r.json()["error"].startswith(msg), r.text
    r = c.post("/api/vote", content=b"{", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()) == (422, {"error": "the request body is not valid JSON"})
    assert not (arena_run / "arena" / "votes.jsonl").exists()
    assert c.post("/api/vote", json=good).json() == {"progress": {"voted": 1, "battles": 18, "votes": 1}}
    r = c.post("/api/vote", json=good)
    assert (r.status_code, r.json()) == (409, {"error": "this voter has already voted on these two answers"})
    assert c.get("/api/next?voter=").json() == {"error": "voter is missing"}
    assert "1 votes on 18 possible battles" in c.get("/leaderboard").text


def test_report_and_preferences(arena_run: Path, tmp_path: Path):
    import datasets

    store = arena.ArenaStore(arena_run, seed=0)
    ids = {}
    for a in store.answers.values():
        ids.setdefault(a["prompt_id"], {})[a["model"]] = a["answer_id"]
    pids = sorted(ids)
    # The 4:2:1 example over three prompts' battles: tuned-base 2:1, base-other 2:1, tuned-other 4:1.
    plan = [("tuned", "base", "a")] * 2 + [("tuned", "base", "b")] + [("base", "other", "a")] * 2 + \
        [("base", "other", "b")] + [("tuned", "other", "a")] * 4 + [("tuned", "other", "b")]
    for k, (m1, m2, choice) in enumerate(plan):
        pid = pids[k % len(pids)]
        store.vote(f"v{k}", ids[pid][m1], ids[pid][m2], {"content": choice, "language": "tie", "overall": choice})
    store.vote("anne", ids[pids[0]]["base"], ids[pids[0]]["other"], {"content": "tie", "language": "both_bad", "overall": "tie"})
    store.vote("anne", ids[pids[1]]["base"], ids[pids[1]]["other"], {"content": "both_bad", "language": "a", "overall": "both_bad"})

    rep = arena.arena_report(arena_run)
    # Plus one tie and one both-bad between base and other (half each): base-other 3:2 now, so
    # the ranking stays tuned > base > other; the weak prior moves the MLE by well under 3 points.
    assert [r[1] for r in rep.ranking()] == ["tuned", "base", "other"]
    # language: all ties but anne's one win of base over other, so base leads there
    assert [r[1] for r in rep.ranking("language")][0] == "base"
    for m in rep.models:
        s = rep.scores["overall"][m]
        assert s["low"] <= s["elo"] <= s["high"]
    assert rep.scores["overall"]["tuned"]["votes"] == 8  # 3 against base, 5 against other
    assert rep.pairs == [
        {"model_1": "base", "model_2": "other", "votes": 5, "wins_1": 2, "wins_2": 1, "ties": 1, "both_bad": 1},
        {"model_1": "base", "model_2": "tuned", "votes": 3, "wins_1": 1, "wins_2": 2, "ties": 0, "both_bad": 0},
        {"model_1": "other", "model_2": "tuned", "votes": 5, "wins_1": 1, "wins_2": 4, "ties": 0, "both_bad": 0},
    ]
    # rows/columns base, other, tuned: base vs other (2 + 1/2 + 1/2) / 5 = 0.6; base vs tuned 1/3
    assert rep.win_rate == [[None, 0.6, pytest.approx(1 / 3)], [0.4, None, 0.2], [pytest.approx(2 / 3), 0.8, None]]
    md = (arena_run / "arena" / "report" / "arena.md").read_text(encoding="utf-8")
    assert "| base | other | 5 | 2 | 1 | 1 | 1 |" in md
    assert "## Ranking: overall" in md and "## Agreement between voters" in md
    for png in ("bt_scores.png", "win_rate.png"):
        assert (arena_run / "arena" / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert main(["arena", "export", str(arena_run)]) == 0
    out = arena_run / "arena" / "preferences"
    ds = datasets.load_dataset("parquet", data_files=str(out / "preferences.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    dj = datasets.load_dataset("json", data_files=str(out / "preferences.jsonl"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == dj.num_rows == 11  # 13 battles less the tie and the both-bad
    assert ds.column_names == arena.PREFERENCE_COLUMNS
    row = ds[0]
    assert (row["chosen_model"], row["rejected_model"], row["voters"], row["aspect"]) == ("tuned", "base", ["v0"], "overall")
    assert (row["votes"], row["votes_chosen"], row["votes_rejected"], row["votes_neither"]) == (1, 1, 0, 0)
    assert row["chosen"].startswith("Kuerz gesot:") and row["rejected"].startswith("Ech mengen:")
    assert row["prompt"] == store.prompts[pids[0]]["prompt"]
    assert sorted(dj["vote_ids"]) == sorted(ds["vote_ids"])
    lang = arena.export_preferences(arena_run, aspect="language", out=tmp_path / "lang")
    assert (lang.rows, lang.counts) == (1, {"votes": 13, "pairs": 13, "unanimous": 1, "majority": 0, "tied": 0,
                                            "no_preference": 12})


def _votes_on(a: str, b: str, choices: list[str]) -> list[dict]:
    return [{"vote_id": f"v{k}", "voter": f"p{k}", "prompt_id": "p1", "answer_a": a, "answer_b": b, "model_a": a,
             "model_b": b, "overall": c, "comment": None} for k, c in enumerate(choices)]


def test_contradictory_votes_are_resolved_by_majority_and_ties_dropped():
    votes = (_votes_on("x", "y", ["a", "a", "b"])  # x 2 : y 1 -> x, by majority
             + [{**v, "prompt_id": "p2"} for v in _votes_on("x", "y", ["a", "b"])]  # 1 : 1 -> dropped, tied
             + [{**v, "prompt_id": "p3"} for v in _votes_on("y", "x", ["a", "tie", "tie"])]  # neither 2 -> dropped
             + [{**v, "prompt_id": "p4"} for v in _votes_on("y", "x", ["b", "b"])])  # x unanimous (shown right)
    rows, counts = arena.resolve(votes, "overall")
    assert counts == {"votes": 10, "pairs": 4, "unanimous": 1, "majority": 1, "tied": 1, "no_preference": 1}
    assert [(r["prompt_id"], r["chosen_id"], r["rejected_id"], r["votes_chosen"], r["votes_rejected"], r["votes_neither"])
            for r in rows] == [("p1", "x", "y", 2, 1, 0), ("p4", "x", "y", 2, 0, 0)]


def test_skip_and_undo(arena_run: Path):
    store = arena.ArenaStore(arena_run, seed=4)
    first = store.next_battle("anne")
    store.skip("anne", first["a"]["answer_id"], first["b"]["answer_id"])
    seen = []
    while (b := store.next_battle("anne")) is not None and b["prompt_id"] != first["prompt_id"] or (
            b is not None and {b["a"]["answer_id"], b["b"]["answer_id"]} != {first["a"]["answer_id"], first["b"]["answer_id"]}):
        seen.append(b)
        store.vote("anne", b["a"]["answer_id"], b["b"]["answer_id"], {"content": "a", "language": "a", "overall": "a"})
    assert len(seen) == 17  # the skipped battle comes back only after the 17 others
    vote = store.vote("anne", b["a"]["answer_id"], b["b"]["answer_id"], {"content": "b", "language": "tie", "overall": "b"},
                      comment="  B ass méi kloer  ")
    assert vote["comment"] == "B ass méi kloer"
    assert store.next_battle("anne") is None
    undone = store.undo("anne")
    assert undone["vote_id"] == vote["vote_id"]
    again = store.next_battle("anne")  # the undone battle, sides as shown
    assert (again["a"]["answer_id"], again["b"]["answer_id"]) == (b["a"]["answer_id"], b["b"]["answer_id"])
    assert store.progress("anne") == {"voted": 17, "battles": 18, "votes": 17}
    # The undo is a record in the log: a restart, the report and the export do not count the vote.
    assert len(arena.read_jsonl(arena_run / "arena" / "votes.jsonl")) == 19
    assert len(arena.ArenaStore(arena_run).votes) == 17
    assert vote["vote_id"] not in {v["vote_id"] for v in arena.read_votes(arena_run)}
    assert store.undo("ben") is None


def test_api_skip_undo_comment_and_markdown(arena_run: Path):
    store = arena.ArenaStore(arena_run, seed=0)
    ans = next(iter(store.answers.values()))
    ans["text"] = "**fett** <script>alert(1)</script> [x](javascript:alert(1))"
    c = TestClient(create_arena_app(store), base_url="http://127.0.0.1:8765")
    b = c.get("/api/next?voter=anne").json()["battle"]
    shown = b["a"] if b["a"]["answer_id"] == ans["answer_id"] else b["b"] if b["b"]["answer_id"] == ans["answer_id"] else None
    if shown is not None:
        assert shown["html"] == "<p><strong>fett</strong> &lt;script&gt;alert(1)&lt;/script&gt; [x](javascript:alert(1))</p>\n"
    body = {"voter": "Anne", "answer_a": b["a"]["answer_id"], "answer_b": b["b"]["answer_id"]}
    assert c.post("/api/vote", json={**body, "content": "a", "language": "a", "overall": "a", "comment": "gutt"}).status_code == 200
    assert store.votes[-1]["voter"] == "anne" and store.votes[-1]["comment"] == "gutt"  # names are case-folded
    r = c.post("/api/undo", json={"voter": "ANNE"}).json()
    assert r["undone"]["comment"] == "gutt" and r["progress"]["voted"] == 0
    assert c.post("/api/undo", json={"voter": "anne"}).json() == {"error": "no vote to undo"}
    again = c.get("/api/next?voter=anne").json()["battle"]
    assert (again["a"]["answer_id"], again["b"]["answer_id"]) == (body["answer_a"], body["answer_b"])
    assert c.post("/api/skip", json={**body, "voter": "anne"}).json()["progress"]["voted"] == 0
    assert c.post("/api/skip", json={**body, "answer_a": "zzz"}).status_code == 400
    # A bad name in the form: the start page again, with the problem and the name as typed.
    r = c.get("/vote?voter=Anne Marie")
    assert r.status_code == 400 and "your name &#39;anne marie&#39; may hold only letters" in r.text
    assert 'value="Anne Marie"' in r.text


def test_position_bias():
    votes = [_vote("x", "y", c, prompt=f"p{k}") for k, c in enumerate(["a", "a", "a", "b", "tie"])]
    pb = arena.position_bias(votes)
    # 3 of 4 decisive votes went to the left; Wilson 95%: centre (0.75 + 1.92/4) / (1 + 3.84/4)
    assert (pb["decisive"], pb["left_wins"], pb["share"]) == (4, 3, 0.75)
    assert (pb["low"], pb["high"]) == pytest.approx((0.3006, 0.9544), abs=1e-4)


def test_cli_errors_are_one_line(tmp_path: Path, capsys):
    run = write_judged_run(tmp_path)
    assert main(["arena", "serve", str(run)]) == 2
    assert main(["arena", "report", str(run)]) == 2
    assert main(["arena", "generate", str(run), "--model", "a=vllm", "--model", "b=nope"]) == 2
    err = capsys.readouterr()
    text = err.out + err.err
    assert "no arena answers in" in text
    assert "no votes in" in text
    assert "no endpoint 'nope' in the run's config" in text


@pytest.mark.parametrize(("n", "wins", "width", "elo"), [(3, 2, 308.22, 1035.02), (10, 7, 206.23, 1059.78),
                                                         (200, 133, 50.66, 1058.90)])
def test_report_intervals_shrink_as_votes_grow(tmp_path: Path, n: int, wins: int, width: float, elo: float):
    # tuned beats base in about two votes of three; the interval narrows from 308 to 206 to 51 points.
    votes = [_vote("tuned", "base", "a" if k < wins else "b", voter=f"v{k}", prompt=f"p{k}") for k in range(n)]
    (tmp_path / "arena").mkdir()
    (tmp_path / "arena" / "votes.jsonl").write_text("".join(json.dumps(v) + "\n" for v in votes), encoding="utf-8")
    rep = arena.arena_report(tmp_path)
    s = rep.scores["overall"]["tuned"]
    assert (round(s["elo"], 2), round(s["high"] - s["low"], 2)) == (elo, width)
    assert s["low"] < s["elo"] < s["high"]
    md = (tmp_path / "arena" / "report" / "arena.md").read_text(encoding="utf-8")
    assert f"Position bias: the left answer (A) won {wins} of {n} votes with a winner" in md
    for png in ("bt_scores.png", "win_rate.png"):
        assert (tmp_path / "arena" / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_score_plot_cannot_fail_on_a_score_outside_its_interval(tmp_path: Path):
    # matplotlib refuses negative error bars; a percentile interval need not hold its estimate.
    from luxit_ray.arena.plots import plot_scores

    s = {a: {"x": {"elo": 1100.0, "low": 1120.0, "high": 1200.0}, "y": {"elo": 900.0, "low": 800.0, "high": 880.0}}
         for a in arena.ASPECTS}
    assert plot_scores(["x", "y"], s, 5, tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
