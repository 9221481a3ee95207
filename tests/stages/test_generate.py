"""GenerateStage on dict batches against the real local OpenAI-protocol server."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest

from luxit_ray import schema as S
from luxit_ray.config.llm import EndpointConfig
from luxit_ray.errors import InputError
from luxit_ray.prompts import load_prompt
from luxit_ray.stages import calls_at_once
from luxit_ray.stages.generate import GenerateStage, pair_id
from tests.openai_server import Reply, start_server

MODEL = "deepseek-test"
PAIRS = [
    {"instruction": "Wou läit de Stauséi vun der Uewersauer?", "response": "Am Nordweste vu Lëtzebuerg."},
    {"instruction": "Wat liwwert de Stauséi dem Land?", "response": "E groussen Deel vum Drénkwaasser."},
    {"instruction": "Firwat sinn Motorbooter um Séi verbueden?", "response": "Well de Séi d'Drénkwaasser stellt."},
]
USAGE = {"prompt_tokens": 900, "completion_tokens": 300, "total_tokens": 1200,
         "completion_tokens_details": {"reasoning_tokens": 120}}
SEEDS = [
    # (doc_id, title, source_type, date, what the server answers)
    ("lbwiki:1", "Stauséi", "wikipedia", None, "ok"),
    ("rtl:2", "Chamber", "news", "2024-03-05T09:30:00", "prose"),
    ("rtl:3", "Tram", "news", "2024-04-01", "two"),
    ("lbwiki:4", "Musel", "wikipedia", None, "hole"),
    ("lbwiki:5", "Éislek", "wikipedia", None, "cut"),
]


def _reply(kind: str) -> Reply:
    if kind == "ok":
        return Reply(content="<think>Ech schreiwen dräi Froen.</think>" + json.dumps({"pairs": PAIRS}, ensure_ascii=False),
                     usage=USAGE)
    if kind == "prose":
        return Reply(content="Hei sinn dräi Beispiller ouni JSON.", usage=USAGE)
    if kind == "two":
        return Reply(content=json.dumps(PAIRS[:2], ensure_ascii=False), usage=USAGE)
    if kind == "hole":
        bad = [PAIRS[0], {"instruction": PAIRS[1]["instruction"], "response": ""}, PAIRS[2]]
        return Reply(content=json.dumps({"pairs": bad}, ensure_ascii=False), usage=USAGE)
    if kind == "cut":
        return Reply(content='{"pairs": [{"instruction": "Wou', finish_reason="length", usage=USAGE)
    raise AssertionError(kind)


def _script(req):
    for _doc, title, _st, _date, kind in SEEDS:
        if f"title: {title}" in req.user_text:
            return _reply(kind)
    return Reply(status=400, error_message=f"unexpected request: {req.user_text[-200:]}")


def _batch(seeds=SEEDS, text: str = "De Stauséi läit am Nordweste vu Lëtzebuerg.") -> dict[str, list]:
    return {
        S.DOC_ID: [s[0] for s in seeds],
        S.SOURCE: [s[0].split(":")[0] for s in seeds],
        S.SOURCE_TYPE: [s[2] for s in seeds],
        S.TITLE: [s[1] for s in seeds],
        S.TEXT: [text for _ in seeds],
        S.DATE: [s[3] for s in seeds],
        S.URL: [None for _ in seeds],
    }


@pytest.fixture
def server():
    srv = start_server(_script)
    yield srv
    srv.stop()


def _stage(server, **kw) -> GenerateStage:
    t = load_prompt("generate")
    ep = kw.pop("endpoint", None) or EndpointConfig(base_url=server.base_url, model=MODEL, max_retries=0, timeout_s=10)
    return GenerateStage(endpoint_name="local", endpoint=ep, prompt_name=t.name, prompt_source=t.source,
                         language="Luxembourgish", **kw)


def test_rows_for_every_outcome(server):
    stage = _stage(server)
    try:
        table = stage.process(_batch())
    finally:
        stage.close()
    assert table.schema.equals(S.PAIR_SCHEMA)
    rows = table.to_pylist()
    sha = load_prompt("generate").sha
    got = [(r[S.DOC_ID], r[S.PAIR_INDEX], r[S.INSTRUCTION], r[S.RESPONSE], r[S.ERROR_KIND], r[S.ERROR]) for r in rows]
    assert got == [
        ("lbwiki:1", 0, PAIRS[0]["instruction"], PAIRS[0]["response"], None, None),
        ("lbwiki:1", 1, PAIRS[1]["instruction"], PAIRS[1]["response"], None, None),
        ("lbwiki:1", 2, PAIRS[2]["instruction"], PAIRS[2]["response"], None, None),
        ("rtl:2", -1, None, None, "parse", "parse: no JSON array or object in the answer"),
        ("rtl:3", 0, PAIRS[0]["instruction"], PAIRS[0]["response"], None, None),
        ("rtl:3", 1, PAIRS[1]["instruction"], PAIRS[1]["response"], None, None),
        ("rtl:3", -1, None, None, "count", "count: got 2 pairs, asked for 3"),
        ("lbwiki:4", 0, PAIRS[0]["instruction"], PAIRS[0]["response"], None, None),
        ("lbwiki:4", 1, None, None, "schema", "schema: pair 1: response: String should have at least 1 character (got '')"),
        ("lbwiki:4", 2, PAIRS[2]["instruction"], PAIRS[2]["response"], None, None),
        ("lbwiki:5", -1, None, None, "length", "length: the answer was cut off at 300 completion tokens (raise max_tokens)"),
    ]
    for r in rows:
        assert r[S.PAIR_ID] == pair_id(r[S.DOC_ID], sha, MODEL, r[S.PAIR_INDEX])
        assert (r[S.PROMPT_NAME], r[S.PROMPT_SHA], r[S.MODEL], r[S.ENDPOINT]) == ("generate", sha, MODEL, "local")
        assert json.loads(r[S.USAGE]) == {
            "prompt_tokens": 900, "cached_tokens": 0, "completion_tokens": 300, "reasoning_tokens": 120,
            "cached": False, "retries": 0, "hedges": 0,
            # a 200 that failed validation (no JSON, a cut-off answer) is a send billed like any other
            "billing": {"sends": 1, "prompt_tokens": 900, "cached_tokens": 0, "completion_tokens": 300,
                        "estimated_tokens": 0, "batch": False}}
        assert r[S.CACHE_HIT] is False
    assert len({r[S.PAIR_ID] for r in rows}) == len(rows)
    by = {(r[S.DOC_ID], r[S.PAIR_INDEX]): r for r in rows}
    # raw output and reasoning are kept beside the parsed values, also on error rows
    assert by[("lbwiki:1", 0)][S.REASONING] == "Ech schreiwen dräi Froen."
    assert by[("lbwiki:1", 0)][S.RAW_OUTPUT].startswith("<think>Ech schreiwen")
    assert by[("rtl:2", -1)][S.RAW_OUTPUT] == "Hei sinn dräi Beispiller ouni JSON."
    assert by[("lbwiki:5", -1)][S.RAW_OUTPUT] == '{"pairs": [{"instruction": "Wou'
    # seed columns are carried over
    assert (by[("rtl:3", 0)][S.SOURCE], by[("rtl:3", 0)][S.SOURCE_TYPE], by[("rtl:3", 0)][S.DATE]) == ("rtl", "news", "2024-04-01")
    assert server.count() == 5


def test_requests_carry_schema_date_and_cut_text(server):
    long_text = ("Éischten Abschnitt. " * 10).strip() + "\n\n" + "Zweeten Abschnitt. " * 40
    stage = _stage(server, max_source_chars=300)
    try:
        stage.process(_batch(SEEDS[1:2], text=long_text))
    finally:
        stage.close()
    body = server.requests[0]["body"]
    rf = body["response_format"]
    assert rf["type"] == "json_schema"
    assert rf["json_schema"]["schema"]["properties"]["pairs"]["minItems"] == 3
    user = body["messages"][1]["content"]
    assert "The source was published on 2024-03-05." in user
    # cut at the paragraph boundary: the second paragraph is gone
    assert "<source_text>\n" + ("Éischten Abschnitt. " * 10).strip() + "\n</source_text>" in user
    assert "Zweeten" not in user
    assert stage.truncated == 1


def test_prompt_only_mode_asks_for_a_bare_array(server):
    ep = EndpointConfig(base_url=server.base_url, model=MODEL, max_retries=0, structured_output="none")
    stage = _stage(server, endpoint=ep)
    try:
        stage.process(_batch(SEEDS[2:3]))
    finally:
        stage.close()
    body = server.requests[0]["body"]
    assert "response_format" not in body
    assert "The JSON is an array of exactly 3 objects" in body["messages"][1]["content"]


def test_ids_stable_across_runs_and_cache_answers_the_rerun(server, tmp_path):
    cache = str(tmp_path / "cache")
    first = _stage(server, cache_uri=cache)
    try:
        a = first.process(_batch()).to_pylist()
    finally:
        first.close()
    assert server.count() == 5
    second = _stage(server, cache_uri=cache)
    try:
        b = second.process(_batch()).to_pylist()
    finally:
        second.close()
    assert server.count() == 5  # every response was recorded: nothing sent again
    assert [r[S.PAIR_ID] for r in b] == [r[S.PAIR_ID] for r in a]
    strip = lambda r: {k: v for k, v in r.items() if k not in (S.CACHE_HIT, S.USAGE)}  # noqa: E731
    assert [strip(r) for r in b] == [strip(r) for r in a]
    assert all(r[S.CACHE_HIT] for r in b)
    assert json.loads(b[0][S.USAGE])["cached"] is True


def test_http_failure_is_an_error_row(server):
    server.set_script([Reply(status=503, error_message="overloaded")])
    stage = _stage(server)
    try:
        rows = stage.process(_batch(SEEDS[:1])).to_pylist()
    finally:
        stage.close()
    assert [(r[S.PAIR_INDEX], r[S.ERROR_KIND], r[S.ERROR]) for r in rows] == [
        (-1, "http_5xx", "http_5xx: HTTP 503 server_error overloaded (after 0 retries)")
    ]
    assert rows[0][S.RAW_OUTPUT] is None


def test_missing_columns_are_named(server):
    stage = _stage(server)
    batch = _batch(SEEDS[:1])
    del batch[S.TEXT], batch[S.DATE]
    try:
        with pytest.raises(InputError, match=r"missing column\(s\) \['text', 'date'\]"):
            stage.process(batch)
    finally:
        stage.close()
    assert server.count() == 0


def test_dropping_the_stage_closes_client_and_cache(server, tmp_path):
    # Ray Data never calls close(): it drops the UDF when the actor exits. Dropping must close
    # the connections and drain the cache writer, and a second close() is harmless.
    stage = _stage(server, cache_uri=str(tmp_path / "cache"))
    client, cache = stage.client, stage.cache
    rows = asyncio.run(stage(_batch(SEEDS[:1]))).to_pylist()  # as Ray Data calls it: on its own loop
    assert [r[S.PAIR_INDEX] for r in rows] == [0, 1, 2]
    assert (client._closed, cache._closed) == (False, False)
    del stage
    gc.collect()
    assert (client._closed, cache._closed) == (True, True)
    again = _stage(server, cache_uri=str(tmp_path / "cache"))
    again.close()
    again.close()
    assert server.count() == 1


def test_carry_text_adds_the_cut_seed_text_for_the_judge(server):
    long = "Éischte Paragraph iwwer de Stauséi.\n\n" + "Zweete Paragraph. " * 40
    stage = _stage(server, max_source_chars=60, carry_text=True)
    try:
        out = stage.process(_batch(SEEDS[:1], text=long))
    finally:
        stage.close()
    assert out.schema.names == [*S.PAIR_SCHEMA.names, S.TEXT]
    # the text as the generator saw it: cut at the paragraph boundary, the same on every row
    assert set(out.column(S.TEXT).to_pylist()) == {"Éischte Paragraph iwwer de Stauséi."}


def test_map_batches_args_hold_rows_per_slot_times_the_in_flight_count():
    from luxit_ray.config.llm import GenerateConfig, JudgeConfig

    endpoints = {"a": EndpointConfig(base_url="http://x/v1", model="m", max_in_flight=256),
                 "b": EndpointConfig(base_url="http://y/v1", model="n", max_in_flight=100)}
    g = GenerateStage.map_batches_args(GenerateConfig(endpoint="a", concurrency=4, batch_size=64), endpoints)
    assert (g["compute"].min_size, g["compute"].max_size) == (4, 4)
    # 16 rows per slot x 256 slots / 64 rows per call = 64 calls at once, and no more sent
    assert (g["compute"].max_concurrent_calls_per_actor, g["compute"].max_tasks_in_flight_per_actor) == (64, 64)
    assert (g["batch_size"], g["num_cpus"], g["batch_format"]) == (64, 0.25, "pyarrow")
    assert calls_at_once(g) == 4 * 64
    from luxit_ray.stages.judge import JudgeStage

    j = JudgeStage.map_batches_args(JudgeConfig(judges=[{"name": "x", "endpoint": "a"}, {"name": "y", "endpoint": "b"}],
                                                batch_size=48, rows_per_slot=2.5, num_cpus=0.5), endpoints)
    # the largest in-flight count of its judges' endpoints: ceil(2.5 x 256 / 48) = 14
    assert j["compute"].max_concurrent_calls_per_actor == 14 and j["compute"].min_size == 1
    assert (j["batch_size"], j["num_cpus"]) == (48, 0.5)


def test_the_chain_lets_a_task_yield_as_many_blocks_as_its_pools_take_at_once():
    import ray
    from ray.data._internal.execution import metadata_fetcher

    from luxit_ray.steps.runner import _llm_data_context

    ctx = ray.data.DataContext.get_current()

    def settings() -> tuple:
        return (ctx.wait_for_min_actors_s, ctx._max_num_blocks_in_streaming_gen_buffer,
                ctx.memory_usage_poll_interval_s, metadata_fetcher._PREFETCH_ON_THREAD)

    before = settings()
    assert before[2] == 1  # Ray's default: a memory-polling thread per running task, every second
    with _llm_data_context(blocks_ahead=256):
        # Ray's default of 2 blocks fed the pool ~9 calls a second (BENCHMARKS.md), and so did
        # fetching block metadata on a thread (one block of a task pulled per scheduling round);
        # an LLM actor runs dozens of calls at once, so no poller per call either
        assert settings()[:3] == (900, 256, None)
        assert isinstance(metadata_fetcher.make_metadata_fetcher(), metadata_fetcher.InlineMetadataFetcher)
    assert settings() == before
    with _llm_data_context(blocks_ahead=1):
        assert ctx._max_num_blocks_in_streaming_gen_buffer == 2  # never below Ray's default


def test_default_batch_size_is_a_quarter_of_the_slots():
    from luxit_ray.config.llm import GenerateConfig

    def args(max_in_flight: int) -> dict:
        eps = {"a": EndpointConfig(base_url="http://x/v1", model="m", max_in_flight=max_in_flight)}
        return GenerateStage.map_batches_args(GenerateConfig(endpoint="a"), eps)

    # a quarter of the slots, 16..128 rows per call: 64 calls per actor at rows_per_slot 16 between
    assert [(a["batch_size"], a["compute"].max_concurrent_calls_per_actor) for a in map(args, (16, 256, 1024, 4096))] == [
        (16, 16), (64, 64), (128, 128), (128, 512)]


def test_rows_held_by_stragglers_per_slot_against_the_ceiling(caplog):
    from luxit_ray.config import job_from_dict
    from luxit_ray.steps.generate import GenerateStep
    from luxit_ray.steps.judge import JudgeStep
    from luxit_ray.steps.runner import stragglers

    ep = {"base_url": "http://x/v1", "max_in_flight": 256}
    cfg = job_from_dict({"endpoints": {"g": {**ep, "model": "gm"}, "j": {**ep, "model": "jm"}},
                         "generate": {"endpoint": "g", "concurrency": 4, "batch_size": 64},
                         "judge": {"judges": [{"name": "a", "endpoint": "j"}], "concurrency": 4, "batch_size": 64,
                                   "rows_per_slot": 8}})
    chain = [GenerateStep(cfg), JudgeStep(cfg)]
    # 1,024 slots per step over 100 s: 3 rows per slot waited in generate's calls, 7 in the judge's.
    snapshot = {"by_stage": {"generate": {"gm": {"straggler_row_s": 3.0 * 1024 * 100}},
                             "judge:a": {"jm": {"straggler_row_s": 7.0 * 1024 * 100}}}}
    with caplog.at_level("WARNING", logger="luxit_ray.steps.runner"):
        out = stragglers(cfg, chain, snapshot, 100.0)
    assert out == {"generate": {"rows_held_per_slot": 3.0, "rows_per_slot": 16.0},
                   "judge": {"rows_held_per_slot": 7.0, "rows_per_slot": 8.0}}
    # The judge's need (its own row + 7) is near its ceiling of 8: one warning, with what to set.
    assert [r.getMessage() for r in caplog.records] == [
        "judge: calls waiting for their slowest answer held 7.0 rows per request slot, near the ceiling of 8 "
        "(judge.rows_per_slot): slots may have idled; set it to 16 or more"]
