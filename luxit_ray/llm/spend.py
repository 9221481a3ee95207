"""What a request costs: every send the endpoint may bill, priced by one function, kept in a ledger.

A request is more than its answer. A hedged request sends copies and cancels the losers; a hosted
API bills a non-streamed request in full even when the client hangs up, so a cancelled copy is
paid. A retry after an HTTP 200 that was not a chat completion, or after a timeout, may be paid
too. :class:`Billing` counts all of them for one request:

- the answer's own usage, as the endpoint reported it (input split into the part read from the
  provider's prompt cache and the rest);
- each other send: its input as the answer's (the same body has the same tokens), its output
  *estimated* from the answer's (what the endpoint would have generated), and that estimate
  counted apart (``estimated_tokens``) so a reader knows which part is a guess.

:func:`cost_usd` is the one place a price is applied. :class:`PaidBy` says which run and which
attempt of it paid for a recorded answer: the request cache keeps it, so a later attempt (or
another actor after one was lost) that finds the answer in the cache knows it was paid in this
run and by whom. :class:`Ledger` is the run's durable spend record: one line per paid request,
written the moment its answer arrives (by the same group-committed writer as the request cache),
never cleared by a rerun, read back by :func:`read_ledger` for the manifest. A rerun therefore
never erases what an earlier attempt spent, and the spend of an actor or node that was lost is
in the ledger as soon as its answers were.

Nothing here sees an API key.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "Billing",
    "Ledger",
    "PaidBy",
    "cached_share",
    "cached_tokens_of",
    "cost_usd",
    "read_ledger",
    "spend_by",
]


def cached_tokens_of(usage: Mapping[str, Any] | None) -> int:
    """Input tokens the provider read from its prompt cache, from a chat completion's ``usage``.

    Two shapes exist: OpenAI and vLLM report ``usage.prompt_tokens_details.cached_tokens``;
    DeepSeek reports ``prompt_cache_hit_tokens`` (and ``prompt_cache_miss_tokens``) at the top.
    """
    if not usage:
        return 0
    details = usage.get("prompt_tokens_details")
    if isinstance(details, Mapping) and details.get("cached_tokens") is not None:
        return _int(details.get("cached_tokens"))
    if usage.get("prompt_cache_hit_tokens") is not None:
        return _int(usage.get("prompt_cache_hit_tokens"))
    return 0


def _int(v: Any) -> int:
    try:
        return max(0, int(v))
    except (TypeError, ValueError):
        return 0


@dataclass
class Billing:
    """What the endpoint may bill for one request, over all its sends.

    Attributes:
        sends: Sends the endpoint may bill: the answer, hedge copies (answered or cancelled),
            earlier sends that got an HTTP 200 without a usable completion, sends the client
            gave up on (timeouts). Refused sends (429, 5xx, connection refused) are not billed.
        prompt_tokens: Input tokens of those sends, cached ones included.
        cached_tokens: Of ``prompt_tokens``, those read from the provider's prompt cache.
        completion_tokens: Output tokens (reasoning included), estimates included.
        estimated_tokens: Of ``prompt_tokens + completion_tokens``, those estimated (sends
            whose usage the client never saw).
        batch: Billed at the endpoint's batch price.
    """

    sends: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    estimated_tokens: int = 0
    batch: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Billing:
        if not d:
            return cls()
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def of_answer(cls, prompt_tokens: int, cached_tokens: int, completion_tokens: int, *,
                  extra_sends: int = 0, unanswered_sends: int = 0, batch: bool = False) -> Billing:
        """The billing of an answered request.

        Args:
            prompt_tokens, cached_tokens, completion_tokens: The answer's usage.
            extra_sends: Other sends of the same body that the endpoint took on and may have
                finished (hedge copies, cancelled losers, 200s without a completion): input as
                the answer's (none of it counted as cached), output estimated as the answer's.
            unanswered_sends: Sends the client gave up on (timeouts): input as the answer's,
                output estimated as the answer's.
            batch: Billed at the batch price.
        """
        others = extra_sends + unanswered_sends
        return cls(
            sends=1 + others,
            prompt_tokens=prompt_tokens * (1 + others),
            cached_tokens=cached_tokens,
            completion_tokens=completion_tokens * (1 + others),
            estimated_tokens=completion_tokens * others,
            batch=batch,
        )

    @classmethod
    def of_failure(cls, billed_sends: int, prompt_estimate: int) -> Billing:
        """A request that never got an answer but whose sends may be billed (timeouts, 200s
        without a completion): input estimated from the body's length, output unknown (0)."""
        if billed_sends <= 0:
            return cls()
        return cls(sends=billed_sends, prompt_tokens=prompt_estimate * billed_sends,
                   estimated_tokens=prompt_estimate * billed_sends)

    def add(self, other: Billing) -> None:
        for f in ("sends", "prompt_tokens", "cached_tokens", "completion_tokens", "estimated_tokens"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


def cost_usd(prices: Any, billing: Billing | Mapping[str, Any]) -> float:
    """The one cost formula: ``(uncached input x input price + cached input x cached price +
    output x output price) / 1e6``, times ``batch_price_factor`` for a batch request.

    Args:
        prices: An :class:`~luxit_ray.config.llm.EndpointConfig` (or anything with its price
            attributes; missing ones count as 0 / no discount).
        billing: A :class:`Billing` or its dict.
    """
    b = billing if isinstance(billing, Billing) else Billing.from_dict(billing)
    p_in = float(getattr(prices, "price_input_per_mtok", 0.0) or 0.0)
    p_cached = getattr(prices, "price_cached_input_per_mtok", None)
    p_cached = p_in if p_cached is None else float(p_cached)
    p_out = float(getattr(prices, "price_output_per_mtok", 0.0) or 0.0)
    cached = min(b.cached_tokens, b.prompt_tokens)
    usd = ((b.prompt_tokens - cached) * p_in + cached * p_cached + b.completion_tokens * p_out) / 1e6
    if b.batch:
        usd *= float(getattr(prices, "batch_price_factor", 1.0) or 1.0)
    return usd


@dataclass(frozen=True)
class PaidBy:
    """Who paid for a recorded answer: the run, the attempt of it (1 for the first start, one
    more for each rerun) and an id unique to the paid request (its ledger line)."""

    run_id: str
    attempt: int
    paid_id: str

    @classmethod
    def new(cls, run_id: str, attempt: int) -> PaidBy:
        return cls(run_id, int(attempt), uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "attempt": self.attempt, "paid_id": self.paid_id}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PaidBy | None:
        if not d or not d.get("paid_id"):
            return None
        return cls(str(d.get("run_id") or ""), int(d.get("attempt") or 0), str(d["paid_id"]))


class Ledger:
    """The run's durable spend record (``<run>/ledger/``): one line per paid request.

    A line: ``{"paid_id", "run_id", "attempt", "stage", "model", "endpoint", "billing",
    "cost_usd", "error_kind"}``, the cost at the prices in force when it was paid. Written through
    a :class:`~luxit_ray.llm.cache.RequestCache` on the ledger's folder (one segment per process,
    fsync'd group commits, a torn last line after a kill skipped), keyed by ``paid_id``.
    Picklable: shipped to actors by location; each process opens its own writer lazily.

    Args:
        path: The ledger's folder (a local path, or a path on ``filesystem``).
        run_id: The run whose spend this is.
        attempt: This attempt's number.
        filesystem: A ``pyarrow.fs.FileSystem`` (None: ``path`` is a local path or a URI).
    """

    FOLDER = "ledger"

    def __init__(self, path: str, run_id: str, attempt: int, filesystem: Any = None) -> None:
        self.path = path
        self.run_id = run_id
        self.attempt = int(attempt)
        self.filesystem = filesystem
        self._writer: Any = None

    @classmethod
    def for_run(cls, run: Any, attempt: int) -> Ledger:
        """The ledger of a :class:`~luxit_ray.runs.RunDir`."""
        return cls(run.fs_path(cls.FOLDER), run.run_id, attempt, filesystem=run.fs)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "run_id": self.run_id, "attempt": self.attempt, "filesystem": self.filesystem}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["run_id"], state["attempt"], filesystem=state["filesystem"])

    def paid_by(self) -> PaidBy:
        """A fresh payer id of this run and attempt."""
        return PaidBy.new(self.run_id, self.attempt)

    def _open(self) -> Any:
        if self._writer is None:
            from luxit_ray.llm.cache import RequestCache

            # Only our own segment is written; nothing is looked up, so no index of others is needed.
            self._writer = RequestCache(self.path, filesystem=self.filesystem, flush_every=64, flush_interval_s=2.0)
        return self._writer

    @staticmethod
    def line(stage: str, model: str, endpoint_name: str, prices: Any, billing: Billing, paid: PaidBy,
             error_kind: str | None = None) -> dict[str, Any]:
        """One ledger line."""
        return {
            "paid_id": paid.paid_id, "run_id": paid.run_id, "attempt": paid.attempt,
            "stage": stage, "model": model, "endpoint": endpoint_name,
            "billing": billing.to_dict(), "cost_usd": cost_usd(prices, billing), "error_kind": error_kind,
        }

    def submit(self, entry: Mapping[str, Any]) -> Any:
        """Queue one line; the returned future resolves once it is durable."""
        return self._open().submit(str(entry["paid_id"]), dict(entry))

    async def record_async(self, entry: Mapping[str, Any]) -> None:
        """:meth:`submit` and wait for it from a coroutine."""
        import asyncio

        await asyncio.wrap_future(self.submit(entry))

    def record(self, stage: str, model: str, endpoint_name: str, prices: Any, completion: Any) -> None:
        """Record a completion's billing (its ``billing`` and ``paid``); durable on return."""
        if completion.billing is None or completion.paid is None or not completion.billing.sends:
            return
        self.submit(self.line(stage, model, endpoint_name, prices, completion.billing, completion.paid,
                              completion.error_kind)).result()

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def read(self) -> list[dict[str, Any]]:
        """Every line recorded so far, by any process (see :func:`read_ledger`)."""
        return read_ledger(self.path, self.filesystem)


def read_ledger(path: str, filesystem: Any = None) -> list[dict[str, Any]]:
    """Every line of a ledger folder, each paid request once (torn lines skipped and logged)."""
    import pyarrow.fs as pafs

    if filesystem is None:
        if "://" not in path:
            path = os.path.abspath(path)
        filesystem, path = pafs.FileSystem.from_uri(path)
    info = filesystem.get_file_info(path)
    if info.type != pafs.FileType.Directory:
        return []
    seen: dict[str, dict[str, Any]] = {}
    for f in sorted(filesystem.get_file_info(pafs.FileSelector(path, recursive=False)), key=lambda i: i.path):
        if f.type != pafs.FileType.File or not f.base_name.endswith(".jsonl"):
            continue
        with filesystem.open_input_stream(f.path) as stream:
            data = stream.read()
        for n, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                entry = json.loads(raw)["v"]
            except (ValueError, KeyError, TypeError):
                log.warning("ledger %s: skipped an unreadable line %d (a write cut off by a kill)", f.path, n)
                continue
            seen[str(entry.get("paid_id"))] = entry
    return list(seen.values())


SPEND_FIELDS = ("requests", "sends", "prompt_tokens", "cached_tokens", "completion_tokens", "estimated_tokens",
                "batch_requests", "cost_usd")


def cached_share(counts: Mapping[str, Any]) -> float | None:
    """The share of input tokens read from the provider's prompt cache (None: no input)."""
    return round(counts["cached_tokens"] / counts["prompt_tokens"], 4) if counts["prompt_tokens"] else None


def empty_spend() -> dict[str, Any]:
    """Zeroed spend counters."""
    d: dict[str, Any] = {k: 0 for k in SPEND_FIELDS}
    d["cost_usd"] = 0.0
    return d


def add_spend(into: dict[str, Any], entry: Mapping[str, Any]) -> None:
    """Add one ledger line to spend counters."""
    b = Billing.from_dict(entry.get("billing"))
    into["requests"] += 1
    into["sends"] += b.sends
    into["prompt_tokens"] += b.prompt_tokens
    into["cached_tokens"] += b.cached_tokens
    into["completion_tokens"] += b.completion_tokens
    into["estimated_tokens"] += b.estimated_tokens
    into["batch_requests"] += int(b.batch)
    into["cost_usd"] += float(entry.get("cost_usd") or 0.0)


def spend_by(entries: Iterable[Mapping[str, Any]], run_id: str, attempt: int,
             stage_of: Any = None) -> dict[str, dict[str, Any]]:
    """A run's spend per (label, model), split by attempt.

    Args:
        entries: Ledger lines (:func:`read_ledger`).
        run_id: Only lines of this run count.
        attempt: The current attempt: its lines go to ``this_attempt``, lower ones to
            ``earlier_attempts``.
        stage_of: ``f(stage_label) -> key or None``: groups lines (e.g. judge label -> judge
            name) and drops those of other steps (None). Default: the label itself.

    Returns:
        ``{key: {model: {"this_attempt": spend, "earlier_attempts": spend, "total": spend,
        "cached_input_share": float | None}}}`` (spend as :func:`empty_spend`, costs rounded).
    """
    out: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.get("run_id") != run_id:
            continue
        key = stage_of(str(e.get("stage"))) if stage_of is not None else str(e.get("stage"))
        if key is None:
            continue
        slot = out.setdefault(key, {}).setdefault(
            str(e.get("model")), {"this_attempt": empty_spend(), "earlier_attempts": empty_spend(), "total": empty_spend()})
        which = "this_attempt" if int(e.get("attempt") or 0) >= attempt else "earlier_attempts"
        add_spend(slot[which], e)
        add_spend(slot["total"], e)
    for models in out.values():
        for slot in models.values():
            for part in ("this_attempt", "earlier_attempts", "total"):
                slot[part]["cost_usd"] = round(slot[part]["cost_usd"], 6)
            t = slot["total"]
            slot["cached_input_share"] = cached_share(t)
    return out


def iter_models(spend: Mapping[str, Mapping[str, Any]]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """``(key, model, slot)`` over a :func:`spend_by` result, sorted."""
    for key in sorted(spend):
        for model in sorted(spend[key]):
            yield key, model, spend[key][model]
