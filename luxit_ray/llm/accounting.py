"""Usage and cost accounting per stage and model, live and for the manifest.

Each client aggregates its completions locally in an :class:`AccountantHandle` and pushes the
deltas to the run's :class:`Accountant` at most once a second (and when a batch ends or the client
closes), so accounting adds no per-request actor call. With Ray the accountant is a named actor
per run (:func:`get_accountant`); without Ray it is a plain object in the process.

Cost: every send a request made, priced by :func:`luxit_ray.llm.spend.cost_usd` (the one cost
formula: uncached input, cached input and output at the endpoint's prices, the batch factor for
batch requests). Hedge copies, cancelled sends and retried 200s count as sends (their output
estimated and counted apart). OpenAI, DeepSeek and vLLM count reasoning tokens inside
``completion_tokens``, so reasoning is billed as output without being counted twice. A request
answered from the request cache costs nothing now: it is counted as a cache hit, and what it
would have cost is ``saved_usd`` unless this run paid for it earlier (an earlier attempt, or an
actor that was lost: ``paid_earlier``). Nothing here ever sees an API key.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

ACTOR_PREFIX = "luxit-accountant:"
_COUNTERS = (
    "requests",  # calls answered by the endpoint or failed there (not cache hits)
    "sends",  # sends the endpoint may bill: answers, hedge copies, cancelled sends, retried 200s
    "retries",
    "errors",
    "cache_hits",
    "paid_earlier",  # cache hits on answers this run paid for before (earlier attempt, lost actor)
    "prompt_tokens",  # input tokens billed over every send (cached included)
    "cached_tokens",  # of which read from the provider's prompt cache
    "completion_tokens",  # output tokens billed (estimates of cancelled sends included)
    "estimated_tokens",  # of prompt + completion, estimated (sends whose usage was never seen)
    "reasoning_tokens",
    "hedges",  # copies sent (luxit_ray.llm.hedge); each may be billed
    "hedge_wins",  # copies that answered first
    "calls",  # batches of requests a stage sent together (one map_batches call)
    "straggler_row_s",  # row-seconds answered rows of a call waited for its slowest (see LLMClient)
)
_FLUSH_EVERY_S = 1.0


def _empty() -> dict[str, Any]:
    d: dict[str, Any] = {k: 0 for k in _COUNTERS}
    d.update(cost_usd=0.0, saved_usd=0.0, latency_s=0.0, errors_by_kind={})
    return d


def _add(into: dict[str, Any], delta: dict[str, Any]) -> None:
    for k in _COUNTERS:
        into[k] += delta.get(k, 0)
    into["cost_usd"] += delta.get("cost_usd", 0.0)
    into["saved_usd"] += delta.get("saved_usd", 0.0)
    into["latency_s"] += delta.get("latency_s", 0.0)
    for kind, n in delta.get("errors_by_kind", {}).items():
        into["errors_by_kind"][kind] = into["errors_by_kind"].get(kind, 0) + n


class Accountant:
    """Totals per (stage, model) plus rows done per stage. Thread-safe; also the Ray actor body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._t0 = time.time()
        self._by: dict[tuple[str, str], dict[str, Any]] = defaultdict(_empty)
        self._rows: dict[str, int] = defaultdict(int)

    def add(self, deltas: list[tuple[str, str, dict[str, Any]]], rows: dict[str, int] | None = None) -> None:
        """Add ``(stage, model, counters)`` deltas and rows finished per stage."""
        with self._lock:
            for stage, model, delta in deltas:
                _add(self._by[(stage, model)], delta)
            for stage, n in (rows or {}).items():
                self._rows[stage] += n

    def snapshot(self) -> dict[str, Any]:
        """Everything so far: ``{"elapsed_s", "rows", "by_stage": {stage: {model: counters}},
        "total": counters}`` (counters as in the module doc; JSON-ready)."""
        with self._lock:
            by_stage: dict[str, dict[str, Any]] = {}
            total = _empty()
            for (stage, model), c in sorted(self._by.items()):
                by_stage.setdefault(stage, {})[model] = {**c, "errors_by_kind": dict(c["errors_by_kind"])}
                _add(total, c)
            return {
                "elapsed_s": round(time.time() - self._t0, 3),
                "rows": dict(self._rows),
                "by_stage": by_stage,
                "total": total,
            }

    def projected(self, total_rows: int, done_rows: int | None = None, stage: str | None = None) -> dict[str, Any]:
        """Projected total cost and time at the current pace.

        Args:
            total_rows: Rows the stage (or run) will process in all.
            done_rows: Rows done so far; None: the rows reported with :meth:`add` (of ``stage``,
                or of all stages).
            stage: Restrict cost to one stage.
        """
        snap = self.snapshot()
        if done_rows is None:
            done_rows = snap["rows"].get(stage, 0) if stage else sum(snap["rows"].values())
        if stage:
            cost = sum(c["cost_usd"] for c in snap["by_stage"].get(stage, {}).values())
        else:
            cost = snap["total"]["cost_usd"]
        elapsed = snap["elapsed_s"]
        frac = done_rows / total_rows if total_rows else 1.0
        return {
            "done_rows": done_rows,
            "total_rows": total_rows,
            "cost_usd": cost,
            "projected_cost_usd": cost / frac if frac > 0 else None,
            "elapsed_s": elapsed,
            "projected_total_s": elapsed / frac if frac > 0 else None,
            "eta_s": elapsed * (1 - frac) / frac if frac > 0 else None,
        }

    def reset(self) -> None:
        """Forget everything (a new run reusing the actor)."""
        with self._lock:
            self._t0 = time.time()
            self._by.clear()
            self._rows.clear()


class AccountantHandle:
    """What clients and stages hold: local aggregation, pushed to the accountant periodically.

    Picklable: ships the Ray actor handle (or, in-process, a fresh private accountant).
    """

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._remote = not isinstance(backend, Accountant)
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], dict[str, Any]] = defaultdict(_empty)
        self._rows: dict[str, int] = defaultdict(int)
        self._last = time.monotonic()

    @classmethod
    def local(cls) -> AccountantHandle:
        """A handle on a new in-process accountant."""
        return cls(Accountant())

    def __getstate__(self) -> dict[str, Any]:
        return {"backend": self._backend if self._remote else None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["backend"] if state["backend"] is not None else Accountant())

    def record(self, stage: str, model: str, completion: Any, *, prices: Any = None, run_id: str | None = None) -> None:
        """Count one :class:`~luxit_ray.llm.client.Completion`.

        Args:
            stage, model: The accounting label and model.
            completion: The outcome; its ``billing`` says what every send may cost.
            prices: The endpoint's config (its prices); None: free.
            run_id: This run: a cache hit on an answer it paid for itself is ``paid_earlier``,
                not a saving.
        """
        from luxit_ray.llm.spend import Billing, cost_usd

        if completion.error_kind == "deferred":
            return  # not sent: a batch collect pass
        billing = completion.billing or Billing()
        usd = cost_usd(prices, billing) if prices is not None else 0.0
        with self._lock:
            c = self._pending[(stage, model)]
            if completion.cache_hit:
                c["cache_hits"] += 1
                paid = completion.paid
                if paid is not None and run_id is not None and paid.run_id == run_id:
                    c["paid_earlier"] += 1
                else:
                    c["saved_usd"] += usd
            else:
                c["requests"] += 1
                c["sends"] += billing.sends
                c["retries"] += completion.retries
                c["hedges"] += completion.hedges
                c["hedge_wins"] += int(completion.hedge_won)
                c["prompt_tokens"] += billing.prompt_tokens
                c["cached_tokens"] += billing.cached_tokens
                c["completion_tokens"] += billing.completion_tokens
                c["estimated_tokens"] += billing.estimated_tokens
                c["reasoning_tokens"] += completion.reasoning_tokens
                c["latency_s"] += completion.latency_s
                c["cost_usd"] += usd
            if completion.error_kind:
                c["errors"] += 1
                kinds = c["errors_by_kind"]
                kinds[completion.error_kind] = kinds.get(completion.error_kind, 0) + 1
        self.maybe_flush()

    def call_done(self, stage: str, model: str, straggler_row_s: float) -> None:
        """Count one call of many requests and the row-seconds its answered rows waited for its
        slowest one (what a step's ``rows_per_slot`` has to cover)."""
        with self._lock:
            c = self._pending[(stage, model)]
            c["calls"] += 1
            c["straggler_row_s"] += straggler_row_s

    def rows_done(self, stage: str, n: int) -> None:
        """Report rows finished by a stage (for :meth:`Accountant.projected`)."""
        with self._lock:
            self._rows[stage] += n
        self.maybe_flush()

    def maybe_flush(self) -> None:
        """Push pending deltas if the last push was over a second ago."""
        if time.monotonic() - self._last >= _FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        """Push pending deltas now (fire-and-forget to the Ray actor)."""
        with self._lock:
            if not self._pending and not self._rows:
                self._last = time.monotonic()
                return
            deltas = [(s, m, d) for (s, m), d in self._pending.items()]
            rows = dict(self._rows)
            self._pending = defaultdict(_empty)
            self._rows = defaultdict(int)
            self._last = time.monotonic()
        if self._remote:
            self._backend.add.remote(deltas, rows)
        else:
            self._backend.add(deltas, rows)

    def snapshot(self) -> dict[str, Any]:
        """Flush, then the accountant's :meth:`Accountant.snapshot`."""
        self.flush()
        if self._remote:
            import ray

            return ray.get(self._backend.snapshot.remote())
        return self._backend.snapshot()

    def projected(self, total_rows: int, done_rows: int | None = None, stage: str | None = None) -> dict[str, Any]:
        """Flush, then the accountant's :meth:`Accountant.projected`."""
        self.flush()
        if self._remote:
            import ray

            return ray.get(self._backend.projected.remote(total_rows, done_rows, stage))
        return self._backend.projected(total_rows, done_rows, stage)


def get_accountant(run_id: str) -> AccountantHandle:
    """The run's accountant: the named Ray actor ``luxit-accountant:<run_id>`` (got or created by
    :func:`~luxit_ray.llm.named.shared_actor`, which keeps it alive for this process) when Ray
    is initialised, else a new in-process one."""
    import ray

    if not ray.is_initialized():
        return AccountantHandle.local()
    from luxit_ray.llm.named import shared_actor

    actor_cls = ray.remote(num_cpus=0, max_concurrency=1)(Accountant)
    return AccountantHandle(shared_actor(actor_cls, ACTOR_PREFIX + run_id))


def format_progress(snapshot: dict[str, Any], projection: dict[str, Any] | None = None) -> str:
    """A one-line live progress summary (the CLI prints it)."""
    t = snapshot["total"]
    errs = ",".join(f"{k}={v}" for k, v in sorted(t["errors_by_kind"].items())) or "0"
    line = (
        f"requests {t['requests']} (sends {t['sends']}, copies {t['hedges']}, cache {t['cache_hits']}, "
        f"retries {t['retries']}, errors {errs}) "
        f"tokens in {t['prompt_tokens']:,} (cached {t['cached_tokens']:,}) out {t['completion_tokens']:,} "
        f"(reasoning {t['reasoning_tokens']:,}) cost ${t['cost_usd']:.4f}"
    )
    if projection and projection.get("projected_cost_usd") is not None:
        eta = projection["eta_s"] or 0.0
        line += (
            f" | rows {projection['done_rows']}/{projection['total_rows']}"
            f" projected ${projection['projected_cost_usd']:.2f}, eta {eta / 60:.1f} min"
        )
    return line
