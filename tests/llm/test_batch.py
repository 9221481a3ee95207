"""Batch mode against the real local files + batches server (tests/batch_server.py): input files
split at both limits and by model, the outbox, every batch status, state written before the
first poll, re-attaching by metadata, per-line errors, and the batch price in the ledger."""

from __future__ import annotations

import json
import pickle
import threading
import time
from pathlib import Path
from types import SimpleNamespace

from luxit_ray import runs
from luxit_ray.config.llm import EndpointConfig
from luxit_ray.llm.batch import (
    META_RUN,
    META_SHA,
    META_STEP,
    BatchAPI,
    Outbox,
    apply_results,
    batch_line,
    build_batch_files,
    read_batch_file,
    read_outbox,
)
from luxit_ray.llm.cache import RequestCache
from luxit_ray.llm.request import body_key
from luxit_ray.llm.spend import Ledger
from luxit_ray.steps.batch import BatchState, run_batch_pass
from tests.batch_server import start_batch_server
from tests.openai_server import Reply

USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
         "prompt_tokens_details": {"cached_tokens": 200}}


def _body(i: int, model: str = "m") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": f"Fro {i}"}]}


def _requests(base_url: str, n: int, model: str = "m") -> dict[str, dict]:
    return {body_key(base_url, _body(i, model)): _body(i, model) for i in range(n)}


def _script(req):
    if "Fro 13" in req.user_text:
        return Reply(status=400, error_message="bad one")
    return Reply(content="Äntwert op " + req.user_text, usage=USAGE)


# ---- files ---------------------------------------------------------------------------------


def test_files_split_at_the_request_limit_sorted_by_key():
    reqs = _requests("http://x/v1", 7)
    files, too_large = build_batch_files(reqs, max_requests=3, max_bytes=10**6)
    assert [len(f.keys) for f in files] == [3, 3, 1]
    assert [k for f in files for k in f.keys] == sorted(reqs)
    assert too_large == []
    line = json.loads(files[0].data.split(b"\n")[0])
    assert line == {"custom_id": files[0].keys[0], "method": "POST", "url": "/v1/chat/completions",
                    "body": reqs[files[0].keys[0]]}
    # the same requests give the same files (a file's sha256 names it across reruns)
    assert [f.sha256 for f in build_batch_files(dict(reversed(reqs.items())), max_requests=3,
                                                max_bytes=10**6)[0]] == [f.sha256 for f in files]


def test_files_split_at_the_byte_limit_and_too_large_lines_left_out():
    reqs = _requests("http://x/v1", 5)
    size = len(batch_line(next(iter(reqs)), next(iter(reqs.values()))))
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 5000}]}
    reqs["f" * 64] = big
    files, too_large = build_batch_files(reqs, max_requests=100, max_bytes=2 * size + 1)
    assert [len(f.keys) for f in files] == [2, 2, 1]
    assert all(len(f.data) <= 2 * size + 1 for f in files)
    assert too_large == ["f" * 64]


def test_one_model_per_file_and_cached_keys_skipped():
    reqs = {**_requests("http://x/v1", 3, "a"), **_requests("http://x/v1", 2, "b")}
    skip = {sorted(_requests("http://x/v1", 3, "a"))[0]}
    files, _ = build_batch_files(reqs, max_requests=10, max_bytes=10**6, skip=skip)
    assert [(f.model, len(f.keys)) for f in files] == [("a", 2), ("b", 2)]
    for f in files:
        assert {b["model"] for b in read_batch_file(f.data).values()} == {f.model}
    assert not skip & {k for f in files for k in f.keys}


def test_outbox_collects_from_threads_and_pickled_copies(tmp_path):
    box = Outbox(str(tmp_path / "box"))
    reqs = _requests("http://x/v1", 40)
    items = list(reqs.items())
    threads = [threading.Thread(target=lambda part=items[i::4]: [box.add(k, b) for k, b in part]) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    copy = pickle.loads(pickle.dumps(box))  # as an actor gets it: its own file, same folder
    copy.add(items[0][0], items[0][1])  # a duplicate key
    copy.close()
    box.close()
    assert len(list((tmp_path / "box").glob("*.jsonl"))) == 2
    with (tmp_path / "box" / "torn.jsonl").open("wb") as f:
        f.write(b'{"k": "ab", "b"')  # a line torn by a kill
    assert read_outbox(str(tmp_path / "box")) == reqs


# ---- the pre-pass against the server --------------------------------------------------------


def _setup(tmp_path: Path, base_url: str, n: int, **ep_kw):
    ep = EndpointConfig(base_url=base_url, model="m", mode="batch", batch_poll_s=0.05, max_retries=0,
                        price_input_per_mtok=2.0, price_cached_input_per_mtok=1.0, price_output_per_mtok=8.0,
                        **ep_kw)
    cfg = SimpleNamespace(endpoints={"jb": ep})
    section = SimpleNamespace(judges=[SimpleNamespace(name="j", endpoint="jb")])
    step = SimpleNamespace(name="judge", cfg=cfg, section=section, endpoint_names=lambda: ["jb"])
    run = runs.RunDir(tmp_path / "run-1")
    run.fs.create_dir(run.root, recursive=True)
    reqs = _requests(base_url, n)
    files, _ = build_batch_files(reqs, max_requests=ep.batch_max_requests, max_bytes=ep.batch_max_bytes)
    BatchState(run, "judge").add_round(1, [("jb", f) for f in files])  # what the collect pass leaves
    ledger = Ledger.for_run(run, 1)
    shared = {"cache_uri": str(tmp_path / "cache"), "ledger": ledger}
    return cfg, step, run, reqs, shared, ledger


def _cached(shared) -> dict:
    with RequestCache(shared["cache_uri"]) as cache:
        return {k.hex(): cache.get(k.hex()) for k in list(cache._index)}


def _lines(srv, batch_id: str | None = None) -> list[str]:
    return [e["custom_id"] for e in srv.events if e["event"] == "line" and batch_id in (None, e["batch_id"])]


def test_completed_batches_fill_the_cache_with_per_line_errors_left_live(tmp_path):
    with start_batch_server(_script, validate_s=0, run_s=0) as srv:
        cfg, step, run, reqs, shared, ledger = _setup(tmp_path, srv.base_url, 15, batch_max_requests=6)
        counts = run_batch_pass(cfg, step, run, shared)
        ledger.close()
        assert srv.count("batch_created") == 3 and srv.count("upload") == 3
        assert sorted(_lines(srv)) == sorted(reqs)  # every line answered once
    assert counts == {"batches": 3, "batches_by_status": {"completed": 3}, "rounds": 1, "requests": 15,
                      "requests_sent": 15, "answered": 14, "answered_before": 0, "resent": 0,
                      "line_errors": 1, "left_to_live": 1}
    cached = _cached(shared)
    bad = body_key(srv.base_url, _body(13))
    assert set(cached) == set(reqs) - {bad}  # the 400 line is not cached
    rec = cached[body_key(srv.base_url, _body(2))]
    assert rec["content"] == "Äntwert op Fro 2"
    assert rec["billing"] == {"sends": 1, "prompt_tokens": 1000, "cached_tokens": 200, "completion_tokens": 100,
                              "estimated_tokens": 0, "batch": True}
    assert (rec["paid"]["run_id"], rec["paid"]["attempt"]) == ("run-1", 1)
    # the ledger: one line per answer, at half the list price
    lines = ledger.read()
    assert len(lines) == 14
    # (800 uncached x $2 + 200 cached x $1 + 100 out x $8) / 1e6, times the batch factor 0.5
    assert {(x["stage"], x["endpoint"], x["model"], round(x["cost_usd"], 9)) for x in lines} == {
        ("judge:j", "jb", "m", 0.0013)}
    state = json.loads(run.read_text("batches/judge/state.json"))
    assert state["finished"] is True
    assert [f["status"] for f in state["files"]] == ["completed"] * 3
    # a rerun of the finished pre-pass sends nothing
    with start_batch_server(_script) as srv2:
        assert run_batch_pass(cfg, step, run, shared)["answered"] == 14
        assert srv2.events == []


def test_expired_batch_partial_output_used_and_rest_resent_in_a_batch(tmp_path):
    with start_batch_server(_script, outcomes=["expired:2"]) as srv:
        cfg, step, run, reqs, shared, ledger = _setup(tmp_path, srv.base_url, 5)
        counts = run_batch_pass(cfg, step, run, shared)
        ledger.close()
        created = [e for e in srv.events if e["event"] == "batch_created"]
        assert [e["lines"] for e in created] == [5, 3]
        assert sorted(_lines(srv)) == sorted(reqs)  # 2 in the expired batch, 3 in the resend
    assert counts["batches_by_status"] == {"completed": 1, "expired": 1}
    assert (counts["answered"], counts["resent"], counts["rounds"], counts["left_to_live"]) == (5, 3, 2, 0)
    assert set(_cached(shared)) == set(reqs)
    assert len(ledger.read()) == 5


def test_failed_batch_left_to_the_live_pass(tmp_path):
    with start_batch_server(_script, outcomes=["failed"]) as srv:
        cfg, step, run, reqs, shared, ledger = _setup(tmp_path, srv.base_url, 4, batch_resend="live")
        counts = run_batch_pass(cfg, step, run, shared)
        assert _lines(srv) == []
    assert counts["batches_by_status"] == {"failed": 1}
    assert (counts["answered"], counts["left_to_live"], counts["rounds"]) == (0, 4, 1)
    assert _cached(shared) == {}


def test_cancelled_batch_after_the_last_round_leaves_the_rest_live(tmp_path):
    with start_batch_server(_script, outcomes=["cancelled:1"]) as srv:
        cfg, step, run, reqs, shared, ledger = _setup(tmp_path, srv.base_url, 4, batch_max_rounds=1)
        counts = run_batch_pass(cfg, step, run, shared)
        assert len(_lines(srv)) == 1
    assert counts["batches_by_status"] == {"cancelled": 1}
    assert (counts["answered"], counts["left_to_live"], counts["resent"]) == (1, 3, 0)
    assert len(_cached(shared)) == 1


def test_batch_ids_in_the_state_before_polling_and_a_rerun_reattaches(tmp_path):
    with start_batch_server(_script, manual_clock=True, run_s=100) as srv:
        cfg, step, run, reqs, shared, ledger = _setup(tmp_path, srv.base_url, 6, batch_max_requests=3)
        done: list[dict] = []
        t = threading.Thread(target=lambda: done.append(run_batch_pass(cfg, step, run, shared)))
        t.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = json.loads(run.read_text("batches/judge/state.json"))
            if all(f["status"] == "in_progress" for f in state["files"]):
                break
            time.sleep(0.05)
        assert [f["batch_id"] for f in state["files"]] == ["batch-0002", "batch-0004"]
        assert _lines(srv) == []  # nothing answered while the batches run
        srv.advance(100)
        t.join(30)
        assert done[0]["answered"] == 6
        assert srv.count("batch_created") == 2


def test_a_batch_created_before_its_id_was_written_is_found_again(tmp_path):
    with start_batch_server(_script, manual_clock=True, run_s=10) as srv:
        cfg, step, run, reqs, shared, ledger = _setup(tmp_path, srv.base_url, 4)
        state = BatchState(run, "judge")
        entry = state.files[0]
        api = BatchAPI(cfg.endpoints["jb"], "jb")
        # the killed driver uploaded and created the batch, and died before writing its id
        fid = api.upload("x.jsonl", state.read_file(entry))
        api.create(fid, {META_RUN: "run-1", META_STEP: "judge", META_SHA: entry["sha256"]})
        api.create(fid, {META_RUN: "other-run", META_STEP: "judge", META_SHA: entry["sha256"]})
        srv.advance(10)
        counts = run_batch_pass(cfg, step, run, shared)
        assert (srv.count("upload"), srv.count("batch_created")) == (1, 2)
        assert sorted(_lines(srv, "batch-0002")) == sorted(reqs)
    assert counts["answered"] == 4
    assert json.loads(run.read_text("batches/judge/state.json"))["files"][0]["batch_id"] == "batch-0002"


def test_results_applied_twice_are_recorded_once(tmp_path):
    body = {"id": "c", "object": "chat.completion", "model": "m", "usage": USAGE,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "jo"}, "finish_reason": "stop"}]}
    out = b"".join(json.dumps(x).encode() + b"\n" for x in [
        {"custom_id": "aa", "response": {"status_code": 200, "body": body}, "error": None},
        {"custom_id": "bb", "response": {"status_code": 200, "body": {"not": "a completion"}}, "error": None},
    ])
    err = json.dumps({"custom_id": "cc", "response": None,
                      "error": {"code": "batch_expired", "message": "late"}}).encode() + b"\n"
    with RequestCache(str(tmp_path / "c")) as cache:
        first = apply_results(["aa", "bb", "cc", "dd"], "expired", out, err, cache=cache, run_id="r", attempt=2)
        again = apply_results(["aa", "bb", "cc", "dd"], "expired", out, err, cache=cache, run_id="r", attempt=3)
        assert cache.get("aa")["paid"]["attempt"] == 2
    assert (first.answered, first.resend, list(first.line_errors)) == (["aa"], ["cc", "dd"], ["bb"])
    assert (again.answered, again.already) == ([], ["aa"])
