"""JudgeStage: aggregation rules, and the stage on dict batches against the real local server."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from luxit_ray import schema as S
from luxit_ray.config.llm import EndpointConfig
from luxit_ray.prompts import load_prompt
from luxit_ray.stages.judge import JudgeStage, aggregate_scores, keep_decision
from tests.openai_server import Reply, start_server

C = S.CRITERIA


def _s(*v: int) -> dict[str, int]:
    return dict(zip(C, v, strict=True))


# ---- aggregation ----------------------------------------------------------------------------


def test_majority_mean_min():
    sets = [_s(3, 1, 3, 2), _s(3, 2, 2, 2), _s(2, 2, 1, 3)]
    assert aggregate_scores(sets, "majority") == dict(zip(C, (3.0, 2.0, 1.0, 2.0), strict=True))
    mean = aggregate_scores(sets, "mean")
    assert mean == pytest.approx(dict(zip(C, (8 / 3, 5 / 3, 2.0, 7 / 3), strict=True)))
    assert aggregate_scores(sets, "min") == dict(zip(C, (2.0, 1.0, 1.0, 2.0), strict=True))


def test_majority_ties_go_to_the_lower_score():
    # two judges disagree: the lower score wins; three-way tie: the lowest
    assert aggregate_scores([_s(3, 3, 2, 1), _s(2, 3, 3, 3)], "majority") == dict(zip(C, (2.0, 3.0, 2.0, 1.0), strict=True))
    assert aggregate_scores([_s(1, 1, 1, 1), _s(2, 2, 2, 2), _s(3, 3, 3, 3)])["factual_accuracy"] == 1.0
    # a single judge is its own majority
    assert aggregate_scores([_s(3, 2, 1, 3)]) == dict(zip(C, (3.0, 2.0, 1.0, 3.0), strict=True))
    assert aggregate_scores([], "majority") is None
    with pytest.raises(ValueError, match="unknown aggregate"):
        aggregate_scores([_s(1, 1, 1, 1)], "median")


def test_keep_reason_names_every_failing_criterion():
    assert keep_decision(dict(zip(C, (3.0, 2.0, 2.0, 3.0), strict=True)), 2) == (True, None)
    assert keep_decision(dict(zip(C, (3.0, 1.0, 2.0, 3.0), strict=True)), 2) == (False, "factual_accuracy=1 < 2")
    assert keep_decision(dict(zip(C, (1.5, 1.0, 3.0, 3.0), strict=True)), 2) == (
        False, "linguistic_quality=1.5 < 2; factual_accuracy=1 < 2")
    assert keep_decision(dict(zip(C, (2.5, 3.0, 3.0, 3.0), strict=True)), 2.75) == (False, "linguistic_quality=2.5 < 2.75")
    assert keep_decision(None, 2) == (False, "judge_error")


# ---- the stage against the server -------------------------------------------------------------

SOURCE = "De Stauséi vun der Uewersauer läit am Nordweste vu Lëtzebuerg."
# instruction -> (judge A reply, judge B reply); a dict is the scores, a str is raw content
ANSWERS = {
    "Fro 1": (_s(3, 3, 3, 3), _s(3, 2, 3, 3)),  # kept; majority of two = the lower
    "Fro 2": (_s(3, 1, 3, 3), _s(3, 3, 3, 3)),  # tie on factual_accuracy -> 1 -> rejected
    "Fro 3": ("Ech mengen et ass gutt.", _s(2, 2, 3, 2)),  # A unparseable: B alone decides
    "Fro 4": ({**_s(3, 3, 3, 3), "factual_accuracy": 4}, Reply(status=400, error_message="bad")),  # both fail
}


def _script(req):
    text = req.user_text
    judge = 0 if req.model == "judge-a" else 1
    for ins, replies in ANSWERS.items():
        if f"<instruction>\n{ins}\n</instruction>" in text:
            r = replies[judge]
            if isinstance(r, Reply):
                return r
            return Reply(content=json.dumps(r) if isinstance(r, dict) else r,
                         usage={"prompt_tokens": 500, "completion_tokens": 20, "total_tokens": 520})
    return Reply(status=400, error_message="unexpected")


def _rows(n=4, **extra) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        row = {k: None for k in S.PAIR_SCHEMA.names}
        row.update({S.PAIR_ID: f"p{i}", S.DOC_ID: "lbwiki:1", S.SOURCE: "lbwiki", S.SOURCE_TYPE: "wikipedia",
                    S.TITLE: "Stauséi", S.PAIR_INDEX: i - 1, S.INSTRUCTION: f"Fro {i}", S.RESPONSE: f"Äntwert {i}",
                    S.MODEL: "gen", S.PROMPT_SHA: "abc", S.USAGE: "{}", S.CACHE_HIT: False}, **extra)
        rows.append(row)
    return rows


@pytest.fixture
def server():
    srv = start_server(_script)
    yield srv
    srv.stop()


def _stage(server, **kw) -> JudgeStage:
    t = load_prompt("judge")
    judges = [
        {"name": name, "endpoint_name": "local",
         "endpoint": EndpointConfig(base_url=server.base_url, model=model, max_retries=0, timeout_s=10),
         "prompt_name": t.name, "prompt_source": t.source}
        for name, model in (("a", "judge-a"), ("b", "judge-b"))
    ]
    kw.setdefault("source_texts", {"lbwiki:1": SOURCE})
    return JudgeStage(judges=judges, language="Luxembourgish", **kw)


def test_two_judges_aggregate_keep_and_errors(server):
    stage = _stage(server)
    try:
        table = stage.process(pa.Table.from_pylist(_rows(), schema=S.PAIR_SCHEMA))
    finally:
        stage.close()
    assert table.schema.equals(S.JUDGED_SCHEMA)
    rows = {r[S.PAIR_ID]: r for r in table.to_pylist()}
    assert [r[S.PAIR_ID] for r in table.to_pylist()] == ["p1", "p2", "p3", "p4"]
    scores = {p: tuple(r[S.score_column(c)] for c in C) for p, r in rows.items()}
    assert scores == {"p1": (3.0, 2.0, 3.0, 3.0), "p2": (3.0, 1.0, 3.0, 3.0), "p3": (2.0, 2.0, 3.0, 2.0),
                      "p4": (None, None, None, None)}
    assert {p: (r[S.KEEP], r[S.KEEP_REASON]) for p, r in rows.items()} == {
        "p1": (True, None), "p2": (False, "factual_accuracy=1 < 2"), "p3": (True, None), "p4": (False, "judge_error"),
    }
    assert rows["p4"][S.JUDGE_ERROR] == (
        "a: schema: factual_accuracy: Input should be less than or equal to 3 (got 4); "
        "b: bad_request: HTTP 400 invalid_request_error bad"
    )
    assert all(rows[p][S.JUDGE_ERROR] is None for p in ("p1", "p2", "p3"))
    j3 = json.loads(rows["p3"][S.JUDGEMENTS])
    sha = load_prompt("judge").sha
    assert [(j["judge"], j["model"], j["prompt_sha"], j["scores"], j["error_kind"]) for j in j3] == [
        ("a", "judge-a", sha, None, "parse"), ("b", "judge-b", sha, _s(2, 2, 3, 2), None)]
    assert j3[0]["raw_output"] == "Ech mengen et ass gutt."
    assert j3[0]["error"] == "parse: no JSON array or object in the answer"
    assert j3[1]["usage"] == {"prompt_tokens": 500, "cached_tokens": 0, "completion_tokens": 20, "reasoning_tokens": 0,
                              "cached": False, "retries": 0, "hedges": 0,
                              "billing": {"sends": 1, "prompt_tokens": 500, "cached_tokens": 0, "completion_tokens": 20,
                                          "estimated_tokens": 0, "batch": False}}
    assert j3[1]["source_shown"] is True
    # pair columns pass through unchanged
    assert (rows["p1"][S.INSTRUCTION], rows["p1"][S.MODEL], rows["p1"][S.PAIR_INDEX]) == ("Fro 1", "gen", 0)
    # every judge saw every pair, with the source text
    assert server.count() == 8
    assert all(SOURCE in r["body"]["messages"][1]["content"] for r in server.requests)
    assert {r["body"]["response_format"]["json_schema"]["name"] for r in server.requests} == {"pair_scores"}


def test_mean_and_min_aggregates_and_threshold(server):
    stage = _stage(server, aggregate="mean", min_score=2.5)
    try:
        rows = stage.process(pa.Table.from_pylist(_rows(2), schema=S.PAIR_SCHEMA)).to_pylist()
    finally:
        stage.close()
    assert [r[S.score_column("factual_accuracy")] for r in rows] == [2.5, 2.0]
    assert [r[S.KEEP_REASON] for r in rows] == [None, "factual_accuracy=2 < 2.5"]
    server.clear()
    stage = _stage(server, aggregate="min")
    try:
        rows = stage.process(pa.Table.from_pylist(_rows(2), schema=S.PAIR_SCHEMA)).to_pylist()
    finally:
        stage.close()
    assert [r[S.score_column("factual_accuracy")] for r in rows] == [2.0, 1.0]


def test_source_text_can_be_left_out_and_text_column_wins(server):
    stage = _stage(server, include_source=False)
    try:
        row = stage.process(pa.Table.from_pylist(_rows(1), schema=S.PAIR_SCHEMA)).to_pylist()[0]
    finally:
        stage.close()
    assert "<source_text>" not in server.requests[0]["body"]["messages"][1]["content"]
    assert json.loads(row[S.JUDGEMENTS])[0]["source_shown"] is False
    server.clear()
    stage = _stage(server, source_texts=None)
    batch = {k: [r[k] for r in _rows(1)] for k in S.PAIR_SCHEMA.names}
    batch[S.TEXT] = ["En anere Quelltext."]
    try:
        stage.process(batch)
    finally:
        stage.close()
    assert "<source_text>\nEn anere Quelltext.\n</source_text>" in server.requests[0]["body"]["messages"][1]["content"]


def test_error_rows_pass_through_unjudged(server):
    rows = _rows(1, **{S.ERROR: "parse: x", S.ERROR_KIND: "parse", S.INSTRUCTION: None, S.RESPONSE: None})
    stage = _stage(server)
    try:
        out = stage.process(pa.Table.from_pylist(rows, schema=S.PAIR_SCHEMA)).to_pylist()
    finally:
        stage.close()
    assert (out[0][S.KEEP], out[0][S.KEEP_REASON], out[0][S.JUDGEMENTS]) == (False, "pair_error: parse", "[]")
    assert server.count() == 0


def test_a_seeds_pairs_go_out_together_with_one_prompt_cache_key():
    """Rows of two seeds interleaved in a batch: each seed's requests are sent one after the
    other (the provider's prefix cache still holds the source), with the seed as prompt_cache_key,
    and the output rows keep the input order."""
    srv = start_server(lambda req: Reply(content=json.dumps(_s(3, 3, 3, 3))))
    t = load_prompt("judge")
    ep = EndpointConfig(base_url=srv.base_url, model="judge-a", max_retries=0, timeout_s=10, max_in_flight=1,
                        prompt_cache_key=True)
    stage = JudgeStage(judges=[{"name": "a", "endpoint_name": "local", "endpoint": ep, "prompt_name": t.name,
                                "prompt_source": t.source}],
                       language="Luxembourgish", source_texts={"lbwiki:1": SOURCE, "lbwiki:2": "D'Musel ass e Floss."})
    rows = _rows(4)
    for row, doc in zip(rows, ("lbwiki:2", "lbwiki:1", "lbwiki:2", "lbwiki:1"), strict=True):
        row[S.DOC_ID] = doc
    try:
        out = stage.process(pa.Table.from_pylist(rows, schema=S.PAIR_SCHEMA)).to_pylist()
    finally:
        stage.close()
        srv.stop()
    assert [r[S.PAIR_ID] for r in out] == ["p1", "p2", "p3", "p4"]
    sent = [(r["body"]["prompt_cache_key"], r["body"]["messages"][1]["content"].split("<instruction>\n")[1][:5])
            for r in srv.requests]
    assert sent == [("lbwiki:1", "Fro 2"), ("lbwiki:1", "Fro 4"), ("lbwiki:2", "Fro 1"), ("lbwiki:2", "Fro 3")]
