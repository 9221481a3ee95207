"""bench/gpu_check.sh: what a fresh GPU machine needs from it, and its CPU mode run for real.

The GPU run cannot happen here (no GPU is lent to CI); its CPU mode runs the same script and the
same step script (train with an injected crash and a resume, evaluate with vLLM's CPU build and
with transformers, the table) on SmolLM2 for 4 steps, so the script cannot rot between GPU runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.sh"


def _heredoc(name: str) -> str:
    text = SCRIPT.read_text(encoding="utf-8")
    m = re.search(rf'cat > "\$OUT/{re.escape(name)}" <<\'(\w+)\'\n(.*?)\n\1\n', text, re.S)
    assert m, name
    return m.group(2)


def test_the_step_script_imports_only_the_installed_package():
    step = _heredoc("gpu_check.py")
    imported = set(re.findall(r"^\s*(?:from|import) ([\w.]+)", step, re.M))
    assert not [m for m in imported if m.split(".")[0] == "tests"]
    assert {m for m in imported if m.startswith("luxit_ray")} == {
        "luxit_ray.config", "luxit_ray.models", "luxit_ray.train.sweep", "luxit_ray.train.templates",
        "luxit_ray.train.wheel_models", "luxit_ray.evaluate.runner",
    }


def test_every_environment_is_pinned_exactly():
    text = SCRIPT.read_text(encoding="utf-8")
    for name in ("train-pins.txt", "vllm-pins.txt"):
        lines = _heredoc(name).splitlines()
        assert lines and all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][\w.+]*", x) for x in lines), lines
    assert dict(x.split("==") for x in _heredoc("vllm-pins.txt").splitlines()) == {
        "vllm": "0.32.0", "torch": "2.13.0", "transformers": "5.19.0", "ray": "2.60.0", "peft": "0.21.2",
    }
    train = dict(x.split("==") for x in _heredoc("train-pins.txt").splitlines())
    assert (train["torch"], train["bitsandbytes"], train["deepspeed"], train["ray"]) == ("2.13.0", "0.50.2", "0.19.8", "2.60.0")
    # Every pip install in the script is constrained by a pin file or names an exact version.
    for line in re.findall(r"pip install -q (.*)", text):
        assert " -c " in f" {line}" or "==" in line, line
    assert ">=" not in text


def test_the_gpu_environments_are_ignored_by_git():
    out = subprocess.run(
        ["git", "check-ignore", ".venv-gpu-train/bin/python", ".venv-gpu-vllm/bin/python"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    assert out.stdout.split() == [".venv-gpu-train/bin/python", ".venv-gpu-vllm/bin/python"]


def test_two_workers_when_two_gpus_exist():
    text = SCRIPT.read_text(encoding="utf-8")
    assert 'if [ "$GPUS" -ge 2 ]; then WORKERS=2; else WORKERS=1; fi' in text
    # Two workers take a whole GPU each: two fractions of one GPU in an NCCL group are refused.
    assert 'share = 0.5 if WORKERS == 1 else 1' in _heredoc("gpu_check.py")


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.memory_gib(4)  # peak 5.2 GiB of the machine, 3 above the suite's baseline
def test_cpu_mode_runs_every_step(tmp_path: Path):
    out = tmp_path / "gpu-check"
    env = {**os.environ, "MODE": "cpu", "OUT": str(out)}
    env.pop("PYTHONPATH", None)  # as on a fresh machine: only the installed package is importable
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["mode"], summary["workers"], summary["ok"]) == ("cpu", 1, True)
    assert summary["backends"] in (["vllm", "transformers"], ["transformers"])  # vLLM where its env has the project
    m = summary["models"]["smollm2"]
    assert {k: m[k] for k in ("first_status", "status", "steps", "resumed_from", "optimizer", "precision", "workers",
                              "ckpt_has_base", "mask_ends_with", "mask_ok", "gradient_checkpointing", "good")} == {
        "first_status": "failed", "status": "done", "steps": 4, "resumed_from": 2, "optimizer": "adamw_torch",
        "precision": "fp32", "workers": 1, "ckpt_has_base": False, "mask_ends_with": "<|im_end|>", "mask_ok": True,
        "gradient_checkpointing": False, "good": True,
    }
    # train/memory.py's estimate for SmolLM2 at 2 x 256 tokens, fp32, r 8 on q/k/v/o: 3,114,214,656 bytes.
    assert (m["memory_estimate_gib"], m["peak_gpu_memory_gib"], m["peak_gpu_reserved_gib"]) == (2.9, None, None)
    assert m["ckpt_mb"] < m["base_mb"] / 10
    assert m["items"] == 2 * 6 and 0 <= m["same_letters"] <= m["items"]
    table = (out / "table.md").read_text()
    assert table.splitlines()[2].startswith("| smollm2 | ok | 1 | 4 | 2 | adamw_torch | fp32 | ")
    assert "| off | 2.90 | n/a (n/a) |" in table
