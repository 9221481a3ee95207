"""Saved means saved: a SIGKILLed review server loses no acknowledged answer, and two reviewers
writing at once interleave whole lines."""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from pathlib import Path

from luxit_ray import schema as S
from luxit_ray.review import import_review_sheet
from luxit_ray.web.review_app import ReviewSession
from luxit_ray.web.store import AppendLog
from tests.fixtures_judged import write_judged_run
from tests.web.helpers import free_port, spawn_cli, stop


def _post(base: str, body: dict) -> int:
    req = urllib.request.Request(base + "/api/answer", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sigkill_mid_review_loses_no_saved_answer(tmp_path: Path):
    run = write_judged_run(tmp_path)
    port = free_port()
    proc = spawn_cli(["review", "serve", str(run), "--n", "20", "--seed", "0"], port)
    base = f"http://127.0.0.1:{port}"
    acked: dict[str, list[tuple[str, int]]] = {"anne": [], "ben": []}
    stop_flag = threading.Event()
    enough = threading.Event()

    def review(name: str) -> None:
        # Each reviewer keeps scoring (and re-scoring) while the server is killed under them.
        k = 0
        while not stop_flag.is_set():
            rid = f"R{k % 20 + 1:03d}"
            score = k // 20 % 3 + 1
            body = {"reviewer": name, "review_id": rid, **{c: score for c in S.CRITERIA}, "comment": f"{name} {k}"}
            try:
                if _post(base, body) == 200:
                    acked[name].append((rid, k))
            except OSError:
                return  # the server is gone
            k += 1
            if k >= 25 and name == "anne":
                enough.set()

    threads = [threading.Thread(target=review, args=(n,)) for n in acked]
    for t in threads:
        t.start()
    try:
        assert enough.wait(60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        stop_flag.set()
        for t in threads:
            t.join(30)
        stop(proc)

    records, torn = AppendLog(run / "review" / "web" / "answers.jsonl").read()
    assert torn == 0
    logged = {(r["reviewer"], r["comment"]) for r in records}
    for name, done in acked.items():
        # Every answer the server acknowledged is in the log, in order.
        assert {(name, f"{name} {k}") for _, k in done} <= logged
        mine = [int(r["comment"].split()[1]) for r in records if r["reviewer"] == name]
        assert mine == sorted(mine)
    assert len(acked["anne"]) >= 25

    # A restart rebuilds each reviewer's sheet from the log; the last answer per pair wins.
    session = ReviewSession(run)
    for name, done in acked.items():
        latest = {}
        for r in records:
            if r["reviewer"] == name:
                latest[r["review_id"]] = r
        assert session.state(name)["done"] == len(latest) >= len({rid for rid, _ in done})
        result = import_review_sheet(run, session.sheet_path(name))
        assert result.reviewed == len(latest)
        assert {r["review_id"]: r["human"]["linguistic_quality"] for r in result.rows} == \
            {rid: r["linguistic_quality"] for rid, r in latest.items()}


def test_torn_last_line_is_skipped_and_not_glued_to_the_next(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n{"b": 2, "tor', encoding="utf-8")
    log = AppendLog(path)
    log.append({"c": 3})
    assert path.read_text(encoding="utf-8") == '{"a": 1}\n{"b": 2, "tor\n{"c": 3}\n'
    assert log.read() == ([{"a": 1}, {"c": 3}], 1)


def test_two_writers_interleave_whole_lines(tmp_path: Path):
    path = tmp_path / "log.jsonl"
    logs = [AppendLog(path), AppendLog(path)]  # two servers on one file: the flock orders them

    def write(k: int) -> None:
        for i in range(100):
            logs[k].append({"writer": k, "i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=write, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records, torn = AppendLog(path).read()
    assert torn == 0
    assert sorted((r["writer"], r["i"]) for r in records) == [(k, i) for k in (0, 1) for i in range(100)]
