"""Ray settings of the LLM chain fail safe: a setting this Ray lacks (renamed or removed by a
release) gives one warning naming the Ray version, and the step runs and writes every row."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
import ray

from luxit_ray import pipeline, runs
from luxit_ray.config import load_job
from luxit_ray.steps import runner
from tests.integration.test_generate_judge import (
    endpoint,
    pairs_for,
    read_rows,
    write_job,
    write_seeds,
)
from tests.openai_server import Reply, start_server

TITLES = ["Uelzecht", "Péitruss", "Festung", "Musel"]
FETCHER = "ray.data._internal.execution.metadata_fetcher"


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "has no setting" in r.getMessage()]


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(runner, "_WARNED", set())


def test_missing_private_settings_warn_once_and_change_nothing_else(fresh_warnings, monkeypatch, caplog):
    import importlib

    fetcher = importlib.import_module(FETCHER)
    ctx = ray.data.DataContext.get_current()
    monkeypatch.delattr(fetcher, runner.PREFETCH_ATTR)
    monkeypatch.delattr(ctx, runner.BLOCKS_AHEAD_SETTING)
    before = ctx.wait_for_min_actors_s
    for _ in range(2):  # twice: still one warning per setting
        with runner._llm_data_context(blocks_ahead=8):
            assert ctx.wait_for_min_actors_s == runner.ACTOR_START_TIMEOUT_S
            assert not hasattr(ctx, runner.BLOCKS_AHEAD_SETTING)
    assert ctx.wait_for_min_actors_s == before
    assert _warnings(caplog) == [
        f"Ray {ray.__version__} has no setting DataContext._max_num_blocks_in_streaming_gen_buffer: the LLM chain "
        "runs with Ray's default instead (it may fill its actors more slowly)",
        f"Ray {ray.__version__} has no setting {FETCHER}._PREFETCH_ON_THREAD (set from "
        "RAY_DATA_METADATA_PREFETCH_ON_THREAD): the LLM chain runs with Ray's default instead (it may fill its "
        "actors more slowly)",
    ]


def test_settings_are_set_and_restored(fresh_warnings, monkeypatch, caplog):
    import importlib

    monkeypatch.delenv(runner.PREFETCH_ENV, raising=False)
    fetcher = importlib.import_module(FETCHER)
    ctx = ray.data.DataContext.get_current()
    before = (fetcher._PREFETCH_ON_THREAD, ctx._max_num_blocks_in_streaming_gen_buffer)
    with runner._llm_data_context(blocks_ahead=8):
        assert os.environ[runner.PREFETCH_ENV] == "0"
        assert (fetcher._PREFETCH_ON_THREAD, ctx._max_num_blocks_in_streaming_gen_buffer) == (False, 8)
    assert (fetcher._PREFETCH_ON_THREAD, ctx._max_num_blocks_in_streaming_gen_buffer) == before
    assert runner.PREFETCH_ENV not in os.environ
    assert _warnings(caplog) == []


def test_a_fresh_driver_gets_the_public_variable_before_ray_reads_it():
    # No Ray Data execution yet in this process: the variable alone sets the mode, nothing private
    # is patched.
    code = (
        "import sys, os; from luxit_ray.steps import runner\n"
        "c = runner._llm_data_context(blocks_ahead=4); c.__enter__()\n"
        f"m = sys.modules[{FETCHER!r}]\n"
        "print('patched', c._fetcher is not None, 'mode', m._PREFETCH_ON_THREAD, 'env', os.environ[runner.PREFETCH_ENV])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != runner.PREFETCH_ENV}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "patched False mode False env 0" in done.stdout


def _answer(req) -> Reply:
    # Every seed's text names Uelzecht and Péitruss: match the title field of the prompt.
    title = next(t for t in TITLES if f"title: {t};" in req.user_text or f"title: {t})" in req.user_text)
    return Reply(content=json.dumps({"pairs": pairs_for(title)}, ensure_ascii=False))


@pytest.mark.parametrize("setting", ["BLOCKS_AHEAD_SETTING", "PREFETCH_ATTR"])
def test_a_step_runs_on_a_ray_without_the_setting(ray_local, tmp_path, monkeypatch, caplog, fresh_warnings, setting):
    # A later Ray that renamed the setting: the name the runner asks for is not there.
    monkeypatch.setattr(runner, setting, "_renamed_by_a_later_ray")
    caplog.set_level(logging.WARNING, logger="luxit_ray.steps.runner")
    with start_server(_answer) as server:
        job = write_job(tmp_path, {"gen": endpoint(server.base_url, "gen-model")},
                        generate={"endpoint": "gen", "batch_size": 2})
        run_dir = tmp_path / "runs" / "itest-1"
        write_seeds(run_dir, TITLES)
        pipeline.run_generate(load_job(job))
        sent = len(server.requests)
    name = ("DataContext._renamed_by_a_later_ray" if setting == "BLOCKS_AHEAD_SETTING"
            else f"{FETCHER}._renamed_by_a_later_ray (set from RAY_DATA_METADATA_PREFETCH_ON_THREAD)")
    assert _warnings(caplog) == [
        f"Ray {ray.__version__} has no setting {name}: the LLM chain runs with Ray's default instead "
        "(it may fill its actors more slowly)"]
    assert sent == 4
    rows = read_rows(run_dir / runs.PAIRS)
    assert sorted((r["doc_id"], r["instruction"]) for r in rows) == sorted(
        (f"test:{i}", p["instruction"]) for i, t in enumerate(TITLES) for p in pairs_for(t))
    assert (run_dir / runs.PAIRS / runs.MARKER).is_file()
