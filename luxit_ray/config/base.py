"""Shared pieces of the pydantic job configs: strict models, YAML loading, dotted overrides.

Every problem in a config is reported at once, each with its dotted key path, before Ray starts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from luxit_ray.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


# A value under a key with one of these words is never echoed back: it may be a pasted secret.
_SECRET_WORDS = ("key", "secret", "token", "password")


def format_validation_error(exc: ValidationError) -> list[str]:
    """One line per problem: ``dotted.key.path: message (got <value>)``."""
    problems = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        got = err.get("input")
        secretish = any(w in path.lower() for w in _SECRET_WORDS)
        if (
            err["type"] not in ("missing", "extra_forbidden")
            and not isinstance(got, (dict, list))
            and not secretish
        ):
            msg = f"{msg} (got {got!r})"
        problems.append(f"{path}: {msg}")
    return problems


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-parsed value.

    Raises:
        ConfigError: the override has no ``=`` or an empty key.
    """
    if "=" not in text:
        raise ConfigError([f"override {text!r}: expected key.path=value"], source="overrides")
    key, _, raw = text.partition("=")
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise ConfigError([f"override {text!r}: empty key"], source="overrides")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted override set (list items by integer index)."""
    out = copy.deepcopy(data)
    problems = []
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append(f"override {text!r}: {'.'.join(parts[: i + 1])} is not a list index")
                    break
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                problems.append(
                    f"override {text!r}: {'.'.join(parts[:i])} is a value, not a section"
                )
                break
    if problems:
        raise ConfigError(problems, source="overrides")
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, naming the file and line on a syntax error."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError([f"no such file: {p}"], source=str(p))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError([f"{where}invalid YAML: {getattr(exc, 'problem', exc)}"], source=str(p)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["the top level must be a mapping of sections"], source=str(p))
    return data


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    """Validate ``data`` into ``model`` or raise ConfigError listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc), source=source) from None


def config_hash(model: BaseModel) -> str:
    """A stable short hash of a validated config (key order does not matter)."""
    blob = json.dumps(model.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
