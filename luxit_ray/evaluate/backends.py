"""Model backends behind one small interface: render a prompt, score continuations, generate.

:class:`Backend` is what the scorers talk to. :class:`TransformersBackend` runs on CPU or GPU
with transformers (and peft for a LoRA adapter); :class:`VLLMBackend` uses vLLM's offline engine
when the actor has a GPU and ``vllm`` imports. Tests plug scripted backends into the same
interface.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luxit_ray.errors import LuxitError
from luxit_ray.evaluate import chat

log = logging.getLogger(__name__)

FINISH_STOP = "stop"
FINISH_LENGTH = "length"


@dataclass(frozen=True)
class Generation:
    """One greedy completion.

    Attributes:
        text: the completion without special tokens (what is parsed).
        raw: the completion as generated, special tokens included, up to the stop token.
        finish_reason: ``stop`` (an end-of-turn token) or ``length`` (budget exhausted).
        n_tokens: generated tokens, the stop token included.
    """

    text: str
    raw: str
    finish_reason: str
    n_tokens: int


@dataclass(frozen=True)
class ContinuationScore:
    """Log-probability of a continuation given its context.

    Attributes:
        logprob: sum of the continuation tokens' log-probabilities.
        n_tokens: how many tokens the continuation took.
    """

    logprob: float
    n_tokens: int


class Backend(ABC):
    """What a scorer needs from a model."""

    #: Short description for logs and the manifest (e.g. ``transformers:cpu``).
    kind: str = "backend"

    @abstractmethod
    def render_prompt(self, user_message: str) -> tuple[str, bool]:
        """The prompt up to where the answer starts: ``(prompt, used_chat_template)``."""

    @abstractmethod
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        """Score each ``(context, continuation)`` pair."""

    @abstractmethod
    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[Generation]:
        """Greedy completions, stopping at the end-of-turn token(s)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model (optional)."""


def adapter_rank(adapter: str | Path) -> int:
    """The LoRA rank ``r`` from a peft adapter folder.

    Raises:
        LuxitError: the folder is not a peft adapter.
    """
    cfg = Path(adapter) / "adapter_config.json"
    if not cfg.is_file():
        raise LuxitError(f"adapter {adapter}: no adapter_config.json (expected a peft LoRA folder)")
    try:
        return int(json.loads(cfg.read_text(encoding="utf-8")).get("r", 16))
    except ValueError as exc:
        raise LuxitError(f"{cfg}: unreadable ({exc})") from None


class TransformersBackend(Backend):
    """transformers model (+ optional peft LoRA adapter, merged for speed) on CPU or GPU.

    Args:
        model_path: local model folder.
        adapter: peft adapter folder or None.
        family: chat-template family (None: training's record, else detected from the tokenizer).
        thinking: thinking switch (None: training's record, else ``default_thinking``).
        default_thinking: the switch when neither config nor training's record sets it.
        answer_prefix: prompt ending for models without a chat template.
        dtype: ``auto`` (float32 on CPU, bfloat16 on GPU) or a torch dtype name.
        device: ``cpu``, ``cuda`` or None (cuda when available).
        batch_size: sequences per forward pass.
    """

    def __init__(
        self,
        model_path: str | Path,
        adapter: str | Path | None = None,
        family: str | None = None,
        thinking: bool | None = None,
        default_thinking: bool = False,
        answer_prefix: str = "Answer:",
        dtype: str = "auto",
        device: str | None = None,
        batch_size: int = 8,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = (
            (torch.bfloat16 if self.device.startswith("cuda") else torch.float32)
            if dtype == "auto"
            else getattr(torch, dtype)
        )
        setup = chat.resolve_setup(model_path, adapter, family, thinking, default_thinking)
        self.thinking = setup.thinking
        self.system_prompt = setup.system_prompt
        self.answer_prefix = answer_prefix
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(setup.tokenizer_dir)
        if self.tokenizer.pad_token_id is None:
            # Only pads batches (the attention mask hides it); never used as a label here.
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.family = setup.family or chat.detect_family(self.tokenizer, model_path)
        self.family_source = setup.source if setup.family else ("tokenizer" if self.family else "unknown")
        self.thinking = chat.effective_thinking(self.family, self.thinking)
        model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch_dtype)
        if adapter:
            from peft import PeftModel

            adapter_rank(adapter)
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        self.model = model.to(self.device).eval()
        self.chat_template = chat.has_chat_template(self.tokenizer)
        self.stop_ids = chat.stop_token_ids(self.tokenizer, self.family)
        self.kind = f"transformers:{self.device}"
        log.info(
            "loaded %s%s on %s (%s, family %s from %s, thinking %s, stop ids %s)",
            model_path, f" + {adapter}" if adapter else "", self.device, torch_dtype, self.family,
            self.family_source, self.thinking, self.stop_ids,
        )

    def render_prompt(self, user_message: str) -> tuple[str, bool]:
        return chat.render_user_prompt(
            self.tokenizer, user_message, self.family, self.thinking, self.answer_prefix, self.system_prompt
        )

    def _encode(self, text: str) -> list[int]:
        # Chat templates write BOS themselves; plain prompts need the tokenizer's specials.
        return self.tokenizer(text, add_special_tokens=not self.chat_template)["input_ids"]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        """Score requests; consecutive requests with the same context share one pass over it."""
        out: list[ContinuationScore] = []
        start = 0
        while start < len(requests):
            end = start
            while end < len(requests) and requests[end][0] == requests[start][0]:
                end += 1
            conts = []
            for _, continuation in requests[start:end]:
                ids = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
                if not ids:
                    raise LuxitError(f"empty continuation after tokenisation: {continuation!r}")
                conts.append(ids)
            ctx = self._encode(requests[start][0])
            for k in range(0, len(conts), self.batch_size):
                out += self._score_shared_context(ctx, conts[k : k + self.batch_size])
            start = end
        return out

    def _score_shared_context(self, ctx: list[int], conts: list[list[int]]) -> list[ContinuationScore]:
        """One forward pass over the context, its KV cache repeated for every continuation.

        The context is most of the tokens (question, passage, options), so this costs about one
        pass per item instead of one per option.
        """
        torch = self._torch
        dev = self.device
        with torch.inference_mode():
            first = self.model(input_ids=torch.tensor([ctx], device=dev), use_cache=True)
            first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
            totals = [float(first_logp[c[0]]) for c in conts]
            width = max(len(c) for c in conts)
            if width > 1:
                n = len(conts)
                cache = first.past_key_values
                cache.batch_repeat_interleave(n)
                ids = torch.full((n, width), self.tokenizer.pad_token_id, dtype=torch.long)
                mask = torch.zeros((n, len(ctx) + width), dtype=torch.long)
                mask[:, : len(ctx)] = 1
                for r, c in enumerate(conts):
                    ids[r, : len(c)] = torch.tensor(c)
                    mask[r, len(ctx) : len(ctx) + len(c)] = 1
                logits = self.model(
                    input_ids=ids.to(dev), attention_mask=mask.to(dev), past_key_values=cache, use_cache=True
                ).logits
                for r, c in enumerate(conts):
                    if len(c) > 1:
                        # Position k-1 of the continuation predicts its token k.
                        logp = torch.log_softmax(logits[r, : len(c) - 1].float(), dim=-1)
                        target = torch.tensor(c[1:], device=logp.device).unsqueeze(-1)
                        totals[r] += float(logp.gather(-1, target).sum())
        return [ContinuationScore(logprob=t, n_tokens=len(c)) for t, c in zip(totals, conts, strict=True)]

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[Generation]:
        torch = self._torch
        from transformers import GenerationConfig

        tok = self.tokenizer
        gen_cfg = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=self.stop_ids or None,
            pad_token_id=tok.pad_token_id,
        )
        results: list[Generation] = []
        stop = set(self.stop_ids)
        for start in range(0, len(prompts), self.batch_size):
            batch = [self._encode(p) for p in prompts[start : start + self.batch_size]]
            width = max(len(s) for s in batch)
            # Left padding: every prompt ends where generation begins.
            ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, s in enumerate(batch):
                ids[r, width - len(s) :] = torch.tensor(s)
                mask[r, width - len(s) :] = 1
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), generation_config=gen_cfg
                )
            for row in out[:, width:].tolist():
                cut = next((k for k, t in enumerate(row) if t in stop), None)
                kept = row if cut is None else row[: cut + 1]
                body = row if cut is None else row[:cut]
                results.append(
                    Generation(
                        text=tok.decode(body, skip_special_tokens=True),
                        raw=tok.decode(kept, skip_special_tokens=False),
                        finish_reason=FINISH_LENGTH if cut is None else FINISH_STOP,
                        n_tokens=len(kept),
                    )
                )
        return results

    def close(self) -> None:
        del self.model
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


class VLLMBackend(Backend):
    """vLLM's offline engine on GPU; a LoRA adapter is applied per request.

    Log-likelihoods come from ``prompt_logprobs`` over the concatenated token ids, so token
    boundaries are the same as in :class:`TransformersBackend`.
    """

    def __init__(
        self,
        model_path: str | Path,
        adapter: str | Path | None = None,
        family: str | None = None,
        thinking: bool | None = None,
        default_thinking: bool = False,
        answer_prefix: str = "Answer:",
        dtype: str = "auto",
        num_gpus: float = 1.0,
        gpu_memory_utilization: float = 0.85,
        seed: int = 0,
    ) -> None:
        from transformers import AutoTokenizer
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        setup = chat.resolve_setup(model_path, adapter, family, thinking, default_thinking)
        self.thinking = setup.thinking
        self.system_prompt = setup.system_prompt
        self.answer_prefix = answer_prefix
        self.tokenizer = AutoTokenizer.from_pretrained(setup.tokenizer_dir)
        self.family = setup.family or chat.detect_family(self.tokenizer, model_path)
        self.thinking = chat.effective_thinking(self.family, self.thinking)
        self.chat_template = chat.has_chat_template(self.tokenizer)
        self.stop_ids = chat.stop_token_ids(self.tokenizer, self.family)
        kwargs: dict[str, Any] = {
            "model": str(model_path),
            # vLLM only detokenises here (prompts go in as ids from self.tokenizer); an adapter
            # folder is not a model folder and vLLM fails to parse it as one.
            "tokenizer": str(model_path),
            "dtype": "bfloat16" if dtype == "auto" else dtype,
            "seed": seed,
            "gpu_memory_utilization": gpu_memory_utilization,
            "tensor_parallel_size": max(1, int(num_gpus)),
        }
        self.lora = None
        if adapter:
            kwargs.update(enable_lora=True, max_lora_rank=max(8, adapter_rank(adapter)), max_loras=1)
            self.lora = LoRARequest("adapter", 1, str(adapter))
        self.llm = LLM(**kwargs)
        from vllm.platforms import current_platform

        # vLLM 0.32's CPU build crashes (einsum size mismatch) on prompt_logprobs for several
        # sequences in one step once LoRA is enabled: score them one at a time there.
        self.one_prompt_per_step = bool(adapter) and current_platform.is_cpu()
        self.kind = "vllm:cpu" if current_platform.is_cpu() else "vllm:cuda"

    def render_prompt(self, user_message: str) -> tuple[str, bool]:
        return chat.render_user_prompt(
            self.tokenizer, user_message, self.family, self.thinking, self.answer_prefix, self.system_prompt
        )

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=not self.chat_template)["input_ids"]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts, spans = [], []
        for context, continuation in requests:
            ctx = self._encode(context)
            cont = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
            prompts.append(TokensPrompt(prompt_token_ids=ctx + cont))
            spans.append((len(ctx), ctx + cont))
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        if self.one_prompt_per_step:
            outs = [self.llm.generate([p], params, lora_request=self.lora, use_tqdm=False)[0] for p in prompts]
        else:
            outs = self.llm.generate(prompts, params, lora_request=self.lora, use_tqdm=False)
        scores = []
        for out, (n_ctx, ids) in zip(outs, spans, strict=True):
            total = sum(out.prompt_logprobs[k][ids[k]].logprob for k in range(n_ctx, len(ids)))
            scores.append(ContinuationScore(logprob=float(total), n_tokens=len(ids) - n_ctx))
        return scores

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            max_tokens=max_new_tokens, temperature=0.0, stop_token_ids=self.stop_ids,
            skip_special_tokens=False, include_stop_str_in_output=True,
        )
        token_prompts = [TokensPrompt(prompt_token_ids=self._encode(p)) for p in prompts]
        outs = self.llm.generate(token_prompts, params, lora_request=self.lora, use_tqdm=False)
        results = []
        stop = set(self.stop_ids)
        for out in outs:
            comp = out.outputs[0]
            ids = list(comp.token_ids)
            body = [t for t in ids if t not in stop]
            results.append(
                Generation(
                    text=self.tokenizer.decode(body, skip_special_tokens=True),
                    raw=self.tokenizer.decode(ids, skip_special_tokens=False),
                    finish_reason=FINISH_STOP if comp.finish_reason == "stop" else FINISH_LENGTH,
                    n_tokens=len(ids),
                )
            )
        return results


def vllm_usable(num_gpus: float) -> bool:
    """True when this process may use vLLM: a GPU is assigned and ``vllm`` imports."""
    import importlib.util

    if num_gpus <= 0 or importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def adapter_targets(adapter: str | Path | None) -> list[str]:
    """The ``target_modules`` of a peft adapter ([] without an adapter)."""
    if not adapter:
        return []
    cfg = Path(adapter) / "adapter_config.json"
    if not cfg.is_file():
        return []
    targets = json.loads(cfg.read_text(encoding="utf-8")).get("target_modules") or []
    return sorted(targets) if isinstance(targets, list) else [str(targets)]


# vLLM splits these fused modules into their parts and refuses adapters that name the fused one.
VLLM_UNSPLIT_LORA_TARGETS = ("gate_up_proj",)


def choose_backend(choice: str, num_gpus: float, adapter: str | Path | None, vllm_installed: bool) -> tuple[str, str]:
    """Which backend evaluates a model, and why (``transformers`` or ``vllm``).

    ``auto`` on a GPU picks vLLM and requires it (a GPU actor without vLLM is an error naming what
    is missing, never a silent fallback); on CPU it picks transformers (the CPU smoke profile).
    An adapter that targets a fused module vLLM splits (GLM-4's ``gate_up_proj``: vLLM 0.32 maps it
    to gate_proj/up_proj and rejects the adapter) goes to transformers, which merges it; an explicit
    ``vllm`` with such an adapter is an error (evaluate the merged model instead).

    Raises:
        LuxitError: vLLM needed but not installed, or asked for an adapter it cannot load.
    """
    fused = [t for t in adapter_targets(adapter) if t in VLLM_UNSPLIT_LORA_TARGETS]
    if choice == "transformers":
        return "transformers", "evaluate.backend: transformers"
    if choice == "vllm":
        if num_gpus <= 0 or not vllm_installed:
            raise LuxitError("backend vllm needs a GPU (num_gpus > 0) and the vllm package (the vLLM evaluation image)")
        if fused:
            raise LuxitError(
                f"backend vllm cannot load an adapter targeting {fused} (vLLM splits it): use backend auto or "
                "transformers, or evaluate the merged model (luxit merge)"
            )
        return "vllm", "evaluate.backend: vllm"
    if num_gpus <= 0:
        return "transformers", "auto: CPU smoke profile (no GPU for this model), transformers"
    if fused:
        return "transformers", f"auto: the adapter targets {fused}, which vLLM splits; transformers merges it"
    if not vllm_installed:
        raise LuxitError(
            "backend auto on a GPU needs vllm on the evaluation nodes (install it there: the ray-llm image, see "
            "cluster/), or set evaluate.backend: transformers"
        )
    return "vllm", "auto: GPU and vllm"


def is_remote(uri_or_path: str | Path) -> bool:
    """Whether an adapter location is an object-store URI (anything with a scheme but ``file://``)."""
    text = str(uri_or_path)
    return "://" in text and not text.startswith("file://")


def fetch_adapter(adapter: str | Path | None) -> str | None:
    """A local folder holding the adapter: itself when local, else a copy made on this node.

    Training stores adapters under ``train.storage_path`` (``s3://...`` on a cluster); the actor that
    loads the model copies the folder to a temporary directory removed when the process exits.

    Raises:
        LuxitError: the URI holds no peft adapter.
    """
    if not adapter:
        return None
    if not is_remote(adapter):
        return str(adapter).removeprefix("file://")
    import atexit
    import shutil
    import tempfile

    from luxit_ray import storage

    local = tempfile.mkdtemp(prefix="luxit-adapter-")
    atexit.register(shutil.rmtree, local, True)
    try:
        storage.copy_dir(str(adapter), local)
    except (OSError, FileNotFoundError) as exc:
        raise LuxitError(f"adapter {adapter}: cannot copy it to this node ({exc})") from None
    adapter_rank(local)
    log.info("adapter %s fetched to %s", adapter, local)
    return local


def make_backend(spec: dict[str, Any], settings: dict[str, Any]) -> Backend:
    """Build the backend a model spec asks for (``evaluate.backend``: auto/transformers/vllm).

    Args:
        spec: a :class:`~luxit_ray.config.evaluate.ModelSpec` dump with ``path`` resolved to a folder.
        settings: the :class:`~luxit_ray.config.evaluate.EvaluateConfig` dump.

    Raises:
        LuxitError: the backend cannot run here (see :func:`choose_backend`).
    """
    import importlib.util

    num_gpus = spec.get("num_gpus")
    num_gpus = settings["num_gpus_per_model"] if num_gpus is None else num_gpus
    spec = {**spec, "adapter": fetch_adapter(spec.get("adapter"))}
    common = {
        "model_path": spec["path"], "adapter": spec.get("adapter"), "family": spec.get("family"),
        "thinking": spec.get("thinking"), "default_thinking": settings["thinking"], "answer_prefix": settings["prompt"]["answer_prefix"], "dtype": settings["dtype"],
    }
    try:
        kind, why = choose_backend(
            settings["backend"], num_gpus, spec.get("adapter"), importlib.util.find_spec("vllm") is not None
        )
    except LuxitError as exc:
        raise LuxitError(f"model {spec['name']}: {exc}") from None
    log.info("model %s: backend %s (%s)", spec["name"], kind, why)
    if kind == "vllm":
        return VLLMBackend(**common, num_gpus=num_gpus, gpu_memory_utilization=settings["gpu_memory_utilization"])
    device = "cuda" if num_gpus > 0 else "cpu"
    return TransformersBackend(**common, device=device, batch_size=settings["batch_size"])
