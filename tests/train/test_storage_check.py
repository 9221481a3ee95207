"""The train storage check counts the nodes the cluster can have, not only the ones alive now.

A head-only cluster whose GPU groups sit at 0 replicas has one alive node until the first trial
asks for a GPU; a node-local storage_path passed the old check there and failed at Ray Train's
first checkpoint. The count now comes from the cluster YAMLs' node types, the autoscaler's node
groups (its ClusterConfig in the GCS) and the worker resources no alive node has.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from ray.core.generated import autoscaler_pb2

from luxit_ray.config import job_from_dict
from luxit_ray.train import sweep
from luxit_ray.train.sweep import (
    autoscaler_max_nodes,
    cluster_nodes,
    launcher_max_nodes,
    storage_problems,
)

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"


def _yaml(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text(encoding="utf-8"))


def test_ray_up_yaml_counts_every_node_type_up_to_max_workers():
    # cpu-data 20 + gpu-train 4 + gpu-eval 4 + gpu-serve 5 = 33 workers (cap 33), plus the head.
    assert launcher_max_nodes(_yaml("ray-cluster-aws.yaml")) == 34
    small = {"head_node_type": "head", "max_workers": 2, "available_node_types": {
        "head": {"max_workers": 0}, "gpu-train": {"min_workers": 0, "max_workers": 4}}}
    assert launcher_max_nodes(small) == 3


def test_kuberay_yamls_count_worker_groups_at_their_max_replicas():
    assert launcher_max_nodes(_yaml("kuberay-raycluster.yaml")) == 1 + 20 + 4 + 4 + 5
    assert launcher_max_nodes(_yaml("kuberay-rayjob.yaml")) == 1 + 16
    assert launcher_max_nodes({"kind": "ConfigMap"}) is None


def _cluster_config(*groups: tuple[str, int, int]) -> autoscaler_pb2.ClusterConfig:
    cfg = autoscaler_pb2.ClusterConfig()
    for name, lo, hi in groups:
        cfg.node_group_configs.add(name=name, min_count=lo, max_count=hi)
    return cfg


def test_autoscaler_node_groups():
    assert autoscaler_max_nodes(_cluster_config(("head", 1, 1), ("gpu-train", 0, 4))) == 5
    assert autoscaler_max_nodes(_cluster_config(("head", 1, 1), ("cpu", 0, -1))) == 3
    assert autoscaler_max_nodes(_cluster_config()) is None
    assert autoscaler_max_nodes(None) is None


def _job(tmp_path: Path, resources: dict) -> object:
    return job_from_dict({
        "run": {"name": "t", "output_dir": str(tmp_path / "runs")},
        "train": {
            "data": str(tmp_path / "data.parquet"),
            "models": [{"name": "m", "path": "smollm2", "family": "chatml", "batch_size": 1, "per_device_batch_size": 1,
                        "learning_rate": 1e-3, "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj"]},
                        "resources": resources}],
        },
    })


@pytest.mark.slow
def test_head_only_cluster_with_groups_at_zero_refuses_a_node_local_storage_path(ray_local, tmp_path, monkeypatch):
    cfg = _job(tmp_path, {"num_workers": 1, "cpus_per_worker": 1})
    recipes = cfg.train.selected()
    # The embedded Ray: one node, no autoscaler config, no launcher YAML: nothing to refuse.
    assert sweep._autoscaler_cluster_config() is None
    assert cluster_nodes(recipes, tmp_path / "none.yaml") == (1, ["alive nodes: 1"])
    assert storage_problems(cfg, 1) == []

    # The same single alive node, but the autoscaler may start 4 gpu-train nodes (KubeRay, 0 replicas).
    monkeypatch.setattr(sweep, "_autoscaler_cluster_config", lambda: _cluster_config(("head", 1, 1), ("gpu-train", 0, 4)))
    nodes, sources = cluster_nodes(recipes, tmp_path / "none.yaml")
    assert (nodes, sources) == (5, ["alive nodes: 1", "autoscaler node groups: 5"])
    assert storage_problems(cfg, nodes) == [
        f"run.output_dir: {str(tmp_path / 'runs')!r} is local to one node, but the Ray cluster has 5 nodes: use "
        "s3://... or a path (no shared_storage mount is configured)",
        f"train.storage_path: '{tmp_path / 'runs'}/<run>/train (storage_path: null)' is local to one node, but the Ray "
        "cluster has 5 nodes: use s3://... or a path (no shared_storage mount is configured)",
        f"train.data: {str(tmp_path / 'data.parquet')!r} is local to one node, but the Ray cluster has 5 nodes: use "
        "s3://... or a path (no shared_storage mount is configured)",
    ]

    # `ray up`: the YAML the launcher leaves on the head node.
    monkeypatch.setattr(sweep, "_autoscaler_cluster_config", lambda: None)
    bootstrap = tmp_path / "ray_bootstrap_config.yaml"
    bootstrap.write_text((CLUSTER / "ray-cluster-aws.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert cluster_nodes(recipes, bootstrap) == (34, ["alive nodes: 1", f"{bootstrap}: 34"])


@pytest.mark.slow
def test_workers_asking_for_a_resource_no_alive_node_has_mean_another_node(ray_local, tmp_path, monkeypatch):
    cfg = _job(tmp_path, {"num_workers": 1, "cpus_per_worker": 1, "custom_resources": {"luxit_train": 1}})
    # This process started the session's Ray: no node will join it, so one node it stays.
    assert sweep._started_here() is True
    assert cluster_nodes(cfg.train.selected(), tmp_path / "none.yaml") == (1, ["alive nodes: 1"])
    # A Ray it joined, with no configuration readable at all (KubeRay with autoscaler v1): the
    # gpu-train node type's custom resource is absent from ray.cluster_resources(), so the workers
    # need a node not up yet.
    monkeypatch.setattr(sweep, "_started_here", lambda: False)
    assert cluster_nodes(cfg.train.selected(), tmp_path / "none.yaml") == (
        2, ["alive nodes: 1", "worker resources no alive node has ['luxit_train']: 2"]
    )


@pytest.mark.slow
def test_run_train_on_its_own_ray_refuses_a_node_type_it_cannot_have_at_once(ray_local, tmp_path, monkeypatch):
    # `luxit train jobs/train-sweep.yaml` on a laptop: its workers ask for luxit_train, which the
    # embedded Ray's one node does not offer. It waited 900 s for the extras check before.
    from luxit_ray.errors import LuxitError
    from luxit_ray.train.sweep import run_train
    from tests.train import lb_chat

    lb_chat.write_parquet(tmp_path / "data.parquet")
    cfg = _job(tmp_path, {"num_workers": 1, "cpus_per_worker": 1, "custom_resources": {"luxit_train": 1}})
    monkeypatch.setattr(sweep, "fit_model", lambda *a, **k: pytest.fail("a trial started"))
    t0 = time.monotonic()
    with pytest.raises(LuxitError) as err:
        run_train(cfg)
    assert time.monotonic() - t0 < 60
    assert "m: worker resources {'CPU': 1.0, 'luxit_train': 1.0}: this run started its own local Ray" in str(err.value)
    assert "train.defaults.resources.custom_resources={}" in str(err.value)


@pytest.mark.slow
def test_run_train_refuses_before_any_trial_starts(ray_local, tmp_path, monkeypatch):
    from luxit_ray.errors import ConfigError
    from luxit_ray.train.sweep import run_train
    from tests.train import lb_chat

    lb_chat.write_parquet(tmp_path / "data.parquet")
    cfg = _job(tmp_path, {"num_workers": 1, "cpus_per_worker": 1})
    monkeypatch.setattr(sweep, "_autoscaler_cluster_config", lambda: _cluster_config(("head", 1, 1), ("gpu-train", 0, 4)))
    monkeypatch.setattr(sweep, "fit_model", lambda *a, **k: pytest.fail("a trial started"))
    with pytest.raises(ConfigError) as err:
        run_train(cfg)
    assert len(err.value.problems) == 4
    assert err.value.problems[-1] == "nodes counted from: alive nodes: 1; autoscaler node groups: 5"
