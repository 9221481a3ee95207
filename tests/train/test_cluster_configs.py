"""The paper's train and eval jobs against the cluster configs: shared storage, role extras.

Memory is checked in test_memory.py; the jobs' own storage preflight here with the node count a
cluster has (Ray Train 2.60 refuses, at the first checkpoint, storage only the driver's node sees).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
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


# --- placement: training workers land on gpu-train nodes, and the extras are checked there first ---

TRAIN_RESOURCE = "luxit_train"


def test_training_workers_ask_for_the_gpu_train_node_type():
    from luxit_ray.train.sweep import worker_resources

    recipes = load_job(JOBS / "train-sweep.yaml").train.models
    assert [worker_resources(r.resources) for r in recipes] == [{"CPU": 4.0, TRAIN_RESOURCE: 1.0, "GPU": 1.0}] * 5
    # Only gpu-train offers it, one per GPU: gpu-eval and gpu-serve have GPUs but not the training extras.
    types = _load("ray-cluster-aws.yaml")["available_node_types"]
    offering = {name: t["resources"].get(TRAIN_RESOURCE) for name, t in types.items() if TRAIN_RESOURCE in t["resources"]}
    assert offering == {"gpu-train": 4}
    assert types["gpu-train"]["resources"]["GPU"] == 4
    groups = _load("kuberay-raycluster.yaml")["spec"]["workerGroupSpecs"]
    params = {g["groupName"]: g["rayStartParams"].get("resources", "") for g in groups}
    assert [name for name, res in params.items() if TRAIN_RESOURCE in res] == ["gpu-train"]
    assert params["gpu-train"] == '"{\\"luxit_train\\": 4}"'


def test_required_extras_follow_the_recipe():
    from luxit_ray.train.sweep import required_extras

    recipes = {r.name: r for r in load_job(JOBS / "train-sweep.yaml").train.models}
    assert required_extras(recipes["gemma-3-1b"]) == ["torch", "transformers", "peft", "accelerate", "bitsandbytes"]
    smoke = load_job(JOBS / "train-smoke.yaml").train.models[0]
    assert required_extras(smoke) == ["torch", "transformers", "peft", "accelerate"]  # CPU: 8-bit AdamW optional


@pytest.fixture(scope="module")
def ray_with_train_node():
    """A local Ray whose only node offers one luxit_train, like a gpu-train node (GPUs left out)."""
    import ray

    was_up = ray.is_initialized()  # the session's shared Ray (tests/conftest.py): put back afterwards
    if was_up:
        ray.shutdown()
    ray.init(num_cpus=4, resources={TRAIN_RESOURCE: 1}, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    if was_up:
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)


def _cpu_recipe(name: str, custom: dict[str, float]):
    recipe = load_job(JOBS / "train-sweep.yaml").train.models[0]
    res = recipe.resources.model_copy(update={"use_gpu": False, "custom_resources": custom})
    return recipe.model_copy(update={"name": name, "resources": res})


def test_extras_check_imports_on_the_node_with_the_workers_resources(ray_with_train_node):
    import socket

    from luxit_ray.errors import LuxitError
    from luxit_ray.train.sweep import check_worker_extras

    a, b = _cpu_recipe("a", {TRAIN_RESOURCE: 1.0}), _cpu_recipe("b", {TRAIN_RESOURCE: 1.0})
    plain = _cpu_recipe("plain", {})  # runs wherever Ray has CPUs: nothing to check
    reports = check_worker_extras([a, b, plain], timeout_s=60, modules=["json"])
    assert [(r["resources"], r["models"], r["node"], sorted(r["found"]), r["missing"]) for r in reports] == [
        ({"CPU": 4.0, TRAIN_RESOURCE: 1.0}, ["a", "b"], socket.gethostname(), ["json"], {})
    ]
    with pytest.raises(LuxitError) as err:
        check_worker_extras([a], timeout_s=60, modules=["json", "luxit_no_such_extra"])
    assert str(err.value).startswith(
        "training extras check failed before any trial started:\n  - a: luxit_no_such_extra does not import on "
    )
    assert "ModuleNotFoundError: No module named 'luxit_no_such_extra'; install luxit-ray[train-gpu]" in str(err.value)
    # This test started its Ray: no node will ever offer the resource, so the check fails at once
    # (it waited its whole default timeout, 900 s, before).
    t0 = time.monotonic()
    with pytest.raises(LuxitError) as err:
        check_worker_extras([_cpu_recipe("c", {"luxit_nowhere": 1.0})], modules=["json"])
    assert time.monotonic() - t0 < 30
    assert str(err.value) == (
        "training extras check failed before any trial started:\n  - c: worker resources "
        "{'CPU': 4.0, 'luxit_nowhere': 1.0}: this run started its own local Ray (no run.ray.address, no "
        "RAY_ADDRESS), whose only node offers none of ['luxit_nowhere'], and no autoscaler can add one: train "
        "here with train.defaults.resources.custom_resources={} (and use_gpu as this machine allows), or submit "
        "the job to a cluster with a gpu-train node type"
    )
    # A Ray it joined may still get such a node (by hand, without an autoscaler's groups to read):
    # a clear error after the timeout, not a sweep that hangs.
    with pytest.raises(LuxitError) as err:
        check_worker_extras([_cpu_recipe("c", {"luxit_nowhere": 1.0})], timeout_s=3, modules=["json"],
                            started_here=False)
    assert str(err.value) == (
        "training extras check failed before any trial started:\n  - c: no node with worker resources "
        "{'CPU': 4.0, 'luxit_nowhere': 1.0} took the extras check within 3 s (is the gpu-train node type in "
        "the cluster config, with that custom resource?)"
    )


def test_unreachable_resources_fail_now_and_reachable_ones_wait():
    from luxit_ray.train.sweep import unreachable_resources

    want = {"CPU": 4.0, "GPU": 1.0, "luxit_train": 1.0}
    alive = {"CPU": 8.0, "memory": 1e9}
    # Offered by an alive node: nothing to say, whoever started Ray.
    assert unreachable_resources(want, {**alive, "GPU": 2.0, "luxit_train": 4.0}, True, None) is None
    # Our own local Ray: it will never grow.
    assert "offers none of ['GPU', 'luxit_train']" in unreachable_resources(want, alive, True, None)
    # An autoscaler whose groups offer both: the node may come.
    groups = {"head": {"CPU"}, "gpu-train": {"CPU", "GPU", "luxit_train"}}
    assert unreachable_resources(want, alive, False, groups) is None
    # ... one offers neither resource of the worker: no group can ever give it.
    assert unreachable_resources(want, alive, False, {"head": {"CPU"}, "gpu-eval": {"CPU", "GPU", "luxit_eval"}}) == (
        "no alive node offers ['luxit_train'] and none of the autoscaler's node groups (gpu-eval, head) does: "
        "add the gpu-train node type to the cluster config"
    )
    # Joined, nothing known about groups (a cluster grown by hand), or unknown who started Ray: wait.
    assert unreachable_resources(want, alive, False, None) is None
    assert unreachable_resources(want, alive, None, None) is None
