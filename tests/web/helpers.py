"""Shared pieces of the web tests: a judged run with an exported validation split, scripted
arena models on a real OpenAI-protocol server, and a uvicorn subprocess running the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from luxit_ray.config.export import ExportConfig
from luxit_ray.dataset.export import export_run
from tests.fixtures_judged import write_judged_run
from tests.openai_server import Request

REPO = Path(__file__).resolve().parents[2]
# How each served model opens its answers (no arena name in the text: the page must stay blind).
OPENERS = {"smollm2": "Ech mengen:", "luxit-lora": "Kuerz gesot:", "llama-1b": "Also:"}


def exported_run(root: Path) -> Path:
    """The judged fixture run with an export whose validation split holds 6 of the 14 kept pairs."""
    run = write_judged_run(root)
    export_run(run, ExportConfig.model_validate({"splits": {"validation_fraction": 0.4, "seed": 0}}))
    return run


def scripted_answer(req: Request) -> str:
    """Each served model answers in its own, recognisable way."""
    opener = OPENERS.get(req.model, "?")
    if req.model == "luxit-lora":
        return f"{opener} Op d'Fro „{req.user_text}“ gëtt den Text eng kloer Äntwert, an dës Äntwert steet hei a ganze Sätz."
    return f"{opener} {req.user_text} Dat ass eng gutt Fro, mä ech weess et net genau."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_cli(args: list[str], port: int, timeout_s: float = 60.0) -> subprocess.Popen[str]:
    """Run ``luxit ARGS --port PORT`` as a subprocess and wait until it answers HTTP."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "luxit_ray.cli", *args, "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/app.css", timeout=2):
                return proc
        except urllib.error.HTTPError:  # it answers (401 without the token)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop a spawned server and return its output."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.stdout.read() if proc.stdout else ""
