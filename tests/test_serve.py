"""The local vLLM server's process handling, with real processes: the command line, the state
file, stopping a process group that ignores SIGTERM, stale and foreign state files, a start-up
that times out, and the CLI's stop command. The real server answering requests is tested in
tests/integration/test_vllm_serve.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from luxit_ray import serve
from luxit_ray.cli import main
from luxit_ray.config import job_from_dict
from luxit_ray.config.serve import ServeConfig
from luxit_ray.errors import ConfigError, LuxitError


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """State files go to a temp cache (the model folder is resolved before it is switched)."""
    monkeypatch.setenv("LUXIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_command_line_follows_the_config(tmp_path):
    cfg = ServeConfig(port=8123, max_model_len=8192, max_num_seqs=16, extra_args=["--seed", "0"])
    cmd = serve.build_command(cfg, tmp_path / "model", 8123, Path("/venv/bin/python"))
    assert cmd == [
        "/venv/bin/python", "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(tmp_path / "model"), "--served-model-name", "smollm2",
        "--host", "127.0.0.1", "--port", "8123", "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.5", "--dtype", "auto", "--max-num-seqs", "16",
        "--enforce-eager", "--enable-prompt-tokens-details", "--seed", "0",
    ]
    # the cached share of input is reported unless turned off
    off = ServeConfig(prompt_tokens_details=False)
    assert "--enable-prompt-tokens-details" not in serve.build_command(off, tmp_path / "m", 1, Path("p"))


def test_serve_section_in_a_job_and_its_errors():
    cfg = job_from_dict({"serve": {"port": 8001, "served_model_name": "lb-small", "enforce_eager": False}})
    assert (cfg.serve.port, cfg.serve.served_model_name, cfg.serve.gpu_memory_utilization) == (8001, "lb-small", 0.5)
    with pytest.raises(ConfigError) as err:
        job_from_dict({"serve": {"port": 70000, "extra_args": ["--port=1"], "gpu_memory_utilization": 0.0, "modle": "x"}})
    problems = "\n".join(err.value.problems)
    assert "serve.port" in problems and "serve.gpu_memory_utilization" in problems
    assert "serve.extra_args" in problems and "['--port']" in problems
    assert "serve.modle: unknown key" in problems


def test_missing_vllm_environment_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv(serve.VENV_ENV_VAR, raising=False)
    with pytest.raises(LuxitError, match=r"no vLLM environment at .*run `make install-vllm`"):
        serve.vllm_venv(ServeConfig(venv=str(tmp_path / "nope")))
    (tmp_path / "empty" / "bin").mkdir(parents=True)
    (tmp_path / "empty" / "bin" / "python").symlink_to(sys.executable)
    monkeypatch.setenv(serve.VENV_ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(LuxitError, match="has no vllm package: run `make install-vllm`"):
        serve.vllm_venv(ServeConfig())


STUBBORN = textwrap.dedent("""
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
    print("ready", flush=True)
    time.sleep(600)
""")


def test_a_group_that_ignores_sigterm_is_killed(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline().strip() == b"ready"
    assert len(serve._group_members(proc.pid)) == 2  # the leader and its child
    t0 = time.monotonic()
    assert serve._terminate_group(proc.pid, timeout_s=1.0, proc=proc) is True
    assert time.monotonic() - t0 < 15
    assert serve._group_members(proc.pid) == []
    assert proc.returncode == -signal.SIGKILL
    assert serve._terminate_group(proc.pid, timeout_s=1.0) is False  # nothing left to stop


def test_stale_and_foreign_state_files(cache):
    # a state file whose process is gone: stop reports "not running" and removes it
    dead = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    dead.wait()
    handle = serve.ServerHandle(base_url="http://127.0.0.1:1/v1", model="smollm2", pid=dead.pid, port=1,
                                host="127.0.0.1", log_path="x.log", state_path=str(serve.state_path(1)), started_at="t")
    serve._write_state(handle, ["python"])
    assert [h.port for h in serve.list_servers()] == [1]
    assert serve.stop_local_server(1) is False
    assert not serve.state_path(1).exists() and serve.list_servers() == []
    # a recorded pid that now belongs to some other program is left alone
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        serve._write_state(serve.ServerHandle(**{**handle.__dict__, "pid": other.pid, "port": 2,
                                                 "state_path": str(serve.state_path(2))}), ["python"])
        with pytest.raises(LuxitError, match="is no longer a vLLM server: left alone"):
            serve.stop_local_server(2)
        assert other.poll() is None and not serve.state_path(2).exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.skipif(not (serve.REPO_ROOT / ".venv-vllm" / "bin" / "python").exists(), reason="make install-vllm")
def test_start_up_timeout_stops_the_server_and_shows_the_log(cache, tmp_path):
    # vLLM cannot answer within 2 s (importing it alone takes longer): the start fails with the
    # log tail in the message, and no process and no state file are left behind.
    model = tmp_path / "model-for-timeout"  # vLLM never gets as far as loading it
    model.mkdir()
    (model / "config.json").write_text("{}")
    cfg = ServeConfig(port=0, model=str(model), startup_timeout_s=2.0, stop_timeout_s=10.0)
    with pytest.raises(LuxitError, match=r"did not answer /v1/models within 2 s .*last lines of .*\.log"):
        serve.start_local_server(cfg)
    assert serve.list_servers() == []
    left = [p for p in os.listdir("/proc") if p.isdigit() and str(model) in serve._cmdline(int(p))]
    assert left == []


def test_a_port_in_use_is_refused(cache, tmp_path):
    import socket

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = ServeConfig(port=port, model=str(tmp_path / "m"), venv=str(serve.REPO_ROOT / ".venv-vllm"))
        if not (serve.REPO_ROOT / ".venv-vllm" / "bin" / "python").exists():
            pytest.skip("make install-vllm")
        with pytest.raises(LuxitError, match=f"port {port} on 127.0.0.1 is already in use"):
            serve.start_local_server(cfg)


def test_cli_serve_stop_without_servers(cache, capsys):
    assert main(["serve", "stop"]) == 0
    assert "no luxit vLLM server is recorded as running" in capsys.readouterr().out
    assert main(["serve", "stop", "--port", "8999"]) == 0
    assert "port 8999: no server was running" in capsys.readouterr().out


def test_state_file_round_trip(cache):
    h = serve.ServerHandle(base_url="http://127.0.0.1:5/v1", model="m", pid=123, port=5, host="127.0.0.1",
                           log_path="l", state_path=str(serve.state_path(5)), started_at="t", ready_after_s=1.5)
    serve._write_state(h, ["a", "b"])
    data = json.loads(serve.state_path(5).read_text())
    assert data["cmd"] == ["a", "b"] and data["pid"] == 123
    assert serve.read_state(5) == h
    ep = h.endpoint(max_in_flight=4)
    assert (ep.base_url, ep.model, ep.api_key_env, ep.structured_output, ep.max_in_flight) == (
        "http://127.0.0.1:5/v1", "m", None, "json_schema", 4)
