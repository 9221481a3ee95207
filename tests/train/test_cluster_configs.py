"""The paper's train and eval jobs against the cluster configs: shared storage, role extras.

Memory is checked in test_memory.py; the jobs' own storage preflight here with the node count a
cluster has (Ray Train 2.60 refuses, at the first checkpoint, storage only the driver's node sees).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from luxit_ray.config import load_job
from luxit_ray.storage import is_shared, shared_storage_problems
from luxit_ray.train.sweep import storage_problems

REPO = Path(__file__).resolve().parents[2]
JOBS, CLUSTER = REPO / "jobs", REPO / "cluster"
MOUNT = "/mnt/shared"


def test_train_sweep_storage_is_shared_on_a_multi_node_cluster():
    cfg = load_job(JOBS / "train-sweep.yaml")
    assert storage_problems(cfg, nodes=4) == []
    old = load_job(JOBS / "train-sweep.yaml", ["run.output_dir=runs", "train.storage_path=null"])
    assert storage_problems(old, nodes=4) == [
        "run.output_dir: 'runs' is local to one node, but the Ray cluster has 4 nodes: use s3://... or a path "
        "under ['/mnt/shared']",
        "train.storage_path: 'runs/<run>/train (storage_path: null)' is local to one node, but the Ray cluster "
        "has 4 nodes: use s3://... or a path under ['/mnt/shared']",
    ]
    assert storage_problems(old, nodes=1) == []  # one node sees its own disk


def test_shared_paths():
    assert is_shared("s3://bucket/luxit", []) and is_shared("gs://b/x", [])
    assert is_shared("/mnt/shared/runs", ["/mnt/shared"]) and is_shared("/mnt/shared", ["/mnt/shared/"])
    assert not is_shared("/mnt/sharedx/runs", ["/mnt/shared"])
    assert not is_shared("file:///tmp/store", ["/mnt/shared"])
    assert shared_storage_problems({"a": "/tmp/x", "b": None}, [], 2) == [
        "a: '/tmp/x' is local to one node, but the Ray cluster has 2 nodes: use s3://... or a path "
        "(no shared_storage mount is configured)"
    ]


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text(encoding="utf-8"))


def test_aws_cluster_mounts_shared_storage_and_gives_each_role_its_environment():
    aws = _load("ray-cluster-aws.yaml")
    assert f"-v {MOUNT}:{MOUNT}" in " ".join(aws["docker"]["run_options"])
    assert any(f" {MOUNT}" in c and "mount -t nfs4" in c for c in aws["initialization_commands"])
    types = aws["available_node_types"]
    assert all("run_options" not in t.get("docker", {}) for t in types.values())  # nobody drops the mount
    assert aws["setup_commands"] == []  # nothing shared across roles: vLLM pins its own torch
    train = " ".join(types["gpu-train"]["worker_setup_commands"])
    assert "[train-gpu]" in train and "import bitsandbytes, deepspeed" in train
    ev = types["gpu-eval"]
    assert ev["docker"]["worker_image"].startswith("rayproject/ray-llm:")
    assert ev["resources"]["luxit_eval"] == ev["resources"]["GPU"]
    assert "-c /tmp/luxit-eval-pins.txt" in " ".join(ev["worker_setup_commands"])
    assert "[eval-vllm]" in " ".join(ev["worker_setup_commands"])


def test_kuberay_mounts_shared_storage_in_every_pod_and_uses_role_images():
    doc = _load("kuberay-raycluster.yaml")["spec"]
    pods = [doc["headGroupSpec"]] + doc["workerGroupSpecs"]
    for pod in pods:
        mounts = [m["mountPath"] for m in pod["template"]["spec"]["containers"][0]["volumeMounts"]]
        assert MOUNT in mounts
    images = {g["groupName"]: g["template"]["spec"]["containers"][0]["image"] for g in doc["workerGroupSpecs"]}
    dockerfiles = {"gpu-train": "train-gpu.Dockerfile", "gpu-eval": "eval-vllm.Dockerfile", "cpu-data": "cpu.Dockerfile"}
    for group, dockerfile in dockerfiles.items():
        text = (CLUSTER / "docker" / dockerfile).read_text(encoding="utf-8")
        tag = re.search(r"-t (\S+) \.", text).group(1).split("/", 1)[1]
        assert images[group].endswith(tag), (group, images[group], tag)
    assert "[train-gpu]" in (CLUSTER / "docker" / "train-gpu.Dockerfile").read_text(encoding="utf-8")
    assert "luxit_eval" in [g for g in doc["workerGroupSpecs"] if g["groupName"] == "gpu-eval"][0]["rayStartParams"]["resources"]


def test_jobs_use_what_the_clusters_provide():
    train = load_job(JOBS / "train-sweep.yaml").train
    ev = load_job(JOBS / "eval.yaml").evaluate
    assert train.shared_storage == ev.shared_storage == [MOUNT]
    assert set(ev.resources) == {"luxit_eval"}
    assert all(m.resources.use_gpu and m.resources.gpu_memory_gb for m in train.models)
