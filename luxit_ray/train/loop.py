"""The training function each Ray Train worker runs: one recipe, LoRA via peft, HF Trainer.

Per worker: load the tokenizer, set a safe pad token, run the pre-training template check,
tokenise the conversations with assistant-only labels, load the model, attach LoRA adapters and
train with ``transformers.Trainer`` (cosine schedule, warmup, weight decay, gradient accumulation,
8-bit AdamW where bitsandbytes supports the device, DeepSpeed ZeRO as an option: NCCL on GPUs,
DeepSpeed's CPU accelerator over gloo on CPU workers). With a validation split, the held-out loss
is measured before the first update and after the last, on the same examples and label masks.

Checkpoints: every ``save_every_steps`` steps the Trainer's checkpoint folder (adapter weights,
optimizer, scheduler, RNG and trainer state; never the frozen base, also under ZeRO-3) is reported
to Ray Train, which keeps it under the run's storage path. A restarted worker (Ray's own retry,
or a rerun of the sweep after a kill) gets the latest one from ``ray.train.get_checkpoint()`` and
the Trainer continues from its step, data order included. The last report holds the final adapter
with its tokenizer and ``luxit_train.json`` (template family, thinking flag, stop tokens), which
is what evaluation and ``luxit merge`` read.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from luxit_ray.chat_templates import SETUP_FILE
from luxit_ray.config.train import ModelRecipe
from luxit_ray.errors import LuxitError

log = logging.getLogger(__name__)

STATE_FILE = "luxit_state.json"
FINAL_FILE = "final.json"
ADAPTER_DIR = "adapter"
FINAL_CHECKPOINT = "final"


class InjectedCrash(RuntimeError):
    """Raised on purpose after a checkpoint, to test resuming (never in normal runs)."""


class MissingGpuExtraError(LuxitError):
    """A GPU worker lacks a package or capability its recipe asks for (no silent fallback on GPUs)."""


def installed_version(package: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


_DETECT = "detect"


def choose_optimizer(
    requested: str, use_gpu: bool, deepspeed: bool, bnb_version: str | None = _DETECT
) -> tuple[str, str]:
    """The Trainer ``optim`` name to use and why.

    8-bit AdamW runs wherever bitsandbytes is installed: on CUDA and, since bitsandbytes 0.50,
    on CPU too. On GPU workers (``use_gpu``) a missing bitsandbytes is an error naming the extra
    to install; only CPU runs (the smoke profile) fall back to ``adamw_torch``.

    Args:
        requested: The recipe's optimizer.
        use_gpu: GPU workers (no fallback) or a CPU run (fallback allowed, logged).
        deepspeed: DeepSpeed ZeRO is on.
        bnb_version: The installed bitsandbytes version, None when missing (default: detected).

    Returns:
        (optim name, reason) e.g. ("adamw_bnb_8bit", "bitsandbytes 0.50.2").

    Raises:
        MissingGpuExtraError: a GPU run asks for 8-bit AdamW and bitsandbytes is not installed.
    """
    if requested != "adamw_8bit":
        return "adamw_torch", "requested"
    if deepspeed:
        # The recipe validator refuses this pair; kept so the function is total.
        return "adamw_torch", "8-bit AdamW is not combined with DeepSpeed ZeRO"
    if bnb_version == _DETECT:
        bnb_version = installed_version("bitsandbytes")
    if bnb_version is None:
        if use_gpu:
            raise MissingGpuExtraError(
                "optimizer adamw_8bit needs bitsandbytes on the GPU workers: install luxit-ray[train-gpu] there"
            )
        return "adamw_torch", "bitsandbytes is not installed (CPU smoke fallback)"
    return "adamw_bnb_8bit", f"bitsandbytes {bnb_version}"


def reduced_sum(value: int, device: Any) -> Any:
    """A one-element tensor holding ``value`` summed over all training workers, on ``device``.

    The tensor lives on the training device: NCCL (GPU workers) cannot reduce CPU tensors
    ("No backend type associated with device type cpu"); gloo (CPU workers) reduces CPU ones.
    Without a process group it holds ``value`` itself.
    """
    import torch

    t = torch.tensor([value], dtype=torch.long, device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(t)
    return t


def sum_across_workers(value: int, device: Any) -> int:
    """:func:`reduced_sum` as a Python int."""
    return int(reduced_sum(value, device).item())


def deepspeed_config(recipe: ModelRecipe) -> dict[str, Any]:
    """A DeepSpeed config for the Trainer ("auto" values are filled from the TrainingArguments)."""
    ds = recipe.deepspeed
    zero: dict[str, Any] = {
        "stage": ds.stage,
        "overlap_comm": True,
        "contiguous_gradients": True,
    }
    if ds.stage == 3:
        # Gathered 16-bit weights let the Trainer save the adapter alone, never the sharded base.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if ds.offload_params and ds.stage == 3:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    return {
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "train_micro_batch_size_per_gpu": "auto",
        "train_batch_size": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_allow_untested_optimizer": True,
    }


def missing_target_modules(model: Any, targets: list[str]) -> list[str]:
    """Target names that match no module of the model (e.g. gate_proj on GLM-4's fused MLP)."""
    names = [n for n, _ in model.named_modules()]
    return [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]


class ChatDataset:
    """A list of :class:`~luxit_ray.train.templates.EncodedChat` as a map-style torch dataset."""

    def __init__(self, examples: list[Any]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        ex = self.examples[i]
        return {"input_ids": ex.input_ids, "labels": ex.labels}


def logits_from_first_label(inputs: dict[str, Any]) -> dict[str, Any]:
    """The batch with the model asked for logits only from the position that predicts the batch's
    first trained token (``logits_to_keep``), and the labels cut to the same positions.

    Assistant-only labels leave the prompt (system turn, template header, instruction) untrained,
    yet the model computes, and backward keeps, tokens x vocabulary logits for it: with 128k-262k
    vocabularies the largest tensors of a LoRA step. The loss is unchanged: every position cut
    predicts a masked label (-100) in every row, and the loss shifts the kept labels as before.
    A batch with no masked prefix (raw text, a 1-token prompt) is returned as it is.
    """
    labels = inputs.get("labels")
    if labels is None or labels.dim() != 2 or "logits_to_keep" in inputs:
        return inputs
    trained = (labels != -100).any(dim=0)
    if not bool(trained.any()):
        return inputs
    start = int(trained.nonzero()[0]) - 1  # the position whose logits predict the first label
    if start <= 0:
        return inputs
    return {**inputs, "labels": labels[:, start:], "logits_to_keep": labels.shape[1] - start}


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether the causal LM under a peft (or plain) model takes ``logits_to_keep``."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


class ChatCollator:
    """Right-pads a batch; padding gets attention 0 and label -100 (never a masked real token)."""

    def __init__(self, pad_id: int, multiple_of: int | None = None) -> None:
        self.pad_id = pad_id
        self.multiple_of = multiple_of

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        n = max(len(b["input_ids"]) for b in batch)
        if self.multiple_of:
            n = -(-n // self.multiple_of) * self.multiple_of
        ids = torch.full((len(batch), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), n), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), n), dtype=torch.long)
        for i, b in enumerate(batch):
            k = len(b["input_ids"])
            ids[i, :k] = torch.tensor(b["input_ids"], dtype=torch.long)
            labels[i, :k] = torch.tensor(b["labels"], dtype=torch.long)
            mask[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _training_kwargs(
    args_cls: Any,
    recipe: ModelRecipe,
    work: Path,
    optim: str,
    bf16: bool,
    use_cuda: bool,
    has_eval: bool,
    gradient_checkpointing: bool | None = None,
    eval_before: bool = False,
) -> dict[str, Any]:
    """TrainingArguments for a recipe, spelled for the installed transformers version.

    ``eval_before`` evaluates the validation split once before the first optimizer step (inside
    the Trainer's loop, so under DeepSpeed the engine exists): the held-out loss before training.

    Raises:
        LuxitError: an argument the installed TrainingArguments does not have.
    """
    if gradient_checkpointing is None:
        gradient_checkpointing = recipe.gradient_checkpointing is True
    fields = set(getattr(args_cls, "__dataclass_fields__", {}))
    kw: dict[str, Any] = {
        "output_dir": str(work / "hf"),
        "per_device_train_batch_size": recipe.per_device_batch_size,
        "per_device_eval_batch_size": recipe.per_device_batch_size,
        "gradient_accumulation_steps": recipe.grad_accum,
        "num_train_epochs": recipe.epochs,
        "max_steps": recipe.max_steps or -1,
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler,
        "weight_decay": recipe.weight_decay,
        "optim": optim,
        "bf16": bf16,
        "use_cpu": not use_cuda,
        "logging_steps": recipe.log_every_steps,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": recipe.save_every_steps,
        "eval_strategy": "steps" if has_eval and recipe.eval_every_steps else "no",
        "eval_steps": recipe.eval_every_steps if has_eval else None,
        "eval_on_start": bool(has_eval and eval_before),
        "seed": recipe.seed,
        "deepspeed": deepspeed_config(recipe) if recipe.deepspeed.enabled else None,
        "remove_unused_columns": False,
        "ddp_find_unused_parameters": False,
        "dataloader_num_workers": 0,
        # Evaluation needs the loss only. Without this the Trainer keeps every validation batch's
        # logits (tokens x vocabulary each) until the split is done: for a 128k-262k vocabulary
        # that is tens of GiB on a real validation split.
        "prediction_loss_only": True,
        "report_to": "none",
        "disable_tqdm": True,
    }
    if "warmup_ratio" in fields:
        kw["warmup_ratio"] = recipe.warmup_ratio
    else:  # transformers >= 5: a warmup_steps value below 1 is a ratio of the total steps
        kw["warmup_steps"] = recipe.warmup_ratio
    ckpt_name = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    kw[ckpt_name] = gradient_checkpointing
    if gradient_checkpointing:
        kw[ckpt_name + "_kwargs"] = {"use_reentrant": False}
    check_known_fields(kw, fields, getattr(args_cls, "__name__", "TrainingArguments"))
    return kw


def check_known_fields(kwargs: dict[str, Any], fields: set[str], owner: str) -> None:
    """Refuse arguments the installed transformers does not know (never drop them silently).

    Raises:
        LuxitError: naming the unknown arguments and the transformers version.
    """
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        import transformers

        raise LuxitError(
            f"{owner} of transformers {transformers.__version__} has no argument(s) {unknown}; "
            "update luxit_ray/train/loop.py:_training_kwargs or the transformers pin"
        )


def _loss_history(log_history: list[dict[str, Any]]) -> list[list[float]]:
    return [[int(h["step"]), float(h["loss"])] for h in log_history if "loss" in h and "step" in h]


def eval_loss_before(log_history: list[dict[str, Any]]) -> float | None:
    """The validation loss logged at step 0 (``eval_on_start``), None when there was none.

    The Trainer restores ``log_history`` from a checkpoint, so a resumed run still finds the
    figure its first session measured before any update.
    """
    for h in log_history:
        if "eval_loss" in h and int(h.get("step", -1)) == 0:
            return float(h["eval_loss"])
    return None


def _wait_until_consumed() -> None:
    """Block until Ray Train has taken the previous report (a second report waits for the first)."""
    import ray.train

    ray.train.report({"sync": 1.0})


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point: train one recipe on this worker's share of the data.

    Args:
        config: ``recipe`` (ModelRecipe as a dict), ``model_path`` (local folder), ``data_ref``
            (an ObjectRef of {"train": [...], "validation": [...]} conversations), and for tests
            only ``crash_at`` ({model name: step}: raise after that step's checkpoint unless resuming).
    """
    import ray
    import ray.train
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.trainer_callback import PrinterCallback

    from luxit_ray.train.data import tokenize_conversations
    from luxit_ray.train.templates import check_template, choose_pad_token

    started = time.time()
    recipe = ModelRecipe.model_validate(config["recipe"])
    model_path = config["model_path"]
    crash_at_step = (config.get("crash_at") or {}).get(recipe.name)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # --- resume state ----------------------------------------------------------------------
    resume_dir: str | None = None
    prior: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix=f"luxit-train-{recipe.name}-{rank}-"))
    ckpt = ray.train.get_checkpoint()
    if ckpt is not None:
        local = ckpt.to_directory(str(work / "resume"))
        if (Path(local) / FINAL_FILE).is_file():
            log.info("%s: already finished (final adapter in storage); nothing to do", recipe.name)
            shutil.rmtree(work, ignore_errors=True)
            return
        resume_dir = local
        state_file = Path(local) / STATE_FILE
        prior = json.loads(state_file.read_text()) if state_file.is_file() else {}
        log.info("%s: resuming from the checkpoint at step %s", recipe.name, prior.get("global_step"))

    # --- device, precision, optimizer --------------------------------------------------------
    use_cuda = recipe.resources.use_gpu and torch.cuda.is_available()
    if recipe.resources.use_gpu and not use_cuda:
        raise LuxitError(f"{recipe.name}: resources.use_gpu is set but this worker sees no CUDA device")
    if recipe.precision == "bf16" and use_cuda and not torch.cuda.is_bf16_supported():
        raise MissingGpuExtraError(
            f"{recipe.name}: precision bf16 but this GPU ({torch.cuda.get_device_name()}) has no bf16; "
            "use a bf16 GPU (fp16 overflows Gemma-3) or precision: fp32"
        )
    bf16 = recipe.precision == "bf16" and use_cuda
    precision = "bf16" if bf16 else "fp32"
    if recipe.precision == "bf16" and not bf16:
        log.info("%s: CPU smoke profile: bf16 is for GPUs, training in fp32", recipe.name)
    optim, optim_reason = choose_optimizer(recipe.optimizer, recipe.resources.use_gpu, recipe.deepspeed.enabled)
    if optim != "adamw_bnb_8bit" and recipe.optimizer == "adamw_8bit":
        log.info("%s: CPU smoke profile: optimizer %s (%s)", recipe.name, optim, optim_reason)
    else:
        log.info("%s: optimizer %s (%s)", recipe.name, optim, optim_reason)
    if recipe.deepspeed.enabled:
        if importlib.util.find_spec("deepspeed") is None:
            raise MissingGpuExtraError(
                f"{recipe.name}: deepspeed.enabled but the deepspeed package is not installed on the training workers: "
                "install luxit-ray[train-gpu] there"
            )
        if not use_cuda:
            # DeepSpeed picks its CPU accelerator when no GPU is visible and joins the gloo group
            # Ray Train already set up: the same ZeRO code paths, checkpoints and resume as on GPUs.
            log.info("%s: DeepSpeed ZeRO-%d on its CPU accelerator (gloo)", recipe.name, recipe.deepspeed.stage)
            import deepspeed

            # accelerate hands the process group to DeepSpeed only on GPUs; without this, ZeRO-3's
            # sharded load (zero.Init in from_pretrained) sees a world of 1 and refuses the batch sizes.
            deepspeed.init_distributed(dist_backend="gloo")
    if not use_cuda:
        torch.set_num_threads(max(1, int(recipe.resources.cpus_per_worker)))

    # --- tokenizer, template check, data -----------------------------------------------------
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    choose_pad_token(tokenizer, recipe.family, recipe.pad_token)
    report = check_template(tokenizer, recipe.family, recipe.thinking, model=recipe.name)
    data = ray.get(config["data_ref"])
    train_tok = tokenize_conversations(
        tokenizer, data["train"], recipe.family, recipe.thinking, recipe.max_seq_len, recipe.system_prompt
    )
    eval_tok = tokenize_conversations(
        tokenizer, data["validation"], recipe.family, recipe.thinking, recipe.max_seq_len, recipe.system_prompt
    )
    if not train_tok.examples:
        raise LuxitError(f"{recipe.name}: no training example fits max_seq_len={recipe.max_seq_len}")

    # --- trainer -----------------------------------------------------------------------------
    has_eval = bool(eval_tok.examples)
    from transformers import AutoConfig

    from luxit_ray.train.memory import GIB, ModelShape, recipe_estimate, resolve_checkpointing

    model_config = AutoConfig.from_pretrained(model_path)
    checkpointing, why = resolve_checkpointing(recipe, model_config)
    # Kept beside the measured peak so every run holds the estimate against what the GPU used.
    try:
        estimate_gib: float | None = recipe_estimate(recipe, ModelShape.from_config(model_config), checkpointing).total / GIB
    except KeyError as exc:  # a target module the estimate has no formula for
        log.info("%s: no memory estimate (%s)", recipe.name, exc)
        estimate_gib = None
    if use_cuda:
        torch.cuda.reset_peak_memory_stats()
    log.info("%s: gradient checkpointing %s (%s)", recipe.name, "on" if checkpointing else "off", why)
    args = TrainingArguments(
        **_training_kwargs(
            TrainingArguments, recipe, work, optim, bf16, use_cuda, has_eval, checkpointing,
            eval_before=resume_dir is None,
        )
    )
    # Under ZeRO-3 the TrainingArguments above must exist before from_pretrained (sharded load).
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if bf16 else torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    missing = missing_target_modules(model, recipe.lora.target_modules)
    if missing:
        raise LuxitError(f"{recipe.name}: lora.target_modules {missing} match no module of the model")
    model = get_peft_model(
        model,
        LoraConfig(
            r=recipe.lora.r,
            lora_alpha=recipe.lora.alpha,
            lora_dropout=recipe.lora.dropout,
            target_modules=recipe.lora.target_modules,
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )
    if checkpointing:
        model.enable_input_require_grads()

    counters = {"tokens": 0}
    session: dict[str, float | None] = {"train_started_at": None}
    resumed_from = prior.get("global_step")
    prior_elapsed = float(prior.get("elapsed_s", 0.0))
    prior_tokens = int(prior.get("tokens", 0))

    cut_prompt_logits = accepts_logits_to_keep(model)

    class _Trainer(Trainer):
        def training_step(self, model, inputs, *a, **kw):  # noqa: ANN001
            counters["tokens"] += int(inputs["attention_mask"].sum().item())
            return super().training_step(model, inputs, *a, **kw)

        def compute_loss(self, model, inputs, *a, **kw):  # noqa: ANN001
            # Training and evaluation both come here: no logits for the untrained prompt.
            return super().compute_loss(model, logits_from_first_label(inputs) if cut_prompt_logits else inputs, *a, **kw)

    class _ReportCallback(TrainerCallback):
        """Hands each Trainer checkpoint to Ray Train (which stores it) and frees local disk."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if rank == 0 and logs:
                shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in logs.items()}
                log.info("%s step %d/%d: %s", recipe.name, state.global_step, state.max_steps, shown)

        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            src = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            losses = _loss_history(state.log_history)
            metrics = {
                "step": state.global_step,
                "loss": losses[-1][1] if losses else None,
                "elapsed_s": prior_elapsed + time.time() - started,
                "session_started_at": session["train_started_at"],
                "saved_at": time.time(),
            }
            checkpoint = None
            if src.is_dir():
                (src / STATE_FILE).write_text(
                    json.dumps(
                        {
                            "global_step": state.global_step,
                            "elapsed_s": metrics["elapsed_s"],
                            "tokens": prior_tokens + counters["tokens"] * world,
                            "session_started_at": session["train_started_at"],
                            "saved_at": metrics["saved_at"],
                        }
                    )
                )
                checkpoint = ray.train.Checkpoint.from_directory(str(src))
            ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=f"step-{state.global_step:07d}")
            shutil.rmtree(src, ignore_errors=True)
            if crash_at_step is not None and resumed_from is None and state.global_step >= crash_at_step:
                _wait_until_consumed()
                raise InjectedCrash(f"{recipe.name}: injected crash after the checkpoint of step {state.global_step}")

    multiple = 8 if use_cuda else None
    trainer = _Trainer(
        model=model,
        args=args,
        train_dataset=ChatDataset(train_tok.examples),
        eval_dataset=ChatDataset(eval_tok.examples) if has_eval else None,
        data_collator=ChatCollator(tokenizer.pad_token_id, multiple),
        callbacks=[_ReportCallback()],
    )
    trainer.remove_callback(PrinterCallback)
    t0 = time.time()
    session["train_started_at"] = t0
    out = trainer.train(resume_from_checkpoint=resume_dir)
    train_time = time.time() - t0
    eval_loss = None
    if has_eval:
        eval_loss = float(trainer.evaluate()["eval_loss"])

    tokens = sum_across_workers(counters["tokens"], args.device) if world > 1 else counters["tokens"]

    # --- final adapter -------------------------------------------------------------------------
    final = work / FINAL_CHECKPOINT
    adapter = final / ADAPTER_DIR
    trainer.save_model(str(adapter))  # every rank calls it (ZeRO-3 gathers); rank 0 writes
    losses = _loss_history(trainer.state.log_history)
    metrics = {
        "step": int(trainer.state.global_step),
        "max_steps": int(trainer.state.max_steps),
        "train_loss": float(out.training_loss),
        "final_loss": losses[-1][1] if losses else None,
        "eval_loss": eval_loss,
        # The same validation examples, label masks and batching before any update (the LoRA B
        # matrices start at zero: the base model's loss) and after the last one.
        "eval_loss_before": eval_loss_before(trainer.state.log_history),
        "loss_history": losses,
        "resumed_from_step": resumed_from,
        "elapsed_s": prior_elapsed + time.time() - started,
        "train_time_s": train_time,
        "session_started_at": t0,
        "finished_at": time.time(),
        "tokens": prior_tokens + tokens,
        "tokens_per_s": tokens / train_time if train_time > 0 else None,
        "optimizer": optim,
        "optimizer_reason": optim_reason,
        "precision": precision,
        "grad_accum": recipe.grad_accum,
        "gradient_checkpointing": checkpointing,
        "world_size": world,
        "data": {"train": train_tok.counts(), "validation": eval_tok.counts()},
        "memory_estimate_gib": round(estimate_gib, 2) if estimate_gib is not None else None,
        # This worker's peak since the model was loaded (rank 0's in the report; None on CPU).
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / GIB, 2) if use_cuda else None,
        "peak_gpu_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 2) if use_cuda else None,
    }
    checkpoint = None
    if rank == 0:
        tokenizer.save_pretrained(str(adapter))
        setup = {
            "name": recipe.name,
            "base_model": model_path,
            "family": recipe.family,
            "thinking": recipe.thinking,
            "system_prompt": recipe.system_prompt,
            "pad_token": tokenizer.pad_token,
            "stop_tokens": report.stop_tokens,
            "end_of_turn": report.end_of_turn,
            "max_seq_len": recipe.max_seq_len,
            "template_check": {k: v for k, v in report.to_dict().items() if k != "rendered"},
            "recipe": recipe.model_dump(mode="json"),
        }
        (adapter / SETUP_FILE).write_text(json.dumps(setup, indent=2, ensure_ascii=False))
        (final / FINAL_FILE).write_text(json.dumps(metrics, indent=2))
        checkpoint = ray.train.Checkpoint.from_directory(str(final))
    ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=FINAL_CHECKPOINT)
    shutil.rmtree(work, ignore_errors=True)
