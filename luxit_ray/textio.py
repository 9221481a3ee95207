"""The one home of the small text formats every part of luxit-ray writes: Markdown tables and
JSON Lines files.

Imports nothing of the package but :mod:`luxit_ray.errors`, so any layer may use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from luxit_ray.errors import InputError


def markdown_table(columns: Sequence[Any], rows: Sequence[Sequence[Any]], *, float_format: str = ".4g",
                   right_align: Sequence[bool] | None = None) -> str:
    """A GitHub Markdown table.

    Args:
        columns: Header cells.
        rows: Body rows (None is an empty cell; ``|`` is escaped and line breaks become spaces).
        float_format: Format of float cells.
        right_align: Per column; default: columns whose filled cells are all numbers.
    """
    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return format(v, float_format)
        return str(v).replace("|", "\\|").replace("\n", " ")

    if right_align is None:
        right_align = [
            any(r[i] is not None for r in rows)
            and all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None)
            for i in range(len(columns))
        ]
    lines = ["| " + " | ".join(str(c) for c in columns) + " |",
             "|" + "|".join("---:" if right else "---" for right in right_align) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Mapping[str, Any]]) -> int:
    """Write records as JSON Lines (UTF-8, not ASCII-escaped), whole or not at all: through a
    temporary file renamed over ``path``. Returns the number of records."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False))
            fh.write("\n")
            n += 1
    os.replace(tmp, path)
    return n


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for each record of a JSON Lines file (blank lines skipped).

    Raises:
        InputError: a line is not a JSON object (names the file and the line).
    """
    with Path(path).open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InputError(str(path), f"line {number}", f"invalid JSON: {getattr(exc, 'msg', exc)}") from None
            if not isinstance(record, dict):
                raise InputError(str(path), f"line {number}", "expected a JSON object")
            yield number, record


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a JSON Lines file (see :func:`iter_jsonl`)."""
    return [record for _, record in iter_jsonl(path)]
