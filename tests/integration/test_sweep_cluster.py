"""The paper's five-model sweep as a cluster runs it, on tiny models of the five architectures.

One module-scoped run shares everything: the tiny models (session fixture ``tiny_models``), one
moto S3 server, one two-node local Ray (a head that runs the driver and the five Ray Train
controllers, and a worker node offering ``luxit_train``: the gpu-train node type of cluster/, so
every training worker lands there). ``luxit train jobs/train-sweep.yaml`` runs with only the model
paths (``train.models_root``) and the CPU profile changed: Table 2's ranks, alphas, batch sizes and
learning rates stay, 2 gloo workers per model, 4 steps, a checkpoint every 2 steps, on S3.

Once Ray Train has registered a checkpoint on S3 for every model, every process of the worker node
is SIGKILLed and a new worker node joins (what an autoscaler does for a lost node): each trial
still running must resume from its last registered checkpoint and finish. The driver merges each adapter (train.merge_adapters). Each
model is then served by the real vLLM CPU server, with its adapter where vLLM takes it and merged
where it refuses the adapter (GLM-4's fused gate_up_proj), and scored on the exam harness with both
scorers; the Table 4 report must be filled for all five.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import yaml

from luxit_ray.train.tiny_sweep import tiny_sweep_overrides
from tests.test_submit import REPO, LocalCluster, session_pids

pytestmark = pytest.mark.slow

MODELS = ["llama-3.1-8b", "llama-3.2-1b", "gemma-3-1b", "glm-4-9b", "qwen3-0.6b"]
BUCKET = "luxit-sweep"
RUN_ID = "tiny-sweep"
MAX_STEPS = 4
SAVE_EVERY = 2
EXAM_ITEMS = 8
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
# Each of the 10 training workers holds one logical CPU of the worker node.
WORKER_NODE_CPUS = 10


class SweepCluster(LocalCluster):
    """A head (driver, controllers) and a worker node offering ``luxit_train`` slots."""

    def __init__(self, extra_env: dict[str, str]) -> None:
        super().__init__()
        self.env.update(extra_env)

    def node_cpus(self, name: str) -> int:
        return 2 if name == "node_a" else WORKER_NODE_CPUS

    def node_resources(self, name: str) -> dict[str, float]:
        return {name: 1} if name == "node_a" else {name: 1, "luxit_train": WORKER_NODE_CPUS}

    def replace_worker_node(self) -> None:
        self._start_node("node_b", False, "the replacement worker node", lambda: len(self.nodes()) == 2)


@pytest.fixture(scope="module")
def s3():
    """One moto S3 server: (filesystem, the environment that points S3 clients at it)."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # Plain s3:// URIs everywhere (pyarrow and Ray Train read the endpoint from the environment).
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           access_key="testing", secret_key="testing", allow_bucket_creation=True)
    fs.create_dir(BUCKET)
    try:
        yield fs, env
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _registered(fs: pafs.S3FileSystem, model: str) -> list[str]:
    """The checkpoints Ray Train has registered for the trial (its checkpoint manager's snapshot on
    S3, rewritten after each report): what a restart resumes from. A ``step-N`` folder is on S3
    before it is registered (uploaded, its report not yet handled by the controller); a node lost
    in between restarts the trial from the checkpoint before it (seen: GLM-4 resumed from step 4
    with step-6 on S3, Gemma-3 from scratch with step-2 on S3)."""
    try:
        with fs.open_input_stream(f"{BUCKET}/train/{RUN_ID}/{model}/checkpoint_manager_snapshot.json") as fh:
            snapshot = json.loads(fh.read())
    except (FileNotFoundError, OSError, ValueError):
        return []  # not written yet (or caught mid-write: read again on the next poll)
    return [r["checkpoint_dir_name"] for r in snapshot.get("checkpoint_results", [])]


def _steps(checkpoints: list[str]) -> list[int]:
    """The step numbers among checkpoint folder names (``step-0000002`` -> 2; ``final`` left out)."""
    return sorted(int(name[5:]) for name in checkpoints if name.startswith("step-"))


def _checkpoint_steps(fs: pafs.S3FileSystem, model: str) -> list[int]:
    sel = pafs.FileSelector(f"{BUCKET}/train/{RUN_ID}/{model}", allow_not_found=True)
    return _steps([i.base_name for i in fs.get_file_info(sel) if i.type == pafs.FileType.Directory])


@pytest.fixture(scope="module")
def sweep(tiny_models, s3, tmp_path_factory):
    """The sweep on the two-node cluster with the worker node killed once every model has a
    checkpoint; the cluster is stopped before the results are returned (they are on S3)."""
    from tests.train import lb_chat

    fs, s3_env = s3
    out = tmp_path_factory.mktemp("sweep-cluster")
    data = lb_chat.write_parquet(out / "export.parquet")
    models_root = next(iter(tiny_models.values())).parent
    storage = f"s3://{BUCKET}/train"
    # Both nodes are this machine: its temp dir is the shared folder.
    overrides = [*tiny_sweep_overrides(models_root, data, storage, out / "runs", tmp_path_factory.getbasetemp(),
                                       RUN_ID, MAX_STEPS, SAVE_EVERY),
                 "train.merge_adapters=true", "train.max_failures=3"]
    env_extra = {**s3_env, "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "600", "OMP_NUM_THREADS": "1",
                 "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cluster = SweepCluster(env_extra)
    seen: dict[str, list[int]] = {}
    try:
        t0 = time.monotonic()
        cluster.start()
        started = time.monotonic() - t0
        env = dict(cluster.env, RAY_ADDRESS=f"127.0.0.1:{cluster.gcs_port}", COLUMNS="200")
        driver_log = out / "driver.log"
        t1 = time.monotonic()
        with open(driver_log, "wb") as log:
            driver = subprocess.Popen([sys.executable, "-m", "luxit_ray.cli", "train", "jobs/train-sweep.yaml", *overrides],
                                      cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and driver.poll() is None:
                registered = {m: _registered(fs, m) for m in MODELS}
                if all(registered.values()):
                    break
                time.sleep(1.0)
            assert driver.poll() is None, "the sweep ended before every model had a checkpoint:\n" + driver_log.read_text()[-4000:]
            assert all(registered.values()), f"not every model checkpointed in time: {registered}"
            killed_at = time.monotonic() - t1
            seen = {m: _steps(registered[m]) for m in MODELS}
            done_at_kill = {m for m in MODELS if "final" in registered[m]}
            node_pid = cluster.procs[1].pid
            killed = cluster.kill_node(1)
            survivors = session_pids(node_pid)
            cluster.replace_worker_node()
            rc = driver.wait(timeout=1500)
        wall = time.monotonic() - t1
        text = driver_log.read_text(errors="replace")
        assert rc == 0, text[-6000:]
        summary = json.loads((out / "runs" / RUN_ID / "train" / "results.json").read_text())
        print(f"sweep cluster: nodes up in {started:.1f} s, every model checkpointed at {killed_at:.1f} s, "
              f"sweep done at {wall:.1f} s after the driver started")
    finally:
        # Stopped before the tests read the results and vLLM serves them: its daemons (log
        # monitors, dashboard, agents) would otherwise share the two cores with the servers.
        left = cluster.stop()
        import shutil

        shutil.rmtree(cluster.tmp, ignore_errors=True)
        assert not [p for p in left if p in cluster.our_processes()], "Ray processes survived the cluster stop"
    return {"summary": summary, "seen_at_kill": seen, "done_at_kill": done_at_kill, "killed": killed,
            "survivors": survivors, "wall_s": wall, "killed_at_s": killed_at, "cluster_start_s": started,
            "fs": fs, "out": out, "storage": storage, "models_root": models_root, "driver_log": text}


def test_every_trial_resumed_from_its_last_checkpoint_after_the_node_kill(sweep):
    rows = {r["model"]: r for r in sweep["summary"]["models"]}
    assert sorted(rows) == sorted(MODELS)
    assert len(sweep["killed"]) >= 3 and sweep["survivors"] == []
    # The trials run at their own pace: one may have written its final checkpoint before the slowest
    # wrote its first (seen under load); it had nothing left to resume. Every other one must resume.
    running = [m for m in MODELS if m not in sweep["done_at_kill"]]
    assert running, "every trial had finished before the node was killed: nothing was tested"
    for name in MODELS:
        row = rows[name]
        assert row["status"] == "done", row.get("error")
        assert row["steps"] == MAX_STEPS and row["num_workers"] == 2
        assert row["adapter"].startswith(f"s3://{BUCKET}/train/{RUN_ID}/{name}/adapter")
        assert _checkpoint_steps(sweep["fs"], name)[-1] >= SAVE_EVERY
        if name in running and row["resumed_from_step"] is not None:
            # It restarted from the last checkpoint registered when the node died, not from zero.
            assert row["resumed_from_step"] >= SAVE_EVERY, (name, row["resumed_from_step"])
            assert row["resumed_from_step"] >= max(sweep["seen_at_kill"][name]), (name, sweep["seen_at_kill"][name])
    # A trial whose final checkpoint was registered between the last poll and the kill ends without a
    # restart; the trials caught mid-training restarted from their last registered checkpoint.
    resumed = [m for m in running if rows[m]["resumed_from_step"] is not None]
    assert resumed, f"no trial resumed after the node kill: running at the kill {running}, rows {rows}"


def test_table2_recipes_ran_unchanged(sweep):
    rows = {r["model"]: r for r in sweep["summary"]["models"]}
    # Table 2's effective batch sizes, split over 2 workers with the job file's per-device sizes.
    assert {n: rows[n]["effective_batch"] for n in MODELS} == {
        "llama-3.1-8b": 32, "llama-3.2-1b": 48, "gemma-3-1b": 16, "glm-4-9b": 32, "qwen3-0.6b": 16}
    assert {n: rows[n]["grad_accum"] for n in MODELS} == {
        "llama-3.1-8b": 4, "llama-3.2-1b": 3, "gemma-3-1b": 2, "glm-4-9b": 4, "qwen3-0.6b": 1}
    assert {n: rows[n]["family"] for n in MODELS} == {
        "llama-3.1-8b": "llama3", "llama-3.2-1b": "llama3", "gemma-3-1b": "gemma3", "glm-4-9b": "glm4",
        "qwen3-0.6b": "qwen3"}


@pytest.fixture(scope="module")
def local_results(sweep, tmp_path_factory):
    """Adapters and merged models copied from S3 to local folders (what serving reads)."""
    from luxit_ray import storage

    out = tmp_path_factory.mktemp("fetched")
    rows = {r["model"]: r for r in sweep["summary"]["models"]}
    got = {}
    for name in MODELS:
        got[name] = {
            "adapter": Path(storage.local_copy(rows[name]["adapter"], str(out / name / "adapter"))),
            "merged": Path(storage.local_copy(rows[name]["merged"], str(out / name / "merged"))),
        }
    return got


def test_merged_models_equal_base_plus_adapter(local_results, tiny_models):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[5, 17, 300, 42, 7, 99]])
    for name in MODELS:
        base = AutoModelForCausalLM.from_pretrained(tiny_models[name], dtype=torch.float32)
        with torch.no_grad():
            base_logits = base(ids).logits
            peft_logits = PeftModel.from_pretrained(base, local_results[name]["adapter"]).merge_and_unload()(ids).logits
            merged = AutoModelForCausalLM.from_pretrained(local_results[name]["merged"], dtype=torch.float32)
            merged_logits = merged(ids).logits
        assert (peft_logits - base_logits).abs().max() > 0, f"{name}: training left the adapter at zero"
        # The merged folder is saved in the base's bf16: equal to base + adapter up to bf16 rounding.
        assert torch.allclose(merged_logits, peft_logits, atol=0.05), (name, (merged_logits - peft_logits).abs().max())
        keys = {k for k, _ in merged.named_parameters()}
        if name == "glm-4-9b":
            assert "model.layers.0.mlp.gate_up_proj.weight" in keys
        assert not any("lora_" in k for k in keys)


@pytest.fixture(scope="module")
def exam(local_results, tiny_models, tmp_path_factory):
    """Each model served by vLLM (adapter, or merged where refused), scored with both scorers."""
    from luxit_ray.config import job_from_dict
    from luxit_ray.config.serve import ServeConfig
    from luxit_ray.evaluate.runner import run_evaluate
    from luxit_ray.serve import plan_fine_tuned, start_local_server, stop_local_server
    from tests.integration.served_exam import ServedBackend

    out = tmp_path_factory.mktemp("exam")
    plans = {n: plan_fine_tuned(n, local_results[n]["adapter"], local_results[n]["merged"], tiny_models[n])
             for n in MODELS}
    slots = threading.Semaphore(2)  # two servers at once: one starts while the other is scored
    handles: dict = {}

    def start(name: str):
        slots.acquire()
        p = plans[name]
        cfg = ServeConfig(model=p.model_dir, served_model_name=f"{name}-served", port=0, max_model_len=1024,
                          gpu_memory_utilization=0.1, max_num_seqs=4, startup_timeout_s=900,
                          extra_args=p.extra_args, env={"VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"},
                          log_file=str(out / f"{name}.log"))
        try:
            handles[name] = start_local_server(cfg)
        except BaseException:
            slots.release()
            raise
        return handles[name]

    def stop(name: str) -> None:
        stop_local_server(handles[name])
        slots.release()

    prompt = yaml.safe_load((REPO / "jobs" / "eval-smoke.yaml").read_text(encoding="utf-8"))["evaluate"]["prompt"]
    pool = cf.ThreadPoolExecutor(max_workers=len(MODELS))
    futures = {n: pool.submit(start, n) for n in MODELS}
    served: dict[str, list[str]] = {}

    def factory(spec, settings):
        from luxit_ray.serve import list_models

        name = spec["name"]
        handle = futures[name].result()
        served[name] = list_models(handle.base_url)
        tok_dir = str(local_results[name]["merged"] if plans[name].mode == "merged" else local_results[name]["adapter"])
        return ServedBackend(handle.base_url, plans[name].request_model if plans[name].mode == "adapter"
                             else f"{name}-served", tok_dir, settings["prompt"]["answer_prefix"],
                             on_close=lambda: stop(name))

    job = {
        "run": {"name": "tiny-exam", "output_dir": str(out / "runs"), "run_id": "tiny-exam"},
        "evaluate": {
            "exam": {"name": "sample-exam", "path": str(REPO / "tests" / "data" / "exam" / "exam.jsonl")},
            "max_items": EXAM_ITEMS,
            "models": [{"name": n, "path": str(tiny_models[n]), "group": "fine-tuned"} for n in MODELS],
            "scorers": ["loglik", "generative"], "length_norm": "char", "max_new_tokens": 4, "prompt": prompt,
        },
    }
    t0 = time.monotonic()
    try:
        result = run_evaluate(job_from_dict(job), backend_factory=factory)
    finally:
        for fut in futures.values():
            with contextlib.suppress(Exception):
                h = fut.result(timeout=0) if fut.done() else None
                if h is not None:
                    stop_local_server(h)
        pool.shutdown(wait=True, cancel_futures=True)
    print(f"sweep cluster: five models served and scored in {time.monotonic() - t0:.1f} s")
    return {"result": result, "plans": plans, "served": served, "wall_s": time.monotonic() - t0,
            "samples": Path(result["run_dir"]) / "evaluation" / "samples"}


def test_vllm_serves_adapters_and_glm4_merged(exam):
    plans, served = exam["plans"], exam["served"]
    assert {n: p.mode for n, p in plans.items()} == {
        "llama-3.1-8b": "adapter", "llama-3.2-1b": "adapter", "gemma-3-1b": "adapter", "glm-4-9b": "merged",
        "qwen3-0.6b": "adapter"}
    assert "gate_up_proj" in plans["glm-4-9b"].reason
    for n in MODELS:
        expected = {f"{n}-served", n} if plans[n].mode == "adapter" else {f"{n}-served"}
        assert set(served[n]) == expected, (n, served[n])
    assert plans["gemma-3-1b"].extra_args[plans["gemma-3-1b"].extra_args.index("--max-lora-rank") + 1] == "64"


def test_table4_filled_for_all_five_with_both_scorers(exam):
    report = exam["result"]["report"]
    assert report["scorers"] == ["loglik", "generative"]
    assert [m["name"] for m in report["models"]] == MODELS
    for n in MODELS:
        lines = (exam["samples"] / f"{n}.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(x) for x in lines]
        assert len(records) == 2 * EXAM_ITEMS
        assert sorted({r["scorer"] for r in records}) == ["generative", "loglik"]
        assert all(r["outcome"] in ("correct", "wrong", "invalid") for r in records)
    md = (Path(exam["result"]["run_dir"]) / "evaluation" / "report.md").read_text(encoding="utf-8")
    for n in MODELS:
        assert n in md
    exam_table = report["exam"]
    assert exam_table is not None
    text = json.dumps(exam_table)
    for n in MODELS:
        assert n in text
