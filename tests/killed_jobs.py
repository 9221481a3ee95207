"""What the kill-and-rerun tests and ``bench/corpus_dry_run.py`` share: start a ``luxit`` command
in its own session with a tag in its environment, end every process it leaves behind after a
SIGKILL (Ray's GCS, raylet, workers, DashboardAgent, RuntimeEnvAgent inherit the tag; SPEC.md),
and read which requests the durable request cache recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TAG_VAR = "LUXIT_KILLED_JOB_TAG"


def luxit_cli(command: str, job: Path, tag: str, log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """``luxit COMMAND JOB`` in a new session (its process group is its pid), on the embedded
    Ray (no ``RAY_ADDRESS``), with the tag in its environment and its output appended to ``log``."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({TAG_VAR: tag, "RAY_DATA_DISABLE_PROGRESS_BARS": "1", "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen(
        [sys.executable, "-m", "luxit_ray.cli", command, str(job)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd,
    )


def tagged_pids(tag: str) -> list[int]:
    """Processes (other than this one) whose environment carries the tag."""
    needle = f"{TAG_VAR}={tag}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            env = (d / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            out.append(int(d.name))
    return out


def kill_tagged(tag: str, pgid: int | None = None, timeout_s: float = 30.0) -> list[int]:
    """SIGKILL the process group ``pgid`` (when given) and every tagged process, until none is left.

    Returns:
        The pids that were sent SIGKILL by name (the leftovers outside the group).

    Raises:
        RuntimeError: tagged processes still run after ``timeout_s``.
    """
    if pgid is not None:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pids = tagged_pids(tag)
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    raise RuntimeError(f"processes of the killed job still running: {tagged_pids(tag)}")


def recorded_keys(cache_dir: Path) -> set[str]:
    """Keys with a durably recorded response in a local request cache (its JSONL segments; a torn
    last line is skipped)."""
    keys = set()
    for seg in cache_dir.glob("*.jsonl"):
        with seg.open("rb") as f:
            for line in f:
                try:
                    keys.add(json.loads(line)["k"])
                except (ValueError, KeyError, TypeError):
                    continue
    return keys
