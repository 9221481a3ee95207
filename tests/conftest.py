"""Shared fixtures: a real local Ray for integration tests, paths to the bundled test data."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

# Nothing may reach a model hub at test time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
# vLLM on CPU runs its model worker in a process of its own (the "mp" executor, so that it can bind
# OpenMP threads to cores); with this set, a one-worker engine runs it in the engine's process, as
# vLLM does on a GPU: each server or offline LLM starts ~16 s sooner and spends
# ~12 CPU-seconds less on this 2-core machine (BENCHMARKS.md, issue 25). Same tokens either way.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

DATA = Path(__file__).parent / "data"

# LUXIT_TEST_NICE=N (.ci/pytest.sh sets it for the sweep module it runs beside the rest of the suite):
# this pytest may only take the CPU the other leaves idle. `nice` covers its own processes, but on a
# kernel with scheduler autogroups (Linux's default) a process that starts a session of its own (a
# Ray node, a vLLM server) gets a new group at full weight whatever its nice: a thread gives every
# such group under this pytest the same nice, twice a second.
_NICE = int(os.environ.get("LUXIT_TEST_NICE") or 0)


def _descendants(root: int) -> list[int]:
    """Every live process below ``root`` (by parent pid, read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
            children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _set_autogroup_nice(pid: int, nice: int) -> None:
    try:
        with open(f"/proc/{pid}/autogroup", encoding="ascii") as fh:
            if fh.read().split()[-1] == str(nice):
                return
        with open(f"/proc/{pid}/autogroup", "w", encoding="ascii") as fh:
            fh.write(str(nice))
    except (OSError, IndexError):
        pass  # no autogroups here, or the process is gone: plain nice applies


def _keep_low_priority(nice: int) -> None:
    while True:
        for pid in [os.getpid(), *_descendants(os.getpid())]:
            _set_autogroup_nice(pid, nice)
        time.sleep(0.5)


if _NICE > 0:
    import threading

    threading.Thread(target=_keep_low_priority, args=(_NICE,), name="luxit-test-nice", daemon=True).start()

# @pytest.mark.memory_gib(N): the test needs about N GiB more than the suite's baseline (its peak,
# measured alone). Before its setup it waits, up to MEMORY_WAIT_S, until the machine has N GiB
# available: run beside the sweep module (.ci/pytest.sh), a training test waits for the sweep's ten
# workers to finish instead of pushing 24 GiB into the OOM killer. Alone, nothing waits.
MEMORY_WAIT_S = 1800.0


def _mem_available_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024**2
    return float("inf")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    marker = item.get_closest_marker("memory_gib")
    if marker is None:
        return
    need = float(marker.args[0])
    t0 = time.monotonic()
    while _mem_available_gib() < need and time.monotonic() - t0 < MEMORY_WAIT_S:
        time.sleep(2.0)
    waited = time.monotonic() - t0
    if waited >= 2.0:
        # Kept in the test's user properties (JUnit XML) and printed (shown with -s, or beside a
        # failure), so that a slow test says why.
        item.user_properties.append(("memory_wait_s", round(waited, 1)))
        print(f"\n{item.nodeid}: waited {waited:.0f} s for {need:g} GiB of memory "
              f"({_mem_available_gib():.1f} GiB available now)")

# LUXIT_TEST_TIMELINE=FILE: one JSON line per test with its wall time and the CPU seconds the whole
# machine spent meanwhile (every process: Ray daemons, vLLM servers, workers), to find where the
# suite's time goes and how much of it leaves a core idle (BENCHMARKS.md, issue 25).
_TIMELINE = os.environ.get("LUXIT_TEST_TIMELINE")
_CLOCK = os.sysconf("SC_CLK_TCK")


def _machine_cpu_s() -> float:
    """CPU seconds every core has spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / _CLOCK


if _TIMELINE:
    _started: dict[str, tuple[float, float]] = {}

    def pytest_runtest_logstart(nodeid, location):
        _started[nodeid] = (time.time(), _machine_cpu_s())

    def pytest_runtest_logfinish(nodeid, location):
        t0, c0 = _started.pop(nodeid)
        wall, cpu = time.time() - t0, _machine_cpu_s() - c0
        with open(_TIMELINE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"test": nodeid, "start": round(t0, 2), "wall_s": round(wall, 2),
                                 "cpu_s": round(cpu, 2), "cores_busy": round(cpu / wall, 2) if wall else None}) + "\n")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: the sample corpus and other fixtures written for this project."""
    return DATA


@pytest.fixture(scope="session")
def ray_local():
    """A real embedded Ray shared by the whole session (4 logical CPUs on a 2-core machine so
    fractional-CPU actor pools and a read task fit together)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    from ray.data.context import ShuffleStrategy

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED  # as runs.init_ray does
    ctx.target_max_block_size = 8 * 1024 * 1024  # ditto (RayConfig.max_block_mb)
    ctx.use_datasource_v2 = False  # ditto
    yield ray
    # Left running until the interpreter exits: restarting Ray per module costs ~10 s each.


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """The paper's five architectures as tiny random models (luxit_ray.train.tiny_models), built
    once per session under a temp dir: {sweep model name: folder}; their parent is a models_root."""
    from luxit_ray.train.tiny_models import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))
