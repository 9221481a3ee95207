"""Runs and the request cache on an object store: ``s3://`` against a real local S3-compatible
server (moto in server mode), with a SIGKILL of a streamed ``luxit run`` and a rerun.

Object stores are what a cluster shares between nodes. The run folder (seeds in, pairs, judged,
kept out, markers, manifest) and the request cache live in one bucket; the cache buffers records
and writes immutable segment objects, so what was flushed before the kill is all a rerun may
reuse, and the server's log must show none of it sent again.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from luxit_ray import runs
from luxit_ray import schema as S
from tests.integration.test_generate_judge import endpoint, write_job
from tests.killed_jobs import kill_tagged, luxit_cli, tagged_pids
from tests.openai_server import read_log, spawn_server

pytestmark = pytest.mark.slow

N_SEEDS = 16
LATENCY_S = 1.0
BUCKET = "luxit"


@pytest.fixture()
def s3(monkeypatch):
    """A moto S3 server on a free port; yields (filesystem, query string for URIs)."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           access_key="testing", secret_key="testing", allow_bucket_creation=True)
    fs.create_dir(BUCKET)
    try:
        yield fs, f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    finally:
        server.stop()


def script(req) -> dict[str, Any]:
    """Three pairs per seed; the judge keeps pair 1 and 2 and rejects pair 0 (factual accuracy 1)."""
    if req.model == "judge-model":
        first = "Fro 0 " in req.user_text
        scores = {c: 3 for c in S.CRITERIA}
        if first:
            scores["factual_accuracy"] = 1
        return {"content": json.dumps(scores)}
    title = req.user_text.split("title: ", 1)[1].split(";", 1)[0].split(")", 1)[0]
    pairs = [{"instruction": f"Fro {i} iwwer {title}?", "response": f"Äntwert {i} iwwer {title}."} for i in range(3)]
    return {"content": json.dumps({"pairs": pairs}, ensure_ascii=False)}


def _seeds(fs: pafs.S3FileSystem) -> None:
    rows = [{S.DOC_ID: f"s3:{i}", S.SOURCE: "s3", S.SOURCE_TYPE: "news", S.TITLE: f"T{i}",
             S.TEXT: f"T{i}. D'Musel fléisst duerch Gréiwemaacher a Réimech.", S.DATE: None, S.URL: None,
             S.PAGE_KIND: None, S.METADATA: "{}", S.ORIGIN: f"s3:{i}"} for i in range(N_SEEDS)]
    base = f"{BUCKET}/runs/itest-1/{runs.SEEDS}"
    fs.create_dir(base)
    pq.write_table(pa.Table.from_pylist(rows, schema=S.DOCUMENT_SCHEMA), f"{base}/part-0.parquet", filesystem=fs)
    with fs.open_output_stream(f"{base}/{runs.MARKER}") as f:
        f.write(b"{}")


def _cache_keys(fs: pafs.S3FileSystem) -> set[str]:
    keys = set()
    infos = fs.get_file_info(pafs.FileSelector(f"{BUCKET}/cache", allow_not_found=True))
    for info in infos:
        if info.path.endswith(".jsonl"):
            with fs.open_input_stream(info.path) as f:
                for line in f.read().decode().splitlines():
                    keys.add(json.loads(line)["k"])
    return keys


def _rows(fs: pafs.S3FileSystem, folder: str) -> list[dict[str, Any]]:
    run = runs.RunDir(f"{BUCKET}/runs/itest-1", filesystem=fs)
    return run.dataset(folder).to_table().to_pylist()


def test_streamed_run_on_s3_killed_and_rerun(ray_local, tmp_path, s3):
    fs, query = s3
    _seeds(fs)
    req_log = tmp_path / "requests.jsonl"
    out_log = tmp_path / "cli.log"
    tag = uuid.uuid4().hex
    try:
        with spawn_server(latency=LATENCY_S, log_path=req_log, script=f"{__name__}:script") as srv:
            eps = {"gen": endpoint(srv.base_url, "gen-model", max_in_flight=2, timeout_s=30),
                   "judge": endpoint(srv.base_url, "judge-model", max_in_flight=2, timeout_s=30)}
            job = write_job(tmp_path, eps, generate={"endpoint": "gen", "batch_size": 2},
                            judge={"judges": [{"name": "j", "endpoint": "judge"}], "batch_size": 2})
            data = job.read_text().replace(f"output_dir: {tmp_path / 'runs'}", f"output_dir: s3://{BUCKET}/runs?{query}")
            data += f"cache:\n  uri: s3://{BUCKET}/cache?{query}\n"
            job.write_text(data)

            proc = luxit_cli("run", job, tag, out_log)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                recorded = _cache_keys(fs)  # flushed segment objects only
                sent = {e["key"] for e in read_log(req_log)}
                if len(recorded) >= 4 and sent - recorded:
                    break
                assert proc.poll() is None, f"the job ended before it could be killed:\n{out_log.read_text()[-3000:]}"
                time.sleep(0.2)
            else:
                pytest.fail(f"no point to kill within 300 s:\n{out_log.read_text()[-3000:]}")
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            kill_tagged(tag, proc.pid)
            time.sleep(LATENCY_S + 0.5)
            recorded_at_kill = _cache_keys(fs)
            before = read_log(req_log)
            run = runs.RunDir(f"{BUCKET}/runs/itest-1", filesystem=fs)
            assert not run.is_done(runs.JUDGED)

            proc = luxit_cli("run", job, tag, out_log)
            assert proc.wait(600) == 0, out_log.read_text()[-3000:]
            kill_tagged(tag)
            after = read_log(req_log)[len(before):]
    finally:
        kill_tagged(tag)
    assert not tagged_pids(tag)

    assert [e for e in after if e["key"] in recorded_at_kill] == []
    sends = Counter(e["key"] for e in before + after)
    assert len(sends) == N_SEEDS * 4  # 16 generator + 48 judge requests
    unrecorded_before = {e["key"] for e in before} - recorded_at_kill
    assert {k: n for k, n in sends.items() if n != 1} == {k: 2 for k in unrecorded_before}

    assert run.is_done(runs.PAIRS) and run.is_done(runs.JUDGED) and run.is_done(runs.KEPT)
    pairs, judged = _rows(fs, runs.PAIRS), _rows(fs, runs.JUDGED)
    kept, rejected = _rows(fs, runs.KEPT), _rows(fs, runs.REJECTED_PAIRS)
    assert len(pairs) == len(judged) == 48 and len({r[S.PAIR_ID] for r in judged}) == 48
    assert (len(kept), len(rejected)) == (32, 16)
    assert {r[S.PAIR_INDEX] for r in rejected} == {0}
    m = run.manifest()["steps"]
    assert (m["generate"]["seeds"], m["generate"]["pairs"], m["judge"]["kept"]) == (16, 48, 32)
    assert m["generate"]["cache_hits"] + m["judge"]["cache_hits"] == len(recorded_at_kill)
    # nothing of the run was written to local disk
    assert not (tmp_path / "runs").exists()
