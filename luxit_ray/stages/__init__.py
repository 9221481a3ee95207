"""Stages: callable classes run by ``ds.map_batches``, one per module (generate, judge, export).

Stages never import each other; the few helpers they share live here and import nothing heavy.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from luxit_ray.errors import InputError
from luxit_ray.schema import missing_columns


def batch_columns(batch: pa.Table | Mapping[str, Any]) -> list[str]:
    """Column names of a batch (a pyarrow Table or a dict of columns)."""
    return list(batch.column_names) if isinstance(batch, pa.Table) else list(batch.keys())


def batch_rows(batch: pa.Table | Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """A batch as a list of row dicts (pyarrow Table, dict of lists or of numpy arrays)."""
    if isinstance(batch, pa.Table):
        return batch.to_pylist()
    cols = {k: (v.tolist() if hasattr(v, "tolist") else list(v)) for k, v in batch.items()}
    n = len(next(iter(cols.values()))) if cols else 0
    return [{k: v[i] for k, v in cols.items()} for i in range(n)]


def check_columns(stage: str, batch: pa.Table | Mapping[str, Any], required: Sequence[str]) -> None:
    """Raise InputError naming the columns a stage needs but the batch lacks.

    Raises:
        InputError: one or more required columns are missing.
    """
    present = batch_columns(batch)
    missing = missing_columns(present, list(required))
    if missing:
        raise InputError(stage, "input columns", f"missing column(s) {missing}; the batch has {present}")


def llm_map_batches_args(*, actors: int, max_in_flight: int, batch_size: int | None, rows_per_slot: float,
                         num_cpus: float) -> dict[str, Any]:
    """``map_batches`` arguments that keep ``actors x max_in_flight`` requests in flight.

    Every block the stage receives holds one batch (the caller repartitions to ``batch_size``
    rows: see :meth:`LLMStage.apply`), so a task is one batch, and Ray Data hands the next task
    to whichever actor has the fewest running. A call returns only when its slowest row has
    answered, so the rows of a batch that already answered hold no request while they wait;
    the client's semaphore refills a freed slot at once from the rows of the actor's other
    calls, as long as the actor holds enough more rows than it has slots. Each actor therefore
    runs ``rows_per_slot x max_in_flight / batch_size`` calls at once, and is sent no more than
    that, so no actor queues work another could take. Without a ``batch_size``, a call is a
    quarter of ``max_in_flight`` rows, 16 to 128: every call is a Ray task the driver tracks (at
    4,096 in flight, 64-row calls cost the driver 4x the CPU of 256-row ones), but a larger call
    waits longer for its slowest answer (with log-normal answers 256-row calls left a quarter of
    the slots idle where 64-row calls kept them full).
    """
    import ray

    if batch_size is None:
        batch_size = min(128, max(16, max_in_flight // 4))
    calls = max(1, math.ceil(rows_per_slot * max_in_flight / batch_size))
    return {
        "compute": ray.data.ActorPoolStrategy(
            size=actors, max_tasks_in_flight_per_actor=calls, max_concurrent_calls_per_actor=calls,
        ),
        "num_cpus": num_cpus,
        "batch_size": batch_size,
        "batch_format": "pyarrow",
    }


def calls_at_once(map_batches_args: Mapping[str, Any]) -> int:
    """Calls (one-batch blocks) an LLM stage's actor pool takes at once, from its
    :func:`llm_map_batches_args`."""
    pool = map_batches_args["compute"]
    return int(pool.min_size * pool.max_tasks_in_flight_per_actor)


class LLMStage:
    """What the LLM stages share: how Ray Data runs them (:meth:`apply`), a sync ``process``
    for use outside Ray Data, and ``close``.

    A subclass sets ``cache`` (a RequestCache or None), ``_loop = None`` and ``_closed = False``
    in its ``__init__`` (after its clients exist), lists its clients in :meth:`clients`, and
    says how it runs from its config section in :meth:`map_batches_args`.
    """

    @classmethod
    def map_batches_args(cls, section: Any, endpoints: Mapping[str, Any]) -> dict[str, Any]:
        """``map_batches`` arguments (compute, num_cpus, batch_size, batch_format) from the
        stage's config section and the job's endpoints."""
        raise NotImplementedError

    @classmethod
    def apply(cls, ds: Any, section: Any, endpoints: Mapping[str, Any], **constructor_kwargs: Any) -> Any:
        """``ds`` run through this stage on an actor pool, as its config section says.

        The input is first cut into blocks of one batch each (a streaming repartition): a
        task of Ray Data's actor pool is a bundle of whole blocks, so a large block (one
        Parquet file of seeds can be a single block) would otherwise go to one actor as one
        task, and that actor would work through it alone while the others idle.
        """
        args = cls.map_batches_args(section, endpoints)
        return ds.repartition(target_num_rows_per_block=args["batch_size"], strict=True).map_batches(
            cls, fn_constructor_kwargs=constructor_kwargs, **args
        )

    cache: Any
    _loop: asyncio.AbstractEventLoop | None
    _closed: bool

    def clients(self) -> list[Any]:
        """The stage's LLMClients."""
        raise NotImplementedError

    def process(self, batch: pa.Table | Mapping[str, Any]) -> pa.Table:
        """Synchronous form of ``__call__`` (outside Ray Data: tests, notebooks).

        Uses one event loop for the life of the stage, as the clients' connections expect.
        """
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(self(batch))  # type: ignore[operator]

    def close(self) -> None:
        """Flush accounting, close connections and the cache (safe to call twice)."""
        if getattr(self, "_closed", True):  # closed, or __init__ did not finish
            return
        self._closed = True
        try:
            for client in self.clients():
                if self._loop is not None:
                    self._loop.run_until_complete(client.aclose())
                else:
                    client.close()
            if self._loop is not None:
                self._loop.close()
                self._loop = None
        finally:
            if self.cache is not None:
                self.cache.close()

    def __del__(self) -> None:
        # Ray Data drops the UDF when its actor exits (``__ray_shutdown__``): close here so the
        # last accounting reaches the accountant, the cache writer drains and no session leaks.
        if sys.is_finalizing():  # the clients' loop threads are gone: nothing can be awaited
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - nothing left to report to
            pass
