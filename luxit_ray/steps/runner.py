"""The one runner of LLM steps: alone (``luxit generate``, ``luxit judge``) or streamed, one
into the next, in a single Ray Data pipeline (``luxit run``: judges score pairs while the
generator is still writing them).

Exactly-once spending: every billed response is recorded in the durable request cache
(:class:`luxit_ray.llm.RequestCache`, keyed by endpoint, model, rendered messages, sampling and
output format) before the stage uses it. A rerun of a step (after a crash, a kill, or by hand)
reads its whole input again, renders the same requests, answers the recorded ones from the
cache and sends only the rest; the step's output folders are replaced, so no row is lost or
duplicated. A request that was in flight when the job died has no recorded response: it is sent
again. ``ray.data.checkpoint`` is not used: its unit is the written output block (calls in an
unwritten block would be paid again without the cache, and with the cache they are free anyway),
it keeps every finished id in memory, re-reads the whole input on resume too, and its filter
actor (1 CPU) stalled small clusters (SPEC.md).

What one run of the runner does, for every step the same way:

1. each step checks its config section, endpoint keys and prompt templates (before Ray starts);
2. finished steps at the head of the chain are skipped (their ``_SUCCESS`` marker exists);
3. Ray starts; the run's accountant and each endpoint's rate limiter are got or created, and a
   new attempt of the run is recorded (``attempts.json``): its spend goes to the run's ledger
   (:class:`luxit_ray.llm.spend.Ledger`) beside what earlier attempts spent;
4. the first pending step reads its input, every pending step adds its stage to the same
   dataset (:meth:`luxit_ray.stages.LLMStage.apply`), and one write runs the whole chain while
   a progress line per step is logged. A step with an endpoint in batch mode needs its whole
   input first, so the chain is cut before it: its batch pre-pass
   (:mod:`luxit_ray.steps.batch`) fills the request cache through the Batch API, then it and
   the steps after it run as the next chain, on the cached answers;
5. should a lost node leave the cluster unable to hold the stages' actors, the chain stops with
   one line naming what waits (``stall_timeout_s``; :mod:`luxit_ray.steps.stall`) instead of
   waiting in silence; Ray itself restarts the actors and re-runs the tasks a lost node held;
6. each step, in order, splits the rows into its output folders, counts them, records the
   counts in the manifest, applies its error-rate gate and writes its markers. When a step's
   gate fails, the steps after it still write and count their outputs but are not marked done,
   and the first failure is raised.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from luxit_ray import runs
from luxit_ray.config import JobConfig
from luxit_ray.errors import ErrorRateExceeded
from luxit_ray.stages import calls_at_once
from luxit_ray.steps.batch import batch_endpoints, run_batch_pass
from luxit_ray.steps.common import Progress, cache_uri, check_key, original_errors
from luxit_ray.steps.stall import watching

log = logging.getLogger(__name__)

# Rows per Parquet file the chain writes before its steps split them: a few large files rather
# than one per batch (the next step's read parallelism comes from Ray Data's block splitting).
MIN_ROWS_PER_FILE = 5000
# Every actor of a stage starts before any row is sent (Ray Data's ``wait_for_min_actors_s``):
# otherwise the first actor up takes the first blocks and the step runs below its configured
# in-flight count until the others join (seen: 2-5 s on a busy 2-core machine). A pool that
# cannot start in this time (the cluster lacks the resources) fails with Ray's clear error.
ACTOR_START_TIMEOUT_S = 900
# Blocks a Ray Data task may yield ahead of the executor (Ray's default: 2). Each stage's input is
# cut into one-call blocks by a streaming repartition, a task whose output generator yields only
# as fast as the executor pulls; at 2 blocks per scheduling round it fed the actors ~9 calls a
# second whatever their room (measured: 20k seeds in one file, 4 x 64 calls of 64 rows free, the
# pool filled over 25 s). The chain lets a task run as far ahead as its stages take calls at once.
MIN_BLOCKS_AHEAD = 2
# Ray 2.60 fetches the metadata of a task's output blocks on a background thread by default, and
# pulls no further block of that task until the fetch is done: one block per scheduling round
# (~0.1 s) from the one repartition task that cuts a large seed block into calls, whatever the
# buffer above allows. Measured on the real generate step (20k seeds in one file, 4 x 32 calls of
# 128 rows free): the first 128 calls reached the actors in 14 s, two every 0.22 s; fetched in the
# scheduling loop itself (Ray's former path), in 7.9 s. The chain uses that path.
PREFETCH_METADATA_ON_THREAD = False
# Ray's public variable for it, read when the streaming executor is first imported; the module
# and attribute holding what Ray read from it (private: set only after an earlier import).
PREFETCH_ENV = "RAY_DATA_METADATA_PREFETCH_ON_THREAD"
PREFETCH_MODULE = "ray.data._internal.execution.metadata_fetcher"
PREFETCH_ATTR = "_PREFETCH_ON_THREAD"
# The DataContext attribute for the blocks a task may yield ahead (private in Ray 2.60: no
# public setting exists).
BLOCKS_AHEAD_SETTING = "_max_num_blocks_in_streaming_gen_buffer"
# Settings found missing in this process, each warned about once.
_WARNED: set[str] = set()
# Ray Data starts a thread per running map task that reads the process's memory every second (for
# its task statistics). An LLM actor runs dozens of calls at once (48 at 4,096 in flight), so as
# many threads woke every second in each actor. None: the memory is read once per output block
# instead. Measured (20k seeds, 4,096 / 8 s, two pairs): 2.09-2.11 against 2.145-2.15 ms of CPU
# per request for the whole job, the same fraction of ideal.
MEMORY_POLL_S = None
# The stall watch's time when a step's section has none (see luxit_ray/steps/stall.py).
STALL_TIMEOUT_S = 600.0


class LLMStep:
    """One LLM step of a run. A subclass (``GenerateStep``, ``JudgeStep``) says what it reads,
    which stage it runs with which constructor arguments, where its rows go and how they count.

    Attributes (set by the subclass):
        name: ``generate`` or ``judge``: the manifest key, the stage's accounting label and the
            config section.
        stage: The :class:`~luxit_ray.stages.LLMStage` subclass.
        needs: The folder of the run that must be finished first (``seeds``, ``pairs``).
        done: The folder whose marker says this step finished.
        unit: What a row of its input is, for the progress line.
    """

    name: str
    stage: type
    needs: str
    done: str
    unit: str

    def __init__(self, cfg: JobConfig) -> None:
        self.cfg = cfg
        self.section = getattr(cfg, self.name)

    # -- the subclass's part -------------------------------------------------------------
    def endpoint_names(self) -> list[str]:
        """Endpoints this step calls."""
        raise NotImplementedError

    def check(self) -> None:
        """Fail before Ray starts: missing section, prompts that do not render."""
        raise NotImplementedError

    def source(self, run: runs.RunDir) -> Any:
        """The step's input as a Ray Data dataset, when it is the first step of the chain."""
        raise NotImplementedError

    def outputs(self) -> list[str]:
        """The folders of the run this step writes (cleared before it runs)."""
        raise NotImplementedError

    def expected_rows(self, run: runs.RunDir) -> int:
        """Input rows, for the progress line (an estimate when an earlier step is streamed in)."""
        raise NotImplementedError

    def constructor_kwargs(self, run: runs.RunDir, shared: dict[str, Any], feeds_next: bool) -> dict[str, Any]:
        """The stage's constructor arguments. ``shared`` holds ``cache_uri``, ``accountant``
        and ``limiters`` (endpoint name -> handle); ``feeds_next``: a step follows in the chain."""
        raise NotImplementedError

    def finish(self, run: runs.RunDir, rows: str, info: dict[str, Any], mark: bool) -> dict[str, Any]:
        """Write the step's folders from the chain's output folder ``rows``, count them, record the
        counts in the manifest, apply the error-rate gate and (when ``mark``) write the markers.

        Returns:
            The CLI summary of the step.

        Raises:
            ErrorRateExceeded: after the outputs and the manifest were written.
        """
        raise NotImplementedError

    def summary(self, run: runs.RunDir, counts: Mapping[str, Any]) -> dict[str, Any]:
        """The CLI summary from the step's manifest counts."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    def is_done(self, run: runs.RunDir) -> bool:
        """The step's marker exists."""
        return run.is_done(self.done)

    def check_keys(self) -> None:
        """Fail before Ray starts when an endpoint's key variable is named but unset."""
        for name in self.endpoint_names():
            check_key(name, self.cfg.endpoints[name])


def run_llm_steps(cfg: JobConfig, steps: list[LLMStep]) -> list[dict[str, Any]]:
    """Run the pending ones of ``steps`` (in data-flow order) as one streamed Ray Data chain,
    cut before each step with an endpoint in batch mode (which runs its batch pre-pass first).

    Returns:
        One CLI summary per step (a skipped step's from its manifest counts).

    Raises:
        ConfigError, AuthError: before Ray starts.
        ErrorRateExceeded: the first step whose gate failed (after every output was written).
    """
    for step in steps:
        step.check()
    run = runs.RunDir.for_step(cfg, needs=steps[0].needs)
    first = next((i for i, s in enumerate(steps) if not s.is_done(run)), len(steps))
    summaries = []
    for step in steps[:first]:
        log.info("%s already finished in %s: skipped", step.name, run)
        summaries.append(step.summary(run, run.manifest().get("steps", {}).get(step.name, {})))
    todo = steps[first:]
    if not todo:
        return summaries
    for step in todo:
        step.check_keys()
    runs.init_ray(cfg)
    from luxit_ray.llm import get_accountant, get_rate_limiter

    accountant = get_accountant(run.run_id)
    limiters = {}
    for step in todo:
        for name in step.endpoint_names():
            ep = cfg.endpoints[name]
            limiters[name] = get_rate_limiter(name, ep.requests_per_minute, ep.tokens_per_minute)
    from luxit_ray.llm.spend import Ledger

    # Every start of a run's steps is an attempt; its spend goes to the run's ledger apart.
    ledger = Ledger.for_run(run, run.begin_attempt([s.name for s in todo]))
    shared = {"cache_uri": cache_uri(cfg), "accountant": accountant, "limiters": limiters, "ledger": ledger}
    # A step with an endpoint in batch mode needs its whole input before it sends anything, so
    # the chain is cut before it: the steps ahead run (streamed) and finish first.
    chains: list[list[LLMStep]] = []
    for step in todo:
        if not chains or batch_endpoints(step):
            chains.append([])
        chains[-1].append(step)
    for chain in chains:
        summaries += _run_chain(cfg, run, chain, shared, accountant)
    return summaries


def _run_chain(cfg: JobConfig, run: runs.RunDir, chain: list[LLMStep], shared: dict[str, Any],
               accountant: Any) -> list[dict[str, Any]]:
    """Run ``chain`` streamed in one Ray Data pipeline, after the batch pre-pass of its first step
    when that step has endpoints in batch mode; then let each step write, count and mark.

    Raises:
        ErrorRateExceeded: the first step whose gate failed (after every output was written).
    """
    rows = "_" + "_".join(s.name for s in chain) + "_rows"
    for folder in [rows, *(f for step in chain for f in step.outputs())]:
        run.clear(folder)
    calls = max(calls_at_once(step.stage.map_batches_args(step.section, cfg.endpoints)) for step in chain)
    extra: dict[str, dict[str, Any]] = {}
    if batch_endpoints(chain[0]):
        with original_errors(), _llm_data_context(blocks_ahead=calls):
            extra[chain[0].name] = {"batch": run_batch_pass(cfg, chain[0], run, shared)}
    if len(chain) > 1:
        log.info("%s streamed in one pipeline in %s", " -> ".join(s.name for s in chain), run)
    t0 = time.monotonic()
    # After a lost node the chain stops with one line when what is left cannot hold its stages.
    watch = watching(min(getattr(s.section, "stall_timeout_s", STALL_TIMEOUT_S) for s in chain),
                     {s.stage.__name__: s.name for s in chain})
    with original_errors(), _llm_data_context(blocks_ahead=calls), watch, _progress(accountant, chain, run):
        ds = chain[0].source(run)
        for i, step in enumerate(chain):
            kwargs = step.constructor_kwargs(run, shared, feeds_next=i + 1 < len(chain))
            ds = step.stage.apply(ds, step.section, cfg.endpoints, **kwargs)
        ds.write_parquet(run.fs_path(rows), filesystem=run.fs, min_rows_per_file=MIN_ROWS_PER_FILE)
    info = {"wall_s": round(time.monotonic() - t0, 1)}
    if len(chain) > 1:
        info["streamed"] = [s.name for s in chain]
    held = stragglers(cfg, chain, accountant.snapshot(), info["wall_s"])
    for step in chain:
        extra.setdefault(step.name, {})["stragglers"] = held[step.name]
    summaries = []
    failure: ErrorRateExceeded | None = None
    for step in chain:
        try:
            summaries.append(step.finish(run, rows, {**info, **extra.get(step.name, {})}, mark=failure is None))
        except ErrorRateExceeded as exc:
            failure = failure or exc
    run.clear(rows)
    if failure is not None:
        raise failure
    return summaries


def stragglers(cfg: JobConfig, chain: list[LLMStep], snapshot: dict[str, Any], wall_s: float) -> dict[str, dict[str, Any]]:
    """Per step: the rows per request slot its calls held while waiting for their slowest row,
    from the row-seconds its clients measured (:meth:`AccountantHandle.call_done`), against its
    ``rows_per_slot`` ceiling. Each slot needs its own row plus those: a step whose need comes
    near the ceiling leaves slots idle, and a warning says so with the figure to set.

    The figure follows the endpoint's observed tail, over the chain's wall: measured ~0.1 with
    even answer times, ~2 with log-normal ones (p99 4x median) and ~5 with a reasoning model's
    (p99 10x, 0.1% at 30-60x), on 100k-request steps (BENCHMARKS.md)."""
    out = {}
    for step in chain:
        args = step.stage.map_batches_args(step.section, cfg.endpoints)
        ceiling = float(step.section.rows_per_slot)
        slots = calls_at_once(args) * args["batch_size"] / ceiling
        row_s = sum(c.get("straggler_row_s", 0.0) for stage, by_model in snapshot.get("by_stage", {}).items()
                    if stage == step.name or stage.startswith(step.name + ":") for c in by_model.values())
        need = row_s / (slots * wall_s) if slots and wall_s else 0.0
        out[step.name] = {"rows_held_per_slot": round(need, 2), "rows_per_slot": ceiling}
        if 1.0 + need > 0.75 * ceiling:
            log.warning("%s: calls waiting for their slowest answer held %.1f rows per request slot, near the "
                        "ceiling of %g (%s.rows_per_slot): slots may have idled; set it to %d or more",
                        step.name, need, ceiling, step.name, math.ceil(2 * (1.0 + need)))
    return out


class _llm_data_context:  # noqa: N801 - used like a function
    """Ray Data settings of an LLM chain, restored on exit: every actor of a pool starts before
    its operator takes input, a task may yield ``blocks_ahead`` blocks before the executor pulls
    them (the calls its stages' pools take at once), and the executor pulls every block a task
    has ready in one scheduling round, so cutting the input into calls keeps pace with the
    actors.

    Public settings are used where Ray has them: the DataContext's fields and the
    ``RAY_DATA_METADATA_PREFETCH_ON_THREAD`` variable. Ray reads that variable once, when the
    streaming executor is first imported in the driver (the only process that runs the
    executor), so it is set here, before that import, when the user has not set it. A driver
    that ran Ray Data earlier (``luxit run`` after prepare) has already read it: then the value
    Ray derived from it is set. Where a setting is missing (a Ray release renamed or removed it),
    one warning names it and the Ray version, and the chain runs with Ray's default (slower to
    fill its actors, never wrong).
    """

    def __init__(self, blocks_ahead: int) -> None:
        self.settings = {"wait_for_min_actors_s": ACTOR_START_TIMEOUT_S,
                         BLOCKS_AHEAD_SETTING: max(MIN_BLOCKS_AHEAD, blocks_ahead),
                         "memory_usage_poll_interval_s": MEMORY_POLL_S}

    def __enter__(self) -> None:
        import os

        import ray

        self._ctx = ray.data.DataContext.get_current()
        self._before: dict[str, Any] = {}
        for k, v in self.settings.items():
            if k not in vars(self._ctx):
                _missing_setting(f"DataContext.{k}")
                continue
            self._before[k] = getattr(self._ctx, k)
            setattr(self._ctx, k, v)
        self._env_before = os.environ.get(PREFETCH_ENV)
        if self._env_before is None:
            os.environ[PREFETCH_ENV] = "1" if PREFETCH_METADATA_ON_THREAD else "0"
        wanted = os.environ[PREFETCH_ENV].strip().lower() in ("1", "true")
        self._fetcher: Any = None
        try:
            fetcher = importlib.import_module(PREFETCH_MODULE)
        except ImportError:
            fetcher = None
        if fetcher is None or not hasattr(fetcher, PREFETCH_ATTR):
            _missing_setting(f"{PREFETCH_MODULE}.{PREFETCH_ATTR} (set from {PREFETCH_ENV})")
        elif getattr(fetcher, PREFETCH_ATTR) != wanted:
            # Read from the variable before this chain set it: set what Ray derived from it.
            self._fetcher, self._prefetch_before = fetcher, getattr(fetcher, PREFETCH_ATTR)
            setattr(fetcher, PREFETCH_ATTR, wanted)

    def __exit__(self, *exc: Any) -> None:
        import os

        for k, v in self._before.items():
            setattr(self._ctx, k, v)
        if self._env_before is None:
            os.environ.pop(PREFETCH_ENV, None)
        if self._fetcher is not None:
            setattr(self._fetcher, PREFETCH_ATTR, self._prefetch_before)


def _missing_setting(name: str) -> None:
    """Warn once per process that this Ray lacks ``name``; the chain goes on without it."""
    if name in _WARNED:
        return
    _WARNED.add(name)
    import ray

    log.warning("Ray %s has no setting %s: the LLM chain runs with Ray's default instead "
                "(it may fill its actors more slowly)", ray.__version__, name)


class _progress:  # noqa: N801 - used like a function
    """One live progress line per step of the chain."""

    def __init__(self, accountant: Any, steps: list[LLMStep], run: runs.RunDir) -> None:
        self.lines = [Progress(accountant, s.name, s.expected_rows(run), s.unit) for s in steps]

    def __enter__(self) -> None:
        for p in self.lines:
            p.__enter__()

    def __exit__(self, *exc: Any) -> None:
        for p in reversed(self.lines):
            p.__exit__(*exc)
