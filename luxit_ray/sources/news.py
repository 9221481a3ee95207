"""RTL-style news (JSON lines or a JSON array) and generic JSONL/Parquet corpora -> document rows.

News records carry ``public_date``, ``title``, ``header``, ``text`` and ``type``; rows whose
``type`` is not in ``include_types`` (user comments) come out with ``drop_filter="type"`` so the
manifest counts them. The generic reader maps any field names onto ours with ``columns``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from luxit_ray.config.prepare import GenericSourceConfig, NewsSourceConfig
from luxit_ray.sources.common import (
    TYPE_FILTER,
    BadInput,
    document_row,
    expand_paths,
    file_labels,
    iso_date,
    iter_json_array,
    iter_json_lines,
    position_id,
    quarantine_row,
    sniff_json_array,
)

log = logging.getLogger(__name__)

NEWS_SOURCE_TYPE = "news"


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _text_problem(record: dict[str, Any], field: str) -> str | None:
    """Why ``record[field]`` is not a usable text, or None."""
    if field not in record:
        return f"missing field '{field}'"
    value = record[field]
    if value is None:
        return f"field '{field}' is null"
    if not isinstance(value, str):
        return f"field '{field}' must be a string, got {_type_name(value)}"
    if not value.strip():
        return f"empty text (field '{field}')"
    return None


def _optional_str(record: dict[str, Any], field: str | None) -> tuple[str | None, str | None]:
    """``(value, problem)`` of an optional string field; numbers are accepted as strings."""
    if not field or record.get(field) is None:
        return None, None
    value = record[field]
    if isinstance(value, str):
        return value, None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value), None
    return None, f"field '{field}' must be a string, got {_type_name(value)}"


def _native_id(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)) or (isinstance(value, str) and not value.strip()):
        return None
    return str(value)


def _records(path: str, bad: BadInput, fmt: str) -> Iterator[tuple[str, Any, str | None]]:
    if fmt == "array":
        return iter_json_array(path, bad)
    return iter_json_lines(path, bad)


def _json_format(path: str) -> str:
    """``array`` for a JSON array file, else ``lines`` (a .json file may hold JSON lines)."""
    name = Path(path).name.lower()
    for ext in (".bz2", ".gz", ".xz"):
        name = name.removesuffix(ext)
    if name.endswith(".json") and sniff_json_array(path):
        return "array"
    return "lines"


# --- news --------------------------------------------------------------------------------------


def iter_news(
    path: str, cfg: NewsSourceConfig, on_bad_input: str = "fail", labels: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Document rows (REJECT_SCHEMA dicts) of one news file or glob.

    A record without a native id (``cfg.id_field``) gets ``<source>:<file>:<position>`` as its
    doc id (:func:`~luxit_ray.sources.common.position_id`).

    Args:
        path: a ``.jsonl``/``.json`` file (optionally .bz2/.gz/.xz) or a glob of them.
        cfg: the news source config (name, include_types, id_field, include_header).
        on_bad_input: ``"fail"`` raises InputError at the first bad record; ``"quarantine"``
            yields it as a ``drop_filter="input"`` row.
        labels: file -> its name in doc ids and origins (``file_labels`` of the whole source,
            when ``path`` is one of its files); default: ``file_labels`` of ``path``'s files.

    Raises:
        InputError: a bad record in fail mode, or no file matches ``path``.
    """
    files = expand_paths(path)
    labels = labels or file_labels(files)
    for file in files:
        bad = BadInput(file, on_bad_input, labels.get(file))
        n_rows = 0
        for where, value, problem in _records(file, bad, _json_format(file)):
            n_rows += 1
            yield _news_row(cfg, bad, where, value, problem)
        log.info("read %d news records from %s (%d quarantined)", n_rows, file, bad.count)


def _news_row(cfg: NewsSourceConfig, bad: BadInput, where: str, value: Any, problem: str | None) -> dict[str, Any]:
    base = {"source": cfg.name, "source_type": NEWS_SOURCE_TYPE}
    if problem is None and not isinstance(value, dict):
        problem = f"expected a JSON object, got {_type_name(value)}"
    record = value if isinstance(value, dict) else {}
    fields = _news_fields(cfg, record, bad, where)
    if problem is not None:
        return quarantine_row(bad, where, problem, **base, **fields)

    kind = record.get("type")
    if kind is not None and kind not in cfg.include_types:
        return document_row(**base, **fields, origin=bad.origin(where),
                            drop_filter=TYPE_FILTER, drop_reason=f"type={kind} excluded")

    problem = _text_problem(record, "text")
    for field in ("title", "header"):
        problem = problem or _optional_str(record, field)[1]
    if problem is not None:
        return quarantine_row(bad, where, problem, **base, **fields)
    return document_row(**base, **fields, origin=bad.origin(where))


def _news_fields(cfg: NewsSourceConfig, record: dict[str, Any], bad: BadInput, where: str) -> dict[str, Any]:
    """Every column that can be recovered from a (possibly bad) news record read at ``where``."""
    title, _ = _optional_str(record, "title")
    header, _ = _optional_str(record, "header")
    text = record.get("text") if isinstance(record.get("text"), str) else None
    if text is not None:
        text = text.strip()
        if text and cfg.include_header and header and header.strip():
            text = f"{header.strip()}\n\n{text}"
    native = _native_id(record.get(cfg.id_field))
    doc_id = None
    if native is not None:
        doc_id = f"{cfg.name}:{native}"
    elif text:
        doc_id = position_id(cfg.name, bad.name, where)
    url, _ = _optional_str(record, "url")
    metadata = {k: v for k, v in record.items() if k not in ("title", "header", "text")}
    return {
        "doc_id": doc_id,
        "title": title,
        "text": text,
        "date": iso_date(record.get("public_date")),
        "url": url,
        "metadata": metadata if record else None,
    }


# --- generic -----------------------------------------------------------------------------------


def iter_generic(
    path: str, cfg: GenericSourceConfig, on_bad_input: str = "fail", labels: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Document rows of one JSONL/Parquet file or glob, fields mapped with ``cfg.columns``.

    Without an ``id`` mapping (or with an empty id) a record's doc id is its file and position,
    as in :func:`iter_news`; ``labels`` as there.

    Raises:
        InputError: a bad record in fail mode, or no file matches ``path``.
    """
    files = expand_paths(path)
    labels = labels or file_labels(files)
    for file in files:
        bad = BadInput(file, on_bad_input, labels.get(file))
        fmt = cfg.format
        if fmt == "auto":
            fmt = "parquet" if file.lower().endswith((".parquet", ".pq")) else "jsonl"
        records = _parquet_records(file) if fmt == "parquet" else _records(file, bad, _json_format(file))
        n_rows = 0
        for where, value, problem in records:
            n_rows += 1
            yield _generic_row(cfg, bad, where, value, problem)
        log.info("read %d records from %s (%d quarantined)", n_rows, file, bad.count)


def _parquet_records(path: str, batch_rows: int = 1024) -> Iterator[tuple[str, Any, str | None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = 0
    try:
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=batch_rows):
            for record in batch.to_pylist():
                row += 1
                yield f"row {row}", record, None
    except (pa.ArrowException, OSError) as exc:
        yield f"row {row + 1}", None, f"unreadable Parquet ({exc})"


def _generic_row(cfg: GenericSourceConfig, bad: BadInput, where: str, value: Any, problem: str | None) -> dict[str, Any]:
    base = {"source": cfg.name, "source_type": cfg.source_type}
    if problem is None and not isinstance(value, dict):
        problem = f"expected a JSON object, got {_type_name(value)}"
    record = value if isinstance(value, dict) else {}
    cols = cfg.columns
    title, title_problem = _optional_str(record, cols.get("title"))
    url, url_problem = _optional_str(record, cols.get("url"))
    raw_text = record.get(cols["text"])
    text = raw_text.strip() if isinstance(raw_text, str) else None
    native = _native_id(record.get(cols["id"])) if "id" in cols else None
    doc_id = f"{cfg.name}:{native}" if native is not None else (position_id(cfg.name, bad.name, where) if text else None)
    mapped = {cols["text"], cols.get("title")}
    fields = {
        "doc_id": doc_id,
        "title": title,
        "text": text,
        "date": iso_date(record.get(cols["date"])) if "date" in cols else None,
        "url": url,
        "metadata": {k: v for k, v in record.items() if k not in mapped} if record else None,
    }
    problem = problem or _text_problem(record, cols["text"]) or title_problem or url_problem
    if problem is not None:
        return quarantine_row(bad, where, problem, **base, **fields)
    return document_row(**base, **fields, origin=bad.origin(where))
