"""The durable request cache: hits spend nothing, kills leave readable segments, processes share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs

from luxit_ray.config.llm import SamplingConfig
from luxit_ray.llm import LLMClient, RequestCache, request_key
from tests.openai_server import Reply

ROOT = Path(__file__).resolve().parents[2]


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _segments(path: Path, suffix: str = ".jsonl") -> list[Path]:
    return sorted(p for p in path.iterdir() if p.name.endswith(suffix))


def test_second_identical_call_is_a_hit(openai_server, endpoint, tmp_path):
    openai_server.set_script(lambda req: Reply(content=f"A:{req.user_text}", reasoning_content="r",
                                               usage={"prompt_tokens": 11, "completion_tokens": 4}))
    ep = endpoint()
    cache = RequestCache(str(tmp_path / "cache"))
    client = LLMClient("local", ep, cache=cache)
    first = client.chat_many([(_user("x"), None), (_user("y"), None)])
    assert openai_server.count() == 2
    second = client.chat_many([(_user("x"), None), (_user("y"), None)])
    assert openai_server.count() == 2  # nothing sent
    assert [c.content for c in second] == ["A:x", "A:y"]
    assert all(c.cache_hit and c.retries == 0 for c in second)
    assert (second[0].reasoning, second[0].prompt_tokens, second[0].completion_tokens) == ("r", 11, 4)
    assert not any(c.cache_hit for c in first)
    # A different sampling parameter is a different request.
    client.chat_many([(_user("x"), None)], sampling=SamplingConfig(temperature=0.1))
    assert openai_server.count() == 3
    snap = client.accountant.snapshot()["total"]
    assert (snap["requests"], snap["cache_hits"], snap["prompt_tokens"]) == (3, 2, 33)
    client.close()
    cache.close()
    # A reader opened later sees every record, through the index files alone.
    again = RequestCache(str(tmp_path / "cache"))
    assert len(again) == 3 and again.entries_loaded == 3 and again.torn_lines == 0
    key = request_key(ep.base_url, "test-model", _user("y"))
    assert again.get(key)["content"] == "A:y"
    again.close()


def test_only_billed_responses_are_recorded(openai_server, endpoint, tmp_path):
    cache = RequestCache(str(tmp_path))
    client = LLMClient("local", endpoint(max_retries=0), cache=cache)
    openai_server.set_script(lambda req: {
        "5xx": Reply(status=503), "ctx": Reply(status=400, error_message="maximum context length"),
        "len": Reply(content="abgeschn", finish_reason="length"), "empty": Reply(content=""),
    }[req.user_text])
    reqs = [(_user(t), None) for t in ("5xx", "ctx", "len", "empty")]
    kinds = [c.error_kind for c in client.chat_many(reqs)]
    assert kinds == ["http_5xx", "context_length", "length", "empty"]
    again = client.chat_many(reqs)
    assert [c.cache_hit for c in again] == [False, False, True, True]
    assert again[2].content == "abgeschn" and again[2].error_kind == "length"
    assert openai_server.count() == 6
    client.close()
    cache.close()


def test_torn_last_line_and_lost_index(tmp_path):
    cache = RequestCache(str(tmp_path))
    for i in range(3):
        cache.put(f"{i:064x}", {"content": f"v{i}"})
    cache.close()
    (seg,) = _segments(tmp_path)
    (idx,) = _segments(tmp_path, ".idx")
    # kill -9 mid-write: a record without its index line, then a torn line without newline.
    with open(seg, "ab") as f:
        f.write(json.dumps({"k": f"{7:064x}", "v": {"content": "v7"}}).encode() + b"\n")
        f.write(b'{"k": "' + f"{8:064x}".encode() + b'", "v": {"cont')
    with open(idx, "ab") as f:
        f.write(b"00ab 12")  # torn index line
    reopened = RequestCache(str(tmp_path))
    assert reopened.torn_lines == 1
    assert len(reopened) == 4
    assert [reopened.get(f"{i:064x}")["content"] for i in (0, 1, 2, 7)] == ["v0", "v1", "v2", "v7"]
    assert reopened.get(f"{8:064x}") is None
    # New records go to a new segment; the torn one is never appended to again.
    reopened.put(f"{9:064x}", {"content": "v9"})
    reopened.close()
    assert len(_segments(tmp_path)) == 2
    # With the index files gone, the data alone rebuilds everything.
    for p in _segments(tmp_path, ".idx"):
        p.unlink()
    rebuilt = RequestCache(str(tmp_path))
    assert len(rebuilt) == 5 and rebuilt.torn_lines == 1
    assert rebuilt.get(f"{9:064x}") == {"content": "v9"}
    rebuilt.close()


_WRITER = """
import sys
from luxit_ray.llm import RequestCache
cache = RequestCache(sys.argv[1])
start = int(sys.argv[2])
for i in range(start, start + 200):
    cache.put(f"{i:064x}", {"content": "p" + str(i), "pad": "x" * (i % 50)})
print(len(cache))
cache.close()
"""


def test_shared_by_two_processes(tmp_path):
    uri = str(tmp_path / "shared")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, uri, str(start)], env=env, stdout=subprocess.PIPE, text=True)
        for start in (0, 200)
    ]
    # This process writes too, at the same time.
    mine = RequestCache(uri)
    for i in range(400, 450):
        mine.submit(f"{i:064x}", {"content": f"p{i}"})
    mine.flush()
    assert [p.wait(60) for p in procs] == [0, 0]
    mine.close()
    reader = RequestCache(uri)
    assert len(reader) == 450 and reader.torn_lines == 0
    assert all(reader.get(f"{i:064x}")["content"] == f"p{i}" for i in range(450))
    assert len(_segments(tmp_path / "shared")) == 3  # one segment per writer process
    reader.close()


def test_object_store_mode_writes_immutable_segments():
    fs = pafs._MockFileSystem()
    cache = RequestCache("bucket/llm", filesystem=fs, flush_every=2, flush_interval_s=60)
    assert not cache.local
    f1 = cache.submit("aa" * 32, {"content": "1"})
    f2 = cache.submit("bb" * 32, {"content": "2"})
    f1.result(10)  # resolves once the first segment object (2 records) is written
    f2.result(10)
    cache.submit("cc" * 32, {"content": "3"})
    cache.close()  # writes the last, partial segment
    names = sorted(i.base_name for i in fs.get_file_info(pafs.FileSelector("bucket/llm")))
    assert len([n for n in names if n.endswith(".jsonl")]) == 2
    reader = RequestCache("bucket/llm", filesystem=fs)
    assert [reader.get(k * 32)["content"] for k in ("aa", "bb", "cc")] == ["1", "2", "3"]
    reader.close()


def test_request_key_is_canonical():
    m1 = [{"role": "user", "content": "a"}]
    m2 = [{"content": "a", "role": "user"}]
    k = request_key("http://h/v1/", "m", m1, SamplingConfig(temperature=0.5))
    assert k == request_key("http://h/v1", "m", m2, {"temperature": 0.5})
    assert k != request_key("http://h/v1", "m", m1, SamplingConfig(temperature=0.6))
    assert k != request_key("http://h/v1", "m2", m1, SamplingConfig(temperature=0.5))
    assert k != request_key("http://h/v1", "m", m1, SamplingConfig(temperature=0.5), {"type": "json_object"})
    assert len(k) == 64


_CLIENT = """
import sys
from luxit_ray.config.llm import EndpointConfig
from luxit_ray.llm import LLMClient, RequestCache
base_url, uri = sys.argv[1], sys.argv[2]
client = LLMClient("local", EndpointConfig(base_url=base_url, model="m", max_in_flight=4), cache=RequestCache(uri))
comps = client.chat_many([([{"role": "user", "content": f"Fro {i}"}], None) for i in range(40)])
assert all(c.error is None for c in comps), [c.error for c in comps if c.error]
print(sum(c.cache_hit for c in comps))
"""


def test_kill_9_then_rerun_pays_nothing_twice(tmp_path):
    """A client killed with requests in flight; the rerun re-sends only unrecorded requests."""
    import signal
    import time

    from tests.openai_server import read_log, spawn_server

    uri, log = str(tmp_path / "cache"), tmp_path / "requests.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with spawn_server(latency=0.25, log_path=log) as srv:
        proc = subprocess.Popen([sys.executable, "-c", _CLIENT, srv.base_url, uri], env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or len(read_log(log)) < 18):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        recorded = RequestCache(uri)
        recorded_keys = {k for k in (e["key"] for e in read_log(log)) if k in recorded}
        recorded.close()
        first_run = read_log(log)
        assert 12 <= len(recorded_keys) < 40 and len(first_run) < 40
        rerun = subprocess.run([sys.executable, "-c", _CLIENT, srv.base_url, uri], env=env,
                               capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert int(rerun.stdout.strip()) == len(recorded_keys)  # answered from the cache
        second_run = read_log(log)[len(first_run):]
    sent_again = [e["key"] for e in second_run]
    assert not set(sent_again) & recorded_keys  # nothing recorded was paid twice
    assert len(sent_again) == len(set(sent_again)) == 40 - len(recorded_keys)
    # Sent twice: only requests that were in flight at the kill (at most max_in_flight).
    first_keys = [e["key"] for e in first_run]
    assert len(set(first_keys) - recorded_keys) <= 4
    final = RequestCache(uri)
    assert len(final) == 40
    final.close()


# ---- every lookup sees what any process recorded ------------------------------------------


def test_a_miss_reads_what_another_open_cache_recorded(tmp_path):
    uri = str(tmp_path / "c")
    reader = RequestCache(uri, refresh_interval_s=0)  # opened first: the record is not there yet
    writer = RequestCache(uri)
    writer.put("aa" * 32, {"content": "first"})
    assert reader.get("aa" * 32) == {"content": "first"}
    writer.put("bb" * 32, {"content": "second"})
    assert reader.get("bb" * 32) == {"content": "second"}
    # Only the appended bytes of the writer's index were read each time.
    idx = _segments(tmp_path / "c", ".idx")
    assert len(idx) == 1
    assert reader._idx_read == {idx[0].name: idx[0].stat().st_size}
    assert reader.get("cc" * 32) is None
    assert reader.refresh() == 0  # nothing new
    writer.close()
    reader.close()


def test_refreshes_are_rate_limited(tmp_path):
    uri = str(tmp_path / "c")
    reader = RequestCache(uri, refresh_interval_s=3600)
    writer = RequestCache(uri)
    writer.put("aa" * 32, {"content": "x"})
    assert reader.get("aa" * 32) is None  # the last look is too recent
    assert reader.refreshes == 0
    assert reader.refresh() == 1
    assert reader.get("aa" * 32) == {"content": "x"}
    writer.close()
    reader.close()


def test_a_half_written_index_line_waits_for_its_end(tmp_path):
    root = tmp_path / "c"
    reader = RequestCache(str(root), refresh_interval_s=0)
    line = json.dumps({"k": "dd" * 32, "v": {"content": "late"}}).encode() + b"\n"
    (root / "other-1-x.jsonl").write_bytes(line)
    entry = f"{'dd' * 32} 0 {len(line)}\n".encode()
    (root / "other-1-x.idx").write_bytes(entry[:40])
    assert reader.get("dd" * 32) is None
    with open(root / "other-1-x.idx", "ab") as f:
        f.write(entry[40:])
    assert reader.get("dd" * 32) == {"content": "late"}
    assert reader._idx_read["other-1-x.idx"] == len(entry)
    reader.close()


def test_object_store_reader_sees_segments_written_after_it_opened():
    fs = pafs._MockFileSystem()
    reader = RequestCache("bucket/llm", filesystem=fs, refresh_interval_s=0)
    writer = RequestCache("bucket/llm", filesystem=fs, flush_every=1, flush_interval_s=60)
    writer.put("aa" * 32, {"content": "1"})
    assert reader.get("aa" * 32) == {"content": "1"}
    writer.put("bb" * 32, {"content": "2"})
    assert reader.get("bb" * 32) == {"content": "2"}
    assert len(reader._idx_read) == 2  # one immutable index object per flush, each read once
    writer.close()
    reader.close()


def test_a_rerun_on_another_running_actor_pays_nothing(openai_server, endpoint, tmp_path):
    # Two actors' clients, both opened before either sent anything: the second is asked the
    # request the first already paid for (as when Ray reruns a call on another actor).
    openai_server.set_script(lambda req: Reply(content=f"A:{req.user_text}"))
    ep = endpoint()
    first = LLMClient("local", ep, cache=RequestCache(str(tmp_path / "cache"), refresh_interval_s=0))
    second_cache = RequestCache(str(tmp_path / "cache"), refresh_interval_s=0)
    second = LLMClient("local", ep, cache=second_cache)
    first.chat_many([(_user("x"), None)])
    assert openai_server.count() == 1
    again = second.chat_many([(_user("x"), None)])
    assert openai_server.count() == 1
    assert again[0].content == "A:x" and again[0].cache_hit
    first.close()
    second.close()
    first.cache.close()
    second_cache.close()
