"""Corpus sources on Ray Data: one read task per file, blocks of rows, wikitext parsed in parallel.

A custom :class:`ray.data.Datasource` turns each input file into one ReadTask (a bz2 dump or a
JSON file is read sequentially anyway) that yields blocks of ``block_rows`` rows as it streams,
so memory does not grow with the corpus. Wikipedia's raw pages then go through
:class:`~luxit_ray.sources.wikipedia.WikiPageConverter` in ``map_batches``, which Ray runs as
tasks on every CPU.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from luxit_ray import schema
from luxit_ray.config.prepare import GenericSourceConfig, NewsSourceConfig, WikipediaSourceConfig
from luxit_ray.sources.common import expand_paths, file_labels
from luxit_ray.sources.news import iter_generic, iter_news
from luxit_ray.sources.wikipedia import RAW_PAGE_SCHEMA, WikiPageConverter, iter_wiki_pages

log = logging.getLogger(__name__)

BLOCK_ROWS = 1000  # rows per block yielded by a read task

SourceCfg = WikipediaSourceConfig | NewsSourceConfig | GenericSourceConfig


def _blocks(rows: Iterable[dict[str, Any]], block_schema: pa.Schema, block_rows: int) -> Iterator[pa.Table]:
    buf: list[dict[str, Any]] = []
    for row in rows:
        buf.append(row)
        if len(buf) >= block_rows:
            yield pa.Table.from_pylist(buf, schema=block_schema)
            buf = []
    if buf:
        yield pa.Table.from_pylist(buf, schema=block_schema)


def _read_file(
    row_fn: Callable[[str], Iterable[dict[str, Any]]], path: str, block_schema: pa.Schema, block_rows: int
) -> Iterator[pa.Table]:
    yield from _blocks(row_fn(path), block_schema, block_rows)



def _make_datasource_class() -> type:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class _FileRowsDatasource(Datasource):
        """One ReadTask per file; each yields pyarrow blocks of ``block_rows`` rows.

        Args:
            name: shown as the read operator's name.
            files: the input files.
            row_fn: ``path -> iterable of row dicts`` (a picklable callable).
            block_schema: schema of every block.
            block_rows: rows per block.
        """

        def __init__(self, name: str, files: Sequence[str], row_fn: Callable[[str], Iterable[dict[str, Any]]],
                     block_schema: pa.Schema, block_rows: int = BLOCK_ROWS) -> None:
            super().__init__()
            self._name = name
            self._files = list(files)
            self._row_fn = row_fn
            self._schema = block_schema
            self._block_rows = block_rows

        def get_name(self) -> str:
            return f"Read{self._name}"

        def estimate_inmemory_data_size(self) -> int | None:
            # Decompressed text is several times the file size; a rough guide for Ray only.
            return sum(os.path.getsize(f) for f in self._files) * 4

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:
            tasks = []
            for path in self._files:
                meta = BlockMetadata(num_rows=None, size_bytes=os.path.getsize(path) * 4,
                                     exec_stats=None, input_files=[path])
                read_fn = functools.partial(_read_file, self._row_fn, path, self._schema, self._block_rows)
                tasks.append(ReadTask(read_fn, meta, schema=self._schema, per_task_row_limit=per_task_row_limit))
            return tasks

    return _FileRowsDatasource


@functools.lru_cache(maxsize=1)
def _datasource_class() -> type:
    return _make_datasource_class()


def make_datasource(name: str, files: Sequence[str], row_fn: Callable[[str], Iterable[dict[str, Any]]],
                    block_schema: pa.Schema, block_rows: int = BLOCK_ROWS) -> Any:
    """A ``ray.data.Datasource`` reading ``files`` with ``row_fn`` (one read task per file)."""
    return _datasource_class()(name, files, row_fn, block_schema, block_rows)


def read_source(cfg: SourceCfg, on_bad_input: str = "fail", block_rows: int = BLOCK_ROWS) -> Any:
    """One source as a lazy ``ray.data.Dataset`` with the REJECT_SCHEMA columns.

    Bad input surfaces when the dataset executes: in fail mode as a Ray error whose cause is an
    InputError (use :func:`unwrap_ray_error`); in quarantine mode as ``drop_filter="input"`` rows.

    Raises:
        InputError: no file matches the source's path (checked now, before anything runs).
    """
    import ray.data

    files = expand_paths(cfg.path)
    if isinstance(cfg, WikipediaSourceConfig):
        row_fn = functools.partial(iter_wiki_pages, cfg=cfg, on_bad_input=on_bad_input)
        ds = ray.data.read_datasource(make_datasource(f"Wiki[{cfg.name}]", files, row_fn, RAW_PAGE_SCHEMA, block_rows))
        return ds.map_batches(WikiPageConverter(cfg), batch_format="pyarrow", batch_size=block_rows,
                              zero_copy_batch=True)
    if isinstance(cfg, NewsSourceConfig):
        row_fn = functools.partial(iter_news, cfg=cfg, on_bad_input=on_bad_input, labels=file_labels(files))
    elif isinstance(cfg, GenericSourceConfig):
        row_fn = functools.partial(iter_generic, cfg=cfg, on_bad_input=on_bad_input, labels=file_labels(files))
    else:  # pragma: no cover - the config union is closed
        raise TypeError(f"unknown source config {type(cfg).__name__}")
    return ray.data.read_datasource(make_datasource(f"{cfg.type.title()}[{cfg.name}]", files, row_fn,
                                                    schema.REJECT_SCHEMA, block_rows))


def read_sources(sources: Sequence[SourceCfg], on_bad_input: str = "fail", block_rows: int = BLOCK_ROWS) -> Any:
    """The union of every source as one ``ray.data.Dataset`` (REJECT_SCHEMA columns)."""
    if not sources:
        raise ValueError("read_sources needs at least one source")
    datasets = [read_source(cfg, on_bad_input, block_rows) for cfg in sources]
    return datasets[0] if len(datasets) == 1 else datasets[0].union(*datasets[1:])

