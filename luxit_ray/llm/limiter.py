"""One rate limiter per endpoint, shared by every actor of every stage that calls it.

The endpoint's requests/minute and tokens/minute are limits on the whole job, not on each actor.
:func:`get_rate_limiter` gets or creates a named Ray actor holding two token buckets; each client
holds a :class:`RateLimiterHandle` that leases permits for all of its currently waiting requests in
one actor call, so the actor is called a few times per second per client, not once per request,
even at thousands of requests per second. Without Ray the same buckets live in-process.

Buckets: each refills continuously at limit/60 per second and holds at most ``burst_s`` seconds
of refill (at least one request), so over any window of T seconds at most
``limit/60 * (T + burst_s)`` requests start. A request's tokens are estimated before it is sent
(prompt characters / 4 + max_tokens) and the difference to the billed usage is settled with the
next lease.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

ACTOR_PREFIX = "luxit-rate-limiter:"
# Upper bound on one sleep of a lease loop, so a changed limit or a freed bucket is seen soon.
_MAX_WAIT_S = 0.5


class TokenBuckets:
    """Request and token buckets (either may be unlimited). Thread-safe.

    Args:
        rpm: Requests per minute (None: unlimited).
        tpm: Tokens per minute (None: unlimited).
        burst_s: Seconds of refill a full bucket holds.
    """

    def __init__(self, rpm: float | None, tpm: float | None, burst_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self.burst_s = burst_s
        self.configure(rpm, tpm)
        self.granted_requests = 0
        self.granted_tokens = 0

    def configure(self, rpm: float | None, tpm: float | None) -> None:
        """Set (or change) the limits; buckets start full."""
        with getattr(self, "_lock", threading.Lock()):
            self.rpm, self.tpm = rpm, tpm
            self._req_rate = rpm / 60.0 if rpm else None
            self._tok_rate = tpm / 60.0 if tpm else None
            self._req_cap = max(1.0, self._req_rate * self.burst_s) if self._req_rate else 0.0
            self._tok_cap = max(1.0, self._tok_rate * self.burst_s) if self._tok_rate else 0.0
            self._req = self._req_cap
            self._tok = self._tok_cap
            self._t = time.monotonic()

    def limits(self) -> tuple[float | None, float | None]:
        """The configured (rpm, tpm)."""
        return self.rpm, self.tpm

    def _refill(self, now: float) -> None:
        dt = max(0.0, now - self._t)
        self._t = now
        if self._req_rate:
            self._req = min(self._req_cap, self._req + dt * self._req_rate)
        if self._tok_rate:
            self._tok = min(self._tok_cap, self._tok + dt * self._tok_rate)

    def lease(self, demands: list[int], settle_tokens: int = 0) -> tuple[int, float]:
        """Grant permits to the first waiting requests, in order.

        Args:
            demands: Estimated tokens of each waiting request, oldest first.
            settle_tokens: Billed minus estimated tokens of finished requests (may be negative).

        Returns:
            ``(granted, wait_s)``: how many of ``demands`` may start now, and when nothing was
            granted, how long until the next one could.
        """
        with self._lock:
            now = time.monotonic()
            self._refill(now)
            if self._tok_rate and settle_tokens:
                self._tok = min(self._tok_cap, self._tok - settle_tokens)
            granted = 0
            for need in demands:
                if self._req_rate and self._req < 1.0:
                    break
                # A request larger than the bucket passes when the bucket is full (it then owes).
                need_now = min(float(need), self._tok_cap) if self._tok_rate else 0.0
                if self._tok_rate and self._tok < need_now:
                    break
                if self._req_rate:
                    self._req -= 1.0
                if self._tok_rate:
                    self._tok -= float(need)
                granted += 1
            self.granted_requests += granted
            self.granted_tokens += sum(demands[:granted])
            if granted or not demands:
                return granted, 0.0
            wait = 0.0
            if self._req_rate and self._req < 1.0:
                wait = max(wait, (1.0 - self._req) / self._req_rate)
            if self._tok_rate:
                need_now = min(float(demands[0]), self._tok_cap)
                if self._tok < need_now:
                    wait = max(wait, (need_now - self._tok) / self._tok_rate)
            return 0, wait

    def stats(self) -> dict[str, Any]:
        """Limits and totals granted so far."""
        return {
            "rpm": self.rpm,
            "tpm": self.tpm,
            "granted_requests": self.granted_requests,
            "granted_tokens": self.granted_tokens,
        }


class _LoopState:
    def __init__(self) -> None:
        self.waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()
        self.task: asyncio.Task[None] | None = None


class RateLimiterHandle:
    """What a client holds: ``await acquire(tokens)`` before each attempt, ``settle(delta)`` after.

    Picklable (ships the Ray actor handle or, in-process, nothing shared: a new local bucket).

    Args:
        backend: A :class:`TokenBuckets` (in-process) or the Ray actor handle.
        name: Endpoint name (for logs).
    """

    def __init__(self, backend: Any, name: str = "") -> None:
        self._backend = backend
        self.name = name
        self._remote = not isinstance(backend, TokenBuckets)
        self._states: dict[int, _LoopState] = {}
        self._settle = 0
        self._settle_lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        if self._remote:
            return {"backend": self._backend, "name": self.name}
        rpm, tpm = self._backend.limits()
        return {"local": (rpm, tpm, self._backend.burst_s), "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        backend = state.get("backend")
        if backend is None:
            rpm, tpm, burst = state["local"]
            backend = TokenBuckets(rpm, tpm, burst)
        self.__init__(backend, state["name"])

    @property
    def is_remote(self) -> bool:
        """True when the buckets live in a Ray actor."""
        return self._remote

    async def acquire(self, tokens: int = 0) -> None:
        """Wait for one request permit carrying ``tokens`` estimated tokens."""
        loop = asyncio.get_running_loop()
        st = self._states.get(id(loop))
        if st is None:
            st = self._states[id(loop)] = _LoopState()
        fut: asyncio.Future[None] = loop.create_future()
        st.waiters.append((max(0, int(tokens)), fut))
        if st.task is None or st.task.done():
            st.task = loop.create_task(self._lease_loop(st))
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.done():
                fut.cancel()
            raise

    def settle(self, delta_tokens: int) -> None:
        """Report billed minus estimated tokens of a finished request."""
        with self._settle_lock:
            self._settle += int(delta_tokens)

    def stats(self) -> dict[str, Any]:
        """The shared buckets' limits and totals granted (all clients together)."""
        if self._remote:
            import ray

            return ray.get(self._backend.stats.remote())
        return self._backend.stats()

    async def _lease_loop(self, st: _LoopState) -> None:
        try:
            await self._lease_until_empty(st)
        except BaseException as e:
            # The limiter is gone (e.g. its actor died): fail the waiting requests, never hang them.
            while st.waiters:
                _, fut = st.waiters.popleft()
                if not fut.done():
                    fut.set_exception(e if isinstance(e, Exception) else RuntimeError(repr(e)))
            if not isinstance(e, Exception):
                raise

    async def _lease_until_empty(self, st: _LoopState) -> None:
        while st.waiters:
            # Cancelled waiters give their place up.
            while st.waiters and st.waiters[0][1].done():
                st.waiters.popleft()
            if not st.waiters:
                break
            demands = [t for t, f in st.waiters if not f.done()][:10000]
            with self._settle_lock:
                settle, self._settle = self._settle, 0
            if self._remote:
                granted, wait = await self._backend.lease.remote(demands, settle)
            else:
                granted, wait = self._backend.lease(demands, settle)
            while granted and st.waiters:
                _, fut = st.waiters.popleft()
                if fut.done():
                    continue  # cancelled before this lease: it was not among the demands
                fut.set_result(None)
                granted -= 1
            if st.waiters:
                await asyncio.sleep(min(max(wait, 0.001), _MAX_WAIT_S) if wait else 0)


def _limiter_actor_class() -> Any:
    import ray

    @ray.remote(num_cpus=0, max_concurrency=1)
    class RateLimiterActor(TokenBuckets):
        """The shared buckets, as a named Ray actor."""

    return RateLimiterActor


def get_rate_limiter(endpoint_name: str, rpm: float | None, tpm: float | None) -> RateLimiterHandle | None:
    """Get or create the endpoint's rate limiter; None when it has no limits.

    With Ray initialised this is the named actor ``luxit-rate-limiter:<endpoint>`` in the current
    Ray namespace (created on first use; call this once on the driver before starting the stage
    so the driver owns it, then pass the handle to the actors, or let each actor call it by name).
    A limiter found with other limits is reconfigured. Without Ray: an in-process limiter.

    Args:
        endpoint_name: Endpoint name from the job config.
        rpm: Requests per minute for the whole job.
        tpm: Tokens per minute for the whole job.
    """
    if not rpm and not tpm:
        return None
    try:
        import ray

        ray_up = ray.is_initialized()
    except ImportError:  # pragma: no cover - ray is a dependency
        ray_up = False
    if not ray_up:
        return RateLimiterHandle(TokenBuckets(rpm, tpm), endpoint_name)
    import ray

    from luxit_ray.llm.named import shared_actor

    actor = shared_actor(_limiter_actor_class(), ACTOR_PREFIX + endpoint_name, rpm, tpm, lifetime=None)
    if tuple(ray.get(actor.limits.remote())) != (rpm, tpm):
        ray.get(actor.configure.remote(rpm, tpm))
    return RateLimiterHandle(actor, endpoint_name)
