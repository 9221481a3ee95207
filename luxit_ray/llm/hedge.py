"""Hedged requests: a second copy of a straggling request, sent into a slot nobody waits for.

A step ends when its slowest answers arrive. With an endpoint whose answer times have a long tail
(a shared server's queue, a cold replica, p99 several times the median), the last seconds of every
step are spent on a few requests while almost every slot is idle, and no client that sends each
request once can do better (BENCHMARKS.md, the perfect-client bound). Hedging is the classic remedy
("The Tail at Scale", Dean and Barroso, 2013): once a request has waited longer than most answers
take, send a copy and take whichever answer comes first.

The rules here:
- the delay is the ``quantile`` of this client's recent answer times, known once ``MIN_SAMPLES``
  answers have been seen; a request sent before then is never copied (the first answers known
  are the fastest of their wave: a quantile of them, applied to the wave still in flight, copied
  most of it into the slots a step's start leaves idle);
- a copy takes a free slot of the client's ``max_in_flight`` and only one that no request waits
  for, so copies never delay first sends; stragglers take idle slots oldest first;
- at most ``budget`` copies per request sent (a credit earned per request, spent per copy);
- up to ``copies`` copies per attempt, each once the newest send has waited the delay (a second
  copy matters at a step's end, where every slot is idle and the copies straggle too);
- the first HTTP 200 wins and the other sends are cancelled (their connections are closed; vLLM
  aborts a request whose client went away). A failed answer (429, 5xx, a dropped connection)
  waits for the other sends before the client's retry logic sees it.

What it costs: a hosted API may bill a cancelled copy's prompt and whatever it generated, so the
client counts and bills every copy whose request left the process (its headers written; a copy
cancelled while it still waited for the rate limiter or a connection reached no one). What it
changes: when an answer's time follows its length (a reasoning model sampling at a temperature),
the first of two samples tends to be the shorter one, so hedging suits endpoints whose tail comes
from the server (judges, temperature 0, queueing), and is off unless an endpoint sets
``hedge_quantile``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from luxit_ray.llm.transport import RawResponse, TransportError

MIN_SAMPLES = 64  # answers seen before the first copy: a quantile of fewer is noise
WINDOW = 1024  # recent answer times the quantile is taken over
REFRESH_EVERY = 32  # answers between two recomputations of the quantile


class Slots:
    """``max_in_flight`` request slots of one client on one event loop (a FIFO semaphore that can
    also be taken without waiting, and tells the hedger when a slot is free)."""

    def __init__(self, n: int, on_free: Callable[[], None] | None = None) -> None:
        self.free = n
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_free = on_free

    def idle(self) -> bool:
        """A slot is free and no request waits for one."""
        # give() drains the waiters before it frees a slot, so a free slot means nobody waits.
        return self.free > 0 and not self._waiters

    def try_take(self) -> bool:
        """Take a slot only if :meth:`idle` (never ahead of a waiting request)."""
        if self.idle():
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.give()  # handed a slot just as the wait was cancelled: pass it on
            raise

    def give(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot passes straight to the oldest waiter
                return
        self.free += 1
        if self._on_free is not None:
            self._on_free()

    async def __aenter__(self) -> None:
        await self.take()

    async def __aexit__(self, *exc: object) -> None:
        self.give()


class Hedger:
    """The hedging state of one client on one event loop (not thread-safe; loop-local).

    Args:
        quantile: Send a copy once a request has waited this quantile of recent answer times.
        budget: Copies allowed per request sent (0.05: at most one copy per 20 requests).
        copies: Most copies of one attempt.
    """

    def __init__(self, quantile: float, budget: float, copies: int = 1) -> None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"hedge quantile must be in (0, 1), got {quantile}")
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"hedge budget must be in (0, 1], got {budget}")
        if copies < 1:
            raise ValueError(f"hedge copies must be at least 1, got {copies}")
        self.quantile = quantile
        self.budget = budget
        self.copies = copies
        self.slots: Slots | None = None
        self._times: deque[float] = deque(maxlen=WINDOW)
        self._since = 0
        self._delay: float | None = None
        self._credit = 0.0
        self._turns: deque[asyncio.Future[None]] = deque()

    def bind(self, slots: Slots) -> Slots:
        """Share the client's slots (their releases offer turns to waiting stragglers)."""
        self.slots = slots
        slots._on_free = self._offer
        return slots

    @property
    def delay_s(self) -> float | None:
        """Seconds after which a request gets a copy; None until enough answers were seen."""
        return self._delay

    def _observe(self, seconds: float) -> None:
        self._times.append(seconds)
        self._since += 1
        if len(self._times) >= MIN_SAMPLES and (self._delay is None or self._since >= REFRESH_EVERY):
            self._since = 0
            ordered = sorted(self._times)
            self._delay = ordered[min(len(ordered) - 1, int(self.quantile * len(ordered)))]

    def _offer(self) -> None:
        # A slot is free: the oldest straggler gets it, within the budget. Turns of requests
        # answered meanwhile leave the front first, also while there is no credit.
        while self._turns and self._turns[0].done():
            self._turns.popleft()
        slots = self.slots
        while self._turns and self._credit >= 1.0 and slots is not None:
            turn = self._turns[0]
            if turn.done():  # its request was answered meanwhile
                self._turns.popleft()
                continue
            if not slots.try_take():
                return
            self._turns.popleft()
            self._credit -= 1.0
            turn.set_result(None)

    async def send(
        self,
        first: Callable[[], Awaitable[RawResponse]],
        copy: Callable[[], Awaitable[RawResponse]],
    ) -> tuple[RawResponse | TransportError, bool]:
        """Run one attempt: ``first()`` now, then ``copy()`` each time the newest send has
        straggled for the delay, up to ``copies`` times, whenever a slot is idle.

        The caller holds one slot for the first send; each copy takes (and gives back) its own.
        A request sent before the delay is known is not copied.

        Returns:
            ``(response, whether a copy answered first)``; when every send failed, the response
            is the first send's failure (a non-200 answer, or its TransportError returned, not
            raised, so the caller still counts the copies). The caller counts its copies as they
            leave the process (a copy cancelled while it waited reached no one).

        Raises:
            TransportError: as ``first()`` when no copy was sent.
        """
        self._credit += self.budget
        loop = asyncio.get_running_loop()
        t0 = last = time.monotonic()
        may_copy = self._delay is not None
        sends = [asyncio.ensure_future(first())]
        turn: asyncio.Future[None] | None = None
        held = 0  # copy slots this request holds, given back when it is done
        try:
            while True:
                won = _first_answer(sends)
                if won is not None:
                    # A hedged request's own time is at least this long: the censored sample
                    # keeps the quantile honest (dropping hedged requests would pull it down).
                    self._observe(time.monotonic() - t0)
                    return won.result(), won is not sends[0]
                live = [s for s in sends if not s.done()]
                if not live:
                    return _first_failure(sends)
                waits: set[asyncio.Future[Any]] = set(live)
                timeout = None
                # Waiting for the delay to pass: no turn queued yet, and a copy still allowed.
                due: float | None = None
                if turn is not None:
                    waits.add(turn)
                elif may_copy and len(sends) <= self.copies:
                    assert self._delay is not None  # known once, known for good
                    due = last + self._delay
                    timeout = max(0.0, due - time.monotonic())
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if turn is not None and turn.done():
                    turn, held = None, held + 1
                    if _first_answer(sends) is not None:
                        self._credit += 1.0  # answered as the slot came: no copy, the credit goes back
                        continue
                    sends.append(asyncio.ensure_future(copy()))
                    last = time.monotonic()
                elif due is not None and time.monotonic() >= due and _first_answer(sends) is None:
                    turn = loop.create_future()
                    self._turns.append(turn)
                    self._offer()
        finally:
            for s in sends:
                if not s.done():
                    s.cancel()
            if turn is not None:
                if not turn.done():
                    turn.cancel()  # still queued: _offer skips it
                elif not turn.cancelled():
                    held += 1  # granted as the request ended
            for _ in range(held):
                assert self.slots is not None
                self.slots.give()


def _first_answer(sends: list[asyncio.Future[RawResponse]]) -> asyncio.Future[RawResponse] | None:
    """The earliest-sent send that answered (HTTP 200), if any."""
    return next((s for s in sends if s.done() and _answered(s)), None)


def _first_failure(sends: list[asyncio.Future[RawResponse]]) -> tuple[RawResponse | TransportError, bool]:
    first = sends[0]
    exc = first.exception()
    if exc is None:
        return first.result(), False
    if len(sends) > 1 and isinstance(exc, TransportError):
        return exc, False
    raise exc


def _answered(task: asyncio.Future[Any]) -> bool:
    return not task.cancelled() and task.exception() is None and task.result().status == 200
