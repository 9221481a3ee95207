"""The arena's prompts: the exported validation split's instructions, or a prompt file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from luxit_ray import runs
from luxit_ray.arena.files import sha
from luxit_ray.dataset.export import VALIDATION
from luxit_ray.dataset.read import parquet_files
from luxit_ray.errors import InputError, LuxitError


def load_prompts(run_dir: str | Path, prompt_file: str | Path | None = None, n: int | None = None,
                 seed: int = 0) -> list[dict[str, Any]]:
    """The arena's prompts: the exported validation split's instructions, or a prompt file.

    Args:
        run_dir: the run folder.
        prompt_file: ``.txt`` (one prompt per line) or ``.jsonl`` (objects with ``prompt`` or
            ``instruction``, optional ``id``); None: ``RUN_DIR/export/validation-*.parquet``.
        n: keep a seeded sample of this many (None: all).
        seed: seed of that sample.

    Returns:
        ``[{prompt_id, prompt, origin}]`` without duplicates, in file order (sample: sorted by id).

    Raises:
        LuxitError: no validation split, an empty or unreadable file.
    """
    rows: list[dict[str, Any]] = []
    if prompt_file is None:
        export = Path(run_dir) / runs.EXPORT
        files = [p for p in parquet_files(export) if p.name.startswith(VALIDATION)] if export.is_dir() else []
        if not files:
            raise LuxitError(f"no validation split in {export}: export with splits.validation_fraction > 0 "
                             "(`luxit export RUN_DIR splits.validation_fraction=0.05`) or pass --prompts FILE")
        import pyarrow.parquet as pq

        for f in files:
            for r in pq.read_table(f, columns=["pair_id", "instruction"]).to_pylist():
                rows.append({"prompt": r["instruction"], "origin": f"validation:{r['pair_id']}"})
    else:
        path = Path(prompt_file)
        if not path.is_file():
            raise InputError(str(path), "", "no such file")
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(str(path), f"line {i}", f"invalid JSON: {exc.msg}") from None
                text = obj.get("prompt", obj.get("instruction")) if isinstance(obj, dict) else None
                if not isinstance(text, str) or not text.strip():
                    raise InputError(str(path), f"line {i}", "needs a non-empty 'prompt' (or 'instruction') string")
                rows.append({"prompt": text.strip(), "origin": f"{path.name}:{obj.get('id', i)}"})
        else:
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    rows.append({"prompt": line.strip(), "origin": f"{path.name}:{i}"})
    out, seen = [], set()
    for r in rows:
        pid = "p" + sha(r["prompt"], n=12)
        if pid not in seen:
            seen.add(pid)
            out.append({"prompt_id": pid, **r})
    if not out:
        raise LuxitError(f"no prompts found in {prompt_file or Path(run_dir) / runs.EXPORT}")
    if n is not None and n < len(out):
        rng = np.random.default_rng(seed)
        out = [out[int(i)] for i in sorted(rng.choice(len(out), size=n, replace=False))]
    return out
