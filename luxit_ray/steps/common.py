"""What every step of a run shares: Parquet folders, error-rate gates, live progress, usage.

Nothing here knows a particular step; :mod:`luxit_ray.steps.runner` and the steps use it.
"""

from __future__ import annotations

import logging
from typing import Any

from luxit_ray.config import JobConfig

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 5.0


def cache_uri(cfg: JobConfig) -> str | None:
    """The request cache location (None when disabled): cache.uri or <output_dir>/.cache/llm."""
    import os

    if not cfg.cache.enabled:
        return None
    if cfg.cache.uri:
        return cfg.cache.uri if "://" in cfg.cache.uri else os.path.abspath(cfg.cache.uri)
    out = cfg.run.output_dir
    if "://" in out:  # beside the runs on the same store, with the same filesystem options
        base, _, query = out.partition("?")
        return base.rstrip("/") + "/.cache/llm" + (f"?{query}" if query else "")
    return os.path.abspath(os.path.join(out, ".cache", "llm"))


def check_key(name: str, endpoint: Any) -> None:
    """Fail before Ray starts when the endpoint's key variable is named but unset."""
    import os

    from luxit_ray.errors import AuthError

    if endpoint.api_key_env and not os.environ.get(endpoint.api_key_env):
        raise AuthError(f"endpoint {name!r}: environment variable {endpoint.api_key_env} is not set")


class original_errors:  # noqa: N801 - used like a function: ``with original_errors():``
    """Build and run Ray Data jobs inside this block: a LuxitError raised in an actor
    (AuthError, InputError, ...) reaches the caller as itself, a one-line error for the CLI.

    Ray Data normally re-raises a UDF's exception as ``UserCodeException`` whose cause does not
    survive the trip to the driver; ``raise_original_map_exception`` keeps the original inside
    Ray's ``RayTaskError``, which :func:`~luxit_ray.errors.unwrap_ray_error` then unwraps.
    """

    def __enter__(self) -> None:
        import ray

        self._ctx = ray.data.DataContext.get_current()
        self._before = self._ctx.raise_original_map_exception
        self._ctx.raise_original_map_exception = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from luxit_ray.errors import LuxitError, unwrap_ray_error

        self._ctx.raise_original_map_exception = self._before
        if isinstance(exc, Exception):
            cause = unwrap_ray_error(exc)
            if isinstance(cause, LuxitError) and cause is not exc:
                raise cause from None


def check_rate(step: str, rate: float, limit: float, what: str, where: Any) -> None:
    """Raise ErrorRateExceeded when ``rate`` passes the step's ``max_error_rate``; the message
    names the step, the counts (``what``), the limit's key and the folder holding the reasons."""
    from luxit_ray.errors import ErrorRateExceeded

    if rate > limit:
        raise ErrorRateExceeded(
            f"{step}: {what} ({rate:.1%} > {step}.max_error_rate {limit:.1%}); the rows and their reasons "
            f"are in {where}. Rerun with {step}.max_error_rate=... to accept them (recorded calls are not paid again)."
        )


def split_parquet(run: Any, src: str, out_schema: Any, outputs: dict[str, Any]) -> dict[str, int]:
    """Write the rows of every Parquet file of the run's folder ``src`` to each output folder
    whose mask selects them, with the columns of ``out_schema``, file by file (one output file
    per input file keeps the read parallelism of the next step). Every output folder gets at
    least one (possibly empty) file with ``out_schema``.

    Args:
        run: The :class:`~luxit_ray.runs.RunDir` (local disk or object store).
        src: Folder of Parquet files whose columns include ``out_schema``'s.
        out_schema: The outputs' schema (other columns of ``src`` are left out).
        outputs: Output folder name -> ``mask(table)`` selecting its rows.

    Returns:
        Rows written per output folder.
    """
    written = {folder: 0 for folder in outputs}
    for i, f in enumerate(run.parquet_files(src)):
        table = run.read_parquet(f).select(out_schema.names).cast(out_schema)
        for folder, mask in outputs.items():
            part = table.filter(mask(table))
            if part.num_rows:
                run.write_parquet(folder, f"part-{i:05d}.parquet", part)
                written[folder] += part.num_rows
    for folder, n in written.items():
        if n == 0:
            run.write_parquet(folder, "part-00000.parquet", out_schema.empty_table())
    return written


def usage_slot() -> dict[str, Any]:
    """Zeroed usage counters of one model or judge (see :func:`add_usage` and :func:`add_spend`)."""
    return {"requests": 0, "sends": 0, "cache_hits": 0, "paid_earlier": 0, "retries": 0, "hedges": 0,
            "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0, "estimated_tokens": 0,
            "reasoning_tokens": 0, "errors": 0, "cost_usd": 0.0, "cost_this_attempt_usd": 0.0,
            "cost_earlier_attempts_usd": 0.0, "saved_usd": 0.0, "cached_input_share": None}


def add_usage(slot: dict[str, Any], usage: dict[str, Any], endpoint: Any, error_kind: str | None,
              run_id: str | None = None) -> None:
    """Count one request from its row's ``usage``: what this attempt sent, what came from the
    request cache, and what the cache saved. Money spent is not taken from rows but from the
    run's ledger (:func:`add_spend`): a row shows only the request's last outcome.

    A cache hit on an answer this run paid for (an earlier attempt, or an actor that was lost)
    is ``paid_earlier``; one paid by another run is a saving, priced at its recorded billing.
    """
    from luxit_ray.llm.spend import cost_usd

    if usage.get("cached"):
        slot["cache_hits"] += 1
        paid = usage.get("paid") or {}
        if run_id is not None and paid.get("run_id") == run_id:
            slot["paid_earlier"] += 1
        elif usage.get("billing"):
            slot["saved_usd"] += cost_usd(endpoint, usage["billing"])
    else:
        slot["requests"] += 1
        slot["retries"] += int(usage.get("retries") or 0)
        slot["hedges"] += int(usage.get("hedges") or 0)
        slot["reasoning_tokens"] += int(usage.get("reasoning_tokens") or 0)
    if error_kind:
        slot["errors"] += 1


def add_spend(slot: dict[str, Any], spend: dict[str, Any] | None) -> None:
    """Put a model's spend from the ledger (one slot of :func:`luxit_ray.llm.spend.spend_by`)
    into its usage counters: every send of every attempt of this run, tokens as billed."""
    if not spend:
        return
    total = spend["total"]
    for k in ("sends", "prompt_tokens", "cached_tokens", "completion_tokens", "estimated_tokens"):
        slot[k] += total[k]
    slot["cost_usd"] += total["cost_usd"]
    slot["cost_this_attempt_usd"] += spend["this_attempt"]["cost_usd"]
    slot["cost_earlier_attempts_usd"] += spend["earlier_attempts"]["cost_usd"]
    slot["paid_requests_this_attempt"] = slot.get("paid_requests_this_attempt", 0) + spend["this_attempt"]["requests"]
    slot["paid_requests_earlier_attempts"] = (slot.get("paid_requests_earlier_attempts", 0)
                                              + spend["earlier_attempts"]["requests"])
    slot["batch_requests"] = slot.get("batch_requests", 0) + total["batch_requests"]


def finish_slot(slot: dict[str, Any]) -> dict[str, Any]:
    """Round a usage slot's money and add its cached-input share."""
    for k in ("cost_usd", "cost_this_attempt_usd", "cost_earlier_attempts_usd", "saved_usd"):
        slot[k] = round(slot[k], 6)
    from luxit_ray.llm.spend import cached_share

    slot["cached_input_share"] = cached_share(slot)
    return slot


def run_spend(run: Any, stage_of: Any) -> dict[str, dict[str, Any]]:
    """This run's spend from its ledger, per key of ``stage_of`` and model, split into the
    latest attempt and the earlier ones (:func:`luxit_ray.llm.spend.spend_by`)."""
    from luxit_ray.llm.spend import Ledger, read_ledger, spend_by

    entries = read_ledger(run.fs_path(Ledger.FOLDER), run.fs)
    return spend_by(entries, run.run_id, run.attempt(), stage_of)


def spend_totals(usage: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A step's money over its models or judges: this run's spend (all attempts), the latest
    attempt's, the earlier attempts', what the cache saved, and the cached share of input."""
    keys = ("sends", "prompt_tokens", "cached_tokens", "completion_tokens", "estimated_tokens")
    out: dict[str, Any] = {k: sum(u.get(k, 0) for u in usage.values()) for k in keys}
    for k in ("cost_usd", "cost_this_attempt_usd", "cost_earlier_attempts_usd", "saved_usd"):
        out[k] = round(sum(u.get(k, 0.0) for u in usage.values()), 6)
    from luxit_ray.llm.spend import cached_share

    out["cached_input_share"] = cached_share(out)
    return out


class FreeEndpoint:
    """Prices of an endpoint not in the config (a judge renamed since): nothing is charged."""

    price_input_per_mtok = 0.0
    price_cached_input_per_mtok = None
    price_output_per_mtok = 0.0
    batch_price_factor = 1.0


FREE = FreeEndpoint()


def usage_table(usage: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    """The CLI table of a step's usage per model or judge."""
    cols = [key, "requests", "sends", "copies", "cache hits", "paid earlier", "retries", "tok in", "cached in",
            "tok out", "USD (run)", "USD earlier", "saved"]
    rows = []
    for name, u in sorted(usage.items()):
        share = u.get("cached_input_share")
        rows.append([name, u["requests"], u.get("sends", 0), u.get("hedges", 0), u["cache_hits"], u.get("paid_earlier", 0),
                     u["retries"], u["prompt_tokens"], "-" if share is None else f"{share:.0%}", u["completion_tokens"],
                     round(u["cost_usd"], 4), round(u.get("cost_earlier_attempts_usd", 0.0), 4),
                     round(u.get("saved_usd", 0.0), 4)])
    return {"columns": cols, "rows": rows}


class Progress:
    """Logs one progress line every few seconds while a step's dataset executes: rows done,
    requests, cache hits, errors, tokens, cost so far, projected total cost and ETA (from the
    run's Accountant actor, counting only this step's stage labels)."""

    def __init__(self, accountant: Any, stage: str, total_rows: int, unit: str, every_s: float = PROGRESS_EVERY_S) -> None:
        self.accountant = accountant
        self.stage = stage
        self.total = total_rows
        self.unit = unit
        self.every_s = every_s
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{stage}", daemon=True)
        self._base: dict[str, Any] = {}
        self._t0 = 0.0

    def __enter__(self) -> Progress:
        import time

        self._t0 = time.monotonic()
        try:
            self._base = self._totals()
        except Exception as exc:  # progress must never break the job
            log.warning("%s: no live progress (the run's accountant did not answer: %s)", self.stage, exc)
            self._stop.set()
            return self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import time

        started = self._thread.is_alive()
        self._stop.set()
        if started:
            self._thread.join(timeout=10)
        if exc[0] is None and started:
            # The actors push their last counts fire-and-forget: give them a moment to land.
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    if self._totals()["rows"] - self._base.get("rows", 0) >= self.total:
                        break
                except Exception:  # the final line is best effort; report() says why it is missing
                    break
                time.sleep(0.1)
            self.report()

    def _totals(self) -> dict[str, Any]:
        snap = self.accountant.snapshot()
        out = {"rows": snap.get("rows", {}).get(self.stage, 0), "requests": 0, "sends": 0, "hedges": 0,
               "cache_hits": 0, "retries": 0, "errors": 0, "prompt_tokens": 0, "cached_tokens": 0,
               "completion_tokens": 0, "reasoning_tokens": 0, "cost_usd": 0.0}
        for label, models in snap.get("by_stage", {}).items():
            if label == self.stage or label.startswith(self.stage + ":"):
                for m in models.values():
                    for k in out:
                        if k != "rows":
                            out[k] += m.get(k, 0)
        return out

    def line(self) -> str:
        """The current progress line."""
        import time

        now = self._totals()
        d = {k: now[k] - self._base.get(k, 0) for k in now}
        elapsed = time.monotonic() - self._t0
        frac = d["rows"] / self.total if self.total else 1.0
        text = (
            f"{self.stage}: {d['rows']}/{self.total} {self.unit} ({frac:.0%}) | requests {d['requests']}"
            f" (sends {d['sends']}, copies {d['hedges']}, cache {d['cache_hits']}, retries {d['retries']},"
            f" errors {d['errors']})"
            f" | tokens in {d['prompt_tokens']:,} (cached {d['cached_tokens']:,}) out {d['completion_tokens']:,}"
            f" (reasoning {d['reasoning_tokens']:,})"
            f" | cost ${d['cost_usd']:.4f} (copies and cancelled sends included)"
        )
        if 0 < frac < 1:
            text += f", projected ${d['cost_usd'] / frac:.2f}, eta {elapsed * (1 - frac) / frac / 60:.1f} min"
        return text

    def report(self) -> None:
        try:
            log.info("%s", self.line())
        except Exception as exc:  # progress must never break the job; say why it is missing
            log.debug("progress unavailable: %s", exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.report()
