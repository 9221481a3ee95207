"""Stages: callable classes run by ``ds.map_batches``, one per module (generate, judge, export).

Stages never import each other; the few helpers they share live here and import nothing heavy.
"""

from __future__ import annotations

import asyncio
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


class LLMStage:
    """What the LLM stages share: a sync ``process`` for use outside Ray Data, and ``close``.

    A subclass sets ``cache`` (a RequestCache or None), ``_loop = None`` and ``_closed = False``
    in its ``__init__`` (after its clients exist), and lists its clients in :meth:`clients`.
    """

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
