"""GPU memory a LoRA recipe needs per device, estimated before anything starts.

The estimate is arithmetic on the model's config (no weights read) and the recipe, for the
longest batch the recipe allows (``per_device_batch_size`` sequences of ``max_seq_len`` tokens):

- **weights**: every parameter of the base model in the training dtype (2 bytes bf16, 4 fp32);
  under DeepSpeed ZeRO-3 divided by the number of workers.
- **lora**: the adapter weights and their gradients, fp32 (peft keeps adapters in fp32).
- **optimizer**: AdamW's two states per adapter parameter: 8 bytes (fp32) or 2 bytes (8-bit).
- **activations**: what one decoder layer keeps for the backward pass, per token, in the
  training dtype: attention (input, normed input, q/k/v, attention output, residual:
  ``3H + 2 q_dim + 2 kv_dim``) and MLP (input, normed input, gate, up, activation, product:
  ``2H + 4I``), times every layer. With gradient checkpointing only each layer's input
  (``H`` per token) is kept, plus one layer's full activations while it is recomputed.
- **logits**: the loss upcasts the logits to fp32 and backward holds their fp32 gradient
  (``2 x 4`` bytes per vocabulary entry and token), plus the model's own 16-bit logits in a
  bf16 run. For Llama-3.2-1B (128,256 entries) at 16 x 2048 tokens the fp32 logits alone are
  16.8 GB. The training loop asks for logits only from the batch's first trained token on
  (``loop.logits_from_first_label``), so with chat prompts the real figure is lower; the
  estimate counts every token, which is exact for raw text and an upper bound otherwise.
- **cross_entropy**: cross-entropy is a log-softmax followed by a gather, and the log-softmax
  keeps its fp32 output for the backward pass: another 4 bytes per vocabulary entry and token,
  whatever the training dtype. It is what tips Gemma-3-1B (262,144 entries, 4 x 2048 tokens:
  exactly 8 GiB) past a 44 GiB GPU without gradient checkpointing.
- **overhead**: a fixed 1.5 GiB for the CUDA context, cuBLAS workspaces and allocator slack.

It is an estimate for refusing recipes that cannot fit and for turning gradient checkpointing on
(``gradient_checkpointing: auto``), not a promise that a recipe under the limit fits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from luxit_ray.config.train import ModelRecipe

GIB = 1024**3
OVERHEAD_BYTES = int(1.5 * GIB)
# The parts of an estimate, in the order they are reported.
PARTS = ("weights", "lora", "optimizer", "activations", "logits", "cross_entropy", "overhead")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only transformer that decide its memory.

    Attributes:
        vocab_size: Vocabulary entries (rows of the embedding and the output head).
        hidden_size: Width ``H`` of the residual stream.
        intermediate_size: Width ``I`` of the MLP.
        num_layers: Decoder layers.
        num_heads: Attention (query) heads.
        num_kv_heads: Key/value heads (grouped-query attention).
        head_dim: Width of one head.
        tied_embeddings: Whether the output head shares the embedding matrix.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    tied_embeddings: bool

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """Read the shape from a transformers config (or a dict of the same keys)."""
        get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
        text = get("text_config")
        if text is not None:  # multimodal wrappers keep the language model's sizes here
            return cls.from_config(text)
        heads = int(get("num_attention_heads"))
        hidden = int(get("hidden_size"))
        return cls(
            vocab_size=int(get("vocab_size")),
            hidden_size=hidden,
            intermediate_size=int(get("intermediate_size")),
            num_layers=int(get("num_hidden_layers")),
            num_heads=heads,
            num_kv_heads=int(get("num_key_value_heads") or heads),
            head_dim=int(get("head_dim") or hidden // heads),
            tied_embeddings=bool(get("tie_word_embeddings", False)),
        )

    @property
    def q_dim(self) -> int:
        """Width of the query projection's output."""
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of the key (and of the value) projection's output."""
        return self.num_kv_heads * self.head_dim

    def module_dims(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of every linear layer LoRA can target, by module name."""
        h, i = self.hidden_size, self.intermediate_size
        return {
            "q_proj": (h, self.q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "gate_up_proj": (h, 2 * i),  # GLM-4's fused MLP input
            "down_proj": (i, h),
        }

    def parameters(self) -> int:
        """Parameters of the base model (norm weights included, biases left out)."""
        h, i = self.hidden_size, self.intermediate_size
        attention = h * self.q_dim + 2 * h * self.kv_dim + self.q_dim * h
        layer = attention + 3 * h * i + 2 * h
        head = 0 if self.tied_embeddings else self.vocab_size * h
        return self.vocab_size * h + self.num_layers * layer + h + head

    def lora_parameters(self, r: int, target_modules: list[str]) -> int:
        """Adapter parameters: ``r x (in + out)`` per targeted module per layer.

        Raises:
            KeyError: a target module this estimate does not know.
        """
        dims = self.module_dims()
        return self.num_layers * sum(r * (dims[t][0] + dims[t][1]) for t in target_modules)

    def activation_elements_per_token(self) -> int:
        """Elements one decoder layer keeps per token for backward (no checkpointing)."""
        h, i = self.hidden_size, self.intermediate_size
        return (3 * h + 2 * self.q_dim + 2 * self.kv_dim) + (2 * h + 4 * i)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device of one recipe, by part (see the module docstring for each formula)."""

    weights: int
    lora: int
    optimizer: int
    activations: int
    logits: int
    cross_entropy: int
    overhead: int
    gradient_checkpointing: bool
    parameters: int
    lora_parameters: int
    vocab_size: int
    tokens: int

    @property
    def total(self) -> int:
        """Sum of all parts, in bytes."""
        return sum(getattr(self, p) for p in PARTS)

    def gib(self) -> dict[str, float]:
        """Every part and the total in GiB, rounded to 0.01."""
        out = {p: round(getattr(self, p) / GIB, 2) for p in PARTS}
        out["total"] = round(self.total / GIB, 2)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the GiB figures."""
        return {**asdict(self), "total": self.total, "gib": self.gib()}


def estimate(
    shape: ModelShape,
    *,
    batch: int,
    seq_len: int,
    lora_r: int,
    target_modules: list[str],
    bf16: bool,
    optimizer: str,
    gradient_checkpointing: bool,
    zero3_workers: int = 1,
) -> MemoryEstimate:
    """Estimate the per-device memory of LoRA training at ``batch x seq_len`` tokens.

    Args:
        shape: The model's sizes.
        batch: Sequences per device per forward pass.
        seq_len: Tokens per sequence (the recipe's ``max_seq_len``: the longest batch).
        lora_r: LoRA rank.
        target_modules: Modules with adapters.
        bf16: 16-bit weights and activations (else fp32).
        optimizer: ``adamw_8bit`` or ``adamw_torch``.
        gradient_checkpointing: Keep only layer inputs and recompute the rest.
        zero3_workers: Workers the base weights are sharded over (DeepSpeed ZeRO-3), else 1.
    """
    width = 2 if bf16 else 4
    tokens = batch * seq_len
    params = shape.parameters()
    lora = shape.lora_parameters(lora_r, target_modules)
    per_layer = shape.activation_elements_per_token() * tokens * width
    if gradient_checkpointing:
        activations = shape.num_layers * shape.hidden_size * tokens * width + per_layer
    else:
        activations = shape.num_layers * per_layer
    logits = tokens * shape.vocab_size * (8 + (width if width < 4 else 0))
    cross_entropy = tokens * shape.vocab_size * 4  # the fp32 log-softmax output, saved for backward
    return MemoryEstimate(
        weights=params * width // max(1, zero3_workers),
        lora=lora * 8,
        optimizer=lora * (2 if optimizer == "adamw_8bit" else 8),
        activations=activations,
        logits=logits,
        cross_entropy=cross_entropy,
        overhead=OVERHEAD_BYTES,
        gradient_checkpointing=gradient_checkpointing,
        parameters=params,
        lora_parameters=lora,
        vocab_size=shape.vocab_size,
        tokens=tokens,
    )


def recipe_estimate(recipe: ModelRecipe, shape: ModelShape, gradient_checkpointing: bool) -> MemoryEstimate:
    """:func:`estimate` for a recipe as it would run on GPU workers."""
    ds = recipe.deepspeed
    return estimate(
        shape,
        batch=recipe.per_device_batch_size,
        seq_len=recipe.max_seq_len,
        lora_r=recipe.lora.r,
        target_modules=recipe.lora.target_modules,
        bf16=recipe.precision == "bf16",
        optimizer=recipe.optimizer,
        gradient_checkpointing=gradient_checkpointing,
        zero3_workers=recipe.resources.num_workers if ds.enabled and ds.stage == 3 else 1,
    )


def resolve_checkpointing(recipe: ModelRecipe, config: Any) -> tuple[bool, str]:
    """Whether a recipe trains with gradient checkpointing, and why.

    ``true``/``false`` are kept. ``auto`` turns it on when the estimate without it exceeds
    ``resources.gpu_memory_gb`` (GPU runs only; CPU runs keep it off).
    """
    choice = recipe.gradient_checkpointing
    if isinstance(choice, bool):
        return choice, "set in the recipe"
    limit = recipe.resources.gpu_memory_gb
    if not recipe.resources.use_gpu or limit is None:
        return False, "auto: no GPU memory limit to check against"
    without = recipe_estimate(recipe, ModelShape.from_config(config), False)
    if without.total > limit * GIB:
        return True, f"auto: ~{without.total / GIB:.1f} GiB without it exceeds {limit:g} GiB"
    return False, f"auto: ~{without.total / GIB:.1f} GiB without it fits {limit:g} GiB"


def check_recipe_memory(recipe: ModelRecipe, config: Any) -> tuple[MemoryEstimate | None, str | None]:
    """The estimate a GPU recipe will train with, and a one-line problem when it cannot fit.

    Returns:
        (estimate or None for CPU runs, problem or None).
    """
    res = recipe.resources
    if not res.use_gpu:
        return None, None
    if res.gpu_memory_gb is None:
        return None, "resources.gpu_memory_gb is not set (the memory check needs the GPU size the workers get)"
    shape = ModelShape.from_config(config)
    on, _ = resolve_checkpointing(recipe, config)
    est = recipe_estimate(recipe, shape, on)
    if est.total <= res.gpu_memory_gb * GIB:
        return est, None
    g = est.gib()
    hint = "lower per_device_batch_size" if on else "set gradient_checkpointing: auto or true"
    return est, (
        f"needs ~{g['total']} GiB per GPU, more than resources.gpu_memory_gb {res.gpu_memory_gb:g} "
        f"(weights {g['weights']}, lora {g['lora']}, optimizer {g['optimizer']}, activations {g['activations']}, "
        f"logits {g['logits']} and cross-entropy {g['cross_entropy']} for {est.tokens} tokens x {est.vocab_size} "
        f"vocabulary; gradient checkpointing "
        f"{'on' if on else 'off'}): {hint}"
    )
