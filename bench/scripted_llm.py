"""What the benchmark endpoint answers: valid generator and judge replies, with optional faults.

Loaded by the local OpenAI-protocol server (``tests/openai_server.py --script
bench.scripted_llm:reply``). A generator request (``response_format`` named
``instruction_pairs``, or a prompt asking for pairs) gets three Luxembourgish pairs wrapped as
``{"pairs": [...]}``; a judge request gets four scores. Both are a pure function of the request's
cache key, so a rerun gets the same answers.

Faults (``LUXIT_BENCH_FAULTS=1`` in the server's environment): the first attempt of one request
in 200 gets a 429 with ``Retry-After: 1``, and of another one in 200 a 503; the retry succeeds.
"""

from __future__ import annotations

import json
import os
from typing import Any

CRITERIA = ("linguistic_quality", "factual_accuracy", "instruction_adherence", "helpfulness_relevance")
_FAULTS = os.environ.get("LUXIT_BENCH_FAULTS") == "1"


def _is_generate(req: Any) -> bool:
    rf = req.response_format or {}
    name = (rf.get("json_schema") or {}).get("name", "")
    return name == "instruction_pairs" or (not name and "pairs" in req.user_text[:2000].lower())


def reply(req: Any) -> dict[str, Any]:
    """The reply for one request (a dict of :class:`tests.openai_server.Reply` fields)."""
    h = int(req.key[:8], 16)
    if _FAULTS and req.attempt == 0:
        if h % 200 == 7:
            return {"status": 429, "headers": {"Retry-After": "1"}, "error_message": "slow down"}
        if h % 200 == 11:
            return {"status": 503, "error_message": "overloaded"}
    if _is_generate(req):
        pairs = [
            {"instruction": f"Fro {i}: Wat seet den Artikel iwwer d'Thema {h % 997}?",
             "response": f"Den Artikel erkläert d'Thema {h % 997} an der Äntwert {i} kloer a komplett."}
            for i in range(3)
        ]
        content = json.dumps({"pairs": pairs}, ensure_ascii=False)
        usage = {"prompt_tokens": 1500, "completion_tokens": 450, "total_tokens": 1950}
    else:
        scores = [3 if (h >> (4 * i)) % 10 else 1 for i in range(4)]
        content = json.dumps(dict(zip(CRITERIA, scores, strict=True)))
        usage = {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940}
    return {"content": content, "usage": usage}
