"""Evaluation reads an adapter from the storage URI training wrote it to (s3:// on a local S3 server).

A tiny random Llama gets a LoRA adapter with non-zero B matrices (so it changes every answer's
scores); the adapter folder and the ``result.json`` training writes beside it are uploaded to a
moto S3 server. The same model is evaluated with the adapter from a local folder and from
``s3://``: the per-item predictions and scores must be identical, and the report carries
training's held-out loss (read from ``result.json`` at either location) beside Table 4.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from luxit_ray import storage
from luxit_ray.config import job_from_dict
from luxit_ray.errors import LuxitError
from luxit_ray.evaluate.report import render_markdown
from luxit_ray.evaluate.runner import run_evaluate
from tests.train.tiny_llama import tiny_llama

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUCKET = "luxit"
RESULT = {"model": "tuned", "status": "done", "steps": 6, "eval_loss_before": 10.8125, "eval_loss": 10.5,
          "data": {"validation": {"conversations": 3, "examples": 3, "skipped_too_long": 0, "tokens": 120,
                                  "label_tokens": 41}}}


@pytest.fixture()
def s3(monkeypatch):
    """A moto S3 server on a free port; plain s3:// URIs reach it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}.items():
        monkeypatch.setenv(k, v)
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           access_key="testing", secret_key="testing", allow_bucket_creation=True)
    fs.create_dir(BUCKET)
    try:
        yield fs
    finally:
        server.stop()


def _trained(tmp_path: Path) -> tuple[Path, Path]:
    """A model folder and a training storage folder ``<model>/adapter`` + ``<model>/result.json``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = tiny_llama(tmp_path / "tiny-llama")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)
    store = tmp_path / "store" / "tuned"
    model.save_pretrained(store / "adapter")
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(store / "adapter")
    (store / "result.json").write_text(json.dumps(RESULT))
    return model_dir, store


def _job(tmp_path: Path, model_dir: Path, adapters: dict[str, str]) -> object:
    return job_from_dict({
        "run": {"name": "ev", "output_dir": str(tmp_path / "runs")},
        "evaluate": {
            "exam": {"name": "sample-exam", "path": str(REPO / "tests/data/exam/exam.jsonl")},
            "models": [{"name": n, "path": str(model_dir), "adapter": a, "group": "fine-tuned", "family": "chatml"}
                       for n, a in adapters.items()],
            "scorers": ["loglik", "generative"], "backend": "transformers", "max_new_tokens": 4, "max_items": 8,
            "use_ray": False, "chart": False, "num_gpus_per_model": 0,
        },
    })


def test_adapter_on_s3_scores_exactly_as_the_local_copy(tmp_path, s3):
    model_dir, store = _trained(tmp_path)
    uri = f"s3://{BUCKET}/train/run-1/tuned"
    storage.copy_dir(str(store), uri)
    assert storage.exists(f"{uri}/adapter/adapter_config.json")

    out = run_evaluate(_job(tmp_path, model_dir, {"local": str(store / "adapter"), "s3": f"{uri}/adapter"}))
    samples = Path(out["run_dir"]) / "evaluation" / "samples"

    def preds(name: str) -> list[tuple]:
        rows = [json.loads(x) for x in (samples / f"{name}.jsonl").read_text().splitlines()]
        return [(r["scorer"], r["item_id"], r["predicted"], r["outcome"], r.get("scores")) for r in rows]

    assert len(preds("s3")) == 16  # 8 items x 2 scorers
    assert preds("s3") == preds("local")

    expected = {"trained_as": "tuned", "before": 10.8125, "after": 10.5, "examples": 3, "label_tokens": 41, "steps": 6}
    assert out["report"]["held_out_loss"] == {"local": expected, "s3": expected}
    md = render_markdown(out["report"])
    assert "## Held-out loss of the fine-tuned models (training's validation split)" in md
    assert "| s3 | 3 | 41 | 6 | 10.8125 | 10.5000 | -0.3125 |" in md
    assert out["tables"]["Held-out loss (validation split)"]["rows"][1] == ["s3", 3, 41, 6, 10.8125, 10.5, -0.3125]


def test_a_uri_without_an_adapter_is_refused_before_loading(tmp_path, s3):
    model_dir = tiny_llama(tmp_path / "tiny-llama")
    with pytest.raises(LuxitError, match=rf"adapter s3://{BUCKET}/nothing/adapter: no adapter_config.json"):
        run_evaluate(_job(tmp_path, model_dir, {"s3": f"s3://{BUCKET}/nothing/adapter"}))
