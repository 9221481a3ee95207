"""Throughput of LLM clients against a fixed-latency OpenAI-compatible endpoint.

The endpoint (tests/openai_server.py, aiohttp, access log off) runs in its own process(es) so it
does not share the client's GIL; ``--server-workers 2`` starts two server processes on one port
with SO_REUSEPORT. Every answer comes after exactly ``latency`` seconds, so a client that keeps
``in_flight`` requests in flight can at best reach ``in_flight / latency`` requests/s (the
ideal); the ratio to it measures the client's own cost.

How the rate is measured: after a warm-up (every connection open), each of the ``in_flight``
workers sends requests back to back; its rate is the number of its requests that started and
ended inside the window over the time they took, and the client's rate (``ratio``) is the sum
over workers (Little's law for a closed loop). The plain count of completions in the window is
shown beside it (``win``) but is biased low at high in-flight counts: a fixed-latency closed loop
falls into waves (all requests sent together come back together), and a window of whole latency
multiples drops the last wave whenever a cycle takes a little longer than the latency (measured:
bare aiohttp at 4096/8 s, mean cycle 8.25 s, a 24 s window counted 2.3 of 3 waves: "0.83").

Clients (each measured in a fresh process):

- ``luxit``: our :class:`luxit_ray.llm.LLMClient` (aiohttp transport, the default) calling
  ``chat`` on the client's own loop thread, where ``chat_many``/``chat_many_async`` run requests
  (uvloop when installed).
- ``luxit-asyncio``: the same client awaited on a plain asyncio loop of the caller.
- ``luxit-openai``: the client on its ``AsyncOpenAI`` transport (SDK on aiohttp, limits raised).
- ``aiohttp``: a bare aiohttp loop (the floor: nothing but HTTP and JSON).
- ``openai``: a plain ``AsyncOpenAI`` loop on the SDK's default transport and limits.
- ``openai-aiohttp``: ``AsyncOpenAI(http_client=DefaultAioHttpClient())``, default limits.
- ``ray``: Ray's own ``ray.data.llm`` HTTP request processor (``HttpRequestProcessorConfig``,
  only aiohttp + pydantic beside ray[data]) over a small dataset, run once (at the first latency);
  it sends one request at a time per batch, so its in-flight count is its number of concurrent
  batches, not ``in_flight`` (see ``achieved_in_flight`` in the JSON).

Usage::

    python bench/llm_throughput.py                      # 256/2s, 1024/2s, 4096/8s, all clients
    python bench/llm_throughput.py --quick              # short windows, fewer clients
    python bench/llm_throughput.py --configs 1024:2 --clients luxit,aiohttp --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALL_CLIENTS = ("luxit", "luxit-asyncio", "luxit-openai", "aiohttp", "openai", "openai-aiohttp", "ray")
DEFAULT_CLIENTS = ("luxit", "luxit-asyncio", "luxit-openai", "aiohttp", "openai", "ray")


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _messages(i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "Dir sidd en hëllefräichen Assistent."},
        {"role": "user", "content": f"Schreif eng kuerz Äntwert op d'Fro Nummer {i}."},
    ]


# -- one client variant, run in its own process ------------------------------------------
async def _drive(one: Any, in_flight: int, duration: float, warmup: float) -> dict[str, Any]:
    """Run ``in_flight`` workers calling ``one(i)`` back to back; count completions in a window.

    The window opens once every worker has finished its first request (all connections are
    open: opening thousands at once takes seconds on a busy machine) or after ``warmup``
    seconds, whichever comes first, and lasts ``duration`` seconds.
    """
    t0 = time.monotonic()
    window = {"start": float("inf"), "stop": float("inf")}
    opened = asyncio.Event()
    first_done = 0
    total = 0
    done = 0
    errors = 0
    counter = iter(range(10**12))
    cpu: dict[str, float] = {}

    rates: list[float] = []

    async def worker() -> None:
        nonlocal done, errors, first_done
        first = True
        nonlocal total
        # This worker's requests that started and ended inside the window: count and span.
        n_in, span_start, span_end = 0, None, None
        while time.monotonic() < window["stop"]:
            sent = time.monotonic()
            try:
                ok = await one(next(counter))
            except Exception:  # e.g. a client-side timeout waiting for a pooled connection
                ok = False
            total += 1
            t = time.monotonic()
            if first:
                first = False
                first_done += 1
                if first_done == in_flight:
                    opened.set()
            if window["start"] <= t < window["stop"]:
                if ok:
                    done += 1
                else:
                    errors += 1
            if ok and window["start"] <= sent and t < window["stop"]:
                span_start = sent if span_start is None else span_start
                span_end = t
                n_in += 1
        if n_in and span_end > span_start:
            rates.append(n_in / (span_end - span_start))

    async def timer() -> None:
        try:
            await asyncio.wait_for(opened.wait(), warmup)
        except asyncio.TimeoutError:
            pass
        window["start"] = time.monotonic()
        window["stop"] = window["start"] + duration
        cpu["start"] = time.process_time()
        await asyncio.sleep(duration)
        cpu["stop"] = time.process_time()

    timer_task = asyncio.ensure_future(timer())
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    await timer_task
    return {
        # Little's law over each worker's back-to-back requests: its rate is requests / time.
        # Unlike a count in a fixed window, it does not depend on where the window cuts the
        # waves that a fixed-latency closed loop falls into.
        # Only when every worker finished a request inside the window (else: the plain count).
        "rps_steady": sum(rates) if len(rates) == in_flight else None,
        "completed": done,
        "errors": errors,
        "answers_total": total,
        "window_s": duration,
        "warmup_s": round(window["start"] - t0, 2),
        "client_cpu_s": cpu["stop"] - cpu["start"],
    }


async def _run_luxit(
    base_url: str, in_flight: int, duration: float, warmup: float, transport: str, own_loop: bool
) -> dict[str, Any]:
    from luxit_ray.config.llm import EndpointConfig
    from luxit_ray.llm import LLMClient

    ep = EndpointConfig(base_url=base_url, model="bench", max_in_flight=in_flight, timeout_s=120, max_retries=0)
    client = LLMClient("bench", ep, transport=transport)

    async def one(i: int) -> bool:
        comp = await client.chat(_messages(i))
        return comp.error is None

    try:
        if own_loop:
            # Where chat_many / chat_many_async run the requests: the client's own loop thread.
            fut = asyncio.run_coroutine_threadsafe(_drive(one, in_flight, duration, warmup), client._own_loop())
            return await asyncio.wrap_future(fut)
        return await _drive(one, in_flight, duration, warmup)
    finally:
        await client.aclose()


async def _run_aiohttp(base_url: str, in_flight: int, duration: float, warmup: float) -> dict[str, Any]:
    import aiohttp

    conn = aiohttp.TCPConnector(limit=in_flight, limit_per_host=0)
    session = aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120))
    url = base_url + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}

    async def one(i: int) -> bool:
        body = json.dumps({"model": "bench", "messages": _messages(i)}).encode()
        async with session.post(url, data=body, headers=headers) as resp:
            data = json.loads(await resp.read())
            return resp.status == 200 and bool(data["choices"][0]["message"]["content"])

    try:
        return await _drive(one, in_flight, duration, warmup)
    finally:
        await session.close()


async def _run_openai(base_url: str, in_flight: int, duration: float, warmup: float, aio: bool) -> dict[str, Any]:
    from openai import AsyncOpenAI, DefaultAioHttpClient

    kwargs: dict[str, Any] = {"base_url": base_url, "api_key": "x", "max_retries": 0, "timeout": 120}
    if aio:
        kwargs["http_client"] = DefaultAioHttpClient()
    client = AsyncOpenAI(**kwargs)

    async def one(i: int) -> bool:
        resp = await client.chat.completions.create(model="bench", messages=_messages(i))
        return bool(resp.choices[0].message.content)

    try:
        return await _drive(one, in_flight, duration, warmup)
    finally:
        await client.close()


def _run_ray(base_url: str, rows: int, actors: int, batch_size: int) -> dict[str, Any]:
    import ray
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    config = HttpRequestProcessorConfig(
        url=base_url + "/chat/completions",
        headers={"Authorization": "Bearer x"},
        concurrency=actors,
        batch_size=batch_size,
        http_request_stage={"num_cpus": 0.25},
    )
    processor = build_processor(
        config,
        preprocess=lambda row: {"payload": {"model": "bench", "messages": _messages(int(row["id"]))}},
        postprocess=lambda row: {"t": time.time(), "ok": bool(row["http_response"]["choices"][0]["message"]["content"])},
    )
    t0 = time.time()
    cpu0 = time.process_time()
    out = processor(ray.data.range(rows, override_num_blocks=max(1, rows // batch_size))).take_all()
    wall = time.time() - t0
    ts = sorted(r["t"] for r in out)
    # Steady state: completions between the first and last 10% of finishes.
    lo, hi = ts[len(ts) // 10], ts[-max(1, len(ts) // 10)]
    n_mid = sum(1 for t in ts if lo <= t <= hi)
    ray.shutdown()
    return {
        "completed": n_mid,
        "errors": sum(1 for r in out if not r["ok"]),
        "window_s": max(hi - lo, 1e-9),
        "client_cpu_s": time.process_time() - cpu0,
        "rows": len(out),
        "wall_s": wall,
        "actors": actors,
    }


def _worker_main(args: argparse.Namespace) -> None:
    _raise_fd_limit()
    if args.client == "ray":
        res = _run_ray(args.base_url, args.ray_rows, args.ray_actors, args.ray_batch)
    else:
        runners = {
            "luxit": lambda: _run_luxit(args.base_url, args.in_flight, args.duration, args.warmup, "aiohttp", True),
            "luxit-asyncio": lambda: _run_luxit(
                args.base_url, args.in_flight, args.duration, args.warmup, "aiohttp", False
            ),
            "luxit-openai": lambda: _run_luxit(args.base_url, args.in_flight, args.duration, args.warmup, "openai", True),
            "aiohttp": lambda: _run_aiohttp(args.base_url, args.in_flight, args.duration, args.warmup),
            "openai": lambda: _run_openai(args.base_url, args.in_flight, args.duration, args.warmup, False),
            "openai-aiohttp": lambda: _run_openai(args.base_url, args.in_flight, args.duration, args.warmup, True),
        }
        if args.loop == "uvloop":
            import uvloop

            res = uvloop.run(runners[args.client]())
        else:
            res = asyncio.run(runners[args.client]())
    print("RESULT " + json.dumps(res), flush=True)


# -- driver --------------------------------------------------------------------------------
def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _run_variant(
    client: str, base_url: str, in_flight: int, latency: float, args: argparse.Namespace, server_pid: int
) -> dict[str, Any]:
    # --processes N: N client processes share the in-flight count, as N actors of a stage do.
    procs_n = 1 if client == "ray" else max(1, args.processes)
    share = [in_flight // procs_n + (1 if i < in_flight % procs_n else 0) for i in range(procs_n)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               RAY_DATA_DISABLE_PROGRESS_BARS="1")
    cpu0 = _proc_cpu_s(server_pid)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--_worker", client, "--base-url", base_url, "--in-flight", str(n),
             "--duration", str(args.duration), "--warmup", str(args.warmup), "--ray-rows", str(args.ray_rows),
             "--ray-actors", str(args.ray_actors), "--ray-batch", str(args.ray_batch), "--loop", args.loop],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for n in share
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=args.duration + args.warmup + 600)
        line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            return {"error": (err or out)[-2000:]}
        results.append(json.loads(line[len("RESULT "):]))
    server_cpu = _proc_cpu_s(server_pid) - cpu0
    res = results[0]
    for key in ("completed", "errors", "answers_total", "client_cpu_s", "rps_steady"):
        if key in res:
            values = [r[key] for r in results]
            res[key] = None if None in values else sum(values)
    res["processes"] = procs_n
    rps_window = res["completed"] / res["window_s"]
    rps = res.get("rps_steady") or rps_window  # ray: a fixed set of rows, no per-worker loop
    ideal = in_flight / latency
    res.update(
        client=client, in_flight=in_flight, latency_s=latency, rps=round(rps, 1), ideal_rps=round(ideal, 1),
        rps_window=round(rps_window, 1), ratio_window=round(rps_window / ideal, 3),
        ratio=round(rps / ideal, 3),
        achieved_in_flight=round(rps * latency, 1),
        cpu_us_per_request=round(1e6 * res["client_cpu_s"] / max(1, res["completed"]), 1),
    )
    if args.server_workers == 1 and res.get("answers_total"):
        # The whole run (warm-up included) over every answer the client got.
        res["server_cpu_us_per_request"] = round(1e6 * server_cpu / res["answers_total"], 1)
    if client == "ray":
        res["cpu_us_per_request"] = None  # its work runs in Ray actors, not in the measured process
    return res


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--configs", default="256:2,1024:2,4096:8", help="in_flight:latency_s, comma-separated")
    p.add_argument("--clients", default=",".join(DEFAULT_CLIENTS), help=f"subset of {','.join(ALL_CLIENTS)}")
    p.add_argument("--duration", type=float, default=16.0,
                   help="measured window per run (s; rounded up to whole multiples of the latency)")
    p.add_argument("--warmup", type=float, default=None,
                   help="longest warm-up before the window (default: 4 x latency + 30 s); the window opens "
                        "earlier once every worker has finished one request")
    p.add_argument("--server-workers", type=int, default=1, help="server processes (SO_REUSEPORT)")
    p.add_argument("--processes", type=int, default=1,
                   help="client processes sharing the in-flight count (a stage's actors); not for ray")
    p.add_argument("--ray-rows", type=int, default=96, help="rows through Ray's HTTP processor")
    p.add_argument("--ray-actors", type=int, default=4, help="actors of Ray's HTTP processor")
    p.add_argument("--ray-batch", type=int, default=8, help="batch size of Ray's HTTP processor")
    p.add_argument("--quick", action="store_true", help="short windows: 10 s, clients luxit,aiohttp,openai,ray")
    p.add_argument("--json", default=None, help="write the figures here")
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="event loop of the client processes (uvloop must be installed)")
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--base-url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--in-flight", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._worker:
        args.client = args._worker
        _worker_main(args)
        return
    if args.quick:
        args.duration = min(args.duration, 10.0)
        if args.clients == ",".join(DEFAULT_CLIENTS):
            args.clients = "luxit,aiohttp,openai,ray"
        args.ray_rows = min(args.ray_rows, 48)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = set(clients) - set(ALL_CLIENTS)
    if unknown:
        p.error(f"unknown clients: {sorted(unknown)}")
    configs = []
    for spec in args.configs.split(","):
        n, _, lat = spec.partition(":")
        configs.append((int(n), float(lat)))
    _raise_fd_limit()
    from tests.openai_server import spawn_server

    results = []
    ray_done = False
    for latency in sorted({lat for _, lat in configs}):
        warmup = args.warmup if args.warmup is not None else 4 * latency + 30
        # Completions arrive in waves one latency apart: measure whole waves.
        duration = math.ceil(args.duration / latency) * latency
        args_l = argparse.Namespace(**{**vars(args), "warmup": warmup, "duration": duration})
        with spawn_server(latency=latency, workers=args.server_workers) as srv:
            for in_flight, lat in configs:
                if lat != latency:
                    continue
                for client in clients:
                    if client == "ray":
                        if ray_done:
                            continue  # one reference run: it does not scale with in_flight
                        ray_done = True
                    res = _run_variant(client, srv.base_url, in_flight, latency, args_l, srv.proc.pid)
                    res.setdefault("client", client)
                    res.setdefault("in_flight", in_flight)
                    res.setdefault("latency_s", latency)
                    results.append(res)
                    print(_row(res), flush=True)
    print()
    print(_table(results))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"argv": sys.argv[1:], "cpus": os.cpu_count(), "server_workers": args.server_workers,
                        "duration_s": args.duration, "load_avg_at_end": os.getloadavg(), "results": results},
                       indent=2),
            encoding="utf-8",
        )


def _row(r: dict[str, Any]) -> str:
    if "error" in r:
        return f"{r['client']:<15} {r['in_flight']:>6} {r['latency_s']:>5g}  FAILED: {r['error'][-300:]}"
    extra = f"  ({r['actors']} actors, {r['rows']} rows)" if r["client"] == "ray" else ""
    if r.get("processes", 1) > 1:
        extra = f"  ({r['processes']} client processes)"
    cpu = "-" if r.get("cpu_us_per_request") is None else f"{r['cpu_us_per_request']:.0f}"
    srv = "-" if r.get("server_cpu_us_per_request") is None else f"{r['server_cpu_us_per_request']:.0f}"
    return (
        f"{r['client']:<15} {r['in_flight']:>6} {r['latency_s']:>5g} {r['rps']:>9.1f} {r['ideal_rps']:>9.1f} "
        f"{r['ratio']:>6.3f} {r.get('ratio_window', r['ratio']):>6.3f} {cpu:>9} {srv:>9} {r['errors']:>6}{extra}"
    )


def _table(results: list[dict[str, Any]]) -> str:
    head = f"{'client':<15} {'flight':>6} {'lat':>5} {'req/s':>9} {'ideal':>9} {'ratio':>6} {'win':>6} {'cpu_us/r':>9} {'srv_us/r':>9} {'errors':>6}"
    return "\n".join([head, "-" * len(head), *(_row(r) for r in results)])


if __name__ == "__main__":
    main()
