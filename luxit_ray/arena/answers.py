"""Every model's answer to every prompt, generated ahead of time through the run's request cache.

``answers.jsonl`` keeps every answer ever generated (votes point at answer ids). Each answer
records how it was made: the system prompt and the sampling settings sent; each ``generate``
call also appends its settings to ``generation.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxit_ray import runs
from luxit_ray.arena.files import (
    ANSWERS_FILE,
    GENERATION_FILE,
    PROMPTS_FILE,
    arena_dir,
    now,
    read_jsonl,
    sha,
)
from luxit_ray.arena.prompts import load_prompts
from luxit_ray.errors import LuxitError
from luxit_ray.textio import write_jsonl

log = logging.getLogger(__name__)


@dataclass
class ArenaModel:
    """One contestant: a name shown in reports (never to voters) and its endpoint."""

    name: str
    endpoint_name: str
    endpoint: Any  # EndpointConfig


def parse_model_spec(spec: str, endpoints: dict[str, Any]) -> ArenaModel:
    """``NAME=ENDPOINT`` or ``NAME=ENDPOINT:MODEL`` (an endpoint of the run's config, optionally
    with another served model, e.g. a LoRA adapter's name), or ``NAME=URL#MODEL``.

    Raises:
        LuxitError: malformed spec or unknown endpoint.
    """
    from luxit_ray.config.llm import EndpointConfig
    from luxit_ray.web.store import ApiError, check_name

    name, sep, target = spec.partition("=")
    if not sep or not target:
        raise LuxitError(f"--model {spec!r}: expected NAME=ENDPOINT, NAME=ENDPOINT:MODEL or NAME=URL#MODEL")
    try:
        name = check_name(name, "model name")
    except ApiError as exc:
        raise LuxitError(f"--model {spec!r}: {exc.message}") from None
    if "://" in target:
        url, _, model = target.rpartition("#")
        if not url or not model:
            raise LuxitError(f"--model {spec!r}: a URL needs the served model after '#', e.g. http://127.0.0.1:8000/v1#my-model")
        return ArenaModel(name, url, EndpointConfig(base_url=url, model=model))
    ep_name, _, model = target.partition(":")
    if ep_name not in endpoints:
        known = ", ".join(sorted(endpoints)) or "none"
        raise LuxitError(f"--model {spec!r}: no endpoint {ep_name!r} in the run's config (known: {known})")
    ep = endpoints[ep_name]
    if model:
        ep = ep.model_copy(update={"model": model})
    return ArenaModel(name, ep_name, ep)


def _cache_uri(run_dir: Path) -> str | None:
    """The run's request cache (as the pipeline resolves it): cache.uri or <output_dir>/.cache/llm."""
    cfg_path = run_dir / runs.CONFIG_FILE
    if not cfg_path.is_file():
        return os.path.abspath(os.path.join(run_dir.parent, ".cache", "llm"))
    cfg = runs.RunDir(run_dir).config()
    if not cfg.cache.enabled:
        return None
    if cfg.cache.uri:
        return cfg.cache.uri if "://" in cfg.cache.uri else os.path.abspath(cfg.cache.uri)
    return os.path.abspath(os.path.join(cfg.run.output_dir, ".cache", "llm"))


@dataclass
class ArenaGeneration:
    """What ``generate_answers`` did, per model."""

    prompts: int
    per_model: dict[str, dict[str, int]]
    answers_path: Path

    def summary(self) -> dict[str, Any]:
        """Tables and lines for the CLI."""
        rows = [[m, v["ok"], v["errors"], v["cache_hits"], v["completion_tokens"]] for m, v in self.per_model.items()]
        return {"tables": {"Arena answers": {"columns": ["model", "answers", "errors", "from cache", "output tokens"],
                                             "rows": rows}},
                "lines": [f"{self.prompts} prompts; answers in {self.answers_path}"]}


def generate_answers(run_dir: str | Path, model_specs: Sequence[str], prompt_file: str | Path | None = None,
                     n: int | None = None, seed: int = 0, max_tokens: int | None = None,
                     system: str | None = None) -> ArenaGeneration:
    """Generate every model's answer to every prompt, through the run's request cache.

    Args:
        run_dir: the run folder.
        model_specs: two or more ``--model`` specs (see :func:`parse_model_spec`).
        prompt_file: prompts instead of the validation split.
        n: number of prompts (seeded sample).
        seed: seed of the prompt sample.
        max_tokens: output budget per answer (None: the endpoint's default).
        system: an optional system message sent before each prompt.

    Raises:
        LuxitError: fewer than two models, duplicate names, unknown endpoints, no prompts.
    """
    from luxit_ray.config.llm import SamplingConfig
    from luxit_ray.llm import LLMClient, RequestCache
    from luxit_ray.web.store import AppendLog

    run_dir = Path(run_dir)
    endpoints = runs.RunDir(run_dir).config().endpoints if (run_dir / runs.CONFIG_FILE).is_file() else {}
    models = [parse_model_spec(s, endpoints) for s in model_specs]
    names = [m.name for m in models]
    if len(models) < 2:
        raise LuxitError("the arena needs at least two --model specs")
    if len(set(names)) != len(names):
        raise LuxitError(f"model names repeat: {', '.join(sorted(k for k, v in Counter(names).items() if v > 1))}")
    prompts = load_prompts(run_dir, prompt_file, n, seed)
    adir = arena_dir(run_dir)
    adir.mkdir(parents=True, exist_ok=True)
    # Prompts accumulate like answers: votes on an earlier prompt set keep their text.
    known = {p["prompt_id"]: p for p in read_jsonl(adir / PROMPTS_FILE)}
    known.update({p["prompt_id"]: p for p in prompts})
    write_jsonl(adir / PROMPTS_FILE, list(known.values()))
    uri = _cache_uri(run_dir)
    # Every answer ever generated stays (votes point at them); a regenerated one moves to the end,
    # where ArenaStore looks for each model's current answer.
    by_id = {a["answer_id"]: a for a in read_jsonl(adir / ANSWERS_FILE)}
    per_model = {}
    settings = []
    for m in models:
        # What the endpoint is sent: its default sampling, with --max-tokens on top.
        sampling = m.endpoint.sampling.model_copy(update={"max_tokens": max_tokens}) if max_tokens else m.endpoint.sampling
        sent = sampling.model_dump(mode="json", exclude_none=True)
        settings.append({"model": m.name, "served_model": m.endpoint.model, "base_url": m.endpoint.base_url,
                         "sampling": sent})
        cache = RequestCache(uri) if uri else None
        try:
            with LLMClient(m.endpoint_name, m.endpoint, cache=cache, stage=f"arena:{m.name}") as client:
                reqs = [(([{"role": "system", "content": system}] if system else [])
                         + [{"role": "user", "content": p["prompt"]}], None) for p in prompts]
                comps = client.chat_many(reqs, SamplingConfig(max_tokens=max_tokens) if max_tokens else None)
        finally:
            if cache is not None:
                cache.close()
        stats = {"ok": 0, "errors": 0, "cache_hits": 0, "completion_tokens": 0}
        for p, c in zip(prompts, comps, strict=True):
            text = c.content.strip() if c.ok and c.content else None
            error = c.error if not c.ok else (None if text else "empty: no answer text")
            # The system prompt and sampling are part of the id: the same text under other
            # settings is another answer.
            aid = "a" + sha(m.name, m.endpoint.model, p["prompt_id"], text or "", error or "", system or "",
                            json.dumps(sent, sort_keys=True), n=15)
            stats["ok" if error is None else "errors"] += 1
            stats["cache_hits"] += int(c.cache_hit)
            stats["completion_tokens"] += c.completion_tokens
            rec = {"answer_id": aid, "prompt_id": p["prompt_id"], "model": m.name, "served_model": m.endpoint.model,
                   "base_url": m.endpoint.base_url, "system": system, "sampling": sent, "text": text, "error": error,
                   "finish_reason": c.finish_reason, "usage": json.loads(c.usage_json()), "created_at": now()}
            by_id.pop(aid, None)
            by_id[aid] = rec
        per_model[m.name] = stats
        log.info("arena: %s answered %d of %d prompts", m.name, stats["ok"], len(prompts))
    AppendLog(adir / GENERATION_FILE).append({"time": now(), "prompts": len(prompts), "system": system,
                                              "models": settings})
    write_jsonl(adir / ANSWERS_FILE, list(by_id.values()))
    return ArenaGeneration(len(prompts), per_model, adir / ANSWERS_FILE)
