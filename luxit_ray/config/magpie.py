"""Config section for `magpie`: instructions sampled from an instructed model's own template.

Magpie (Xu et al., 2024, arXiv:2406.08464) sends a self-hosted instructed model only the chat
template's pre-query prefix (everything up to where a user's words would start) and lets it write
the user turn; another request answers that instruction. Latxa-Instruct (Sainz et al., 2025) used
it to make Basque and English instructions from Llama 3.1 Instruct. The system prompt
(``prompts/magpie.jinja``) fixes the target language.
"""

from __future__ import annotations

from pydantic import Field

from luxit_ray.config.base import StrictModel
from luxit_ray.config.llm import SamplingConfig
from luxit_ray.config.prepare import DedupConfig, LangIdConfig
from luxit_ray.config.train import TemplateFamilyName


class MagpieConfig(StrictModel):
    """The Magpie generator: sample instructions, filter them, answer them (then ``judge`` scores them)."""

    endpoint: str = Field(
        description="Endpoint (under `endpoints`) serving the instructed model's /v1/completions (a self-hosted "
        "vLLM server: hosted APIs do not take a raw template prefix)."
    )
    family: TemplateFamilyName = Field(
        description="Chat-template family of that model: decides the pre-query prefix and where the user turn ends."
    )
    answer_endpoint: str | None = Field(
        default=None, description="Endpoint (chat) that answers the instructions; null: the same endpoint."
    )
    prompt: str = Field(
        default="magpie",
        description="Template under prompts/: its system block is the system prompt (it fixes the target "
        "language), its user block renders `instruction` for the answer.",
    )
    language: str = Field(default="Luxembourgish", description="Target language named in the system prompt.")
    default_system: bool = Field(
        default=False,
        description="Leave the system prompt out of the prefix (the model's default system turn, if any); "
        "the language is then not fixed.",
    )
    instructions: int = Field(default=100, ge=1, description="Instructions sampled (before filtering).")
    sampling: SamplingConfig = Field(
        default_factory=lambda: SamplingConfig(temperature=1.0, top_p=1.0, max_tokens=256),
        description="Sampling of the instructions (Magpie: temperature 1, top_p 1).",
    )
    answer_sampling: SamplingConfig | None = Field(
        default=None, description="Overrides of the answer endpoint's sampling parameters."
    )
    min_chars: int = Field(default=10, ge=1, description="Shorter instructions are dropped (reason `length`).")
    langid: LangIdConfig = Field(
        default_factory=lambda: LangIdConfig(source_types=["magpie"], max_chars=2000),
        description="Language identification of the instructions (source_types is ignored: every one is scored).",
    )
    dedup: DedupConfig = Field(
        default_factory=lambda: DedupConfig(shingle_words=3),
        description="Exact and near-duplicate removal over the whole set of instructions (short texts: 3-word shingles).",
    )
    run_prefix: str = Field(
        default="magpie", pattern=r"^[A-Za-z0-9_.-]+$",
        description="`luxit magpie` writes to the run folder <prefix>-<run id> (its own pairs/, judged/, kept/), "
        "named so that no later step of the LuxIT job mistakes it for one of its runs.",
    )
    concurrency: int = Field(default=1, ge=1, description="Actors of each Magpie stage.")
    batch_size: int | None = Field(
        default=None, ge=1, description="Rows per map_batches call; null: max_in_flight / 4, 16 to 128."
    )
    rows_per_slot: float = Field(default=16, ge=1, le=64, description="Rows an actor may hold per request slot (see generate.rows_per_slot).")
    num_cpus: float = Field(default=0.25, gt=0, description="CPUs reserved per actor (I/O bound: a fraction).")
    max_error_rate: float = Field(
        default=0.1, ge=0, le=1, description="A step fails when more of its requests than this share error."
    )
