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
    """Zeroed usage counters of one model or judge."""
    return {"requests": 0, "cache_hits": 0, "retries": 0, "hedges": 0, "prompt_tokens": 0, "completion_tokens": 0,
            "reasoning_tokens": 0, "errors": 0, "cost_usd": 0.0}


def add_usage(slot: dict[str, Any], usage: dict[str, Any], endpoint: Any, error_kind: str | None) -> None:
    """Count one request: tokens and cost only for calls paid in this run (not cache hits)."""
    if usage.get("cached"):
        slot["cache_hits"] += 1
    else:
        slot["requests"] += 1
        slot["retries"] += int(usage.get("retries") or 0)
        slot["hedges"] += int(usage.get("hedges") or 0)
        for k in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
            slot[k] += int(usage.get(k) or 0)
        slot["cost_usd"] += (int(usage.get("prompt_tokens") or 0) * endpoint.price_input_per_mtok
                             + int(usage.get("completion_tokens") or 0) * endpoint.price_output_per_mtok) / 1e6
    if error_kind:
        slot["errors"] += 1


class FreeEndpoint:
    """Prices of an endpoint not in the config (a judge renamed since): nothing is charged."""

    price_input_per_mtok = 0.0
    price_output_per_mtok = 0.0


FREE = FreeEndpoint()


def usage_table(usage: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    cols = [key, "requests", "cached", "retries", "hedged", "tok in", "tok out", "reasoning", "USD"]
    rows = [[name, u["requests"], u["cache_hits"], u["retries"], u.get("hedges", 0), u["prompt_tokens"], u["completion_tokens"],
             u["reasoning_tokens"], round(u["cost_usd"], 4)] for name, u in sorted(usage.items())]
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
        out = {"rows": snap.get("rows", {}).get(self.stage, 0), "requests": 0, "cache_hits": 0, "retries": 0,
               "errors": 0, "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0, "cost_usd": 0.0}
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
            f" (cache {d['cache_hits']}, retries {d['retries']}, errors {d['errors']})"
            f" | tokens in {d['prompt_tokens']:,} out {d['completion_tokens']:,} (reasoning {d['reasoning_tokens']:,})"
            f" | cost ${d['cost_usd']:.4f}"
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
