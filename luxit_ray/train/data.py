"""Training data: the exported Parquet -> conversations -> masked token sequences.

Training reads only Parquet (never stage code). A row becomes a conversation from, in order of
preference, its ShareGPT ``conversations`` (``from`` human/gpt/system), an OpenAI-style
``messages`` column, or ``instruction`` + ``response``; a row of a mixture
(:mod:`luxit_ray.dataset.mixture`) of ``kind`` ``text`` is raw target-language text, learned as
plain language modelling (every token trained, cut into ``max_seq_len`` windows, no chat
template). A row's ``origin`` (its mixture part) is counted per split and logged. Rows with a
``split`` column go to ``train`` or ``validation``; without one, ``eval_fraction`` holds out a
stable hash-based share.

A bad row (empty text, unknown role, no assistant turn, unknown split) fails the run naming file
and row, or is set aside with its reason and counted (``run.on_bad_input``); a conversation
longer than ``max_seq_len`` tokens is skipped and counted, never cut (a cut would drop the
end-of-turn token the model must learn).
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from luxit_ray import schema
from luxit_ray.errors import InputError
from luxit_ray.train.templates import EncodedChat, encode_chat

log = logging.getLogger(__name__)

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
SPLITS = ("train", "validation")
TEXT_ROLE = "text"  # a conversation of one turn with this role is raw text (language modelling)
ORIGIN = "origin"
KIND = "kind"  # a mixture's row kind: "instructions" or "text"
MAX_REASONS = 20

Conversation = list[dict[str, str]]


@dataclass
class ChatData:
    """Conversations of both splits plus what was set aside and why."""

    train: list[Conversation] = field(default_factory=list)
    validation: list[Conversation] = field(default_factory=list)
    rows: int = 0
    bad_rows: int = 0
    bad_reasons: Counter = field(default_factory=Counter)
    bad_examples: list[str] = field(default_factory=list)  # "file:row N: reason", first few
    files: list[str] = field(default_factory=list)
    origins: dict[str, Counter] = field(default_factory=lambda: {s: Counter() for s in SPLITS})

    def counts(self) -> dict[str, Any]:
        """Counts for the results and the manifest."""
        return {
            "origins": {s: dict(sorted(c.items())) for s, c in self.origins.items()},
            "files": len(self.files),
            "rows": self.rows,
            "train_conversations": len(self.train),
            "validation_conversations": len(self.validation),
            "bad_rows": self.bad_rows,
            "bad_reasons": dict(self.bad_reasons),
        }


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")


def list_parquet_files(spec: str) -> tuple[pafs.FileSystem, list[str]]:
    """Resolve a file, folder, glob or pyarrow URI to its Parquet files (sorted).

    Raises:
        InputError: nothing matches.
    """
    if "://" in spec:
        fs, path = pafs.FileSystem.from_uri(spec)
    else:
        fs, path = pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(spec))
    files: list[str] = []
    if _has_glob(path):
        if isinstance(fs, pafs.LocalFileSystem):
            files = [p for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
        else:
            base = path.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0]
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
            files = [i.path for i in infos if i.type == pafs.FileType.File and fnmatch.fnmatch(i.path, path)]
    else:
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.File:
            files = [path]
        elif info.type == pafs.FileType.Directory:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
            files = [i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet")]
    files = sorted(files)
    if not files:
        raise InputError(spec, "", "no Parquet files match (export the dataset first, or set train.data)")
    return fs, files


def conversation_from_row(row: dict[str, Any]) -> Conversation:
    """Turn one exported row into role/content messages.

    Raises:
        ValueError: the row cannot be a training conversation (the message is the reason).
    """
    convs = row.get(schema.CONVERSATIONS)
    msgs = row.get(schema.MESSAGES)
    out: Conversation = []
    if row.get(KIND) == TEXT_ROLE:
        text = row.get(schema.TEXT)
        if not isinstance(text, str) or not text.strip():
            raise ValueError("turn 0 (text) has empty text")
        return [{"role": TEXT_ROLE, "content": text}]
    if convs:
        for i, turn in enumerate(convs):
            if not isinstance(turn, dict):
                raise ValueError(f"conversations[{i}] is not an object")
            who, value = turn.get("from"), turn.get("value")
            if who not in SHAREGPT_ROLES:
                raise ValueError(f"conversations[{i}].from {who!r} is not one of human/gpt/system")
            out.append({"role": SHAREGPT_ROLES[who], "content": value})
    elif msgs:
        for i, turn in enumerate(msgs):
            role = turn.get("role") if isinstance(turn, dict) else None
            if role not in ("system", "user", "assistant"):
                raise ValueError(f"messages[{i}].role {role!r} is not one of system/user/assistant")
            out.append({"role": role, "content": turn.get("content")})
    else:
        out = [
            {"role": "user", "content": row.get(schema.INSTRUCTION)},
            {"role": "assistant", "content": row.get(schema.RESPONSE)},
        ]
    for i, m in enumerate(out):
        if not isinstance(m["content"], str) or not m["content"].strip():
            raise ValueError(f"turn {i} ({m['role']}) has empty text")
    roles = [m["role"] for m in out]
    if "assistant" not in roles:
        raise ValueError("no assistant turn")
    if "user" not in roles or roles.index("user") > roles.index("assistant"):
        raise ValueError("an assistant turn comes before any user turn")
    while out and out[-1]["role"] != "assistant":
        # Trailing user turns teach nothing; they are not an error.
        out.pop()
    return out


def _in_validation(conv: Conversation, fraction: float, seed: int) -> bool:
    if fraction <= 0.0:
        return False
    key = f"{seed}\x00" + "\x00".join(m["content"] for m in conv)
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < fraction


def load_chat_data(
    spec: str, eval_fraction: float = 0.0, eval_seed: int = 0, on_bad_input: str = "quarantine"
) -> ChatData:
    """Read the training Parquet into conversations of both splits.

    Args:
        spec: File, folder, glob or pyarrow URI.
        eval_fraction: Held-out share when the data has no ``split`` column.
        eval_seed: Seed of that hold-out.
        on_bad_input: ``fail`` raises at the first bad row; ``quarantine`` counts and skips it.

    Raises:
        InputError: no files, an unreadable file, missing columns, or (fail) a bad row.
    """
    fs, files = list_parquet_files(spec)
    data = ChatData(files=files)
    usable = (schema.CONVERSATIONS, schema.MESSAGES, schema.INSTRUCTION, schema.RESPONSE, schema.TEXT, ORIGIN, KIND,
              schema.SPLIT)
    for path in files:
        try:
            names = pq.read_schema(path, filesystem=fs).names
            cols = [c for c in usable if c in names]
            table: pa.Table = pq.read_table(path, filesystem=fs, columns=cols)
        except (OSError, pa.ArrowException) as exc:
            raise InputError(path, "", f"cannot read Parquet: {exc}") from None
        raw_text = schema.TEXT in cols and KIND in cols  # a mixture's raw-text rows
        if not any(c in cols for c in (schema.CONVERSATIONS, schema.MESSAGES)) and not raw_text and not (
            schema.INSTRUCTION in cols and schema.RESPONSE in cols
        ):
            raise InputError(
                path, "", f"needs a `{schema.CONVERSATIONS}` column or `{schema.INSTRUCTION}` + `{schema.RESPONSE}` (has {names})"
            )
        has_split = schema.SPLIT in cols
        for i, row in enumerate(table.to_pylist()):
            data.rows += 1
            try:
                conv = conversation_from_row(row)
                split = row.get(schema.SPLIT) if has_split else None
                if has_split and split not in SPLITS:
                    raise ValueError(f"split {split!r} is not one of {SPLITS}")
            except ValueError as exc:
                if on_bad_input == "fail":
                    raise InputError(path, f"row {i}", str(exc)) from None
                data.bad_rows += 1
                data.bad_reasons[_reason_kind(str(exc))] += 1
                if len(data.bad_examples) < MAX_REASONS:
                    data.bad_examples.append(f"{path}:row {i}: {exc}")
                continue
            if split is None:
                split = "validation" if _in_validation(conv, eval_fraction, eval_seed) else "train"
            (data.validation if split == "validation" else data.train).append(conv)
            data.origins[split][row.get(ORIGIN) or "export"] += 1
    if data.bad_rows:
        log.warning("%d of %d rows set aside: %s (first: %s)", data.bad_rows, data.rows,
                    dict(data.bad_reasons), data.bad_examples[:3])
    if not data.train:
        raise InputError(spec, "", f"no usable training conversations among {data.rows} rows")
    log.info("examples by origin: %s", data.counts()["origins"])
    return data


def _reason_kind(reason: str) -> str:
    """A short, countable kind for a bad-row reason."""
    for key in ("empty text", "no assistant turn", "before any user turn", "split", "from", "role", "not an object"):
        if key in reason:
            return key.replace(" ", "_")
    return "other"


@dataclass
class TokenizedData:
    """Masked examples of one split and the counts of what was skipped."""

    examples: list[EncodedChat]
    conversations: int
    too_long: int
    tokens: int
    label_tokens: int

    def counts(self) -> dict[str, int]:
        """Counts for the results."""
        return {
            "conversations": self.conversations,
            "examples": len(self.examples),
            "skipped_too_long": self.too_long,
            "tokens": self.tokens,
            "label_tokens": self.label_tokens,
        }


def tokenize_conversations(
    tokenizer: Any,
    conversations: list[Conversation],
    family: str,
    thinking: bool,
    max_seq_len: int,
    system_prompt: str | None = None,
) -> TokenizedData:
    """Encode conversations with the chat template and assistant-only labels.

    Raises:
        TemplateError: the template cannot close an assistant turn (a setup problem, not data).
    """
    examples: list[EncodedChat] = []
    too_long = 0
    for conv in conversations:
        if len(conv) == 1 and conv[0]["role"] == TEXT_ROLE:
            examples.extend(encode_text(tokenizer, conv[0]["content"], max_seq_len))
            continue
        msgs = conv
        if system_prompt and not any(m["role"] == "system" for m in conv):
            msgs = [{"role": "system", "content": system_prompt}, *conv]
        for ex in encode_chat(tokenizer, msgs, family, thinking):
            if len(ex) > max_seq_len:
                too_long += 1
            else:
                examples.append(ex)
    if too_long:
        log.warning("%d example(s) longer than max_seq_len=%d skipped (not truncated)", too_long, max_seq_len)
    return TokenizedData(
        examples=examples,
        conversations=len(conversations),
        too_long=too_long,
        tokens=sum(len(e) for e in examples),
        label_tokens=sum(sum(1 for t in e.labels if t != -100) for e in examples),
    )


def encode_text(tokenizer: Any, text: str, max_seq_len: int) -> list[EncodedChat]:
    """Raw text as language-modelling examples: the text and the tokenizer's end-of-text token,
    every token trained, cut into windows of ``max_seq_len`` (no chat template: nothing to keep whole)."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    if tokenizer.eos_token_id is not None:
        ids.append(int(tokenizer.eos_token_id))
    return [EncodedChat(input_ids=ids[i:i + max_seq_len], labels=ids[i:i + max_seq_len])
            for i in range(0, len(ids), max_seq_len) if len(ids[i:i + max_seq_len]) > 1]
