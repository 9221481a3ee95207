"""Which template set-up a model is evaluated with: config, training's record, or detection."""

from __future__ import annotations

import json
from pathlib import Path

from luxit_ray.evaluate.chat import SETUP_FILE, effective_thinking, resolve_setup


def _folder(path: Path, files: dict[str, object]) -> Path:
    path.mkdir(parents=True)
    for name, content in files.items():
        (path / name).write_text(json.dumps(content), encoding="utf-8")
    return path


def test_training_record_beside_the_adapter_wins_over_defaults(tmp_path: Path) -> None:
    model = _folder(tmp_path / "model", {"config.json": {"model_type": "qwen3"}})
    adapter = _folder(
        tmp_path / "adapter",
        {"adapter_config.json": {"r": 8}, SETUP_FILE: {"family": "qwen3", "thinking": True}, "tokenizer_config.json": {}},
    )
    setup = resolve_setup(model, adapter, family=None, thinking=None, default_thinking=False)
    assert (setup.family, setup.thinking, setup.tokenizer_dir, setup.source) == ("qwen3", True, str(adapter), SETUP_FILE)
    # The config overrides both (a mismatch with training is logged, not refused).
    setup = resolve_setup(model, adapter, family="chatml", thinking=False, default_thinking=True)
    assert (setup.family, setup.thinking, setup.source) == ("chatml", False, "config")


def test_without_a_record_the_family_is_left_to_detection(tmp_path: Path) -> None:
    model = _folder(tmp_path / "model", {"config.json": {"model_type": "llama"}})
    adapter = _folder(tmp_path / "adapter", {"adapter_config.json": {"r": 4}})
    setup = resolve_setup(model, adapter, family=None, thinking=None, default_thinking=False)
    assert (setup.family, setup.thinking, setup.tokenizer_dir, setup.source) == (None, False, str(model), "unknown")
    merged = _folder(tmp_path / "merged", {"config.json": {"model_type": "gemma3_text"}, SETUP_FILE: {"family": "gemma3", "thinking": False}})
    setup = resolve_setup(merged, None, family=None, thinking=None, default_thinking=True)
    assert (setup.family, setup.thinking, setup.source) == ("gemma3", False, SETUP_FILE)


def test_thinking_only_where_the_template_has_a_switch() -> None:
    assert effective_thinking("qwen3", True) is True
    assert effective_thinking("gemma3", True) is False
    assert effective_thinking("llama3", False) is False
    assert effective_thinking(None, True) is True  # the tokenizer's own template decides
