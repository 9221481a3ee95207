"""Throughput of the real LLM steps (``run_generate``, ``run_judge``, and both streamed as in
``luxit run``) on Ray Data against a local OpenAI-protocol endpoint process.

What a user runs, end to end: seeds as Parquet in a run folder, the job config, the real stages
with the request cache on, the write of every output folder. The endpoint
(``tests/openai_server.py`` in its own process) answers valid generator and judge replies
(``bench/scripted_llm.py``) after a fixed latency or a log-normal one (median, p99), and logs
the start and end of every answer; every figure below comes from that log:

- ``ideal``: requests x mean latency / (configured in-flight x wall), wall from the step's first
  request to its last response (Little's law: 1.0 means every slot was busy all the time);
  requests are the answers the client waited for, the mean latency is the mean of every answer
  time the endpoint drew (also for the sends a hedging client cancelled, ``--hedge``);
- ``attainable``: the same for a perfect client that sends each request once, refilling every
  slot the instant it frees, on the very same answer times (greedy list scheduling);
- in-flight percentiles (p5, p50, p95) sampled every 50 ms over the wall;
- ``tail_s``: seconds spent below 90% of the configured in-flight count (ramp-up included);
- client CPU per request: CPU seconds of this process and every process it started (Ray's
  GCS, raylet, workers, actors; not the endpoint), each sampled every 2 s from the run's start
  and once at its end (a process that lives under 2 s is missed), divided by the requests;
- a PNG of in-flight over time per run (``--png-dir``).

The client alone (``bench/llm_throughput.py``, our LLMClient with no Ray) is measured in the
same run at each configuration (``--client-only``), so the two can be compared side by side.

Usage::

    python bench/llm_stage_throughput.py                             # 20k seeds, four configurations
    python bench/llm_stage_throughput.py --seeds 2000 --configs 1024:2:fixed --modes two-pass
    python bench/llm_stage_throughput.py --modes streamed,two-pass --configs 1024:2:lognormal
    python bench/llm_stage_throughput.py --seeds 100000 --configs 4096:8:lognormal --hedge 0.75

A configuration is ``IN_FLIGHT:LATENCY_S:SHAPE`` with SHAPE ``fixed``, ``lognormal`` (median
LATENCY_S, p99 4x LATENCY_S: 2 s / 8 s as in the issue) or ``reasoning`` (the endpoint's
reasoning-model profile: answer time from the answer's length, median 2 s, p99 20 s, 0.1% of
answers at 60-120 s; LATENCY_S is then only a label). IN_FLIGHT is split over ``--actors``
actors per stage (``max_in_flight`` = IN_FLIGHT / actors).

A streamed run (``--modes streamed``, what ``luxit run`` does) also gets the judge's figure end
to end: its requests x mean answer time / (in flight x time from the run's first generate
request to the judge's last answer), beside what a perfect streamed client reaches on the same
draws (``streamed_bound``). ``--endpoint-alone`` measures in the same invocation what the local
endpoint can serve on this machine with nothing but a bare aiohttp loop in front of it, at the
in-flight count of both steps together, so a limit of the endpoint is not read as one of the
stages.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLE_S = 0.05
# The endpoint stands in for a remote server but shares this machine's cores with the job. Ray
# starts its workers (the stage actors) at niceness 15; the endpoint gets the same, so neither
# takes the cores from the other by priority (at niceness 0 it did: the actors' first requests
# waited ~1.5 s behind it and the driver at the start of a step).
ENDPOINT_NICE = int(os.environ.get("RAY_worker_niceness", "15"))
WORDS = ("d'Stad", "Lëtzebuerg", "Regierung", "Gemeng", "Schoul", "Bierger", "Projet", "Musel", "Éislek",
         "Minister", "Chamber", "Wee", "Geschicht", "Konscht", "Kultur", "Wirtschaft", "Ëmwelt", "Zuch")


def write_seeds(run_dir: Path, n: int, layout: str) -> None:
    """``seeds/`` of a run: ``n`` seed articles of 1.5-6k characters, in one file (``one``), in
    files of 100 rows (``many``), or one file of 80% plus small ones (``skewed``)."""
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    from luxit_ray import runs
    from luxit_ray import schema as S

    rng = random.Random(7)
    rows = []
    for i in range(n):
        para = " ".join(rng.choice(WORDS) for _ in range(rng.randint(200, 800))) + "."
        rows.append({S.DOC_ID: f"bench:{i}", S.SOURCE: "bench", S.SOURCE_TYPE: "news" if i % 3 else "wikipedia",
                     S.TITLE: f"Artikel {i}", S.TEXT: para, S.DATE: "2024-05-01T08:00:00" if i % 3 else None,
                     S.URL: None, S.PAGE_KIND: None, S.METADATA: "{}", S.ORIGIN: f"bench:{i}"})
    folder = run_dir / runs.SEEDS
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "one":
        chunks = [rows]
    elif layout == "many":
        chunks = [rows[i:i + 100] for i in range(0, n, 100)]
    else:
        cut = int(n * 0.8)
        chunks = [rows[:cut]] + [rows[i:i + 50] for i in range(cut, n, 50)]
    for k, chunk in enumerate(chunks):
        pq.write_table(pa.Table.from_pylist(chunk, schema=S.DOCUMENT_SCHEMA), folder / f"part-{k:05d}.parquet")
    (folder / runs.MARKER).write_text("{}", encoding="utf-8")


def job(out: Path, base_url: str, actors: int, in_flight: int, batch: int | None, latency: float,
        rows_per_slot: float | None = None, hedge: float | None = None, hedge_budget: float | None = None,
        hedge_copies: int | None = None, shape: str = "fixed") -> Any:
    """The job config of one measured run."""
    from luxit_ray.config import job_from_dict

    per_actor = max(1, in_flight // actors)
    # The reasoning profile's slowest answers take up to 120 s: the client must wait for them.
    timeout = 240.0 if shape == "reasoning" else max(60.0, latency * 20)
    ep = {"base_url": base_url, "structured_output": "json_schema", "max_in_flight": per_actor,
          "timeout_s": timeout, "max_retries": 4, "backoff_base_s": 0.2, "backoff_max_s": 2.0}
    if hedge:
        ep["hedge_quantile"] = hedge
        if hedge_budget:
            ep["hedge_budget"] = hedge_budget
        if hedge_copies:
            ep["hedge_copies"] = hedge_copies
    data = {
        "run": {"name": "bench", "output_dir": str(out), "run_id": "bench-1",
                "ray": {"num_cpus": max(4, actors)}},
        "endpoints": {"gen": {**ep, "model": "gen-model"}, "judge": {**ep, "model": "judge-model"}},
        "generate": {"endpoint": "gen", "concurrency": actors, "batch_size": batch, "max_error_rate": 0.0},
        "judge": {"judges": [{"name": "j", "endpoint": "judge"}], "concurrency": actors, "batch_size": batch,
                  "max_error_rate": 0.0},
    }
    if rows_per_slot:
        data["generate"]["rows_per_slot"] = data["judge"]["rows_per_slot"] = rows_per_slot
    return job_from_dict(data, source="bench")


def _pss(pid: int) -> int:
    """Proportional set size of a process in bytes, from /proc/PID/smaps_rollup (cheap)."""
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakPss:
    """Samples the PSS summed over a process tree (this process, Ray's processes, not the
    endpoint) every ``every_s`` seconds in a thread; ``peak`` in bytes, ``driver_peak`` for this
    process alone."""

    def __init__(self, root_pid: int, exclude: set[int], every_s: float = 2.0) -> None:
        import threading

        self.root_pid, self.exclude, self.every_s = root_pid, exclude, every_s
        self.peak = self.driver_peak = 0
        self.cpu: dict[int, tuple[str, float]] = {}  # pid -> (name, CPU seconds last seen)
        self.cpu0: dict[int, float] = {}  # pid -> CPU seconds when the measurement started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakPss:
        self.sample()
        # The driver (this process) and a warm cluster's processes ran before: count from here.
        self.cpu0 = {pid: sec for pid, (_, sec) in self.cpu.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # the processes' CPU up to the end

    def sample(self) -> None:
        import psutil

        root = psutil.Process(self.root_pid)
        total = 0
        for p in [root, *root.children(recursive=True)]:
            try:
                if p.pid in self.exclude or any(a.pid in self.exclude for a in p.parents()):
                    continue
                pss = _pss(p.pid)
                t = p.cpu_times()
                name = p.name() if p.pid != self.root_pid else "driver"
                self.cpu[p.pid] = (name, t.user + t.system)
            except (psutil.NoSuchProcess, psutil.AccessDenied, FileNotFoundError, ProcessLookupError):
                continue
            total += pss
            if p.pid == self.root_pid:
                self.driver_peak = max(self.driver_peak, pss)
        self.peak = max(self.peak, total)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def cpu_by_name(self) -> dict[str, float]:
        """CPU seconds per process name (Ray names its workers by task or actor) spent since the
        measurement started, as last sampled."""
        out: dict[str, float] = {}
        for pid, (name, sec) in self.cpu.items():
            key = name.split(" ")[0][:60]
            out[key] = round(out.get(key, 0.0) + sec - self.cpu0.get(pid, 0.0), 1)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children, from /proc (0 elsewhere)."""
    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def greedy_makespan(latencies: Any, in_flight: int) -> float:
    """When the last answer ends if every one of ``in_flight`` slots takes the next request the
    instant it frees, from t = 0 (greedy list scheduling, in the given order)."""
    slots = [0.0] * in_flight
    for d in latencies:
        heapq.heapreplace(slots, slots[0] + float(d))
    return max(slots)


def simulated_client(requests: int, in_flight: int, *, actors: int = 1, batch: int = 1, rows_per_slot: float = 1.0,
                     quantile: float | None = None, budget: float = 0.05, copies: int = 1,
                     p99_over_median: float = 4.0, seed: int = 0, draw: Any = None) -> tuple[float, int]:
    """Fraction of ideal, and copies sent, of a simulated client on ``requests`` log-normal
    answers (no start-up cost: every slot can be filled at t = 0).

    The defaults are one pool of ``in_flight`` slots refilled the instant one frees. With
    ``actors``, ``batch`` and ``rows_per_slot`` it is the stage as Ray Data runs it: the input cut
    into calls of ``batch`` requests, each call handed for good to the actor with the fewest calls
    running while that actor has fewer than ``rows_per_slot x slots / batch``, its requests queued
    for that actor's own slots, and a call done when its last request is. With ``quantile`` each
    actor hedges by the rules of :mod:`luxit_ray.llm.hedge`, the delay known from the start: a
    copy only into a slot of its actor that no queued request waits for, oldest straggler first,
    ``budget`` copies per request sent, up to ``copies`` per request, each once the newest send
    has waited the delay; the first answer wins and the other sends free their slots at once.
    The figure, like the benchmark's, is requests x mean drawn answer time (copies' draws
    included) / (in flight x wall)."""
    import math
    from collections import deque
    from statistics import NormalDist

    import numpy as np

    sigma = math.log(p99_over_median) / NormalDist().inv_cdf(0.99)
    delay = math.exp(sigma * NormalDist().inv_cdf(quantile)) if quantile else math.inf
    if draw is None:
        draws = iter(np.exp(sigma * np.random.default_rng(seed).standard_normal(requests * (copies + 1))).tolist())
    else:  # answer times from a profile: ``draw(rng)`` -> seconds
        rng = __import__("random").Random(seed)
        draws = iter([draw(rng) for _ in range(requests * (copies + 1))])
    slots_each = in_flight // actors
    most_calls = max(1, math.ceil(rows_per_slot * slots_each / batch))
    calls = math.ceil(requests / batch)
    free = [slots_each] * actors
    running = [0] * actors  # calls handed to each actor and not done
    queued: list[deque[int]] = [deque() for _ in range(actors)]
    turns: list[deque[int]] = [deque() for _ in range(actors)]
    credit = [0.0] * actors
    left_in_call: dict[int, int] = {}
    actor_of: dict[int, int] = {}
    send_of: dict[int, int] = {}  # live send -> its request
    sends_of: dict[int, list[int]] = {}  # unanswered request -> its sends
    n_copies: dict[int, int] = {}
    events: list[tuple[float, int, int]] = []  # (time, 0 answer | 1 delay passed, send or request)
    next_call, sent, drawn, end = 0, 0, 0.0, 0.0

    def send(a: int, req: int, now: float) -> None:
        nonlocal sent, drawn
        d = next(draws)
        free[a] -= 1
        sent += 1
        drawn += d
        send_of[sent] = req
        sends_of.setdefault(req, []).append(sent)
        heapq.heappush(events, (now + d, 0, sent))
        if quantile and n_copies.get(req, 0) < copies:
            heapq.heappush(events, (now + delay, 1, req))

    def fill(a: int, now: float) -> None:
        while free[a] and queued[a]:
            credit[a] += budget
            send(a, queued[a].popleft(), now)
        while free[a] and turns[a] and credit[a] >= 1.0:
            req = turns[a].popleft()
            if req in sends_of:  # still unanswered
                credit[a] -= 1.0
                n_copies[req] = n_copies.get(req, 0) + 1
                send(a, req, now)

    def hand_out(now: float) -> None:
        nonlocal next_call
        while next_call < calls:
            a = min(range(actors), key=running.__getitem__)
            if running[a] >= most_calls:
                return
            first, last = next_call * batch, min(requests, (next_call + 1) * batch)
            left_in_call[next_call] = last - first
            for req in range(first, last):
                actor_of[req] = a
                queued[a].append(req)
            running[a] += 1
            next_call += 1
            fill(a, now)

    hand_out(0.0)
    while events:
        now, kind, ident = heapq.heappop(events)
        if kind == 0:
            req = send_of.pop(ident, None)
            if req is None:  # a cancelled send
                continue
            a = actor_of[req]
            for other in sends_of.pop(req):
                send_of.pop(other, None)
                free[a] += 1
            end = now
            call = req // batch
            left_in_call[call] -= 1
            if not left_in_call[call]:
                running[a] -= 1
                hand_out(now)
            fill(a, now)
        elif ident in sends_of and n_copies.get(ident, 0) < copies:
            a = actor_of[ident]
            turns[a].append(ident)
            fill(a, now)
    return requests * (drawn / sent) / (in_flight * end), sum(n_copies.values())


def analyse(entries: list[dict[str, Any]], in_flight: int) -> dict[str, Any]:
    """Figures of one step from the endpoint's log entries of its model."""
    import numpy as np

    sent = [e for e in entries if "t_end" in e]  # every send held a slot, cancelled copies too
    ok = [e for e in sent if e.get("status") != "cancelled"]
    if not ok:
        return {"requests": 0}
    start = np.array([e["t"] for e in sent])
    end = np.array([e["t_end"] for e in sent])
    t0, t1 = float(start.min()), float(end.max())
    wall = t1 - t0
    # The endpoint's mean answer time from every answer time it drew, the sends a hedging client
    # cancelled included (the answers it waited for are the shorter of two draws).
    drawn = np.array([e.get("d", e["t_end"] - e["t"]) for e in sent])
    mean_latency = float(drawn.mean())
    grid = np.arange(t0, t1, SAMPLE_S)
    s_sorted, e_sorted = np.sort(start), np.sort(end)
    live = np.searchsorted(s_sorted, grid, side="right") - np.searchsorted(e_sorted, grid, side="right")
    below = float((live < 0.9 * in_flight).sum() * SAMPLE_S)
    # What a perfect client could reach with these very answer times: every slot refilled the
    # instant it frees, from t=0 (greedy list scheduling of the latencies in their start order).
    # The last answers of a step still end one latency after they start: with heavy tails or few
    # requests per slot this bound itself is below 1.
    # A client that sends each request once: its first sends only, in the order they started.
    once_draws = first_sends(sent)[1]
    best_wall = greedy_makespan(once_draws, in_flight)
    once = float(np.sum(once_draws))
    # Where the idle slot-seconds are: before the step first holds 90% of its slots (the ramp),
    # after it last does (the drain), and between.
    full = np.flatnonzero(live >= 0.9 * in_flight)
    idle = np.maximum(0, in_flight - live) * SAMPLE_S
    capacity = in_flight * wall
    ramp_i, drain_i = (int(full[0]), int(full[-1]) + 1) if full.size else (len(grid), len(grid))
    # The step's last answers: how many came from a request that was never copied.
    sends_per_key: dict[Any, int] = {}
    for e in sent:
        sends_per_key[e.get("key")] = sends_per_key.get(e.get("key"), 0) + 1
    last = sorted(ok, key=lambda e: e["t_end"])[-max(1, len(ok) // 1000):]
    return {
        "requests": len(ok),
        "cancelled": len(sent) - len(ok),
        "errors_answered": sum(1 for e in ok if e.get("status") != 200),
        "wall_s": round(wall, 2),
        "mean_latency_s": round(mean_latency, 3),
        "ideal": round(len(ok) * mean_latency / (in_flight * wall), 3) if wall else None,
        "attainable": round(once / (in_flight * best_wall), 3) if best_wall else None,
        "in_flight_p5": int(np.percentile(live, 5)),
        "in_flight_p50": int(np.percentile(live, 50)),
        "in_flight_p95": int(np.percentile(live, 95)),
        "tail_s": round(below, 1),
        "ramp_s": round(ramp_i * SAMPLE_S, 1),
        "drain_s": round(wall - drain_i * SAMPLE_S, 1),
        "idle_ramp": round(float(idle[:ramp_i].sum()) / capacity, 3),
        "idle_middle": round(float(idle[ramp_i:drain_i].sum()) / capacity, 3),
        "idle_drain": round(float(idle[drain_i:].sum()) / capacity, 3),
        "last_permille_never_copied": round(sum(1 for e in last if sends_per_key[e.get("key")] == 1) / len(last), 2),
        "series": (grid - t0, live),
    }


def perfect_bound(requests: int, in_flight: int, p99_over_median: float = 4.0, seed: int = 0) -> float:
    """Fraction of ideal a perfect client reaches on ``requests`` log-normal answers (p99 =
    ``p99_over_median`` x median; the figure does not depend on the median itself)."""
    import numpy as np

    sigma = np.log(p99_over_median) / 2.3263478740408408
    lat = np.exp(sigma * np.random.default_rng(seed).standard_normal(requests))
    return float(lat.sum() / (in_flight * greedy_makespan(lat, in_flight)))


def first_sends(entries: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """(start time, drawn answer time) of each request's first send, in the order they started."""
    seen: set[Any] = set()
    starts, draws = [], []
    for e in sorted((e for e in entries if "t_end" in e), key=lambda e: e["t"]):
        key = e.get("key")
        if key is None or key not in seen:
            seen.add(key)
            starts.append(e["t"])
            draws.append(e.get("d", e["t_end"] - e["t"]))
    return starts, draws


def streamed_bound(generate: list[float], judge: list[float], in_flight: int) -> float:
    """Fraction of ideal, end to end, of a perfect streamed client on these answer times.

    ``in_flight`` slots per step, each refilled the instant it frees: generate's requests from
    t = 0 in the given order; every generate answer releases its share of the judge's requests
    (``len(judge) / len(generate)`` of them, in the given order) to the judge's own slots, which
    take each as soon as it is released and a slot is free. The figure is the judge's requests x
    mean answer time / (in flight x the time its last answer ends), as the benchmark counts the
    real run's (from the first generate request)."""
    slots = [0.0] * in_flight
    ends = []
    for d in generate:
        start = heapq.heappop(slots)
        ends.append(start + d)
        heapq.heappush(slots, start + d)
    ends.sort()
    per_seed = len(judge) / len(generate)
    slots = [0.0] * in_flight
    last = 0.0
    for j, d in enumerate(judge):
        release = ends[min(len(ends) - 1, int(j / per_seed))]
        start = max(release, heapq.heappop(slots))
        heapq.heappush(slots, start + d)
        last = max(last, start + d)
    return sum(judge) / (in_flight * last)


def streamed_figures(gen: list[dict[str, Any]], judge: list[dict[str, Any]], in_flight: int) -> dict[str, Any]:
    """The judge end to end in a streamed run, from the endpoint's log: its requests x mean
    answer time / (in flight x time from the run's first generate request to its last answer),
    and the same for a perfect streamed client on the first sends' answer times."""
    import numpy as np

    t0 = min(e["t"] for e in gen)
    ok = [e for e in judge if "t_end" in e and e.get("status") != "cancelled"]
    sent = [e for e in judge if "t_end" in e]
    t1 = max(e["t_end"] for e in sent)
    mean = float(np.mean([e.get("d", e["t_end"] - e["t"]) for e in sent]))
    figure = len(ok) * mean / (in_flight * (t1 - t0))
    bound = streamed_bound(first_sends(gen)[1], first_sends(judge)[1], in_flight)
    return {"judge_end_to_end": round(figure, 3), "perfect_streamed": round(bound, 3),
            "of_perfect": round(figure / bound, 3), "wall_s": round(t1 - t0, 1),
            "endpoint_rps": round((len(gen) + len(judge)) / (t1 - t0), 1)}


def _llm_throughput(client: str, in_flight: int, latency: float, duration: float) -> dict[str, Any]:
    """One result of ``bench/llm_throughput.py`` for ``client`` at ``in_flight`` / ``latency``."""
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([sys.executable, str(ROOT / "bench" / "llm_throughput.py"), "--configs",
                        f"{in_flight}:{latency:g}", "--clients", client, "--duration", str(duration),
                        "--json", f.name], check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(f.name).read_text())["results"][0]


def endpoint_alone(in_flight: int, latency: float, duration: float = 24.0) -> dict[str, Any]:
    """What the local endpoint serves on this machine with a bare aiohttp loop in front of it
    (``bench/llm_throughput.py``, fixed ``latency``): requests/s, and the share of
    ``in_flight / latency`` that is."""
    r = _llm_throughput("aiohttp", in_flight, latency, duration)
    return {"in_flight": in_flight, "latency_s": latency, "rps": r.get("rps"), "ratio": r.get("ratio")}


def plot(path: Path, title: str, steps: dict[str, dict[str, Any]], in_flight: int, origin: float | None = None) -> None:
    """In-flight requests over time, one line per step, with the configured count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.4), dpi=110)
    for name, fig_data in steps.items():
        if "series" not in fig_data:
            continue
        x, y = fig_data["series"]
        x = x + fig_data.get("offset_s", 0.0)
        ax.plot(x, y, lw=1.2, label=f"{name} (ideal {fig_data['ideal']:.3f}, tail {fig_data['tail_s']} s)")
    ax.axhline(in_flight, color="grey", ls="--", lw=1, label=f"configured {in_flight}")
    ax.axhline(0.9 * in_flight, color="grey", ls=":", lw=1, label="90%")
    ax.set_xlabel("seconds from the run's first request")
    ax.set_ylabel("requests in flight")
    ax.set_ylim(0, in_flight * 1.15)
    ax.set_title("\n".join(textwrap.wrap(title, 105)), fontsize=10)
    # Below the axes, never over the curves (a step's in-flight line spans the whole height).
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def run_once(mode: str, seeds: int, layout: str, in_flight: int, latency: float, shape: str, actors: int,
             batch: int | None, png_dir: Path, faults: bool = False, rows_per_slot: float | None = None,
             hedge: float | None = None, hedge_budget: float | None = None, hedge_copies: int | None = None,
             steps: tuple[str, ...] = ("generate", "judge")) -> dict[str, Any]:
    """One measured run (fresh endpoint, run folder and request cache; Ray started and stopped)."""
    import ray

    from luxit_ray import pipeline
    from luxit_ray.stages.generate import GenerateStage
    from luxit_ray.steps.generate import GenerateStep
    from luxit_ray.steps.judge import JudgeStep
    from luxit_ray.steps.runner import run_llm_steps
    from tests.openai_server import read_log, spawn_server

    with tempfile.TemporaryDirectory(prefix="luxit-stage-bench-") as tmp:
        out = Path(tmp) / "runs"
        write_seeds(out / "bench-1", seeds, layout)
        log_path = Path(tmp) / "requests.jsonl"
        env_before = os.environ.get("LUXIT_BENCH_FAULTS")
        os.environ["LUXIT_BENCH_FAULTS"] = "1" if faults else "0"
        srv = spawn_server(latency=latency, latency_p99=4 * latency if shape == "lognormal" else None,
                           log_path=log_path, log_light=True, script="bench.scripted_llm:reply", nice=ENDPOINT_NICE,
                           profile="reasoning" if shape == "reasoning" else None)
        if env_before is None:
            os.environ.pop("LUXIT_BENCH_FAULTS", None)
        try:
            cfg = job(out, srv.base_url, actors, in_flight, batch, latency, rows_per_slot, hedge, hedge_budget,
                      hedge_copies, shape)
            runs_mod = __import__("luxit_ray.runs", fromlist=["init_ray"])
            runs_mod.init_ray(cfg)  # started outside the timed part, as a warm cluster would be
            t0 = time.monotonic()
            step_wall = {}
            with PeakPss(os.getpid(), {srv.proc.pid}) as memory:
                if mode == "two-pass":
                    for name in steps:
                        ts = time.monotonic()
                        (pipeline.run_generate if name == "generate" else pipeline.run_judge)(cfg)
                        step_wall[name] = time.monotonic() - ts
                else:
                    run_llm_steps(cfg, [GenerateStep(cfg), JudgeStep(cfg)])
            wall = time.monotonic() - t0
            cpu = sum(memory.cpu_by_name().values())
            endpoint_cpu = process_tree_cpu_s(srv.proc.pid)
            manifest = json.loads((out / "bench-1" / "manifest.json").read_text())
        finally:
            ray.shutdown()
            srv.stop()
        entries = read_log(log_path)
    by_model = {"generate": [e for e in entries if e.get("model") == "gen-model"],
                "judge": [e for e in entries if e.get("model") == "judge-model"]}
    figures = {name: analyse(es, in_flight) for name, es in by_model.items()}
    first = min((e["t"] for e in entries), default=0.0)
    for name, es in by_model.items():
        if es:
            figures[name]["offset_s"] = min(e["t"] for e in es) - first
    total_requests = sum(f.get("requests", 0) for f in figures.values())
    # What this machine can serve with the job and the endpoint on the same cores: each request
    # costs the job's CPU plus the endpoint's; os.cpu_count() cores give at most this rate.
    job_ms = 1000 * cpu / total_requests if total_requests else None
    endpoint_ms = 1000 * endpoint_cpu / total_requests if total_requests else None
    cpu_bound_rps = (os.cpu_count() or 1) / ((job_ms + endpoint_ms) / 1000) if job_ms and endpoint_ms else None
    streamed = None
    if mode == "streamed" and by_model["generate"] and by_model["judge"]:
        streamed = streamed_figures(by_model["generate"], by_model["judge"], in_flight)
    # What differs from the defaults, in the file name and in the title alike.
    variant = [(f"-hedge{hedge:g}", f", hedged at p{hedge * 100:g}")] if hedge else []
    if hedge and hedge_budget:
        variant.append((f"-budget{hedge_budget:g}", f", budget {hedge_budget:g}"))
    if hedge and hedge_copies:
        variant.append((f"-copies{hedge_copies}", f", up to {hedge_copies} cop{'y' if hedge_copies == 1 else 'ies'}"))
    if rows_per_slot:
        variant.append((f"-rps{rows_per_slot:g}", f", {rows_per_slot:g} rows per slot"))
    if batch:
        variant.append((f"-batch{batch}", f", {batch}-row calls"))
    if steps != ("generate", "judge") and mode == "two-pass":
        variant.append(("-" + "-".join(steps), ", " + " and ".join(steps) + " only"))
    tag = f"{mode}-{in_flight}-{latency:g}s-{shape}-{layout}-{seeds // 1000}k" + "".join(t for t, _ in variant)
    answers = "the reasoning profile" if shape == "reasoning" else f"{latency:g} s {shape}"
    plot(png_dir / f"inflight-{tag}.png",
         f"{mode}: {seeds} seeds, {in_flight} in flight per step ({actors} actors x {in_flight // actors}), "
         f"{answers}, {layout} seed file(s)" + "".join(t for _, t in variant),
         figures, in_flight)
    gm = manifest["steps"]["generate"]
    jm = manifest["steps"].get("judge", {"kept": None, "judge_errors": None, "retries": 0})
    return {
        "mode": mode, "seeds": seeds, "layout": layout, "in_flight": in_flight, "latency_s": latency, "shape": shape,
        "actors": actors, "batch_size": GenerateStage.map_batches_args(cfg.generate, cfg.endpoints)["batch_size"],
        "rows_per_slot": cfg.generate.rows_per_slot, "hedge_quantile": hedge,
        "hedge_budget": cfg.endpoints["gen"].hedge_budget if hedge else None,
        "hedge_copies": cfg.endpoints["gen"].hedge_copies if hedge else None, "wall_s": round(wall, 1),
        "step_wall_s": {k: round(v, 1) for k, v in step_wall.items()},
        "pairs": gm["pairs"], "kept": jm["kept"], "generate_errors": gm["seeds_with_error"],
        "judge_errors": jm["judge_errors"], "retries": gm["retries"] + jm["retries"],
        "hedges": {"generate": gm.get("hedges", 0), "judge": jm.get("hedges", 0)},
        "client_cpu_ms_per_request": round(job_ms, 3) if job_ms else None,
        "endpoint_cpu_ms_per_request": round(endpoint_ms, 3) if endpoint_ms else None,
        "cpu_bound_rps": round(cpu_bound_rps, 1) if cpu_bound_rps else None,
        "cpu_s_by_process": memory.cpu_by_name(),
        "peak_pss_gib": round(memory.peak / 2**30, 2), "driver_peak_pss_gib": round(memory.driver_peak / 2**30, 2),
        "steps": {k: {kk: vv for kk, vv in v.items() if kk not in ("series", "offset_s")} for k, v in figures.items()},
        "streamed": streamed,
        "stragglers": {"generate": gm.get("stragglers"), "judge": jm.get("stragglers")},
    }


def client_only(in_flight: int, latency: float) -> dict[str, Any]:
    """Our LLMClient alone (no Ray) at the same configuration, from bench/llm_throughput.py."""
    r = _llm_throughput("luxit", in_flight, latency, max(16, 4 * latency))
    cpu_us = r.get("cpu_us_per_request")
    return {"ratio": r.get("ratio"), "cpu_ms_per_request": round(cpu_us / 1000, 3) if cpu_us else None}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=20000)
    p.add_argument("--configs", default="1024:2:fixed,1024:2:lognormal,4096:8:fixed,4096:8:lognormal")
    p.add_argument("--modes", default="two-pass", help="two-pass and/or streamed, comma-separated")
    p.add_argument("--layout", default="one", choices=("one", "many", "skewed"))
    p.add_argument("--actors", type=int, default=4, help="actors per stage")
    p.add_argument("--batch-size", type=int, default=None, help="rows per call (default: the config's)")
    p.add_argument("--rows-per-slot", type=float, default=None, help="generate/judge.rows_per_slot (default: the config's)")
    p.add_argument("--hedge", default="off",
                   help="the endpoints' hedge_quantile, comma-separated to run each configuration with each "
                        "(e.g. off,0.75; default: off)")
    p.add_argument("--hedge-budget", type=float, default=None, help="the endpoints' hedge_budget (default: the config's)")
    p.add_argument("--hedge-copies", default="",
                   help="the endpoints' hedge_copies, comma-separated to run each hedged configuration with each "
                        "(e.g. 1,2; default: the config's)")
    p.add_argument("--steps", default="generate,judge",
                   help="two-pass mode: which steps to run, in order (generate alone leaves the judge out)")
    p.add_argument("--faults", action="store_true", help="1 in 200 first attempts get a 429, 1 in 200 a 503")
    p.add_argument("--client-only", action="store_true", help="also run the client alone at each configuration")
    p.add_argument("--endpoint-alone", action="store_true",
                   help="also measure the endpoint alone (bare aiohttp) at both steps' in-flight count, fixed latency")
    p.add_argument("--png-dir", default=str(ROOT / "docs" / "bench"))
    p.add_argument("--json", default=None, help="write every figure here")
    p.add_argument("--bounds", action="store_true",
                   help="only print what a perfect client reaches with log-normal answers, by requests per step")
    args = p.parse_args(argv)
    if args.bounds:
        sizes = (20_000, 60_000, 100_000, 200_000, 300_000)
        # A hedging client's figure swings with a few extreme draws: the mean and range of 3.
        pool: dict[str, Any] = {}
        stage = {"actors": 4, "rows_per_slot": 6.0}  # the batch: the stage's default for the slots
        clients = [("sends once", None, pool), ("hedged p75, 5%, 1 copy", (0.75, 0.05, 1), pool),
                   ("hedged p75, 5%, 2 copies", (0.75, 0.05, 2), pool),
                   ("hedged p55, no cap, 3 copies", (0.55, 1.0, 3), pool),
                   ("the stage, hedged p75, 5%, 1 copy", (0.75, 0.05, 1), stage),
                   ("the stage, hedged p75, 5%, 2 copies", (0.75, 0.05, 2), stage)]
        print("log-normal answers, p99 = 4x median; fraction of ideal a client reaches with no start-up cost, by "
              "requests per step (one pool of slots; 'the stage': 4 actors, rows_per_slot 6, calls of the default size)")
        print("in flight | client | " + " | ".join(f"{n:,}" for n in sizes))
        for n in sorted({int(c.split(":")[0]) for c in args.configs.split(",")}):
            for label, hedging, shape in clients:
                cells = []
                for k in sizes:
                    if hedging is None:
                        cells.append(f"{perfect_bound(k, n):.3f}")
                        continue
                    if shape:
                        shape = {**shape, "batch": min(128, max(16, n // shape["actors"] // 4))}
                    q, budget, copies = hedging
                    runs = [simulated_client(k, n, quantile=q, budget=budget, copies=copies, seed=seed, **shape)[0]
                            for seed in range(3)]
                    cells.append(f"{sum(runs) / 3:.3f} ({min(runs):.2f}-{max(runs):.2f})")
                print(f"{n:,} | {label} | " + " | ".join(cells), flush=True)
        rows_per_slot_bounds(sorted({int(c.split(":")[0]) for c in args.configs.split(",")}))
        return
    import logging

    logging.basicConfig(level=logging.WARNING)
    results = []
    load = os.getloadavg()
    alone: dict[tuple[int, float], dict[str, Any]] = {}
    for spec in args.configs.split(","):
        n, lat, shape = spec.split(":")
        for mode in args.modes.split(","):
            for hedge, copies in _hedging(args.hedge, args.hedge_copies):
                q = None if hedge in ("off", "0", "") else float(hedge)
                r = run_once(mode, args.seeds, args.layout, int(n), float(lat), shape, args.actors, args.batch_size,
                             Path(args.png_dir), args.faults, args.rows_per_slot, q, args.hedge_budget,
                             copies, tuple(args.steps.split(",")))
                if args.client_only:
                    r["client_only"] = client_only(int(n), float(lat))
                if args.endpoint_alone:
                    both = (2 * int(n), float(lat))  # generate and judge at once, as a streamed run holds them
                    if both not in alone:
                        alone[both] = endpoint_alone(*both)
                        print(f"  endpoint alone: {alone[both]['rps']} req/s at {both[0]} in flight / {both[1]:g} s "
                              f"fixed ({alone[both]['ratio']} of {both[0] / both[1]:g})", flush=True)
                    r["endpoint_alone"] = alone[both]
                results.append(r)
                print(_line(r), flush=True)
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; at end: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def rows_per_slot_bounds(in_flights: list[int], sizes: tuple[int, ...] = (20_000, 100_000),
                         values: tuple[float, ...] = (4, 6, 8, 12, 16, 24)) -> None:
    """Print the simulated stage without hedging (4 actors, calls of the default size) against
    the perfect send-once client on the same draws, by ``rows_per_slot``, for each answer shape:
    fixed, log-normal (p99 = 4x median) and the endpoint's reasoning profile."""
    import math
    import random
    from statistics import NormalDist

    from tests.openai_server import PROFILES

    sigma = math.log(4.0) / NormalDist().inv_cdf(0.99)
    shapes = {"fixed": lambda rng: 1.0, "log-normal": lambda rng: math.exp(rng.gauss(0.0, sigma)),
              "reasoning": lambda rng: PROFILES["reasoning"].draw(rng)[1]}
    print("\nthe stage without hedging, as a share of the perfect send-once client on the same draws "
          "(mean of 2 seeds), by rows_per_slot")
    print("in flight | answers | requests | " + " | ".join(f"{v:g}" for v in values))
    for n in in_flights:
        batch = min(128, max(16, n // 4 // 4))
        for name, draw in shapes.items():
            for k in sizes:
                cells = []
                for v in values:
                    shares = []
                    for seed in range(2):
                        rng = random.Random(seed)
                        lat = [draw(rng) for _ in range(k)]
                        perfect = sum(lat) / (n * greedy_makespan(lat, n))
                        got = simulated_client(k, n, actors=4, batch=batch, rows_per_slot=v, seed=seed, draw=draw)[0]
                        shares.append(got / perfect)
                    cells.append(f"{sum(shares) / len(shares):.3f}")
                print(f"{n:,} | {name} | {k:,} | " + " | ".join(cells), flush=True)


def _hedging(quantiles: str, copies: str) -> list[tuple[str, int | None]]:
    """Each hedging quantile with each number of copies (off once)."""
    counts = [int(c) for c in copies.split(",") if c] or [None]
    return [(q, None if q in ("off", "0", "") else c) for q in quantiles.split(",")
            for c in (counts if q not in ("off", "0", "") else [None])]


def _line(r: dict[str, Any]) -> str:
    parts = [f"{r['mode']:8s} {r['in_flight']:5d}/{r['latency_s']:g}s {r['shape']:9s} {r['layout']:6s} "
             f"{r['seeds']} seeds, {r['batch_size']}-row calls"
             + (f", hedged at q {r['hedge_quantile']} (budget {r['hedge_budget']}, copies {r['hedge_copies']})"
                if r.get("hedge_quantile") else "")
             + f": wall {r['wall_s']} s, cpu {r['client_cpu_ms_per_request']} ms/req "
             f"(+ the endpoint's {r.get('endpoint_cpu_ms_per_request')}: this machine serves at most "
             f"{r.get('cpu_bound_rps')} req/s), "
             f"peak PSS {r['peak_pss_gib']} GiB (driver {r['driver_peak_pss_gib']})"]
    for name, s in r["steps"].items():
        if s.get("requests"):
            copies = f" (+{s['cancelled']} cancelled, hedges {r['hedges'].get(name)})" if r.get("hedge_quantile") else ""
            parts.append(f"  {name:8s} {s['requests']:6d} req{copies}, ideal {s['ideal']:.3f} (a perfect client: "
                         f"{s['attainable']:.3f}), in flight p5/p50/p95 "
                         f"{s['in_flight_p5']}/{s['in_flight_p50']}/{s['in_flight_p95']}, tail {s['tail_s']} s, "
                         f"wall {s['wall_s']} s, mean latency {s['mean_latency_s']} s\n"
                         f"           idle slots: ramp {s['idle_ramp']} ({s['ramp_s']} s), middle {s['idle_middle']}, "
                         f"drain {s['idle_drain']} ({s['drain_s']} s)"
                         + (f"; last 0.1% of answers never copied: {s['last_permille_never_copied']}"
                            if r.get("hedge_quantile") else ""))
    if r.get("streamed"):
        st = r["streamed"]
        parts.append(f"  judge end to end (from the first generate request): {st['judge_end_to_end']:.3f} of ideal; "
                     f"a perfect streamed client: {st['perfect_streamed']:.3f} ({st['of_perfect']:.3f} of it); "
                     f"wall {st['wall_s']} s, endpoint served {st['endpoint_rps']} req/s")
    held = {k: v["rows_held_per_slot"] for k, v in (r.get("stragglers") or {}).items() if v}
    if held:
        parts.append("  rows per slot held by calls waiting on their slowest answer: "
                     + ", ".join(f"{k} {v}" for k, v in held.items()) + f" (ceiling {r['rows_per_slot']:g})")
    parts.append("  CPU s by process: " + ", ".join(f"{k} {v}" for k, v in list(r["cpu_s_by_process"].items())[:8]))
    if "client_only" in r:
        parts.append(f"  client alone (no Ray): ratio {r['client_only']['ratio']}, "
                     f"{r['client_only']['cpu_ms_per_request']} ms CPU per request")
    return "\n".join(parts)


if __name__ == "__main__":
    main()
