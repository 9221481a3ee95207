"""The prompts of ltzGLUE-style tasks: rules, task description, the label set, the input.

As ltzGLUE prompts its LLMs: no multiple choice; the model is told the allowed labels (or BIO
tags) and writes them in a JSON object's ``output`` field. Token tasks give the tokens as a JSON
list and ask for exactly one tag per token.
"""

from __future__ import annotations

import json
from typing import Any

from luxit_ray.config.glue import GlueTaskConfig
from luxit_ray.f1 import bio_tags


def allowed_outputs(task: GlueTaskConfig) -> list[str]:
    """The labels (sequence) or BIO tags (token) the model may write."""
    return list(task.labels) if task.kind == "sequence" else bio_tags(task.labels)


def user_message(task: GlueTaskConfig, row: dict[str, Any], rules: str) -> str:
    """The whole user turn for one row."""
    allowed = ", ".join(allowed_outputs(task))
    parts = [rules, f"TASK: {task.name}", f"DESCRIPTION: {task.description}"]
    if task.kind == "sequence":
        parts.append(f"Allowed labels: {allowed}")
        parts.append(f"Text:\n{row['text']}")
        if row.get("text_pair"):
            parts.append(f"Second text:\n{row['text_pair']}")
        parts.append('Answer as {"output": "<label>"}.')
    else:
        n = len(row["tokens"])
        parts.append(f"Allowed tags: {allowed}")
        parts.append(f"Tokens ({n}): {json.dumps(row['tokens'], ensure_ascii=False)}")
        parts.append(f'Answer as {{"output": [<tag>, ...]}} with exactly {n} tags, one per token, in order.')
    return "\n\n".join(parts)
