"""The project's batch input file run through vLLM's own batch runner
(``python -m vllm.entrypoints.openai.run_batch``, SmolLM2 on CPU), and its output read back into
the request cache by the same parser the batch pre-pass uses: a real consumer of the format."""

from __future__ import annotations

import json
import subprocess

import pytest

from luxit_ray.config.serve import ServeConfig
from luxit_ray.llm.batch import apply_results, build_batch_files
from luxit_ray.llm.cache import RequestCache
from luxit_ray.llm.request import body_key, build_body

pytestmark = pytest.mark.slow

BASE_URL = "http://127.0.0.1:8000/v1"  # only names the cache keys: nothing listens there


def test_vllm_run_batch_reads_our_file_and_we_read_its_output(tmp_path):
    from luxit_ray.models import smollm2_dir
    from luxit_ray.serve import _server_env, vllm_venv

    cfg = ServeConfig()
    venv = vllm_venv(cfg)
    questions = ["Wat ass d'Haaptstad vu Lëtzebuerg?", "Nenn eng Faarf.", "Wéi vill ass 2 + 2?"]
    requests = {}
    for q in questions:
        body = build_body(cfg.served_model_name, [{"role": "user", "content": q}],
                          {"temperature": 0.0, "max_tokens": 24})
        requests[body_key(BASE_URL, body)] = body
    files, too_large = build_batch_files(requests, max_requests=50_000, max_bytes=200 * 1024 * 1024)
    assert (len(files), too_large) == (1, [])
    (tmp_path / "in.jsonl").write_bytes(files[0].data)

    cmd = [str(venv / "bin" / "python"), "-m", "vllm.entrypoints.openai.run_batch",
           "-i", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
           "--model", str(smollm2_dir()), "--served-model-name", cfg.served_model_name,
           "--max-model-len", str(cfg.max_model_len),
           # A fifth of the memory, not the server's half: the integration tests' shared vLLM
           # server (tests/integration/conftest.py) may still hold its half while this runs.
           "--gpu-memory-utilization", "0.2", "--dtype", cfg.dtype]
    if cfg.enforce_eager:
        cmd.append("--enforce-eager")
    done = subprocess.run(cmd, env=_server_env(cfg, venv), capture_output=True, text=True, timeout=1200,
                          cwd=tmp_path)
    causes = [line for line in done.stderr.splitlines() if "Error" in line or "memory" in line.lower()]
    assert done.returncode == 0, "\n".join(causes[:20]) + "\n...\n" + done.stderr[-2000:]

    output = (tmp_path / "out.jsonl").read_bytes()
    assert sorted(json.loads(x)["custom_id"] for x in output.splitlines()) == sorted(requests)
    with RequestCache(str(tmp_path / "cache")) as cache:
        res = apply_results(files[0].keys, "completed", output, None, cache=cache, run_id="r", attempt=1)
        assert (sorted(res.answered), res.line_errors, res.resend) == (sorted(requests), {}, [])
        for key in requests:
            rec = cache.get(key)
            assert rec["content"] and rec["prompt_tokens"] > 0 and 0 < rec["completion_tokens"] <= 24
            assert rec["billing"]["batch"] is True and rec["paid"]["run_id"] == "r"
