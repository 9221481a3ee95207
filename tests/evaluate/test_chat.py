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


# --- layering: evaluation reads the chat templates from the lower module, never from training ---

_PACKAGE = Path(__file__).resolve().parents[2] / "luxit_ray"


def _imported_names(path: Path) -> list[str]:
    """Every module a file imports, at top level or inside functions, plus string literals that
    name a ``luxit_ray`` module (``importlib.import_module("luxit_ray.train...")``)."""
    import ast

    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("luxit_ray."):
            names.append(node.value)
    return names


def _train_imports(path: Path) -> list[str]:
    return [n for n in _imported_names(path) if n == "luxit_ray.train" or n.startswith("luxit_ray.train.")]


def test_no_evaluation_module_names_the_training_package() -> None:
    files = sorted((_PACKAGE / "evaluate").rglob("*.py"))
    assert len(files) >= 9
    found = {f.name: _train_imports(f) for f in files if _train_imports(f)}
    assert found == {}


def test_the_import_scan_catches_a_lazy_training_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import importlib\n"
        "def f():\n"
        "    from luxit_ray.train.templates import stop_tokens\n"
        "    return importlib.import_module('luxit_ray.train.loop')\n",
        encoding="utf-8",
    )
    assert _train_imports(bad) == ["luxit_ray.train.templates", "luxit_ray.train.templates.stop_tokens", "luxit_ray.train.loop"]


def test_importing_every_evaluation_module_loads_no_training_module() -> None:
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys\n"
        "import luxit_ray.evaluate as e\n"
        "for m in pkgutil.iter_modules(e.__path__):\n"
        "    importlib.import_module('luxit_ray.evaluate.' + m.name)\n"
        "print(sorted(k for k in sys.modules if k.startswith('luxit_ray.train') or k == 'luxit_ray.chat_templates'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "['luxit_ray.chat_templates']"


def test_the_shared_template_module_sits_below_training_and_evaluation() -> None:
    own = [n for n in _imported_names(_PACKAGE / "chat_templates.py") if n.startswith("luxit_ray")]
    assert sorted(set(own)) == ["luxit_ray.errors", "luxit_ray.errors.LuxitError"]
    # Training and evaluation both read the families from it: one object, not two copies.
    from luxit_ray import chat_templates
    from luxit_ray.evaluate import chat
    from luxit_ray.train import loop, templates

    assert templates.FAMILIES is chat_templates.FAMILIES
    assert templates.render_generation_prompt is chat_templates.render_generation_prompt
    assert chat.SETUP_FILE == loop.SETUP_FILE == "luxit_train.json"
    assert chat.read_training_setup is chat_templates.read_training_setup
