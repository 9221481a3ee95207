"""The batch pre-pass of one LLM step whose endpoints are in ``mode: batch``.

Before the step runs, its uncached requests go through the OpenAI Batch API and every answer is
written into the request cache; the step then runs as usual on the cached answers, so its
outputs, counts and exactly-once spending are those of a live run.

What :func:`run_batch_pass` does, under ``<run>/batches/<step>/``:

1. **collect**: the step's stage runs over its whole input on Ray Data with an
   :class:`~luxit_ray.llm.batch.Outbox` per batch endpoint; cache misses are collected, not sent
   (other endpoints' misses are not sent either), and the rows are dropped;
2. **files**: the collected requests not in the cache become input files ``round-1/*.jsonl``
   (one model per file, at most ``batch_max_requests`` lines and ``batch_max_bytes``), listed in
   ``state.json`` (written whole and atomically);
3. **submit**: each file is uploaded and a batch created; the file id and the batch id go into
   ``state.json`` the moment they exist. A batch carries metadata naming the run, the step and
   its input file's sha256, so one created just before a kill (its id never written) is found
   again by listing the endpoint's batches and re-attached, not created twice;
4. **poll** every ``batch_poll_s``, logging one line (batches by status, requests done);
5. **download** each finished batch once: answers go into the request cache and the run's spend
   ledger (billed at ``batch_price_factor``), and the batch is marked applied in ``state.json``;
6. **resend**: lines of an expired, failed or cancelled batch that never ran go into the next
   round's files (``batch_resend: batch``, up to ``batch_max_rounds``) or are left to the live
   pass (``batch_resend: live``). Per-line errors are left to the live pass, which makes row
   errors of them.

A rerun after a kill reads ``state.json`` and carries on where it stopped (no collect pass once
files are listed): no request is submitted twice and no answer is recorded or paid twice. Once
every round is done the state is marked finished and later reruns of the step skip the
pre-pass. The counts returned (batches by final status, requests sent in batch, answered,
resent, left to the live pass) go into the step's manifest entry under ``batch``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from luxit_ray import runs
from luxit_ray.llm.batch import (
    META_RUN,
    META_SHA,
    META_STEP,
    TERMINAL,
    BatchAPI,
    BatchFile,
    apply_results,
    batch_progress,
    build_batch_files,
    read_batch_file,
    read_outbox,
)

log = logging.getLogger(__name__)

FOLDER = "batches"
STATE_FILE = "state.json"


def batch_endpoints(step: Any) -> list[str]:
    """The step's endpoints in batch mode."""
    return [n for n in step.endpoint_names() if step.cfg.endpoints[n].mode == "batch"]


def stage_label(step: Any, endpoint_name: str) -> str:
    """The accounting label of a batch endpoint's answers: the live client's label where one
    judge uses the endpoint (``judge:<name>``), else the step's name with the endpoint's."""
    judges = getattr(step.section, "judges", None)
    if judges is None:
        return step.name
    names = [j.name for j in judges if j.endpoint == endpoint_name]
    return f"{step.name}:{names[0]}" if len(names) == 1 else f"{step.name}:{endpoint_name}"


class BatchState:
    """``state.json`` of a step's pre-pass: the files of every round and their batches.

    A file entry: ``name`` (under the step's folder), ``endpoint``, ``model``, ``round``,
    ``sha256``, ``lines``, ``file_id``, ``batch_id``, ``status``, ``applied``, ``answered``,
    ``already``, ``line_errors``, ``resend`` (keys to send again).
    """

    def __init__(self, run: runs.RunDir, step: str) -> None:
        self.run = run
        self.folder = f"{FOLDER}/{step}"
        # live: requests left to the live pass, by the round that left them (set, not added to:
        # a rerun that decides a round again must not count it twice)
        self.data: dict[str, Any] = {"run_id": run.run_id, "step": step, "finished": False, "files": [],
                                     "live": {}}
        if run.exists(self.path):
            self.data = json.loads(run.read_text(self.path))

    @property
    def path(self) -> str:
        return f"{self.folder}/{STATE_FILE}"

    @property
    def files(self) -> list[dict[str, Any]]:
        return self.data["files"]

    def save(self) -> None:
        """Write the state whole (local disk: a temporary file and a rename)."""
        self.run.write_text(self.path, json.dumps(self.data, indent=1, sort_keys=True))

    def add_round(self, n: int, files: list[tuple[str, BatchFile]]) -> None:
        """Write a round's input files, then list them (a file is listed only once written)."""
        for endpoint, f in files:
            name = f"round-{n}/{endpoint}-{f.model.replace('/', '_')}-{f.sha256[:12]}.jsonl"
            _write_bytes(self.run, f"{self.folder}/{name}", f.data)
            self.files.append({"name": name, "endpoint": endpoint, "model": f.model, "round": n,
                               "sha256": f.sha256, "lines": len(f.keys), "file_id": None, "batch_id": None,
                               "status": None, "applied": False, "answered": 0, "already": 0,
                               "line_errors": 0, "resend": []})
        self.save()

    def read_file(self, entry: Mapping[str, Any]) -> bytes:
        with self.run.fs.open_input_stream(self.run.fs_path(f"{self.folder}/{entry['name']}")) as f:
            return f.read()

    def counts(self) -> dict[str, Any]:
        """The manifest counts (see the module docstring)."""
        files = self.files
        first = [f for f in files if f["round"] == 1]
        return {
            "batches": len(files),
            "batches_by_status": dict(sorted(Counter(f["status"] or "not_created" for f in files).items())),
            "rounds": max((f["round"] for f in files), default=0),
            "requests": sum(f["lines"] for f in first),
            "requests_sent": sum(f["lines"] for f in files),
            "answered": sum(f["answered"] for f in files),
            "answered_before": sum(f["already"] for f in files),
            "resent": sum(f["lines"] for f in files if f["round"] > 1),
            "line_errors": sum(f["line_errors"] for f in files),
            "left_to_live": sum(self.data["live"].values()) + sum(f["line_errors"] for f in files),
        }


def _write_bytes(run: runs.RunDir, name: str, data: bytes) -> None:
    path = run.fs_path(name)
    run.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with run.fs.open_output_stream(path) as f:
        f.write(data)


def _drop_rows(batch: Any) -> Any:
    return batch.slice(0, 0)


def collect(cfg: Any, step: Any, run: runs.RunDir, shared: Mapping[str, Any], names: list[str]) -> dict[str, dict]:
    """Run the step's stage over its input with an outbox per batch endpoint (nothing is sent).

    Returns:
        Endpoint name -> {cache key: request body} collected.
    """
    from luxit_ray.llm.batch import Outbox

    base = f"{FOLDER}/{step.name}/outbox"
    run.clear(base)
    outboxes = {n: Outbox(run.fs_path(f"{base}/{n}"), filesystem=run.fs) for n in names}
    kwargs = step.constructor_kwargs(run, {**shared, "outboxes": outboxes}, feeds_next=False)
    ds = step.stage.apply(step.source(run), step.section, cfg.endpoints, **kwargs)
    ds.map_batches(_drop_rows, batch_format="pyarrow").materialize()
    for o in outboxes.values():
        o.close()
    return {n: read_outbox(run.fs_path(f"{base}/{n}"), filesystem=run.fs) for n in names}


def run_batch_pass(cfg: Any, step: Any, run: runs.RunDir, shared: Mapping[str, Any],
                   apis: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The batch pre-pass of ``step`` (see the module docstring).

    Args:
        cfg: The job config.
        step: The :class:`~luxit_ray.steps.runner.LLMStep`.
        run: Its run folder.
        shared: The runner's shared handles (``cache_uri``, ``ledger``, ...).
        apis: Endpoint name -> :class:`~luxit_ray.llm.batch.BatchAPI` (tests); None: built.

    Returns:
        The manifest counts ({} when no endpoint of the step is in batch mode).

    Raises:
        ConfigError: batch mode without the request cache.
    """
    from luxit_ray.errors import ConfigError
    from luxit_ray.llm.cache import RequestCache

    names = batch_endpoints(step)
    if not names:
        return {}
    if not shared.get("cache_uri"):
        raise ConfigError([f"{step.name}: batch mode writes its answers into the request cache; "
                           "set cache.enabled: true"], source="job")
    state = BatchState(run, step.name)
    if state.data["finished"]:
        log.info("%s: batch pre-pass finished earlier (%s)", step.name, run.uri(state.path))
        return state.counts()
    if not state.files:
        requests = collect(cfg, step, run, shared, names)
        with RequestCache(shared["cache_uri"]) as cache:
            files, too_large = [], 0
            for n in names:
                ep = cfg.endpoints[n]
                made, big = build_batch_files(requests[n], max_requests=ep.batch_max_requests,
                                              max_bytes=ep.batch_max_bytes, skip=cache)
                files += [(n, f) for f in made]
                too_large += len(big)
        state.data["live"]["0"] = too_large
        state.add_round(1, files)
        log.info("%s: %d requests to send in %d batch file(s)", step.name,
                 sum(len(f.keys) for _, f in files), len(files))
    apis = dict(apis or {})
    for n in names:
        if n not in apis:
            apis[n] = BatchAPI(cfg.endpoints[n], n)
    with RequestCache(shared["cache_uri"]) as cache:
        while True:
            n_round = max((f["round"] for f in state.files), default=1)
            current = [f for f in state.files if f["round"] == n_round]
            _submit(step, run, state, current, apis)
            _wait(cfg, step, state, current, apis, cache, shared)
            if not _next_round(cfg, state, current, n_round):
                break
    state.data["finished"] = True
    state.save()
    counts = state.counts()
    log.info("%s: batch pre-pass done: %s", step.name, json.dumps(counts, sort_keys=True))
    return counts


def _submit(step: Any, run: runs.RunDir, state: BatchState, files: list[dict[str, Any]],
            apis: Mapping[str, Any]) -> None:
    """Create a batch for every file without one, re-attaching to a batch the endpoint already
    has for the file (same run, step and sha256)."""
    pending = [f for f in files if f["batch_id"] is None]
    known: dict[tuple[str, str], dict[str, Any]] = {}
    for name in sorted({f["endpoint"] for f in pending}):
        for b in apis[name].matching({META_RUN: run.run_id, META_STEP: step.name}):
            known[(name, (b.get("metadata") or {}).get(META_SHA))] = b  # the newest one wins
    for f in pending:
        found = known.get((f["endpoint"], f["sha256"]))
        if found is not None:
            log.info("%s: re-attached to batch %s (%s) for %s", step.name, found["id"], found["status"], f["name"])
            f.update(batch_id=found["id"], file_id=found.get("input_file_id"), status=found["status"])
            state.save()
            continue
        api = apis[f["endpoint"]]
        if f["file_id"] is None:
            f["file_id"] = api.upload(f["name"].replace("/", "-"), state.read_file(f))
            state.save()
        meta = {META_RUN: run.run_id, META_STEP: step.name, META_SHA: f["sha256"]}
        batch = api.create(f["file_id"], meta)
        f.update(batch_id=batch["id"], status=batch["status"])
        state.save()  # the id is in the run folder before anything else happens
        log.info("%s: created batch %s (%d requests, %s)", step.name, batch["id"], f["lines"], f["model"])


def _wait(cfg: Any, step: Any, state: BatchState, files: list[dict[str, Any]], apis: Mapping[str, Any],
          cache: Any, shared: Mapping[str, Any]) -> None:
    """Poll the round's batches until each has finished and been applied."""
    latest: dict[str, dict[str, Any]] = {}
    poll_s = min(cfg.endpoints[f["endpoint"]].batch_poll_s for f in files) if files else 0
    while True:
        for f in files:
            if f["applied"]:
                continue
            api = apis[f["endpoint"]]
            batch = latest[f["name"]] = api.retrieve(f["batch_id"])
            if batch["status"] != f["status"]:
                f["status"] = batch["status"]
                state.save()
            if batch["status"] in TERMINAL:
                _apply(step, state, f, batch, api, cache, shared, cfg.endpoints[f["endpoint"]])
        log.info("%s: %s", step.name, batch_progress(latest.values()))
        if all(f["applied"] for f in files):
            return
        time.sleep(poll_s)


def _apply(step: Any, state: BatchState, f: dict[str, Any], batch: Mapping[str, Any], api: Any,
           cache: Any, shared: Mapping[str, Any], endpoint: Any) -> None:
    output = api.content(batch["output_file_id"]) if batch.get("output_file_id") else None
    errors = api.content(batch["error_file_id"]) if batch.get("error_file_id") else None
    keys = list(read_batch_file(state.read_file(f)))
    paid_by = shared.get("paid_by")
    run_id, attempt = (paid_by if isinstance(paid_by, tuple) else (state.run.run_id, 0))
    res = apply_results(keys, batch["status"], output, errors, cache=cache, ledger=shared.get("ledger"),
                        stage=stage_label(step, f["endpoint"]), endpoint_name=f["endpoint"], endpoint=endpoint,
                        run_id=run_id, attempt=attempt)
    f.update(applied=True, answered=len(res.answered), already=len(res.already),
             line_errors=len(res.line_errors), resend=res.resend)
    state.save()
    for key, err in list(res.line_errors.items())[:5]:
        log.warning("%s: batch %s: request %s failed (%s); the live pass sends it again", step.name,
                    batch["id"], key[:12], err)
    log.info("%s: batch %s %s: %d answered, %d already recorded, %d line errors, %d to resend", step.name,
             batch["id"], batch["status"], len(res.answered), len(res.already), len(res.line_errors),
             len(res.resend))


def _next_round(cfg: Any, state: BatchState, files: list[dict[str, Any]], n_round: int) -> bool:
    """List the next round's files from the lines to resend; False when there is none."""
    by_endpoint: dict[str, dict[str, dict[str, Any]]] = {}
    for f in files:
        if f["resend"]:
            bodies = read_batch_file(state.read_file(f))
            by_endpoint.setdefault(f["endpoint"], {}).update({k: bodies[k] for k in f["resend"]})
    if not by_endpoint:
        return False
    made = []
    live = 0
    for name, requests in sorted(by_endpoint.items()):
        ep = cfg.endpoints[name]
        if ep.batch_resend == "live" or n_round >= ep.batch_max_rounds:
            live += len(requests)
            log.info("%s: %d requests of unfinished batches are left to the live pass", name, len(requests))
            continue
        files_, too_large = build_batch_files(requests, max_requests=ep.batch_max_requests,
                                              max_bytes=ep.batch_max_bytes)
        live += len(too_large)
        made += [(name, f) for f in files_]
    state.data["live"][str(n_round)] = live
    if not made:
        state.save()
        return False
    state.add_round(n_round + 1, made)
    return True
