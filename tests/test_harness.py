"""The test harness's own parts that `make test` leans on (tests/conftest.py, .ci/pytest.sh):
the memory gate, the low priority given to the sweep module's processes, and the runner's split."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import conftest

REPO = Path(__file__).resolve().parents[1]


class _Clock:
    """Stands in for the ``time`` module inside conftest: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def _item(need: float | None):
    marker = None if need is None else SimpleNamespace(args=(need,))
    return SimpleNamespace(nodeid="tests/x.py::t", user_properties=[],
                           get_closest_marker=lambda name: marker if name == "memory_gib" else None)


def test_memory_gate_waits_until_enough_is_available(monkeypatch, capsys):
    readings = iter([3.0, 3.5, 5.0, 9.0, 9.0])
    monkeypatch.setattr(conftest, "_mem_available_gib", lambda: next(readings))
    monkeypatch.setattr(conftest, "time", _Clock())
    item = _item(8)
    conftest.pytest_runtest_setup(item)
    # three readings under 8 GiB, 2 s apart; the fourth passes
    assert item.user_properties == [("memory_wait_s", 6.0)]
    assert "tests/x.py::t: waited 6 s for 8 GiB of memory (9.0 GiB available now)" in capsys.readouterr().out


def test_memory_gate_gives_up_after_its_limit_and_leaves_unmarked_tests_alone(monkeypatch):
    monkeypatch.setattr(conftest, "_mem_available_gib", lambda: 1.0)
    monkeypatch.setattr(conftest, "time", _Clock())
    monkeypatch.setattr(conftest, "MEMORY_WAIT_S", 10.0)
    item = _item(8)
    conftest.pytest_runtest_setup(item)
    assert item.user_properties == [("memory_wait_s", 10.0)]
    unmarked = _item(None)
    conftest.pytest_runtest_setup(unmarked)
    assert unmarked.user_properties == []


def test_memory_available_is_read_from_proc():
    assert 0.0 < conftest._mem_available_gib() < 4096


def test_a_child_in_a_session_of_its_own_gets_the_nice_of_its_autogroup():
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        assert child.pid in conftest._descendants(os.getpid())
        path = Path(f"/proc/{child.pid}/autogroup")
        if not path.exists():
            pytest.skip("this kernel has no scheduler autogroups")
        ours = Path(f"/proc/{os.getpid()}/autogroup").read_text()
        conftest._set_autogroup_nice(child.pid, 19)
        assert path.read_text().split()[-2:] == ["nice", "19"]
        # our own group is untouched: only the child's session was given the lower priority
        assert Path(f"/proc/{os.getpid()}/autogroup").read_text() == ours
    finally:
        child.kill()
        child.wait()
    conftest._set_autogroup_nice(child.pid, 19)  # gone: nothing to do, nothing raised


def test_runner_passes_arguments_to_one_pytest_and_fails_on_no_tests():
    # With arguments the runner is one pytest; "nothing collected" (exit 5) is a failure.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", str(REPO / ".ci" / "pytest.sh"), "tests/test_harness.py", "-k", "no_such_test_here"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "pytest collected no tests: treating as failure" in proc.stderr
    assert "beside the other tests" not in proc.stdout
