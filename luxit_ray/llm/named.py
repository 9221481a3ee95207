"""Get-or-create for the job's shared named actors (rate limiters, accountants), kept alive.

A named actor that is not detached is still garbage-collected when the last handle to it goes
out of scope. Two steps of one job in one process (``luxit run``: generate, then judge on the
same endpoint and run id) would then race: the first step's handle is dropped, Ray starts
destroying the actor, and the second step's ``get_if_exists`` can be handed that dying actor,
whose first call fails with ``ActorDiedError`` ("all references to the actor were removed").

So the process that gets or creates a shared actor keeps its handle (one per cluster, namespace
and name) until the process ends, which is the job's lifetime for the driver, and every handle
handed out has answered a call first: one found dead or dying is dropped and the name is asked
for again once Ray has released it.

Where they live: created from the driver, a shared actor is pinned to the driver's node
(``NodeAffinitySchedulingStrategy``, not soft), so losing a worker node (a spot instance, a
killed raylet) never takes the job's rate limits or its accounting with it: the driver's node is
the one node the job cannot lose anyway. It restarts when its own process dies (``max_restarts``,
its pending calls retried), with the state its constructor gives (a limiter's full buckets; an
accountant's counts start again from that moment). Whether the actor is detached or not, a live one found under the name is used as it is.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger(__name__)

# (GCS address, namespace, name) -> the handle this process keeps alive.
_KEPT: dict[tuple[str, str, str], Any] = {}
# How long to wait for a dying actor's name to be released before giving up.
_RETRY_S = 60.0
# Longest wait for an actor to answer its first call.
_READY_S = 120.0
# Defaults of a shared actor's creation: restarted (any number of times) when its process dies,
# its calls retried meanwhile.
RESTART_OPTIONS: dict[str, Any] = {"max_restarts": -1, "max_task_retries": -1}


class _Gone(Exception):
    """The kept actor no longer holds its name."""


def shared_actor(actor_cls: Any, name: str, *args: Any, **options: Any) -> Any:
    """The live actor called ``name`` in the current namespace, created from ``actor_cls`` with
    ``args`` and ``options`` if there is none; this process keeps a handle to it.

    Args:
        actor_cls: A ``ray.remote`` class.
        name: The actor's name.
        *args: Constructor arguments (used only when the actor is created here).
        **options: Further ``.options()`` for creation (e.g. ``lifetime``); by default the
            actor is pinned to the driver's node when the driver creates it
            (:func:`driver_node_strategy`) and restarts when its process dies.

    Raises:
        RuntimeError: no live actor under ``name`` within ``_RETRY_S`` seconds.
    """
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError

    ctx = ray.get_runtime_context()
    key = (str(ctx.gcs_address), str(ctx.namespace), name)
    options = {**RESTART_OPTIONS, **options}
    if "scheduling_strategy" not in options:
        strategy = driver_node_strategy()
        if strategy is not None:
            options["scheduling_strategy"] = strategy
    deadline = time.monotonic() + _RETRY_S
    delay = 0.05
    while True:
        actor = _KEPT.get(key)
        if actor is None:
            actor = actor_cls.options(name=name, get_if_exists=True, **options).remote(*args)
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=_READY_S)
            # Ray frees the name as soon as it starts destroying the actor: one that answered
            # but no longer holds the name is on its way out.
            if ray.get_actor(name)._actor_id != actor._actor_id:
                raise _Gone(f"the name {name!r} now belongs to another actor")
        except (RayActorError, GetTimeoutError, ValueError, _Gone) as exc:
            _KEPT.pop(key, None)
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the shared Ray actor {name!r} could not be reached: {exc}") from exc
            log.info("shared actor %s is gone (%s); asking for it again", name, type(exc).__name__)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        _KEPT[key] = actor
        return actor


def driver_node_strategy() -> Any:
    """A hard ``NodeAffinitySchedulingStrategy`` for this process's node when this process is
    the job's driver (not a task or an actor), else None (Ray places the actor)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ctx = ray.get_runtime_context()
    if ctx.get_actor_id() is not None or ctx.get_task_id() is not None:
        return None
    return NodeAffinitySchedulingStrategy(node_id=ctx.get_node_id(), soft=False)
