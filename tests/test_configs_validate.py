"""Every YAML under jobs/ and cluster/ is checked: job configs by our pydantic models, the cluster
launcher config by Ray's own validator, KubeRay manifests and the Ray Serve LLM config by their
expected structure, checked against the field names of the installed Ray (and vLLM) sources."""

from __future__ import annotations

import ast
import glob
import shlex
from pathlib import Path

import pytest
import ray
import yaml

from luxit_ray.config import load_job

REPO = Path(__file__).resolve().parents[1]
JOBS = sorted((REPO / "jobs").glob("*.yaml"))
CLUSTER = REPO / "cluster"
RAY_DIR = Path(ray.__file__).parent


def class_fields(path: Path, cls: str) -> set[str]:
    """Annotated attribute names of a class in a source file (pydantic fields), read with ast so
    nothing heavy (Ray Serve, vLLM) has to be importable here."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return {
                s.target.id for s in node.body
                if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and not s.target.id.startswith("_")
            }
    raise AssertionError(f"class {cls} not found in {path}")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ---- jobs/ --------------------------------------------------------------------------------


def test_there_are_jobs_for_every_purpose():
    names = {p.name for p in JOBS}
    assert {"full-deepseek-api.yaml", "full-vllm-ensemble.yaml", "train-sweep.yaml", "eval.yaml", "quickstart.yaml"} <= names


@pytest.mark.parametrize("path", JOBS, ids=lambda p: p.name)
def test_job_validates_and_opens_with_its_launch_command(path):
    cfg = load_job(path)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), f"{path.name}: the first line must be the launch command as a comment"
    assert f"jobs/{path.name}" in first and ("luxit " in first or "make " in first), first
    assert cfg.run.name


def test_full_jobs_use_the_whole_corpus_and_name_secrets_not_keys():
    for name in ("full-deepseek-api.yaml", "full-vllm-ensemble.yaml"):
        cfg = load_job(REPO / "jobs" / name)
        assert set(cfg.sample.quotas.values()) == {"all"} and set(cfg.sample.quotas) == {"lbwiki", "rtl"}
        assert {s.type for s in cfg.sources} == {"wikipedia", "news"}
        assert cfg.generate.pairs_per_seed == 3 and cfg.judge.min_score == 2
        for ep in cfg.endpoints.values():
            assert ep.api_key_env in (None, "DEEPSEEK_API_KEY", "OPENAI_API_KEY")
    api = load_job(REPO / "jobs" / "full-deepseek-api.yaml")
    assert (api.endpoints["deepseek"].model, api.endpoints["gpt5mini"].model) == ("deepseek-reasoner", "gpt-5-mini")
    assert api.endpoints["deepseek"].price_output_per_mtok > 0 and api.endpoints["gpt5mini"].price_input_per_mtok > 0
    ens = load_job(REPO / "jobs" / "full-vllm-ensemble.yaml")
    assert len(ens.judge.judges) == 3 and ens.judge.aggregate == "majority"
    assert len({ens.endpoints[j.endpoint].model for j in ens.judge.judges}) == 3


# ---- cluster launcher ---------------------------------------------------------------------


def test_cluster_launcher_config_passes_rays_validator():
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = load(CLUSTER / "ray-cluster-aws.yaml")
    assert {"cluster_name", "provider", "available_node_types", "head_node_type"} <= set(raw)
    validate_config(prepare_config(raw))  # Ray's schema plus its cross-field checks
    types = raw["available_node_types"]
    head = types[raw["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["max_workers"] == 0
    cpu = [n for n, t in types.items() if n != raw["head_node_type"] and not t["resources"].get("GPU")]
    gpu = [n for n, t in types.items() if t["resources"].get("GPU", 0) > 0]
    assert cpu == ["cpu-data"] and sorted(gpu) == ["gpu-eval", "gpu-serve", "gpu-train"]
    # R1 with TP 8 x PP 2 needs two 8-GPU nodes per replica
    assert types["gpu-serve"]["resources"]["GPU"] == 8 and types["gpu-serve"]["max_workers"] >= 2
    # One environment per role (tests/train/test_cluster_configs.py checks each): torch is pinned
    # before the project install wherever the project's own torch is used.
    for cmds in (raw["head_setup_commands"], raw["worker_setup_commands"], types["gpu-train"]["worker_setup_commands"]):
        assert cmds[0].startswith("pip install") and "torch==" in cmds[0], "torch must be pinned before the project install"


# ---- KubeRay ------------------------------------------------------------------------------


def check_ray_cluster_spec(spec: dict) -> dict[str, dict]:
    """Structure of a RayCluster spec; returns the worker groups by name."""
    assert spec["rayVersion"] == ray.__version__
    head = spec["headGroupSpec"]
    assert all(isinstance(v, str) for v in head["rayStartParams"].values())
    head_containers = head["template"]["spec"]["containers"]
    assert head_containers and all(c["image"].endswith(f"{ray.__version__}-py311-cpu") for c in head_containers)
    groups = {}
    for g in spec["workerGroupSpecs"]:
        assert g["groupName"] not in groups
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        assert isinstance(g["rayStartParams"], dict)
        containers = g["template"]["spec"]["containers"]
        assert containers and all(f":{ray.__version__}-" in c["image"] for c in containers)
        groups[g["groupName"]] = containers[0]
    for c in [*head_containers, *groups.values()]:
        for env in c.get("env", []):
            # secrets come from Kubernetes secrets, never as literal values in the manifest
            if env["name"].endswith("_KEY"):
                assert "value" not in env and "secretKeyRef" in env["valueFrom"]
    return groups


def gpus(container: dict) -> int:
    return int(container["resources"].get("limits", {}).get("nvidia.com/gpu", 0))


def test_kuberay_raycluster_has_cpu_and_gpu_groups():
    doc = load(CLUSTER / "kuberay-raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    groups = check_ray_cluster_spec(doc["spec"])
    assert gpus(groups["cpu-data"]) == 0
    assert gpus(groups["gpu-train"]) >= 1 and gpus(groups["gpu-eval"]) >= 1 and gpus(groups["gpu-serve"]) == 8
    for name in ("gpu-train", "gpu-eval", "gpu-serve"):
        res = groups[name]["resources"]
        assert res["limits"]["nvidia.com/gpu"] == res["requests"]["nvidia.com/gpu"]


def test_kuberay_rayjob_runs_a_valid_job():
    doc = load(CLUSTER / "kuberay-rayjob.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    spec = doc["spec"]
    check_ray_cluster_spec(spec["rayClusterSpec"])
    args = shlex.split(spec["entrypoint"])
    assert args[:4] == ["python", "-m", "luxit_ray.cli", "run"]
    cfg = load_job(REPO / args[4], args[5:])  # the job and overrides exactly as the entrypoint has them
    assert cfg.run.ray.address is None and cfg.run.output_dir.startswith("/mnt/shared")
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert set(env) <= {"working_dir", "pip", "env_vars", "excludes", "py_modules"} and env["working_dir"]
    assert spec["shutdownAfterJobFinishes"] is True


# ---- Ray Serve LLM config -----------------------------------------------------------------


SERVE_SCHEMA = RAY_DIR / "serve" / "schema.py"
SERVE_CONFIG = RAY_DIR / "serve" / "config.py"
LLM_CONFIG = RAY_DIR / "llm" / "_internal" / "serve" / "core" / "configs" / "llm_config.py"
LLM_BUILDER = RAY_DIR / "llm" / "_internal" / "serve" / "core" / "ingress" / "builder.py"


def serve_models() -> list[dict]:
    doc = load(CLUSTER / "serve-llm.yaml")
    return [c for app in doc["applications"] for c in app["args"]["llm_configs"]]


def test_serve_config_matches_the_installed_ray_serve_llm_schema():
    doc = load(CLUSTER / "serve-llm.yaml")
    assert set(doc) <= class_fields(SERVE_SCHEMA, "ServeDeploySchema")
    assert set(doc["http_options"]) <= class_fields(SERVE_SCHEMA, "HTTPOptionsSchema")
    app_fields = class_fields(SERVE_SCHEMA, "ServeApplicationSchema")
    deployment_fields = class_fields(SERVE_SCHEMA, "DeploymentSchema")
    autoscaling_fields = class_fields(SERVE_CONFIG, "AutoscalingConfig")
    llm_fields = class_fields(LLM_CONFIG, "LLMConfig")
    loading_fields = class_fields(LLM_CONFIG, "ModelLoadingConfig")
    # build_openai_app is a public builder of ray.serve.llm
    llm_api = ast.parse((RAY_DIR / "serve" / "llm" / "__init__.py").read_text())
    assert "build_openai_app" in {n.name for n in llm_api.body if isinstance(n, ast.FunctionDef)}
    from ray.util.accelerators import accelerators

    known_accelerators = {v for k, v in vars(accelerators).items() if k.isupper() and isinstance(v, str)}
    for app in doc["applications"]:
        assert set(app) <= app_fields
        assert app["import_path"] == "ray.serve.llm:build_openai_app" and app["route_prefix"] == "/"
        assert set(app["args"]) <= class_fields(LLM_BUILDER, "LLMServingArgs")
        for llm in app["args"]["llm_configs"]:
            assert set(llm) <= llm_fields
            assert set(llm["model_loading_config"]) <= loading_fields
            assert llm["model_loading_config"]["model_source"].startswith("/"), "weights come from local storage"
            assert llm["accelerator_type"] in known_accelerators
            assert set(llm["deployment_config"]) <= deployment_fields
            assert set(llm["deployment_config"]["autoscaling_config"]) <= autoscaling_fields
    r1 = next(m for m in serve_models() if m["model_loading_config"]["model_id"] == "deepseek-r1-0528")
    kw = r1["engine_kwargs"]
    assert (kw["tensor_parallel_size"], kw["pipeline_parallel_size"]) == (8, 2)  # 16 GPUs
    assert kw["reasoning_parser"] == "deepseek_r1"


def test_serve_engine_kwargs_are_vllm_engine_args():
    found = glob.glob(str(REPO / ".venv-vllm" / "lib" / "python*" / "site-packages" / "vllm" / "engine" / "arg_utils.py"))
    if not found:
        pytest.skip("no .venv-vllm here (make install-vllm) to read vLLM's EngineArgs from")
    engine_args = class_fields(Path(found[0]), "EngineArgs")
    for m in serve_models():
        unknown = set(m["engine_kwargs"]) - engine_args
        assert not unknown, f"{m['model_loading_config']['model_id']}: not vLLM engine args: {unknown}"


def test_ensemble_job_names_models_the_serving_config_serves():
    served = {m["model_loading_config"]["model_id"] for m in serve_models()}
    cfg = load_job(REPO / "jobs" / "full-vllm-ensemble.yaml")
    doc = load(CLUSTER / "serve-llm.yaml")
    port = doc["http_options"]["port"]
    self_hosted = {n: e for n, e in cfg.endpoints.items() if e.base_url.endswith(f":{port}/v1")}
    assert {e.model for e in self_hosted.values()} == served
    assert cfg.endpoints[cfg.generate.endpoint].model == "deepseek-r1-0528"
