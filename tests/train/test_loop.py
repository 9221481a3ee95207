"""Pieces of the worker's training function that must hold on GPUs too, checked on CPU."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from transformers import TrainingArguments

from luxit_ray.config import load_job
from luxit_ray.errors import LuxitError
from luxit_ray.train.loop import (
    MissingGpuExtraError,
    _training_kwargs,
    check_known_fields,
    choose_optimizer,
    reduced_sum,
)

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reduced_tensor_stays_on_the_models_device():
    # The old code built the token count on the CPU whatever the device; NCCL then failed with
    # "No backend type associated with device type cpu" after training, before the final save.
    model = torch.nn.Linear(2, 2, device="meta")
    t = reduced_sum(7, next(model.parameters()).device)
    assert t.device == next(model.parameters()).device
    assert t.dtype == torch.long


def test_reduced_sum_runs_through_a_gloo_group():
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        model = torch.nn.Linear(2, 2)
        t = reduced_sum(41, next(model.parameters()).device)
        assert (t.device.type, int(t.item())) == ("cpu", 41)
    finally:
        torch.distributed.destroy_process_group()


def test_training_kwargs_are_all_known_to_the_installed_transformers(tmp_path):
    recipe = load_job(JOBS / "train-sweep.yaml").train.models[0]
    kw = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_bnb_8bit", True, True, False, True)
    assert kw["optim"] == "adamw_bnb_8bit"
    assert kw["gradient_accumulation_steps"] == 8
    assert kw["warmup_steps"] == 0.03 or kw.get("warmup_ratio") == 0.03


def test_unknown_training_argument_is_an_error_not_dropped():
    fields = set(TrainingArguments.__dataclass_fields__)
    check_known_fields({"optim": "adamw_torch"}, fields, "TrainingArguments")
    with pytest.raises(LuxitError, match=r"TrainingArguments of transformers .* has no argument\(s\) \['warmup_ratioo'\]"):
        check_known_fields({"optim": "adamw_torch", "warmup_ratioo": 0.1}, fields, "TrainingArguments")


def test_missing_bitsandbytes_is_an_error_on_gpus_and_a_fallback_on_cpu():
    with pytest.raises(MissingGpuExtraError) as err:
        choose_optimizer("adamw_8bit", use_gpu=True, deepspeed=False, bnb_version=None)
    assert str(err.value) == (
        "optimizer adamw_8bit needs bitsandbytes on the GPU workers: install luxit-ray[train-gpu] there"
    )
    assert choose_optimizer("adamw_8bit", use_gpu=False, deepspeed=False, bnb_version=None) == (
        "adamw_torch", "bitsandbytes is not installed (CPU smoke fallback)"
    )


def test_transformers_pin_allows_the_dtype_keyword():
    # from_pretrained(dtype=...) (train/loop.py, evaluate/backends.py) arrived in transformers 4.56;
    # the old lower bound 4.50 let pip keep a transformers that ignores it.
    import re

    import tomllib

    deps = tomllib.loads((JOBS.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    [spec] = [d for d in deps if re.match(r"transformers\b", d)]
    low = tuple(int(x) for x in re.search(r">=\s*([\d.]+)", spec).group(1).split("."))
    assert low >= (4, 56)


def test_eval_before_training_is_asked_of_the_trainer_only_on_a_fresh_start(tmp_path):
    recipe = load_job(JOBS / "train-smoke.yaml").train.models[0]
    fresh = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, True, eval_before=True)
    resumed = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, True, eval_before=False)
    no_eval = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, False, eval_before=True)
    assert (fresh["eval_on_start"], resumed["eval_on_start"], no_eval["eval_on_start"]) == (True, False, False)


def test_eval_loss_before_is_the_step_0_evaluation_kept_across_a_resume():
    from luxit_ray.train.loop import eval_loss_before

    # log_history as the Trainer restores it from a checkpoint, then extends it after the resume.
    history = [
        {"eval_loss": 2.75, "eval_runtime": 0.1, "epoch": 0, "step": 0},
        {"loss": 2.6, "grad_norm": 1.0, "learning_rate": 1e-3, "epoch": 0.5, "step": 1},
        {"loss": 2.4, "grad_norm": 1.0, "learning_rate": 1e-3, "epoch": 1.0, "step": 2},
        {"eval_loss": 2.5, "epoch": 1.0, "step": 2},
    ]
    assert eval_loss_before(history) == 2.75
    assert eval_loss_before(history[1:]) is None


def test_logits_are_cut_at_the_batch_s_earliest_trained_label():
    from luxit_ray.train.loop import logits_from_first_label

    labels = torch.tensor([[-100, -100, -100, 5, 6, -100], [-100, -100, 7, 8, -100, -100]])
    batch = {"input_ids": torch.ones(2, 6, dtype=torch.long), "labels": labels}
    cut = logits_from_first_label(batch)
    # Label 7 (column 2) is predicted by position 1: logits for positions 1..5, labels the same.
    assert cut["logits_to_keep"] == 5
    assert cut["labels"].tolist() == [[-100, -100, 5, 6, -100], [-100, 7, 8, -100, -100]]
    assert cut["input_ids"] is batch["input_ids"] and batch["labels"] is labels  # the batch itself untouched
    # Nothing to cut: a label at position 1, every token trained (raw text), no label at all.
    for same in ([[-100, 3, 4]], [[3, 4, 5]], [[-100, -100, -100]]):
        plain = {"labels": torch.tensor(same)}
        assert logits_from_first_label(plain) is plain


def _tiny_causal_lms():
    from transformers import (
        Gemma3ForCausalLM,
        Gemma3TextConfig,
        Glm4Config,
        Glm4ForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
        Qwen3Config,
        Qwen3ForCausalLM,
    )

    shape = {"vocab_size": 300, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "pad_token_id": 0}
    torch.manual_seed(0)
    yield "llama", LlamaForCausalLM(LlamaConfig(**shape))
    # Gemma-3 scales its logits after the head (softcapping set here so that the cut passes through it).
    yield "gemma3", Gemma3ForCausalLM(Gemma3TextConfig(**shape, final_logit_softcapping=30.0, sliding_window=4,
                                                        query_pre_attn_scalar=16))
    yield "qwen3", Qwen3ForCausalLM(Qwen3Config(**shape, tie_word_embeddings=True))
    yield "glm4", Glm4ForCausalLM(Glm4Config(**shape))


def test_cutting_the_prompt_s_logits_changes_neither_loss_nor_gradients():
    from peft import LoraConfig, get_peft_model

    from luxit_ray.train.loop import accepts_logits_to_keep, logits_from_first_label

    # Right-padded chat rows: prompts of 5, 3 and 7 tokens, then trained answer tokens.
    ids = torch.randint(1, 300, (3, 12), generator=torch.Generator().manual_seed(1))
    labels = torch.full((3, 12), -100)
    for row, (start, end) in enumerate([(5, 10), (3, 12), (7, 9)]):
        labels[row, start:end] = ids[row, start:end]
    mask = (torch.arange(12) < torch.tensor([[10], [12], [9]])).long()
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    n_items = int((labels[:, 1:] != -100).sum())
    for name, base in _tiny_causal_lms():
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                init_lora_weights=False, task_type="CAUSAL_LM"))
        assert accepts_logits_to_keep(model), name
        results = []
        for inputs in (batch, logits_from_first_label(batch)):
            model.zero_grad()
            out = model(**inputs, num_items_in_batch=n_items)
            out.loss.backward()
            grads = [p.grad.clone() for p in model.parameters() if p.requires_grad]
            results.append((out.loss.detach(), grads, out.logits.shape))
        (full, full_grads, full_shape), (cut, cut_grads, cut_shape) = results
        assert (full_shape[1], cut_shape[1]) == (12, 10), name  # positions 2..11: the earliest label is at 3
        assert torch.allclose(full, cut, atol=1e-6), (name, full, cut)
        assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(full_grads, cut_grads, strict=True)), name


def test_evaluation_keeps_no_logits(tmp_path):
    # The Trainer used to gather every validation batch's logits (tokens x vocabulary each) until
    # the split was done, to compute nothing from them: tens of GiB on a real split.
    from transformers import LlamaConfig, LlamaForCausalLM, Trainer

    from luxit_ray.train.loop import ChatCollator, ChatDataset
    from luxit_ray.train.templates import EncodedChat

    recipe = load_job(JOBS / "train-smoke.yaml").train.models[0]
    kw = _training_kwargs(TrainingArguments, recipe, tmp_path, "adamw_torch", False, False, True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, pad_token_id=0))
    rows = [EncodedChat(input_ids=[5, 6, 7, 8], labels=[-100, -100, 7, 8]) for _ in range(3)]
    trainer = Trainer(model=model, args=TrainingArguments(**kw), data_collator=ChatCollator(0))
    out = trainer.predict(ChatDataset(rows))
    assert out.predictions is None and out.label_ids is None
    assert out.metrics["test_loss"] > 0
