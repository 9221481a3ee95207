"""Config sections for the LLM stages: endpoints, generation, judging."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from luxit_ray.config.base import StrictModel


class SamplingConfig(StrictModel):
    """Sampling parameters sent with every request (null = the endpoint's default)."""

    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_tokens: int | None = Field(
        default=None, gt=0,
        description="Output token budget (reasoning models need room: a cut-off answer is a row error).",
    )
    seed: int | None = Field(default=None, description="Sampling seed, where the endpoint honours one.")
    extra_body: dict = Field(
        default_factory=dict, description="Extra JSON fields sent as-is (e.g. vLLM's top_k, chat_template_kwargs)."
    )


class EndpointConfig(StrictModel):
    """One OpenAI-compatible chat-completions endpoint (hosted API or self-hosted vLLM)."""

    base_url: str = Field(description="Base URL up to /v1, e.g. https://api.deepseek.com/v1 or http://127.0.0.1:8000/v1.")
    model: str = Field(description="Model name sent in requests, e.g. deepseek-reasoner, gpt-5-mini.")
    api_key_env: str | None = Field(
        default=None,
        description="NAME of the environment variable holding the API key (never the key itself); null for none.",
    )
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Default sampling parameters.")
    structured_output: Literal["json_schema", "json_object", "none"] = Field(
        default="json_schema",
        description="json_schema where the endpoint supports it (vLLM, OpenAI); json_object for plain JSON mode; none otherwise.",
    )
    max_in_flight: int = Field(default=256, ge=1, description="Requests in flight per actor of a stage.")
    transport: Literal["aiohttp", "openai"] = Field(
        default="aiohttp",
        description=(
            "HTTP client under the OpenAI wire format: aiohttp (ours; keeps thousands in flight on one core) "
            "or openai (the AsyncOpenAI SDK on its aiohttp client; slower per request, see BENCHMARKS.md)."
        ),
    )
    requests_per_minute: int | None = Field(default=None, gt=0, description="Endpoint limit shared by all actors (null: none).")
    tokens_per_minute: int | None = Field(default=None, gt=0, description="Endpoint token limit shared by all actors (null: none).")
    timeout_s: float = Field(default=600.0, gt=0, description="Per-request timeout in seconds.")
    max_retries: int = Field(default=8, ge=0, description="Retries of one request on 429/408/5xx/timeouts.")
    backoff_base_s: float = Field(default=1.0, gt=0, description="First backoff delay; doubles per retry, with full jitter.")
    backoff_max_s: float = Field(default=60.0, gt=0, description="Cap on one backoff delay.")
    hedge_quantile: float | None = Field(
        default=None, gt=0.5, lt=1,
        description=(
            "Send a copy of a request still unanswered after this quantile of the endpoint's recent "
            "answer times (e.g. 0.75), into a slot no request waits for; the first answer wins, the others are "
            "cancelled. Cuts the tail a long-tailed endpoint leaves at the end of each step. Null: off. "
            "A copy can be billed; with a reasoning model sampling at a temperature the first answer tends "
            "to be the shorter one (see luxit_ray/llm/hedge.py)."
        ),
    )
    hedge_budget: float = Field(
        default=0.05, gt=0, le=1,
        description="Most copies per request sent when hedging, all requests together (0.05: one per 20 requests).",
    )
    hedge_copies: int = Field(
        default=1, ge=1, le=4,
        description=(
            "Most copies of one request when hedging; each further copy once the newest send has waited "
            "the hedging delay (2 also cuts the copies' own tail at a step's end)."
        ),
    )
    price_input_per_mtok: float = Field(default=0.0, ge=0, description="Price per million input tokens (USD).")
    price_cached_input_per_mtok: float | None = Field(
        default=None, ge=0,
        description=(
            "Price per million input tokens read from the provider's prompt cache (OpenAI "
            "usage.prompt_tokens_details.cached_tokens, DeepSeek prompt_cache_hit_tokens); null: the input price."
        ),
    )
    price_output_per_mtok: float = Field(default=0.0, ge=0, description="Price per million output tokens (USD), reasoning included.")
    prices_date: str | None = Field(
        default=None, description="When the prices above were read from the provider's price page (YYYY-MM or YYYY-MM-DD).",
    )
    mode: Literal["live", "batch"] = Field(
        default="live",
        description=(
            "live: requests go to /chat/completions as the stage runs. batch: a step's uncached requests go "
            "through the OpenAI Batch API (JSONL files, /v1/files + /v1/batches; OpenAI, Together, Fireworks), "
            "every answer is written to the request cache, then the step runs on the cached answers."
        ),
    )
    batch_price_factor: float = Field(
        default=0.5, gt=0, le=1, description="Share of the list price a batch request costs (OpenAI, Anthropic: 0.5).",
    )
    batch_completion_window: str = Field(default="24h", description="completion_window of each batch.")
    batch_poll_s: float = Field(default=30.0, gt=0, description="Seconds between two status polls of the running batches.")
    batch_max_requests: int = Field(
        default=50_000, ge=1, le=50_000, description="Most requests per batch input file (OpenAI: 50,000).",
    )
    batch_max_bytes: int = Field(
        default=200 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024,
        description="Largest batch input file in bytes (OpenAI: 200 MB).",
    )
    batch_resend: Literal["batch", "live"] = Field(
        default="batch",
        description="Where requests of an expired, failed or cancelled batch go again: the next batch, or live.",
    )
    batch_max_rounds: int = Field(
        default=3, ge=1, description="Batch rounds per step before what is still unanswered is left to the live pass.",
    )
    service_tier: str | None = Field(
        default=None,
        description=(
            "Sent as service_tier (OpenAI 'flex': half price on the ordinary API, slower; its 429 "
            "'resource unavailable' answers are retried like any 429). Null: not sent."
        ),
    )
    prompt_cache_key: bool = Field(
        default=False,
        description=(
            "Send prompt_cache_key (one per seed) so the requests that share a seed's prefix reach the same "
            "cache (OpenAI). Off for endpoints that reject unknown fields."
        ),
    )

    @field_validator("api_key_env")
    @classmethod
    def _looks_like_a_name(cls, v: str | None) -> str | None:
        # A key pasted here by mistake must never be echoed back, so the message does not include it.
        if v is not None and (not v.replace("_", "").isalnum() or v[0].isdigit()):
            raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a key")
        return v


class CacheConfig(StrictModel):
    """The durable request cache that makes reruns free for finished calls."""

    enabled: bool = Field(default=True, description="Record every completed response and reuse it on reruns.")
    uri: str | None = Field(
        default=None,
        description="Local path or pyarrow filesystem URI (s3://...); default: <output_dir>/.cache/llm.",
    )


class GenerateConfig(StrictModel):
    """The generation stage: seed article -> instruction/response pairs."""

    endpoint: str = Field(description="Name of an entry under `endpoints`.")
    prompt: str = Field(default="generate", description="Template name under prompts/ (without .jinja).")
    language: str = Field(default="Luxembourgish", description="Target language named in the prompt.")
    pairs_per_seed: int = Field(default=3, ge=1, le=20, description="Pairs requested per seed article (paper: 3).")
    max_source_chars: int = Field(default=12000, gt=0, description="Longer seed texts are cut at a paragraph boundary.")
    prompt_vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra template variables (e.g. contact_languages, language_notes) for the next language.",
    )
    sampling: SamplingConfig | None = Field(default=None, description="Overrides the endpoint's sampling parameters.")
    concurrency: int = Field(default=1, ge=1, description="Actors of the stage.")
    batch_size: int | None = Field(
        default=None, ge=1,
        description="Rows per map_batches call; null: max_in_flight / 4, 16 to 128 (each call is a Ray task "
                    "the driver tracks; a larger call waits longer for its slowest answer).",
    )
    rows_per_slot: float = Field(
        default=16, ge=1, le=64,
        description="Rows each actor may hold per request slot (max_in_flight): a ceiling on the calls it takes at "
                    "once. A call ends with its slowest row, so its answered rows wait; the actor's other calls "
                    "refill the freed slots. How many calls wait on a straggler follows the endpoint's tail; 16 "
                    "covers a reasoning model's (p99 10x median, 0.1% of answers at 30-60x) and costs nothing with "
                    "even answer times (BENCHMARKS.md). Memory per actor: that many rows.",
    )
    num_cpus: float = Field(default=0.25, gt=0, description="CPUs reserved per actor (I/O bound: a fraction).")
    max_error_rate: float = Field(default=0.1, ge=0, le=1, description="The run fails when more seeds than this share error.")
    stall_timeout_s: float = Field(
        default=600, gt=0,
        description="Seconds nothing may move in the run's chain while this stage's actors or tasks wait for CPU "
                    "the cluster no longer has (after a lost node) before the run stops with one line naming what "
                    "waits; a warning comes after a quarter of it (at most 60 s). A chain uses its steps' smallest.",
    )


class JudgeSpec(StrictModel):
    """One judge of the ensemble."""

    name: str = Field(description="Judge name used in the judgements column.")
    endpoint: str = Field(description="Name of an entry under `endpoints`.")
    prompt: str = Field(default="judge", description="Template name under prompts/.")
    sampling: SamplingConfig | None = Field(default=None, description="Overrides the endpoint's sampling parameters.")


class JudgeConfig(StrictModel):
    """The judging stage: every pair scored 1-3 on four criteria by one or more judges."""

    judges: list[JudgeSpec] = Field(min_length=1, description="Judges; several form an ensemble.")
    aggregate: Literal["majority", "mean", "min"] = Field(
        default="majority",
        description="How judges' scores combine per criterion (majority: ties go to the lower score).",
    )
    min_score: float = Field(default=2, ge=1, le=3, description="Keep a pair when every aggregate criterion score is >= this.")
    language: str = Field(default="Luxembourgish", description="Language named in the judge prompt.")
    include_source: bool = Field(
        default=True,
        description="Show the judges the seed text the pair was written from (the paper's judge did not see it).",
    )
    prompt_vars: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra template variables (e.g. contact_languages, language_notes) for the next language.",
    )
    concurrency: int = Field(default=1, ge=1, description="Actors of the stage.")
    batch_size: int | None = Field(
        default=None, ge=1, description="Rows per map_batches call; null: max_in_flight / 4, 16 to 128.",
    )
    rows_per_slot: float = Field(
        default=16, ge=1, le=64,
        description="Rows each actor may hold per request slot (see generate.rows_per_slot).",
    )
    num_cpus: float = Field(default=0.25, gt=0, description="CPUs reserved per actor.")
    max_error_rate: float = Field(default=0.1, ge=0, le=1, description="The run fails when more pairs than this share error.")
    stall_timeout_s: float = Field(
        default=600, gt=0,
        description="Seconds nothing may move in the run's chain while this stage's actors or tasks wait for CPU "
                    "the cluster no longer has (after a lost node) before the run stops with one line naming what "
                    "waits; a warning comes after a quarter of it (at most 60 s). A chain uses its steps' smallest.",
    )

    @model_validator(mode="after")
    def _unique(self) -> JudgeConfig:
        names = [j.name for j in self.judges]
        if len(names) != len(set(names)):
            raise ValueError(f"judge names must be unique (got {names})")
        return self
