"""The quickstart's closing commands: pasted as printed, they serve the adapter and name it right."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from luxit_ray.arena import parse_model_spec
from luxit_ray.config import load_job
from luxit_ray.quickstart import next_steps
from luxit_ray.serve import build_command

REPO = Path(__file__).resolve().parents[1]


def _commands(tmp_path: Path, monkeypatch) -> tuple[dict[str, list[str]], Path, Path]:
    cfg = load_job(REPO / "jobs" / "quickstart.yaml")
    run = tmp_path / "runs" / "quickstart-20261206-000000"
    adapter = run / "train" / "smollm2-luxit" / "adapter"
    adapter.mkdir(parents=True)
    # The run folder keeps its config as RunDir.create writes it.
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    lines = next_steps(cfg, run, adapter)
    cmds = {}
    for line in lines[1:]:
        argv = shlex.split(line)
        assert argv[0] == "luxit"
        cmds[" ".join(argv[1:3])] = argv[3:]
    return cmds, run, adapter


def test_next_steps_cover_review_and_every_arena_command(tmp_path, monkeypatch):
    cmds, _run, _adapter = _commands(tmp_path, monkeypatch)
    assert list(cmds) == ["review serve", "serve local", "arena generate", "serve stop", "arena serve",
                          "arena report", "arena export"]
    rel = "runs/quickstart-20261206-000000"  # below the working directory: shown relative
    for key in ("review serve", "arena generate", "arena serve", "arena report", "arena export"):
        assert cmds[key][0] == rel
    assert cmds["serve stop"] == ["--port", "8765"]


def test_serve_command_loads_the_adapter_as_a_lora_module(tmp_path, monkeypatch):
    cmds, run, adapter = _commands(tmp_path, monkeypatch)
    argv = cmds["serve local"]
    assert argv[0] == "--job"
    cfg = load_job(argv[1], argv[2:])
    cmd = build_command(cfg.serve, Path("/models/smollm2"), cfg.serve.port, Path("python"))
    k = cmd.index("--lora-modules")
    # Absolute: the server's working directory is the luxit cache, not the user's.
    assert cmd[k + 1] == f"smollm2-luxit={adapter.resolve()}"
    assert "--enable-lora" in cmd
    assert cmd[cmd.index("--served-model-name") + 1] == "smollm2"
    assert cmd[cmd.index("--port") + 1] == "8765"


def test_arena_models_are_the_base_and_the_adapter_on_the_job_endpoint(tmp_path, monkeypatch):
    cmds, run, _adapter = _commands(tmp_path, monkeypatch)
    argv = cmds["arena generate"]
    specs = [argv[i + 1] for i, a in enumerate(argv) if a == "--model"]
    endpoints = load_job(run / "config.yaml").endpoints
    models = [parse_model_spec(s, endpoints) for s in specs]
    assert [(m.name, m.endpoint.model, m.endpoint.base_url) for m in models] == [
        ("base", "smollm2", "http://127.0.0.1:8765/v1"),
        ("tuned", "smollm2-luxit", "http://127.0.0.1:8765/v1"),
    ]


def test_held_out_table_shows_the_validation_loss_before_and_after():
    from luxit_ray.quickstart import held_out_table

    rows = [
        {"model": "smollm2-luxit", "steps": 6, "eval_loss_before": 2.71875, "eval_loss": 2.5,
         "data": {"validation": {"examples": 7, "label_tokens": 412}}},
        {"model": "no-validation", "steps": 6, "eval_loss_before": None, "eval_loss": None, "data": None},
    ]
    assert held_out_table(rows) == {
        "columns": ["model", "validation examples", "label tokens", "steps", "loss before", "loss after", "change"],
        "rows": [["smollm2-luxit", 7, 412, 6, 2.7188, 2.5, -0.2188],
                 ["no-validation", None, None, 6, None, None, None]],
    }
