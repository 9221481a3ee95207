"""Mixtures: rows drawn from several instruction sets and raw text, each row keeping its origin.

A mixture (:class:`~luxit_ray.config.mixture.MixtureConfig`) is written like an export: a folder
of Parquet files (``train-*.parquet``, ``validation-*.parquet``), ``mixture.json`` with the counts
and a dataset card (``README.md``) with a row per part. Every row has:

- ``origin``: the part's name (what the card counts and the trainer logs);
- ``kind``: ``instructions`` (``messages``, OpenAI role/content turns) or ``text`` (``text``, raw
  target-language text that training learns as plain language modelling);
- ``split``: ``train`` or ``validation``.

Parts are read from Parquet or JSONL: ShareGPT ``conversations`` (``from`` human/gpt/system),
``messages``, or ``instruction`` + ``response`` for instruction parts; ``text`` for text parts.
Rows that cannot be used (empty text, unknown role, no assistant turn) are counted per reason and
left out before drawing. Draws are seeded and reproducible: a part draws ``count`` rows (or its
share of ``total``, by the largest-remainder rule so the shares add up exactly) without
replacement, with seed ``mixture.seed + position of the part``.
"""

from __future__ import annotations

import datetime as _dt
import glob
import json
import logging
import math
import os
import random
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from luxit_ray import schema as S
from luxit_ray.config.mixture import MixtureConfig, MixturePart
from luxit_ray.errors import ConfigError, InputError

log = logging.getLogger(__name__)

ORIGIN = "origin"
KIND = "kind"
TRAIN, VALIDATION = "train", "validation"
MIXTURE_FILE = "mixture.json"
_SHAREGPT = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
MIXTURE_SCHEMA = pa.schema([
    pa.field(ORIGIN, pa.string()),
    pa.field(KIND, pa.string()),
    pa.field(S.MESSAGES, MESSAGE_TYPE),
    pa.field(S.TEXT, pa.string()),
    pa.field(S.SPLIT, pa.string()),
])


@dataclass
class PartRows:
    """The usable rows of one part and what was left out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    bad: Counter = field(default_factory=Counter)


@dataclass
class Mixture:
    """A drawn mixture: the table (``MIXTURE_SCHEMA``) and its counts per part."""

    name: str
    table: pa.Table
    parts: dict[str, dict[str, Any]]

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per origin and split."""
        out: dict[str, dict[str, int]] = {}
        for origin, split in zip(self.table[ORIGIN].to_pylist(), self.table[S.SPLIT].to_pylist(), strict=True):
            out.setdefault(origin, {TRAIN: 0, VALIDATION: 0})[split] += 1
        return out


def part_files(path: str) -> list[str]:
    """The Parquet and JSONL files of a file, folder or glob (sorted).

    Raises:
        InputError: nothing matches.
    """
    spec = os.path.expanduser(path)
    if any(c in spec for c in "*?["):
        candidates = glob.glob(spec, recursive=True)
    elif os.path.isdir(spec):
        candidates = glob.glob(os.path.join(spec, "**", "*"), recursive=True)
    else:
        candidates = [spec] if os.path.isfile(spec) else []
    files = sorted(f for f in candidates if os.path.isfile(f) and f.endswith((".parquet", ".jsonl", ".json")))
    if not files:
        raise InputError(path, "", "no Parquet or JSONL files match")
    return files


def _read_file(path: str) -> list[dict[str, Any]]:
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise InputError(path, f"line {i + 1}", f"not JSON: {exc}") from None
    return rows


def messages_of(row: dict[str, Any]) -> list[dict[str, str]]:
    """A row of an instruction set as role/content turns ending with an assistant turn.

    Raises:
        ValueError: the row is no usable conversation (the message is the reason).
    """
    convs, msgs = row.get(S.CONVERSATIONS), row.get(S.MESSAGES)
    if convs:
        out = []
        for i, t in enumerate(convs):
            who = t.get("from") if isinstance(t, dict) else None
            if who not in _SHAREGPT:
                raise ValueError(f"conversations[{i}].from {who!r} is not one of human/gpt/system")
            out.append({"role": _SHAREGPT[who], "content": t.get("value")})
    elif msgs:
        out = [{"role": t.get("role"), "content": t.get("content")} if isinstance(t, dict) else {"role": None}
               for t in msgs]
    elif row.get(S.INSTRUCTION) is not None or row.get(S.RESPONSE) is not None:
        out = [{"role": "user", "content": row.get(S.INSTRUCTION)},
               {"role": "assistant", "content": row.get(S.RESPONSE)}]
    else:
        raise ValueError("no conversations, messages or instruction + response")
    for i, m in enumerate(out):
        if m.get("role") not in ("system", "user", "assistant"):
            raise ValueError(f"turn {i}: role {m.get('role')!r} is not one of system/user/assistant")
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            raise ValueError(f"turn {i} ({m['role']}) has empty text")
    while out and out[-1]["role"] != "assistant":
        out.pop()
    if not any(m["role"] == "user" for m in out):
        raise ValueError("no user turn before an assistant turn")
    return out


def _reason_kind(reason: str) -> str:
    for key in ("empty text", "role", "from", "no user turn", "no conversations", "too short", "no text"):
        if key in reason:
            return key.replace(" ", "_")
    return "other"


def read_part(part: MixturePart) -> PartRows:
    """The usable rows of a part, in file order (the input of the draw).

    Raises:
        InputError: no files, an unreadable file.
    """
    out = PartRows(files=part_files(part.path))
    for path in out.files:
        for row in _read_file(path):
            try:
                if part.kind == "text":
                    text = row.get(S.TEXT)
                    if not isinstance(text, str) or not text.strip():
                        raise ValueError("no text")
                    if len(text) < part.min_chars:
                        raise ValueError(f"too short ({len(text)} < {part.min_chars} chars)")
                    out.rows.append({KIND: "text", S.MESSAGES: None, S.TEXT: text})
                else:
                    out.rows.append({KIND: "instructions", S.MESSAGES: messages_of(row), S.TEXT: None})
            except ValueError as exc:
                out.bad[_reason_kind(str(exc))] += 1
    if out.bad:
        log.warning("mixture part %s: %d row(s) left out: %s", part.name, sum(out.bad.values()), dict(out.bad))
    return out


def part_counts(cfg: MixtureConfig, available: dict[str, int], parts: list[str] | None = None) -> dict[str, int]:
    """Rows each part gives: its ``count`` (``all``: what it has) or its share of ``total``.

    Shares are turned into whole rows by the largest-remainder rule (ties: earlier part first), so
    the share parts add up to ``sum of shares x total`` rounded half up, exactly.

    Args:
        cfg: The mixture.
        available: Usable rows per part.
        parts: Only these parts (a grid variant); None: all. Amounts do not change with the subset.

    Raises:
        ConfigError: a part has fewer rows than asked for (``on_short: fail``).
    """
    chosen = [p for p in cfg.parts if parts is None or p.name in parts]
    want: dict[str, int] = {}
    share_parts = [p for p in cfg.parts if p.share is not None]  # all of them: a subset keeps its amounts
    if share_parts:
        exact = [(p.share or 0.0) * (cfg.total or 0) for p in share_parts]
        floors = [math.floor(x + 1e-9) for x in exact]
        left = math.floor(sum(exact) + 0.5 + 1e-9) - sum(floors)  # half rounds up
        order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
        for i in order[:max(0, left)]:
            floors[i] += 1
        want.update({p.name: n for p, n in zip(share_parts, floors, strict=True)})
    for p in chosen:
        if p.count is not None:
            want[p.name] = available.get(p.name, 0) if p.count == "all" else int(p.count)
    problems = []
    for p in chosen:
        have = available.get(p.name, 0)
        if want[p.name] > have:
            if cfg.on_short == "fail":
                problems.append(f"mixture part {p.name!r}: asks for {want[p.name]} rows, {p.path} has {have} usable")
            else:
                log.warning("mixture part %s: asks for %d rows, takes the %d it has", p.name, want[p.name], have)
                want[p.name] = have
    if problems:
        raise ConfigError(problems, source="mixture")
    return {p.name: want[p.name] for p in chosen}


def build_mixture(name: str, cfg: MixtureConfig, parts: list[str] | None = None,
                  read: Any = read_part) -> Mixture:
    """Read the parts, draw their rows and split them; ``parts``: only these (a grid variant).

    Raises:
        ConfigError: an unknown part name, or too few rows (``on_short: fail``).
        InputError: a part's files cannot be read.
    """
    names = [p.name for p in cfg.parts]
    unknown = sorted(set(parts or []) - set(names))
    if unknown:
        raise ConfigError([f"mixture {name}: unknown part(s) {unknown}; parts are {names}"], source="mixture")
    chosen = [p for p in cfg.parts if parts is None or p.name in parts]
    rows_of = {p.name: read(p) for p in chosen}
    want = part_counts(cfg, {n: len(r.rows) for n, r in rows_of.items()}, parts)
    out: list[dict[str, Any]] = []
    info: dict[str, dict[str, Any]] = {}
    for p in chosen:
        pos = names.index(p.name)
        got = rows_of[p.name]
        idx = random.Random(cfg.seed + pos).sample(range(len(got.rows)), want[p.name])
        n_val = round(len(idx) * cfg.validation_fraction)
        for k, i in enumerate(idx):
            out.append({ORIGIN: p.name, **got.rows[i], S.SPLIT: VALIDATION if k < n_val else TRAIN})
        info[p.name] = {"kind": p.kind, "path": p.path, "files": len(got.files), "usable": len(got.rows),
                        "left_out": dict(got.bad), "drawn": len(idx), "validation": n_val,
                        "amount": p.count if p.count is not None else f"share {p.share:g} of {cfg.total}"}
    return Mixture(name=name, table=pa.Table.from_pylist(out, schema=MIXTURE_SCHEMA), parts=info)


def mixture_card(mix: Mixture, title: str, licence: str = "other", languages: list[str] | None = None) -> str:
    """The dataset card of a mixture: where every example comes from, per part and split."""
    counts = mix.counts()
    lines = ["---", f"pretty_name: {json.dumps(title, ensure_ascii=False)}", f"license: {licence}", "language:",
             *[f"- {c}" for c in (languages or ["lb"])], "task_categories:", "- text-generation", "---", "",
             f"# {title}", "",
             f"A training mixture of {mix.table.num_rows} examples from {len(mix.parts)} part(s), drawn "
             f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d')}. Every row names its part in `origin`; "
             "`kind` is `instructions` (a `messages` conversation, trained on the assistant turns) or `text` "
             "(raw text, trained as plain language modelling).", "",
             "## Origin of the examples", "",
             "| origin | kind | source | usable | drawn | train | validation | amount |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for name, p in mix.parts.items():
        c = counts.get(name, {TRAIN: 0, VALIDATION: 0})
        lines.append(f"| {name} | {p['kind']} | `{p['path']}` | {p['usable']} | {p['drawn']} | {c[TRAIN]} | "
                     f"{c[VALIDATION]} | {p['amount']} |")
    left = {n: p["left_out"] for n, p in mix.parts.items() if p["left_out"]}
    if left:
        lines += ["", "Rows left out before drawing (per part and reason): "
                  + "; ".join(f"{n}: {json.dumps(v)}" for n, v in left.items())]
    return "\n".join(lines) + "\n"


def write_mixture(mix: Mixture, out_dir: str | Path, title: str | None = None, licence: str = "other",
                  languages: list[str] | None = None) -> Path:
    """Write a mixture as a dataset folder (replaced): Parquet per split, ``mixture.json``, the card."""
    final = Path(out_dir)
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for split in (TRAIN, VALIDATION):
        part = mix.table.filter(pc.equal(mix.table[S.SPLIT], split))
        if part.num_rows or split == TRAIN:
            pq.write_table(part, tmp / f"{split}-00000.parquet")
    doc = {"name": mix.name, "rows": mix.table.num_rows, "counts": mix.counts(), "parts": mix.parts}
    (tmp / MIXTURE_FILE).write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    (tmp / "README.md").write_text(mixture_card(mix, title or mix.name, licence, languages), encoding="utf-8")
    (tmp / "_SUCCESS").write_text(json.dumps({"rows": mix.table.num_rows}), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    log.info("mixture %s: %d rows -> %s (%s)", mix.name, mix.table.num_rows, final, mix.counts())
    return final


def mixture_dir(run_path: str | Path, name: str, parts: list[str] | None = None, label: str | None = None) -> Path:
    """Where a mixture (or a grid variant's subset of it) is written in a run folder."""
    return Path(run_path) / f"mixture-{name}" if parts is None else Path(run_path) / f"mixture-{name}-{label}"


def export_mixture(run_path: str | Path, name: str, cfg: MixtureConfig, parts: list[str] | None = None,
                   label: str | None = None, licence: str = "other", languages: list[str] | None = None) -> Path:
    """Draw a mixture and write it under the run folder (:func:`mixture_dir`); returns the folder."""
    mix = build_mixture(name, cfg, parts)
    title = name if label is None else f"{name} ({label})"
    return write_mixture(mix, mixture_dir(run_path, name, parts, label), title, licence, languages)
