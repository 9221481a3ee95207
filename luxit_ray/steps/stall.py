"""The chain's stall watch: a run whose cluster can no longer hold its stages' actors stops with
one line saying so, instead of waiting in silence.

After a node is lost, Ray restarts the actors and re-runs the tasks it held, each where its
resources fit. When what is left cannot hold them (seen: one CPU left, the judge's actors held
it all and waited for blocks that were on the lost node, generate had no actor; nothing moved for
5.5 minutes and nothing was said), the run waits for capacity that may never come. On an
autoscaling cluster capacity may come (a replacement node takes minutes), so the watch does not
stop at the first idle second:

- *progress* is what Ray Data's own no-progress guard counts: outputs taken from an operator,
  blocks entering or leaving its queues (a slow endpoint whose calls still finish moves them);
- *waiting* is an actor of a stage's pool pending or restarting, or a task operator with running
  tasks while the cluster has less free CPU than one of its tasks asks for;
- no progress while something waits for ``warn_after_s``: one warning line naming what waits
  and how much CPU is left; for ``timeout_s``: :class:`ChainStalled` ends the execution with that
  line (the CLI prints it, the finished answers stay in the request cache for the rerun).

Why stop rather than shrink: Ray Data 2.60 can shrink an autoscaling pool (``min_size <
max_size``) but only regrows it above 1.75 tasks per slot (``actor_pool_util_upscaling_threshold``),
which an LLM pool that runs every task it takes at once never reaches, so a pool shrunk in a
healthy run's idle moment (a judge waiting for the first pairs) would stay shrunk; and its
over-budget release runs before its "no inputs yet" guard. The pools keep their configured size,
and a run that cannot fit stops with a reason.

The watch reads Ray Data's executor through its execution-callback hook
(``DataContext.custom_execution_callback_classes``, called in the executor's thread every
scheduling step). It reads operator metrics and actor-pool counts Ray keeps for itself: where one
is missing (a Ray release renamed it), one warning names it and the run goes on without the watch.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from luxit_ray.errors import LuxitError

log = logging.getLogger(__name__)

# Seconds between two looks at the executor (it calls every scheduling step, ~100 per second).
CHECK_EVERY_S = 1.0
# A Ray Data task (read, repartition) asks for one CPU unless told otherwise.
TASK_CPUS = 1.0


def _timeout_base() -> type:
    try:
        from ray.data.exceptions import ExecutionTimeoutError
    except ImportError:
        return Exception
    return ExecutionTimeoutError


class ChainStalled(LuxitError, _timeout_base()):  # type: ignore[misc]
    """Nothing moved in the chain for the configured time while its actors or tasks waited for
    resources the cluster no longer has.

    Also Ray Data's ``ExecutionTimeoutError`` (its own no-progress error): Ray Data then reports
    it as a self-contained reason rather than printing its internal stack trace as a Ray bug.
    """


def _base() -> type:
    try:
        from ray.data._internal.execution.execution_callback import ExecutionCallback
    except ImportError:  # a Ray without the hook: install() warns and the watch stays off
        return object
    return ExecutionCallback


class StallWatch(_base()):  # type: ignore[misc]
    """An ``ExecutionCallback`` (Ray builds one per execution, without arguments); its settings
    are the class's, set by :class:`watching` for the chain it runs around.

    Class attributes:
        timeout_s: No progress while something waits this long: the run stops.
        warn_after_s: ... this long: one warning line.
        step_of: Stage class name -> step name (``GenerateStage`` -> ``generate``), to name the
            operators in the line.
    """

    timeout_s: float = 600.0
    warn_after_s: float = 60.0
    step_of: dict[str, str] = {}

    def __init__(self) -> None:
        self._last_state: Any = None
        self._last_move = time.monotonic()
        self._next_check = 0.0
        self._warned = False
        self._broken = False

    # -- the hook ------------------------------------------------------------------------
    def before_execution_starts(self, executor: Any) -> None:
        self._last_move = time.monotonic()

    def on_execution_step(self, executor: Any) -> None:
        now = time.monotonic()
        if self._broken or now < self._next_check:
            return
        self._next_check = now + CHECK_EVERY_S
        try:
            topology = executor._topology
            state = progress_state(topology)
        except AttributeError as exc:
            self._broken = True
            _missing(f"the executor's topology or operator metrics ({exc})")
            return
        if state != self._last_state:
            self._last_state, self._last_move, self._warned = state, now, False
            return
        idle_s = now - self._last_move
        if idle_s < min(self.warn_after_s, self.timeout_s):
            return
        try:
            waiting = waiting_work(topology, self.step_of)
        except AttributeError as exc:
            self._broken = True
            _missing(f"the actor pools' counts ({exc})")
            return
        if not waiting["parts"]:
            return  # nothing waits for resources: a slow endpoint, left to its timeouts
        line = stall_line(idle_s, waiting)
        if idle_s >= self.timeout_s:
            raise ChainStalled(f"the run stopped: {line}; give the cluster more CPU or lower the stages' "
                               "concurrency or num_cpus, then run it again (answers already paid are cached)")
        if not self._warned:
            self._warned = True
            log.warning("%s; the run stops if nothing moves for %.0f s", line, self.timeout_s)


def progress_state(topology: Any) -> list[tuple[int, int, int]]:
    """What Ray Data's no-progress guard compares: per operator, outputs taken and blocks queued
    in and out."""
    return [(op.metrics.num_outputs_taken, st.total_enqueued_input_blocks(), st.total_enqueued_output_blocks())
            for op, st in topology.items()]


def waiting_work(topology: Any, step_of: dict[str, str]) -> dict[str, Any]:
    """What waits for resources: ``parts`` (one phrase per waiting operator), the cluster's CPU
    and free CPU."""
    import ray

    total = float(ray.cluster_resources().get("CPU", 0.0))
    free = float(ray.available_resources().get("CPU", 0.0))
    parts = []
    holding = []
    ops = list(topology)
    for i, op in enumerate(ops):
        if op.has_completed():
            continue
        name = _op_name(op.name, step_of)
        if name == op.name and i + 1 < len(ops) and _op_name(ops[i + 1].name, step_of) != ops[i + 1].name:
            name = f"{op.name} (into {_op_name(ops[i + 1].name, step_of)})"
        pools = op.get_autoscaling_actor_pools()
        if pools:
            running = sum(p.num_running_actors() - p.num_restarting_actors() for p in pools)
            restarting = sum(p.num_restarting_actors() for p in pools)
            pending = sum(p.num_pending_actors() for p in pools)
            size = running + restarting + pending
            cpus = max(p.per_actor_resource_usage().cpu for p in pools)
            if restarting or pending:
                what = " and ".join(x for x in (f"{restarting} restarting" if restarting else "",
                                                f"{pending} not started" if pending else "") if x)
                parts.append(f"{name} has {running} of {size} actors running ({what}, {cpus:g} CPU each)")
            else:
                holding.append(f"{name} holds {running} actors ({running * cpus:g} CPU)")
        elif op.num_active_tasks() and free < TASK_CPUS:
            parts.append(f"{name} has {op.num_active_tasks()} tasks waiting for {TASK_CPUS:g} CPU each")
    return {"parts": parts, "holding": holding, "cpu": total, "free": free}


def stall_line(idle_s: float, waiting: dict[str, Any]) -> str:
    """One line: how long nothing moved, what waits, what holds the CPU, what the cluster has."""
    held = f"; {', '.join(waiting['holding'])}" if waiting["holding"] else ""
    return (f"no row moved for {idle_s:.0f} s: {'; '.join(waiting['parts'])}{held}; the cluster has "
            f"{waiting['cpu']:g} CPU, {waiting['free']:g} free")


def _op_name(op_name: str, step_of: dict[str, str]) -> str:
    for cls, step in step_of.items():
        if f"({cls})" in op_name:
            return step
    return op_name


_WARNED: set[str] = set()


def _missing(what: str) -> None:
    if what in _WARNED:
        return
    _WARNED.add(what)
    import ray

    log.warning("Ray %s lacks %s: the chain runs without its stall watch (a stalled run then waits for "
                "Ray Data's own no-progress timeout)", ray.__version__, what)


class watching:  # noqa: N801 - used like a function
    """Install :class:`StallWatch` on the current DataContext for the chain inside the block."""

    def __init__(self, timeout_s: float, step_of: dict[str, str]) -> None:
        self.timeout_s = timeout_s
        self.step_of = step_of

    def __enter__(self) -> None:
        import ray

        self._ctx = ray.data.DataContext.get_current()
        self._installed = False
        if StallWatch.__mro__[1] is object or not hasattr(self._ctx, "custom_execution_callback_classes"):
            _missing("DataContext.custom_execution_callback_classes")
            return
        self._before = (StallWatch.timeout_s, StallWatch.warn_after_s, StallWatch.step_of)
        StallWatch.timeout_s = self.timeout_s
        StallWatch.warn_after_s = min(60.0, self.timeout_s / 4)
        StallWatch.step_of = dict(self.step_of)
        self._ctx.custom_execution_callback_classes = [*self._ctx.custom_execution_callback_classes, StallWatch]
        self._installed = True

    def __exit__(self, *exc: Any) -> None:
        if not self._installed:
            return
        self._ctx.custom_execution_callback_classes = [
            c for c in self._ctx.custom_execution_callback_classes if c is not StallWatch]
        StallWatch.timeout_s, StallWatch.warn_after_s, StallWatch.step_of = self._before
