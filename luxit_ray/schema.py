"""Column names and pyarrow schemas at every Parquet boundary.

Data flows one way: documents -> (filters) -> seeds -> generate -> pairs -> judge -> judged
pairs -> export. Every stage names its columns from here, never from string literals.
"""

from __future__ import annotations

import pyarrow as pa

# --- documents (sources/ -> filters/ -> seeds) -------------------------------------------
DOC_ID = "doc_id"  # stable id: "<source name>:<native id or content hash>"
SOURCE = "source"  # the configured source name, e.g. "lbwiki", "rtl"
SOURCE_TYPE = "source_type"  # "wikipedia" | "news" | "text"
TITLE = "title"
TEXT = "text"
DATE = "date"  # ISO 8601 string or null
URL = "url"
PAGE_KIND = "page_kind"  # wiki: article | list | disambiguation | stub; others: null
METADATA = "metadata"  # JSON object string with the source's own fields
ORIGIN = "origin"  # "<file>:<line or page offset>" where the row came from

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field(DOC_ID, pa.string(), nullable=False),
        pa.field(SOURCE, pa.string(), nullable=False),
        pa.field(SOURCE_TYPE, pa.string(), nullable=False),
        pa.field(TITLE, pa.string()),
        pa.field(TEXT, pa.string()),
        pa.field(DATE, pa.string()),
        pa.field(URL, pa.string()),
        pa.field(PAGE_KIND, pa.string()),
        pa.field(METADATA, pa.string()),
        pa.field(ORIGIN, pa.string()),
    ]
)
DOCUMENT_COLUMNS = DOCUMENT_SCHEMA.names

# --- rejects and quarantine -----------------------------------------------------------
DROP_FILTER = "drop_filter"  # name of the filter (or "quarantine") that rejected the row
DROP_REASON = "drop_reason"  # human-readable reason, e.g. "too_short: 412 < 750 chars"

REJECT_SCHEMA = DOCUMENT_SCHEMA.append(pa.field(DROP_FILTER, pa.string())).append(
    pa.field(DROP_REASON, pa.string())
)

# --- LLM stage bookkeeping (every LLM stage carries these) ----------------------------
PROMPT_NAME = "prompt_name"
PROMPT_SHA = "prompt_sha"
MODEL = "model"
ENDPOINT = "endpoint"  # endpoint name from config (never a key)
RAW_OUTPUT = "raw_output"
REASONING = "reasoning"  # stripped <think> text or the endpoint's reasoning field
USAGE = "usage"  # JSON: prompt_tokens, completion_tokens, reasoning_tokens, cached, retries
ERROR = "error"  # null on success; "<kind>: <detail>" otherwise
# The call failed (llm.client.ERROR_KINDS): length | context_length | timeout | http_5xx | http_429 |
# bad_request | empty | connection | bad_response; or its answer did not parse (parsing.py):
# parse (no JSON) | schema (JSON of the wrong shape) | count (fewer or more pairs than asked).
ERROR_KIND = "error_kind"
CACHE_HIT = "cache_hit"

# --- pairs (generate) -----------------------------------------------------------------
PAIR_ID = "pair_id"
PAIR_INDEX = "pair_index"  # position in the generated array; -1 on an article-level error
INSTRUCTION = "instruction"
RESPONSE = "response"

PAIR_SCHEMA = pa.schema(
    [
        pa.field(PAIR_ID, pa.string()),
        pa.field(DOC_ID, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(SOURCE_TYPE, pa.string()),
        pa.field(TITLE, pa.string()),
        pa.field(URL, pa.string()),
        pa.field(DATE, pa.string()),
        pa.field(PAIR_INDEX, pa.int32()),
        pa.field(INSTRUCTION, pa.string()),
        pa.field(RESPONSE, pa.string()),
        pa.field(PROMPT_NAME, pa.string()),
        pa.field(PROMPT_SHA, pa.string()),
        pa.field(MODEL, pa.string()),
        pa.field(ENDPOINT, pa.string()),
        pa.field(RAW_OUTPUT, pa.string()),
        pa.field(REASONING, pa.string()),
        pa.field(USAGE, pa.string()),
        pa.field(CACHE_HIT, pa.bool_()),
        pa.field(ERROR, pa.string()),
        pa.field(ERROR_KIND, pa.string()),
    ]
)

# --- judged pairs (judge) -------------------------------------------------------------
CRITERIA = (
    "linguistic_quality",
    "factual_accuracy",
    "instruction_adherence",
    "helpfulness_relevance",
)
JUDGEMENTS = "judgements"  # JSON list, one object per judge: judge, model, prompt_sha,
#                            scores{criterion: int}, raw_output, reasoning, usage, error
KEEP = "keep"  # bool: the aggregate passed the keep rule
KEEP_REASON = "keep_reason"  # null when kept; e.g. "factual_accuracy=1 < 2"
JUDGE_ERROR = "judge_error"  # null unless every judge failed for this pair


def score_column(criterion: str) -> str:
    """The aggregate score column for one criterion (float: a mean can be fractional)."""
    return f"score_{criterion}"


SCORE_COLUMNS = tuple(score_column(c) for c in CRITERIA)

JUDGED_SCHEMA = PAIR_SCHEMA
for _name in SCORE_COLUMNS:
    JUDGED_SCHEMA = JUDGED_SCHEMA.append(pa.field(_name, pa.float64()))
JUDGED_SCHEMA = (
    JUDGED_SCHEMA.append(pa.field(JUDGEMENTS, pa.string()))
    .append(pa.field(KEEP, pa.bool_()))
    .append(pa.field(KEEP_REASON, pa.string()))
    .append(pa.field(JUDGE_ERROR, pa.string()))
)

# --- exported dataset -----------------------------------------------------------------
CONVERSATIONS = "conversations"  # ShareGPT list<struct{from, value}>
MESSAGES = "messages"  # OpenAI list<struct{role, content}>
SPLIT = "split"


def missing_columns(present: list[str] | tuple[str, ...], required: list[str] | tuple[str, ...]) -> list[str]:
    """Required columns absent from ``present``, in the order they were required."""
    have = set(present)
    return [c for c in required if c not in have]
