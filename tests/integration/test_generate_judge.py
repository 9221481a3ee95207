"""generate -> judge on a real local Ray against the real local OpenAI-protocol server with faults.

Ten seeds; the server answers each by its title (and by how often it has seen that request):
429 + Retry-After, 500 then 503, a hung request (client timeout), truncated JSON, a wrong
schema, empty content, a 503 that never ends, and reasoning blocks. Every seed must come out
exactly once (pairs or error rows), with retry and error counts exactly as injected.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import yaml

from luxit_ray import pipeline, runs
from luxit_ray import schema as S
from luxit_ray.config import load_job
from luxit_ray.errors import AuthError, ErrorRateExceeded
from tests.openai_server import Reply, start_server

TEXT = (
    "D'Stad Lëtzebuerg ass d'Haaptstad vum Grand-Duché. Si läit um Zesummefloss vun der Uelzecht "
    "an der Péitruss.\n\nAm Mëttelalter gouf eng Festung gebaut, déi haut zum Weltierfgutt gehéiert."
)


def write_seeds(run_dir: Path, titles: list[str], text: str = TEXT) -> None:
    """seeds/ of a run as the prepare step writes it (two Parquet files plus the marker)."""
    rows = [
        {S.DOC_ID: f"test:{i}", S.SOURCE: "test", S.SOURCE_TYPE: "news" if i % 2 else "wikipedia",
         S.TITLE: t, S.TEXT: f"{t}. {text}", S.DATE: f"2024-05-0{1 + i % 9}T08:00:00" if i % 2 else None,
         S.URL: None, S.PAGE_KIND: None, S.METADATA: "{}", S.ORIGIN: f"seeds.jsonl:{i + 1}"}
        for i, t in enumerate(titles)
    ]
    folder = run_dir / runs.SEEDS
    folder.mkdir(parents=True, exist_ok=True)
    half = (len(rows) + 1) // 2
    for n, chunk in enumerate((rows[:half], rows[half:])):
        pq.write_table(pa.Table.from_pylist(chunk, schema=S.DOCUMENT_SCHEMA), folder / f"part-{n}.parquet")
    (folder / runs.MARKER).write_text("{}", encoding="utf-8")


def write_job(tmp: Path, endpoints: dict[str, dict[str, Any]], **sections: Any) -> Path:
    """A job YAML in the temp dir (the test's own; jobs/ is not used)."""
    data = {
        "run": {"name": "itest", "output_dir": str(tmp / "runs"), "run_id": "itest-1", "ray": {"num_cpus": 4}},
        "endpoints": endpoints,
        **sections,
    }
    path = tmp / "job.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def endpoint(base_url: str, model: str, **kw: Any) -> dict[str, Any]:
    return {"base_url": base_url, "model": model, "max_retries": 2, "backoff_base_s": 0.01,
            "backoff_max_s": 0.05, "timeout_s": 2.0, **kw}


def pairs_for(title: str, n: int = 3) -> list[dict[str, str]]:
    return [{"instruction": f"Fro {i} iwwer {title}: wat ass wichteg?", "response": f"Äntwert {i} iwwer {title}."}
            for i in range(n)]


def read_rows(folder: Path) -> list[dict[str, Any]]:
    return pads.dataset(str(folder), format="parquet").to_table().to_pylist()


# ---- the scripted generator and judges ----------------------------------------------------

TITLES = ["Uelzecht", "Péitruss", "Festung", "Kasematten", "Truncated", "Schema", "Empty", "Down", "Musel", "Éislek"]
GEN_USAGE = {"prompt_tokens": 1000, "completion_tokens": 400, "total_tokens": 1400,
             "completion_tokens_details": {"reasoning_tokens": 100}}


def _gen(req) -> Reply:
    title = next(t for t in TITLES if f"title: {t};" in req.user_text or f"title: {t})" in req.user_text)
    ok = Reply(content="<think>Dräi verschidden Aufgaben.</think>\n" + json.dumps({"pairs": pairs_for(title)},
               ensure_ascii=False), usage=GEN_USAGE)
    if title == "Péitruss" and req.attempt == 0:
        return Reply(status=429, headers={"Retry-After": "1"}, error_message="slow down")
    if title == "Festung" and req.attempt < 2:
        return Reply(status=500 if req.attempt == 0 else 503, error_message="oops")
    if title == "Kasematten" and req.attempt == 0:
        return Reply(hang=True, hang_s=30)
    if title == "Truncated":
        return Reply(content='{"pairs": [{"instruction": "Fro 0", "response": "Äntw', usage=GEN_USAGE)
    if title == "Schema":
        return Reply(content=json.dumps({"questions": ["a"], "answers": ["b"]}), usage=GEN_USAGE)
    if title == "Empty":
        return Reply(content="", usage=GEN_USAGE)
    if title == "Down":
        return Reply(status=503, error_message="down")
    return ok


def _scores(values: tuple[int, int, int, int]) -> str:
    return json.dumps(dict(zip(S.CRITERIA, values, strict=True)))


def _judge(req) -> Reply:
    text = req.user_text
    usage = {"prompt_tokens": 300, "completion_tokens": 10, "total_tokens": 310}
    if "<instruction>\nFro 2 iwwer Éislek" in text:
        return Reply(content="Ech ginn keng Noten.", usage=usage)  # both judges: no score at all
    if req.model == "judge-b" and "iwwer Musel" in text:
        return Reply(content="<think>hmm</think> net sécher", usage=usage)  # judge b fails, a decides
    if "<instruction>\nFro 0" in text:
        return Reply(content=_scores((3, 3, 3, 3)), usage=usage)
    if "<instruction>\nFro 1" in text:
        return Reply(content=_scores((3, 1, 3, 2)), usage=usage)
    return Reply(content="<think>ok</think>" + _scores((2, 2, 2, 2)), usage=usage)


def _script(req) -> Reply:
    return _gen(req) if req.model == "gen-model" else _judge(req)


@pytest.fixture
def server():
    srv = start_server(_script)
    yield srv
    srv.stop()


def test_generate_and_judge_with_injected_faults(ray_local, server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="luxit_ray.steps.common")
    eps = {
        "gen": endpoint(server.base_url, "gen-model", price_input_per_mtok=1.0, price_output_per_mtok=2.0),
        "ja": endpoint(server.base_url, "judge-a", price_input_per_mtok=0.5, price_output_per_mtok=4.0),
        "jb": endpoint(server.base_url, "judge-b"),
    }
    job = write_job(
        tmp_path, eps,
        generate={"endpoint": "gen", "batch_size": 3, "max_error_rate": 0.3},
        judge={"judges": [{"name": "a", "endpoint": "ja"}, {"name": "b", "endpoint": "jb"}], "batch_size": 8},
    )
    run_dir = tmp_path / "runs" / "itest-1"
    write_seeds(run_dir, TITLES)

    # 4 of 10 seeds fail (parse, schema, empty, http_5xx): above the 30% limit. Outputs are
    # written first, and the step is not marked done.
    with pytest.raises(ErrorRateExceeded, match=r"4 of 10 seeds produced no pair \(40.0% > generate.max_error_rate 30.0%\)"):
        pipeline.run_generate(load_job(job))
    assert not (run_dir / runs.PAIRS / runs.MARKER).exists()
    first = list(server.requests)
    by_status: dict[Any, int] = {}
    for r in first:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    # 200: 6 good (3 after a fault) + Truncated/Schema/Empty; 429 once; 500 and 503 once each
    # (Festung); one hang (timeout); Down 3 times (first try + 2 retries)
    assert by_status == {200: 9, 429: 1, 500: 1, 503: 4, "hang": 1}
    assert len(first) == 16
    # the manifest of the failed attempt counts exactly what was injected
    m1 = runs.RunDir(run_dir).manifest()["steps"]["generate"]
    assert (m1["retries"], m1["cache_hits"], m1["seeds_with_error"]) == (1 + 2 + 1 + 2, 0, 4)
    assert m1["errors"] == {"empty": 1, "http_5xx": 1, "parse": 1, "schema": 1}
    u1 = m1["usage"]["gen-model"]
    # 9 answered requests were billed: 1000 in / 400 out each, $1 and $2 per million; and the send
    # the client gave up on (the hang) may be billed too: its tokens are the answer's, marked estimated
    assert (u1["requests"], u1["sends"], u1["prompt_tokens"], u1["completion_tokens"], u1["reasoning_tokens"]) == (
        10, 10, 10000, 4000, 900)
    assert u1["estimated_tokens"] == 400  # its output (the input is the same body's: counted, not guessed)
    assert u1["cost_usd"] == pytest.approx((10000 * 1.0 + 4000 * 2.0) / 1e6)

    # Rerun accepting 50%: every recorded response comes from the cache; only Down is sent again.
    caplog.clear()
    summary = pipeline.run_generate(load_job(job, ["generate.max_error_rate=0.5"]))
    # the live progress line (counts pushed by the actors without waiting, so they may lag: the
    # exact figures are in the manifest, counted from the written rows)
    line = re.compile(r"generate: \d+/10 seeds \(\d+%\) \| requests \d+ \(sends \d+, copies \d+, cache \d+, retries \d+,"
                      r" errors \d+\) \| tokens in [\d,]+ \(cached [\d,]+\) out [\d,]+ \(reasoning [\d,]+\)"
                      r" \| cost \$\d+\.\d{4} \(copies and cancelled sends included\)")
    assert any(line.fullmatch(r.getMessage().split(", projected")[0]) for r in caplog.records)
    resent = server.requests[len(first):]
    assert [r["status"] for r in resent] == [503, 503, 503]
    down_key = {r["key"] for r in first if "title: Down;" in r["body"]["messages"][-1]["content"]}
    assert len(down_key) == 1 and {r["key"] for r in resent} == down_key
    assert (run_dir / runs.PAIRS / runs.MARKER).exists()

    pairs = read_rows(run_dir / runs.PAIRS)
    errors = read_rows(run_dir / runs.GENERATE_ERRORS)
    assert len(pairs) == 18 and all(r[S.ERROR] is None for r in pairs)
    ids = [r[S.PAIR_ID] for r in pairs + errors]
    assert len(ids) == len(set(ids))
    # every seed accounted for exactly once: pairs or an error row with its reason
    seeds_out = {r[S.DOC_ID] for r in pairs} | {r[S.DOC_ID] for r in errors}
    assert seeds_out == {f"test:{i}" for i in range(10)}
    assert {r[S.DOC_ID] for r in pairs}.isdisjoint({r[S.DOC_ID] for r in errors})
    err = {r[S.TITLE]: (r[S.PAIR_INDEX], r[S.ERROR_KIND]) for r in errors}
    assert err == {"Truncated": (-1, "parse"), "Schema": (-1, "schema"), "Empty": (-1, "empty"), "Down": (-1, "http_5xx")}
    down = next(r for r in errors if r[S.TITLE] == "Down")
    assert down[S.ERROR] == "http_5xx: HTTP 503 server_error down (after 2 retries)"
    trunc = next(r for r in errors if r[S.TITLE] == "Truncated")
    assert trunc[S.RAW_OUTPUT] == '{"pairs": [{"instruction": "Fro 0", "response": "Äntw'
    assert all(r[S.REASONING] == "Dräi verschidden Aufgaben." for r in pairs)

    m = runs.RunDir(run_dir).manifest()["steps"]["generate"]
    assert (m["seeds"], m["seeds_accounted"], m["pairs"], m["seeds_with_error"], m["seeds_partial"]) == (10, 10, 18, 4, 0)
    assert m["errors"] == {"empty": 1, "http_5xx": 1, "parse": 1, "schema": 1}
    assert m["duplicate_pair_ids"] == 0
    # second run: 9 answers from the cache, Down sent again (2 retries)
    assert (m["cache_hits"], m["retries"]) == (9, 2)
    u = m["usage"]["gen-model"]
    # the money: the first attempt's spend is kept (its 9 answers are cache hits it paid for); this
    # attempt's only request (Down, refused with 503s) cost nothing
    assert (u["requests"], u["cache_hits"], u["paid_earlier"], u["prompt_tokens"], u["errors"]) == (1, 9, 9, 10000, 4)
    assert u["cost_this_attempt_usd"] == 0.0 and u["saved_usd"] == 0.0
    assert u["cost_earlier_attempts_usd"] == pytest.approx(u1["cost_usd"]) == pytest.approx(u["cost_usd"])
    assert summary["tables"]["generate: seeds and pairs"]["rows"][0][:3] == [10, 18, 4]

    # ---- judge ----
    summary = pipeline.run_judge(load_job(job, ["generate.max_error_rate=0.5"]))
    judged = read_rows(run_dir / runs.JUDGED)
    kept = read_rows(run_dir / runs.KEPT)
    rejected = read_rows(run_dir / runs.REJECTED_PAIRS)
    assert len(judged) == 18 and len(kept) == 11 and len(rejected) == 7
    assert {r[S.PAIR_ID] for r in judged} == {r[S.PAIR_ID] for r in pairs}
    assert {r[S.PAIR_ID] for r in kept}.isdisjoint({r[S.PAIR_ID] for r in rejected})
    reasons = sorted(r[S.KEEP_REASON] for r in rejected)
    assert reasons == ["factual_accuracy=1 < 2"] * 6 + ["judge_error"]
    eislek2 = next(r for r in judged if r[S.INSTRUCTION].startswith("Fro 2 iwwer Éislek"))
    assert eislek2[S.JUDGE_ERROR] == ("a: parse: no JSON array or object in the answer; "
                                      "b: parse: no JSON array or object in the answer")
    musel1 = next(r for r in judged if r[S.INSTRUCTION].startswith("Fro 1 iwwer Musel"))
    js = json.loads(musel1[S.JUDGEMENTS])
    assert [(j["judge"], j["error_kind"]) for j in js] == [("a", None), ("b", "parse")]
    assert js[1]["reasoning"] == "hmm" and js[0]["source_shown"] is True
    assert musel1[S.score_column("factual_accuracy")] == 1.0
    # the judge was shown the seed text
    judge_reqs = [r for r in server.requests if r["body"]["model"] == "judge-a"]
    assert len(judge_reqs) == 18
    assert all("D'Stad Lëtzebuerg ass d'Haaptstad" in r["body"]["messages"][1]["content"] for r in judge_reqs)

    jm = runs.RunDir(run_dir).manifest()["steps"]["judge"]
    assert (jm["pairs"], jm["kept"], jm["rejected"], jm["judge_errors"], jm["all_3"]) == (18, 11, 7, 1, 6)
    assert jm["score_1"] == {"linguistic_quality": 0, "factual_accuracy": 6, "instruction_adherence": 0,
                             "helpfulness_relevance": 0}
    assert jm["rejected_by_criterion"]["factual_accuracy"] == 6
    a = jm["usage_by_judge"]["a"]
    assert (a["requests"], a["prompt_tokens"], a["completion_tokens"], a["errors"]) == (18, 5400, 180, 1)
    assert a["cost_usd"] == pytest.approx((5400 * 0.5 + 180 * 4.0) / 1e6)
    assert jm["usage_by_judge"]["b"]["errors"] == 4 and jm["usage_by_judge"]["b"]["cost_usd"] == 0.0
    assert summary["tables"]["judge: pairs"]["rows"][0][:2] == [18, 11]

    # a finished step is skipped on a rerun: nothing is sent
    n = len(server.requests)
    again = pipeline.run_judge(load_job(job))
    assert len(server.requests) == n and again["tables"]["judge: pairs"]["rows"][0][:2] == [18, 11]


def test_401_stops_the_job_with_an_auth_error(ray_local, tmp_path):
    with start_server(lambda req: Reply(content="[]"), api_key="the-right-key") as srv:
        job = write_job(tmp_path, {"gen": endpoint(srv.base_url, "gen-model")},
                        generate={"endpoint": "gen", "batch_size": 2})
        write_seeds(tmp_path / "runs" / "itest-1", TITLES[:4])
        with pytest.raises(AuthError, match=r"endpoint 'gen' .* refused the credentials: HTTP 401 \(no key configured\)"):
            pipeline.run_generate(load_job(job))
        assert srv.count(401) >= 1
    assert not (tmp_path / "runs" / "itest-1" / runs.PAIRS / runs.MARKER).exists()
