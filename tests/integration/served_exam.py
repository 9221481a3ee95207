"""An exam-harness backend that asks a running vLLM OpenAI server (tests of served models).

The harness's scorers need three things from a model (:class:`~luxit_ray.evaluate.backends.Backend`):
the prompt as training rendered it (the model folder's tokenizer and ``luxit_train.json``), the
log-probability of each answer option (``/v1/completions`` with ``prompt_logprobs``, prompt sent
as token ids so nothing is tokenised twice) and greedy answers that stop at the family's
end-of-turn tokens (``stop_token_ids``).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from typing import Any

from luxit_ray.evaluate import chat
from luxit_ray.evaluate.backends import (
    FINISH_LENGTH,
    FINISH_STOP,
    Backend,
    ContinuationScore,
    Generation,
)


def post_json(url: str, body: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode())


class ServedBackend(Backend):
    """One model on a vLLM server: ``tokenizer_dir`` holds its tokenizer and training record."""

    def __init__(self, base_url: str, request_model: str, tokenizer_dir: str, answer_prefix: str,
                 on_close: Any = None) -> None:
        from transformers import AutoTokenizer

        setup = chat.resolve_setup(tokenizer_dir, None, None, None, False)
        self.family, self.thinking, self.system_prompt = setup.family, setup.thinking, setup.system_prompt
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.stop_ids = chat.stop_token_ids(self.tokenizer, self.family)
        self.url = base_url.rstrip("/") + "/completions"
        self.model = request_model
        self.answer_prefix = answer_prefix
        self.on_close = on_close
        self.kind = f"vllm-server:{request_model}"

    def render_prompt(self, user_message: str) -> tuple[str, bool]:
        return chat.render_user_prompt(
            self.tokenizer, user_message, self.family, self.thinking, self.answer_prefix, self.system_prompt
        )

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[ContinuationScore]:
        out = []
        for context, continuation in requests:
            ctx, cont = self._ids(context), self._ids(continuation)
            body = {"model": self.model, "prompt": ctx + cont, "max_tokens": 1, "temperature": 0.0,
                    "prompt_logprobs": 0}
            entries = post_json(self.url, body)["choices"][0]["prompt_logprobs"]
            total = 0.0
            for pos, tok in enumerate(cont, start=len(ctx)):
                total += float(entries[pos][str(tok)]["logprob"])
            out.append(ContinuationScore(logprob=total, n_tokens=len(cont)))
        return out

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[Generation]:
        out = []
        for prompt in prompts:
            body = {"model": self.model, "prompt": self._ids(prompt), "max_tokens": max_new_tokens,
                    "temperature": 0.0, "stop_token_ids": self.stop_ids, "skip_special_tokens": False,
                    "include_stop_str_in_output": True}
            reply = post_json(self.url, body)
            choice = reply["choices"][0]
            raw = choice["text"]
            text = self.tokenizer.decode(self._ids(raw), skip_special_tokens=True)
            stopped = choice.get("finish_reason") == "stop"
            out.append(Generation(text=text, raw=raw, finish_reason=FINISH_STOP if stopped else FINISH_LENGTH,
                                  n_tokens=int(reply["usage"]["completion_tokens"])))
        return out

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
