"""The tiny paper models (luxit_ray.train.tiny_models): real config classes, the values that shape
LoRA, templates and serving kept exactly, LoRA targets resolved, label masks with each template."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from luxit_ray.config import load_job
from luxit_ray.serve import plan_fine_tuned
from luxit_ray.train.loop import missing_target_modules
from luxit_ray.train.templates import check_template, choose_pad_token, encode_chat

REPO = Path(__file__).resolve().parents[2]
MODELS = ["llama-3.1-8b", "llama-3.2-1b", "gemma-3-1b", "glm-4-9b", "qwen3-0.6b"]

CONVERSATION = [
    {"role": "user", "content": "Wat ass d'Haaptstad vu Lëtzebuerg?"},
    {"role": "assistant", "content": "D'Haaptstad ass d'Stad Lëtzebuerg."},
]


def _config(tiny_models, name):
    return AutoConfig.from_pretrained(tiny_models[name])


def test_each_architecture_uses_its_real_config_and_model_class(tiny_models):
    got = {}
    for name in MODELS:
        cfg = _config(tiny_models, name)
        got[name] = (type(cfg).__name__, cfg.model_type, cfg.architectures)
    assert got == {
        "llama-3.1-8b": ("LlamaConfig", "llama", ["LlamaForCausalLM"]),
        "llama-3.2-1b": ("LlamaConfig", "llama", ["LlamaForCausalLM"]),
        "gemma-3-1b": ("Gemma3TextConfig", "gemma3_text", ["Gemma3ForCausalLM"]),
        "glm-4-9b": ("Glm4Config", "glm4", ["Glm4ForCausalLM"]),
        "qwen3-0.6b": ("Qwen3Config", "qwen3", ["Qwen3ForCausalLM"]),
    }
    # The folders are named as jobs/train-sweep.yaml names the model paths.
    assert {n: p.name for n, p in tiny_models.items()} == {
        "llama-3.1-8b": "Llama-3.1-8B-Instruct", "llama-3.2-1b": "Llama-3.2-1B-Instruct",
        "gemma-3-1b": "gemma-3-1b-it", "glm-4-9b": "GLM-4-9B-0414", "qwen3-0.6b": "Qwen3-0.6B"}


def test_kept_values_are_the_real_models(tiny_models):
    def kept(name, *keys):
        d = _config(tiny_models, name).to_dict()
        return {k: d[k] for k in keys}

    keys = ("vocab_size", "tie_word_embeddings", "bos_token_id", "eos_token_id")
    assert kept("llama-3.1-8b", *keys) == {"vocab_size": 128256, "tie_word_embeddings": False,
                                            "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]}
    assert kept("llama-3.2-1b", *keys) == {"vocab_size": 128256, "tie_word_embeddings": True,
                                            "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009]}
    assert kept("gemma-3-1b", *keys, "pad_token_id", "sliding_window", "layer_types", "query_pre_attn_scalar",
                "head_dim") == {
        "vocab_size": 262144, "tie_word_embeddings": True, "bos_token_id": 2, "eos_token_id": [1, 106],
        "pad_token_id": 0, "sliding_window": 512, "query_pre_attn_scalar": 32, "head_dim": 32,
        "layer_types": ["sliding_attention"] * 5 + ["full_attention"]}
    assert kept("qwen3-0.6b", *keys) == {"vocab_size": 151936, "tie_word_embeddings": True,
                                         "bos_token_id": 151643, "eos_token_id": 151645}
    assert kept("glm-4-9b", "vocab_size", "tie_word_embeddings", "eos_token_id", "pad_token_id", "attention_bias") == {
        "vocab_size": 151552, "tie_word_embeddings": False, "eos_token_id": [151329, 151336, 151338],
        "pad_token_id": 151329, "attention_bias": True}
    rope = {n: _config(tiny_models, n).to_dict()["rope_parameters"] for n in MODELS}
    assert rope["llama-3.1-8b"]["factor"] == 8.0 and rope["llama-3.2-1b"]["factor"] == 32.0
    assert rope["llama-3.1-8b"]["rope_theta"] == 500000.0 and rope["llama-3.1-8b"]["rope_type"] == "llama3"
    assert rope["glm-4-9b"]["partial_rotary_factor"] == 0.5
    assert rope["qwen3-0.6b"]["rope_theta"] == 1000000.0
    assert rope["gemma-3-1b"]["full_attention"]["rope_theta"] == 1000000.0
    assert rope["gemma-3-1b"]["sliding_attention"]["rope_theta"] == 10000.0


def test_attention_to_kv_heads_ratio_is_the_real_models(tiny_models):
    ratios = {}
    for name in MODELS:
        cfg = _config(tiny_models, name)
        ratios[name] = (cfg.num_attention_heads // cfg.num_key_value_heads, cfg.head_dim, cfg.num_hidden_layers)
    # Real: Llama 32/8, Gemma-3-1B 4/1, GLM-4-9B 32/2, Qwen3-0.6B 16/8; 32-dim heads (vLLM CPU's smallest).
    assert ratios == {"llama-3.1-8b": (4, 32, 2), "llama-3.2-1b": (4, 32, 2), "gemma-3-1b": (4, 32, 6),
                      "glm-4-9b": (16, 32, 2), "qwen3-0.6b": (2, 32, 2)}


def test_modules_tied_embeddings_qk_norms_and_fused_mlp(tiny_models):
    shapes = {}
    for name in MODELS:
        model = AutoModelForCausalLM.from_pretrained(tiny_models[name], dtype=torch.float32)
        names = {n for n, _ in model.named_modules()}
        tied = model.lm_head.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        shapes[name] = {
            "tied": tied,
            "q_norm": "model.layers.0.self_attn.q_norm" in names,
            "k_norm": "model.layers.0.self_attn.k_norm" in names,
            "gate_up_proj": "model.layers.0.mlp.gate_up_proj" in names,
            "gate_proj": "model.layers.0.mlp.gate_proj" in names,
        }
        assert model.dtype == torch.float32 and json.loads((tiny_models[name] / "config.json").read_text())["dtype"] == "bfloat16"
    assert shapes == {
        "llama-3.1-8b": {"tied": False, "q_norm": False, "k_norm": False, "gate_up_proj": False, "gate_proj": True},
        "llama-3.2-1b": {"tied": True, "q_norm": False, "k_norm": False, "gate_up_proj": False, "gate_proj": True},
        # Gemma-3 normalises queries and keys too.
        "gemma-3-1b": {"tied": True, "q_norm": True, "k_norm": True, "gate_up_proj": False, "gate_proj": True},
        "glm-4-9b": {"tied": False, "q_norm": False, "k_norm": False, "gate_up_proj": True, "gate_proj": False},
        "qwen3-0.6b": {"tied": True, "q_norm": True, "k_norm": True, "gate_up_proj": False, "gate_proj": True},
    }


def test_tokenizers_real_vocabularies_and_special_ids(tiny_models):
    toks = {n: AutoTokenizer.from_pretrained(tiny_models[n]) for n in MODELS}
    assert {n: len(t) for n, t in toks.items()} == {
        "llama-3.1-8b": 128256, "llama-3.2-1b": 128256, "gemma-3-1b": 262144, "glm-4-9b": 151343,
        "qwen3-0.6b": 151669}
    ids = {n: {t: toks[n].convert_tokens_to_ids(t) for t in s} for n, s in {
        "llama-3.1-8b": ["<|begin_of_text|>", "<|eot_id|>"],
        "gemma-3-1b": ["<bos>", "<eos>", "<pad>", "<end_of_turn>"],
        "qwen3-0.6b": ["<|endoftext|>", "<|im_end|>", "<think>"],
        "glm-4-9b": ["<|endoftext|>", "[gMASK]", "<sop>", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"],
    }.items()}
    assert ids == {
        "llama-3.1-8b": {"<|begin_of_text|>": 128000, "<|eot_id|>": 128009},
        "gemma-3-1b": {"<bos>": 2, "<eos>": 1, "<pad>": 0, "<end_of_turn>": 106},
        "qwen3-0.6b": {"<|endoftext|>": 151643, "<|im_end|>": 151645, "<think>": 151667},
        "glm-4-9b": {"<|endoftext|>": 151329, "[gMASK]": 151331, "<sop>": 151333, "<|system|>": 151335,
                     "<|user|>": 151336, "<|assistant|>": 151337, "<|observation|>": 151338},
    }
    # Each generation config stops where the real one does.
    eos = {n: json.loads((tiny_models[n] / "generation_config.json").read_text())["eos_token_id"] for n in MODELS}
    assert eos["gemma-3-1b"] == [1, 106] and eos["glm-4-9b"] == [151329, 151336, 151338]


def test_glm4_template_renders_like_glm4_0414(tiny_models):
    tok = AutoTokenizer.from_pretrained(tiny_models["glm-4-9b"])
    msgs = [{"role": "system", "content": "Du hëllefs."}, *CONVERSATION, {"role": "user", "content": "Merci!"}]
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == (
        "[gMASK]<sop><|system|>\nDu hëllefs.<|user|>\nWat ass d'Haaptstad vu Lëtzebuerg?"
        "<|assistant|>\nD'Haaptstad ass d'Stad Lëtzebuerg.<|user|>\nMerci!<|assistant|>")
    # Luxembourgish text tokenises with the byte-level BPE (no unknown pieces), specials atomically.
    ids = tok("[gMASK]<sop><|user|>\nLëtzebuerg", add_special_tokens=False)["input_ids"]
    assert ids[:3] == [151331, 151333, 151336] and max(ids[3:]) < 151329
    assert tok.decode(ids[3:]) == "\nLëtzebuerg"


def test_sweep_lora_targets_resolve_on_every_architecture(tiny_models):
    cfg = load_job(REPO / "jobs" / "train-sweep.yaml")
    missing = {}
    split_names = {}
    for recipe in cfg.train.selected():
        with torch.device("meta"):
            skeleton = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(tiny_models[recipe.name]))
        missing[recipe.name] = missing_target_modules(skeleton, recipe.lora.target_modules)
        split_names[recipe.name] = missing_target_modules(skeleton, ["gate_proj", "up_proj"])
    assert missing == {n: [] for n in MODELS}
    # vLLM's names for GLM-4's MLP are not modules of the Hugging Face model: only the fused one is.
    assert split_names == {n: (["gate_proj", "up_proj"] if n == "glm-4-9b" else []) for n in MODELS}


def test_vllm_splits_glm4s_fused_mlp_so_its_adapter_is_served_merged(tmp_path):
    glm4_py = next((REPO / ".venv-vllm").glob("lib/python*/site-packages/vllm/model_executor/models/glm4.py"), None)
    if glm4_py is None:
        pytest.skip("no .venv-vllm (make install-vllm)")
    mapping = re.search(r'"gate_up_proj":\s*\[([^\]]*)\]', glm4_py.read_text(encoding="utf-8")).group(1)
    assert [s.strip().strip('"') for s in mapping.split(",")] == ["gate_proj", "up_proj"]
    for name, targets in {"glm": ["q_proj", "gate_up_proj", "down_proj"], "qwen": ["q_proj", "gate_proj"]}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps(
            {"r": 16, "target_modules": targets, "base_model_name_or_path": "/m/base"}))
    glm = plan_fine_tuned("glm", tmp_path / "glm", merged_dir="/m/merged")
    qwen = plan_fine_tuned("qwen", tmp_path / "qwen")
    assert (glm.mode, glm.model_dir, glm.extra_args) == ("merged", "/m/merged", [])
    assert (qwen.mode, qwen.model_dir) == ("adapter", "/m/base")
    assert qwen.extra_args == ["--enable-lora", "--max-loras", "1", "--max-lora-rank", "16",
                               "--lora-modules", f"qwen={(tmp_path / 'qwen').resolve()}"]


@pytest.mark.parametrize("name", MODELS)
def test_label_mask_is_the_answer_and_its_end_of_turn(tiny_models, name):
    family = {"llama-3.1-8b": "llama3", "llama-3.2-1b": "llama3", "gemma-3-1b": "gemma3", "glm-4-9b": "glm4",
              "qwen3-0.6b": "qwen3"}[name]
    tok = AutoTokenizer.from_pretrained(tiny_models[name])
    choose_pad_token(tok, family, "auto")
    check_template(tok, family, False, model=name)
    (ex,) = encode_chat(tok, CONVERSATION, family)
    labelled = [t for t in ex.labels if t != -100]
    text = tok.decode(labelled, skip_special_tokens=False)
    end = {"llama3": "<|eot_id|>", "gemma3": "<end_of_turn>", "glm4": "<|user|>", "qwen3": "<|im_end|>"}[family]
    assert text.strip().endswith(end) and text.count(end) == 1
    assert text.replace(end, "").strip() == "D'Haaptstad ass d'Stad Lëtzebuerg."
    # The prompt's specials never carry a label (the prefix tokens appear exactly once).
    prefix = {"llama3": "<|begin_of_text|>", "gemma3": "<bos>", "glm4": "[gMASK]", "qwen3": "<|im_start|>"}[family]
    assert tok.decode(ex.input_ids, skip_special_tokens=False).count(prefix) == (2 if family == "qwen3" else 1)
    assert prefix not in text
