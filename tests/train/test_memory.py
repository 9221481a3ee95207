"""The preflight memory estimate: exact arithmetic, the sweep's recipes, gradient checkpointing auto.

Model sizes are those of each model's config.json (the parameter counts they give match the
published ones: Llama-3.2-1B 1,235,814,400; Llama-3.1-8B 8,030,261,248).
"""

from __future__ import annotations

from pathlib import Path

from transformers import LlamaConfig

from luxit_ray.config import load_job
from luxit_ray.train.memory import (
    GIB,
    ModelShape,
    check_recipe_memory,
    estimate,
    recipe_estimate,
    resolve_checkpointing,
)

JOBS = Path(__file__).resolve().parents[2] / "jobs"

FULL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# config.json keys of the paper's five models (only the ones the estimate reads).
CONFIGS = {
    "llama-3.1-8b": {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": False},
    "llama-3.2-1b": {"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "tie_word_embeddings": True},
    "gemma-3-1b": {"vocab_size": 262144, "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26,
                   "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "tie_word_embeddings": True},
    "glm-4-9b": {"vocab_size": 151552, "hidden_size": 4096, "intermediate_size": 13696, "num_hidden_layers": 40,
                 "num_attention_heads": 32, "num_key_value_heads": 2, "head_dim": 128, "tie_word_embeddings": False},
    "qwen3-0.6b": {"vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
                   "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": True},
}


def _llama_1b() -> ModelShape:
    return ModelShape.from_config(LlamaConfig(**CONFIGS["llama-3.2-1b"]))


def test_llama_3_2_1b_at_16_x_2048_exact_bytes():
    shape = _llama_1b()
    assert shape.parameters() == 1_235_814_400
    assert shape.lora_parameters(32, FULL) == 22_544_384
    # Per token and layer: attention 3H + 2q + 2kv = 6144 + 4096 + 1024, MLP 2H + 4I = 4096 + 32768.
    assert shape.activation_elements_per_token() == 48_128
    without = estimate(shape, batch=16, seq_len=2048, lora_r=32, target_modules=FULL, bf16=True,
                       optimizer="adamw_8bit", gradient_checkpointing=False)
    assert without.tokens == 32_768
    assert without.weights == 2_471_628_800            # 1,235,814,400 x 2 bytes
    assert without.lora == 180_355_072                 # 22,544,384 x (4 weight + 4 grad)
    assert without.optimizer == 45_088_768             # x 2 bytes: two 8-bit states
    assert without.activations == 50_465_865_728       # 16 layers x 48,128 x 32,768 tokens x 2
    # The fp32 logits alone: 32,768 tokens x 128,256 x 4 = 16.8 GB; with their fp32 gradient and
    # the bf16 logits the model returns: x (4 + 4 + 2).
    assert 32_768 * 128_256 * 4 == 16_810_770_432
    assert without.logits == 42_026_926_080
    # Cross-entropy's log-softmax keeps its fp32 output for backward: 32,768 x 128,256 x 4 more.
    assert without.cross_entropy == 16_810_770_432
    assert without.total == 113_611_247_616
    assert without.gib()["total"] == 105.81
    with_ckpt = estimate(shape, batch=16, seq_len=2048, lora_r=32, target_modules=FULL, bf16=True,
                         optimizer="adamw_8bit", gradient_checkpointing=True)
    # Layer inputs 16 x 2048 x 32,768 x 2, plus one layer recomputed.
    assert with_ckpt.activations == 2_147_483_648 + 3_154_116_608
    assert with_ckpt.gib() == {"weights": 2.3, "lora": 0.17, "optimizer": 0.04, "activations": 4.94,
                               "logits": 39.14, "cross_entropy": 15.66, "overhead": 1.5, "total": 63.75}


def test_fp32_adamw_and_zero3_parts():
    shape = _llama_1b()
    e = estimate(shape, batch=1, seq_len=1024, lora_r=8, target_modules=["q_proj", "v_proj"], bf16=False,
                 optimizer="adamw_torch", gradient_checkpointing=False, zero3_workers=4)
    assert shape.lora_parameters(8, ["q_proj", "v_proj"]) == 16 * 8 * ((2048 + 2048) + (2048 + 512)) == 851_968
    assert e.weights == 1_235_814_400 * 4 // 4
    assert e.optimizer == 851_968 * 8
    assert e.logits == 1024 * 128_256 * 8  # fp32 run: no separate 16-bit copy
    assert e.cross_entropy == 1024 * 128_256 * 4  # the saved log-softmax is fp32 in any dtype


def test_glm4_fused_mlp_target_is_counted():
    glm = ModelShape.from_config(CONFIGS["glm-4-9b"])
    assert glm.module_dims()["gate_up_proj"] == (4096, 27392)
    assert glm.lora_parameters(16, ["gate_up_proj"]) == 40 * 16 * (4096 + 27392)


def _sweep_recipes(overrides: list[str] | None = None):
    return {m.name: m for m in load_job(JOBS / "train-sweep.yaml", overrides or []).train.models}


def test_every_paper_recipe_fits_its_gpu_with_auto_checkpointing():
    recipes = _sweep_recipes()
    got = {}
    for name, recipe in recipes.items():
        est, problem = check_recipe_memory(recipe, CONFIGS[name])
        assert problem is None, problem
        got[name] = (est.gradient_checkpointing, est.gib()["total"])
    assert got == {
        "llama-3.1-8b": (True, 33.89),
        "llama-3.2-1b": (True, 33.88),
        "gemma-3-1b": (True, 32.85),
        "glm-4-9b": (True, 39.42),
        "qwen3-0.6b": (True, 36.85),
    }


def test_preflight_refuses_llama_1b_at_16_sequences_in_one_line():
    recipe = _sweep_recipes(["train.models.1.per_device_batch_size=16"])["llama-3.2-1b"]
    est, problem = check_recipe_memory(recipe, CONFIGS["llama-3.2-1b"])
    assert est.total > 44 * GIB
    assert problem == (
        "needs ~63.75 GiB per GPU, more than resources.gpu_memory_gb 44 (weights 2.3, lora 0.17, optimizer 0.04, "
        "activations 4.94, logits 39.14 and cross-entropy 15.66 for 32768 tokens x 128256 vocabulary; gradient "
        "checkpointing on): lower per_device_batch_size"
    )
    off = _sweep_recipes(["train.models.1.gradient_checkpointing=false"])["llama-3.2-1b"]
    assert check_recipe_memory(off, CONFIGS["llama-3.2-1b"])[1].endswith("set gradient_checkpointing: auto or true")


def test_checkpointing_auto_decisions():
    recipes = _sweep_recipes()
    assert resolve_checkpointing(recipes["gemma-3-1b"], CONFIGS["gemma-3-1b"]) == (
        True, "auto: ~46.1 GiB without it exceeds 44 GiB"
    )
    assert resolve_checkpointing(recipes["qwen3-0.6b"], CONFIGS["qwen3-0.6b"]) == (
        True, "auto: ~55.4 GiB without it exceeds 44 GiB"
    )
    smoke = load_job(JOBS / "train-smoke.yaml").train.models[0]
    assert check_recipe_memory(smoke, CONFIGS["qwen3-0.6b"]) == (None, None)  # CPU runs: not checked


def test_zero3_earns_nothing_for_the_sweep_on_48_gb():
    # The largest recipe fits one GPU with checkpointing; ZeRO-3 would only shard the frozen base.
    recipes = _sweep_recipes()
    glm = ModelShape.from_config(CONFIGS["glm-4-9b"])
    r = recipes["glm-4-9b"]
    single = estimate(glm, batch=r.per_device_batch_size, seq_len=2048, lora_r=16, target_modules=r.lora.target_modules,
                      bf16=True, optimizer="adamw_8bit", gradient_checkpointing=True)
    assert single.total < 44 * GIB
    assert all(not m.deepspeed.enabled for m in recipes.values())


def test_gpu_recipe_without_gpu_memory_is_a_problem():
    recipe = _sweep_recipes(["train.defaults.resources.gpu_memory_gb=null"])
    est, problem = check_recipe_memory(recipe["qwen3-0.6b"], CONFIGS["qwen3-0.6b"])
    assert (est, problem) == (
        None, "resources.gpu_memory_gb is not set (the memory check needs the GPU size the workers get)"
    )


def test_gemma_3_1b_at_its_recipe_length_needs_checkpointing_because_of_cross_entropy():
    # 4 sequences x 2048 tokens x 262,144 entries: the saved fp32 log-softmax is exactly 8 GiB.
    recipe = _sweep_recipes()["gemma-3-1b"]
    assert (recipe.per_device_batch_size, recipe.max_seq_len, recipe.resources.gpu_memory_gb) == (4, 2048, 44)
    shape = ModelShape.from_config(CONFIGS["gemma-3-1b"])
    assert shape.parameters() == 999_812_736
    without = recipe_estimate(recipe, shape, False)
    assert without.tokens == 8192
    assert without.cross_entropy == 8192 * 262_144 * 4 == 8 * GIB
    assert without.logits == 8192 * 262_144 * 10 == 21_474_836_480
    assert without.activations == 15_321_792_512
    assert without.total == 49_518_632_192
    # Without the cross-entropy term it would have fitted (38.1 GiB): the term is the difference.
    assert without.total - without.cross_entropy == 40_928_697_600 < 44 * GIB < without.total
    with_ckpt = recipe_estimate(recipe, shape, True)
    assert with_ckpt.activations == 1_080_033_280
    assert with_ckpt.total == 35_276_872_960
    assert with_ckpt.gib() == {"weights": 1.86, "lora": 0.39, "optimizer": 0.1, "activations": 1.01,
                               "logits": 20.0, "cross_entropy": 8.0, "overhead": 1.5, "total": 32.85}
    est, problem = check_recipe_memory(recipe, CONFIGS["gemma-3-1b"])
    assert (est, problem) == (with_ckpt, None)
