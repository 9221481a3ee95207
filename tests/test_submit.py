"""`luxit submit` against a real two-node Ray cluster started by the test, plus the plan checks.

The slow test starts a head (`ray start --head`, dashboard on, one CPU, resource ``node_a``) and
joins a second node (`ray start --address`, one CPU, resource ``node_b``), both in a temp dir
with their own ports, submits a prepare job on a small news corpus with `luxit submit`, follows
it to success, checks the seeds it wrote and that tasks of the job ran on both nodes, then
submits a job whose corpus is missing and checks the exit code and the error line. Both nodes
and every process they started are stopped at the end, even on failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow.dataset as pads
import pytest
import yaml

from luxit_ray import submit
from luxit_ray.config import job_from_dict
from luxit_ray.errors import ConfigError, LuxitError

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SECRET_NAME = "LUXIT_SUBMIT_TEST_KEY"
SECRET_VALUE = "sk-luxit-test-" + "7f3a9c" * 4


def write_project(root: Path, output_dir: Path) -> Path:
    """A user's project folder: the job YAML (it travels as the working dir) and its corpus (read
    by absolute path, as from a cluster's shared storage)."""
    (root / "jobs").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    shutil.copy(REPO / "tests" / "data" / "rtl-sample.jsonl", root / "data" / "rtl.jsonl")
    job = {
        "run": {"name": "submit-test", "output_dir": str(output_dir), "run_id": "submit-1"},
        "sources": [{"type": "news", "name": "rtl", "path": str(root / "data" / "rtl.jsonl")}],
        "filters": {"min_chars": 300, "boilerplate": {"enabled": False}},
        "sample": {"seed": 7, "quotas": {"rtl": "all"}},
        # Never called by prepare; here so the submission carries a secret to mask.
        "endpoints": {"gen": {"base_url": "http://127.0.0.1:9/v1", "model": "x", "api_key_env": SECRET_NAME}},
    }
    path = root / "jobs" / "tiny.yaml"
    path.write_text(yaml.safe_dump(job, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


# ---- plans (no cluster) -------------------------------------------------------------------


def test_plan_validates_masks_secrets_and_builds_the_entrypoint(tmp_path, monkeypatch):
    job = write_project(tmp_path / "proj", tmp_path / "out")
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    monkeypatch.setenv("LUXIT_EXTRA", "visible")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    plan = submit.plan_submission(
        job, ["sample.seed=3"], address="http://head:8265/", working_dir=tmp_path / "proj",
        env_names=["LUXIT_EXTRA"], submission_id="job-1",
    )
    assert plan.address == "http://head:8265"
    assert plan.command == "run"
    assert plan.entrypoint == "python -m luxit_ray.submit run jobs/tiny.yaml sample.seed=3 run.ray.address=null"
    assert plan.runtime_env["working_dir"] == str((tmp_path / "proj").resolve())
    assert plan.runtime_env["worker_process_setup_hook"] == "luxit_ray.submit.export_job_secrets"
    assert "/.venv" in plan.runtime_env["excludes"] and "/.venv-vllm" in plan.runtime_env["excludes"]
    # Secrets travel in the job's metadata, never in runtime_env (Ray logs runtime_envs).
    assert "env_vars" not in plan.runtime_env
    assert SECRET_VALUE not in json.dumps(plan.runtime_env)
    assert plan.metadata["luxit.secret." + SECRET_NAME] == SECRET_VALUE
    assert plan.metadata["luxit.secret.LUXIT_EXTRA"] == "visible"
    assert plan.secret_names == ["LUXIT_EXTRA", SECRET_NAME]
    masked = plan.masked_metadata()
    assert masked["luxit.secret." + SECRET_NAME] == "***" and masked["luxit.secret.LUXIT_EXTRA"] == "***"
    assert masked["luxit_job"] == "submit-test" and SECRET_VALUE not in json.dumps(masked)
    assert plan.submission_id == "job-1"
    assert "pip" not in plan.runtime_env


def test_job_secrets_reach_the_driver_environment(monkeypatch):
    # Ray hands a submitted job's config to its driver in RAY_JOB_CONFIG_JSON_ENV_VAR.
    meta = {"luxit.secret.LUXIT_T1": "v1", "luxit.secret.LUXIT_T2": "v2", "luxit_job": "x"}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {}, "metadata": meta}))
    monkeypatch.delenv("LUXIT_T1", raising=False)
    monkeypatch.setenv("LUXIT_T2", "already-set")
    assert submit.export_job_secrets() == ["LUXIT_T1"]
    assert os.environ["LUXIT_T1"] == "v1" and os.environ["LUXIT_T2"] == "already-set"
    monkeypatch.delenv("LUXIT_T1")
    # the job's entrypoint exports them, then runs the luxit CLI
    assert submit.job_main(["validate", str(REPO / "jobs" / "full-deepseek-api.yaml")]) == 0
    assert os.environ["LUXIT_T1"] == "v1"


def test_plan_reports_every_problem_before_submitting(tmp_path, monkeypatch):
    job = write_project(tmp_path / "proj", tmp_path / "out")
    monkeypatch.delenv(SECRET_NAME, raising=False)
    # The job lies outside the working dir AND its secret is not set: both are reported.
    with pytest.raises(ConfigError) as err:
        submit.plan_submission(job, address="http://head:8265", working_dir=tmp_path / "elsewhere")
    assert len(err.value.problems) == 2
    assert "outside the working dir" in err.value.problems[0]
    assert f"['{SECRET_NAME}'] are not set here" in err.value.problems[1]
    # A broken config is refused with every key named, before anything else.
    with pytest.raises(ConfigError) as err:
        submit.plan_submission(job, ["sample.seed=abc", "filters.min_chars=-1"], address="http://h:1")
    assert sorted(p.split(":")[0] for p in err.value.problems) == ["filters.min_chars", "sample.seed"]
    # The cluster may provide the key itself.
    plan = submit.plan_submission(job, address="http://h:1", working_dir=tmp_path / "proj", allow_missing_secrets=True)
    assert plan.secret_names == [] and not any(k.startswith("luxit.secret.") for k in plan.metadata)


def test_job_command_follows_the_sections():
    from luxit_ray.config import load_job

    assert submit.job_command(load_job(REPO / "jobs" / "train-sweep.yaml")) == "train"
    assert submit.job_command(load_job(REPO / "jobs" / "eval.yaml")) == "evaluate"
    assert submit.job_command(load_job(REPO / "jobs" / "full-deepseek-api.yaml")) == "run"
    assert submit.job_command(job_from_dict({"sources": [{"type": "news", "path": "x.jsonl"}]})) == "run"
    assert submit.job_command(job_from_dict({})) == "run"
    assert submit.exit_code("SUCCEEDED") == 0
    assert [submit.exit_code(s) for s in ("FAILED", "STOPPED")] == [1, 1]


def test_pip_sends_the_extras_of_the_jobs_role():
    # --pip used to send project.dependencies only: GPU workers then lacked bitsandbytes, DeepSpeed, vLLM.
    import tomllib

    from luxit_ray.config import load_job

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = list(project["dependencies"])
    extras = project["optional-dependencies"]
    train = submit.plan_submission(REPO / "jobs" / "train-sweep.yaml", address="http://h:1", working_dir=REPO, pip=True)
    assert train.runtime_env["pip"] == base + extras["train-gpu"]
    evaluate = submit.plan_submission(REPO / "jobs" / "eval.yaml", address="http://h:1", working_dir=REPO, pip=True)
    assert evaluate.runtime_env["pip"] == base + extras["eval-vllm"]
    assert submit.job_extras(load_job(REPO / "jobs" / "train-smoke.yaml")) == []  # CPU smoke: no extra
    with pytest.raises(LuxitError, match="pyproject.toml has no extra 'gpu'"):
        submit.plan_submission(REPO / "jobs" / "train-sweep.yaml", address="http://h:1", working_dir=REPO, pip=True,
                               pip_extras=["gpu"])


def test_address_comes_from_flag_then_env_then_job(tmp_path, monkeypatch):
    job = write_project(tmp_path / "proj", tmp_path / "out")
    monkeypatch.setenv(SECRET_NAME, "x")
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "http://from-env:8265")
    wd = tmp_path / "proj"
    assert submit.plan_submission(job, address="http://flag:8265", working_dir=wd).address == "http://flag:8265"
    assert submit.plan_submission(job, working_dir=wd).address == "http://from-env:8265"
    monkeypatch.delenv("RAY_ADDRESS")
    over = ["run.ray.address=http://from-job:8265"]
    assert submit.plan_submission(job, over, working_dir=wd).address == "http://from-job:8265"
    with pytest.raises(LuxitError, match="no Ray cluster address"):
        submit.plan_submission(job, working_dir=wd)


def test_repo_upload_stays_small_and_leaves_venvs_out(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    monkeypatch.setenv("DEEPSEEK_API_KEY", "y")
    plan = submit.plan_submission(REPO / "jobs" / "full-deepseek-api.yaml", resolve=False)
    preview = submit.upload_preview(plan)
    assert preview["bytes"] < 8 * 1024 * 1024, preview
    assert 0 < preview["files"] < 2000
    zipped = [p for p, _ in preview["largest"]]
    assert not any(p.startswith((".venv", "runs/", ".git/")) for p in zipped)


# ---- a real two-node cluster -------------------------------------------------------------


def free_ports(n: int) -> list[int]:
    """``n`` distinct free TCP ports on 127.0.0.1.

    Every socket stays bound until all ``n`` ports are chosen: asking for one port at a time
    (bind, read the port, close) can hand the same port out twice, and Ray refuses to start
    when two of its components are given one port ("... is trying to use a port number ...
    used by other components").
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


def test_free_ports_are_distinct_and_the_cluster_plan_has_no_repeat():
    # One port per call (bind, read, close) repeats: 500 such draws here gave 486-494
    # distinct ports (5 tries); sockets held until all are chosen cannot repeat.
    assert len(set(free_ports(500))) == 500
    cluster = LocalCluster()
    try:
        planned = [cluster.gcs_port, cluster.dashboard_port, *[p for ps in cluster.node_ports.values() for p in ps]]
        assert len(planned) == 15 and len(set(planned)) == 15
    finally:
        shutil.rmtree(cluster.tmp, ignore_errors=True)


def _http_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


# `ray start` waits a fixed 30 s for its raylet to show up in the GCS and gives up after that; on a
# loaded 2-core machine the raylet (which first waits for its Python agents to import) can take
# longer. This runs the same `ray start` command, waiting (up to 5 min, while the raylet lives)
# for the registration right after the node's processes are started.
PATIENT_RAY_START = """
import sys, time
import ray._private.services as services
from ray._private import node as node_mod
_start = node_mod.Node.start_ray_processes
def patient_start(self):
    _start(self)
    raylet = self.all_processes.get("raylet", [None])[0]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (raylet is None or raylet.process.poll() is None):
        try:
            services.get_node(self.gcs_address, self._node_id)
            return
        except RuntimeError:
            time.sleep(1.0)
node_mod.Node.start_ray_processes = patient_start
from ray.scripts.scripts import main
sys.argv[0] = "ray"
sys.exit(main())
"""


def session_pids(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rfind(")") + 2:].split()
            if fields[0] not in ("Z", "X") and int(fields[3]) == sid:
                found.append(int(entry.name))
    return found


# Seconds between SIGTERM and SIGKILL when a test cluster stops (see LocalCluster.stop).
STOP_GRACE_S = 3.0


class LocalCluster:
    """Two `ray start --block` processes, each in its own session, in one temp dir."""

    def __init__(self) -> None:
        # Short path: Ray's unix sockets live under it (108-character limit).
        self.tmp = Path(tempfile.mkdtemp(prefix="lxr-", dir="/tmp"))
        # Every port of both nodes, chosen at once so that no two can be the same.
        ports = iter(free_ports(2 + 7 + 6))
        self.gcs_port = next(ports)
        self.dashboard_port = next(ports)
        self.node_ports = {name: [next(ports) for _ in range(7 if name == "node_a" else 6)]
                           for name in ("node_a", "node_b")}
        self.address = f"http://127.0.0.1:{self.dashboard_port}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
        self.env.update({
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # A throwaway cluster bound to this machine: no token to share between the nodes.
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
            # On a loaded 2-core machine the dashboard agent can take longer than the raylet's
            # default wait for its port file; the raylet then aborts at start-up.
            "RAY_agent_register_timeout_ms": "300000",
        })
        self.procs: list[subprocess.Popen] = []

    def node_cpus(self, name: str) -> int:
        return 1

    def node_resources(self, name: str) -> dict[str, float]:
        return {name: 1}

    def _start(self, name: str, head: bool) -> None:
        ports = [str(p) for p in self.node_ports[name]]
        args = [
            sys.executable, "-c", PATIENT_RAY_START, "start", "--block", "--num-cpus", str(self.node_cpus(name)),
            "--resources", json.dumps(self.node_resources(name)), "--node-ip-address", "127.0.0.1",
            "--temp-dir", str(self.tmp), "--disable-usage-stats",
            "--node-manager-port", ports[0], "--object-manager-port", ports[1],
            "--dashboard-agent-listen-port", ports[2], "--dashboard-agent-grpc-port", ports[3],
            "--runtime-env-agent-port", ports[4], "--metrics-export-port", ports[5],
        ]
        if head:
            args += [
                "--head", "--port", str(self.gcs_port), "--include-dashboard", "true",
                "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
                "--ray-client-server-port", ports[6],
            ]
        else:
            args += ["--address", f"127.0.0.1:{self.gcs_port}"]
        # Appended: a node started again (a retry, a replacement) keeps the earlier one's log.
        log = open(self.tmp / f"{name}.out", "ab")  # noqa: SIM115 - the child keeps it open
        self.procs.append(subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))

    def kill_node(self, index: int = -1) -> list[int]:
        """SIGKILL every process of one node's session (raylet, its workers, agents), as a lost
        machine; returns their pids. The node's process is dropped from ``procs``.

        A process the node forks while the kill is under way (a worker the raylet was starting) is
        not in the first listing, and a killed one may not be gone yet when the session is listed
        again: the session is listed and killed until it is empty (CI once saw such a late pid).
        """
        node = self.procs.pop(index)
        killed: list[int] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = session_pids(node.pid)
            if not pids:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
            for pid in pids:  # any that left the process group
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed += [p for p in pids if p not in killed]
            time.sleep(0.2)
        node.wait(timeout=30)
        return killed

    def _wait(self, what: str, ok, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a ray node exited ({p.returncode}) while waiting for {what}: "
                                       + self.log_tail())
            with contextlib.suppress(OSError, ValueError, KeyError):
                if ok():
                    return
            time.sleep(1.0)
        raise RuntimeError(f"timed out waiting for {what}: " + self.log_tail())

    def log_tail(self) -> str:
        return "\n".join(p.name + ": " + p.read_text(errors="replace")[-1500:] for p in self.tmp.glob("*.out"))

    def nodes(self) -> list[dict]:
        data = _http_json(f"{self.address}/api/v0/nodes?detail=1&limit=100")
        return [n for n in data["data"]["result"]["result"] if n["state"] == "ALIVE"]

    def start(self) -> None:
        self._start_node("node_a", True, "the head and its job server", lambda: (
            "Ray runtime started" in (self.tmp / "node_a.out").read_text(errors="replace")
            and _http_json(f"{self.address}/api/version")["ray_version"]))
        self._start_node("node_b", False, "the second node", lambda: len(self.nodes()) == 2)

    def _start_node(self, name: str, head: bool, what: str, ok, attempts: int = 3) -> None:
        # `ray start` gives its raylet a fixed 30 s to register with the GCS; on a loaded 2-core
        # machine that can pass, and the node exits: start it again (its leftovers stopped first).
        for attempt in range(1, attempts + 1):
            self._start(name, head)
            try:
                self._wait(what, ok)
                return
            except RuntimeError as exc:
                failed = self.procs.pop()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(failed.pid, signal.SIGKILL)
                failed.wait(timeout=30)
                if attempt == attempts or "timed out during startup" not in self.log_tail():
                    raise
                print(f"{name}: start attempt {attempt} failed, retrying ({str(exc)[:200]})")

    def our_processes(self) -> list[int]:
        """Every live process this cluster started: the nodes' sessions, anything naming the temp
        dir, and job drivers (their own session) whose RAY_ADDRESS is this cluster's GCS."""
        sids = {p.pid for p in self.procs}
        gcs = f"RAY_ADDRESS=127.0.0.1:{self.gcs_port}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rfind(")") + 2:].split()
                if fields[0] in ("Z", "X"):
                    continue
                mine = int(fields[3]) in sids or str(self.tmp).encode() in (entry / "cmdline").read_bytes()
                mine = mine or gcs in (entry / "environ").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if mine:
                found.append(int(entry.name))
        return found

    def stop(self) -> list[int]:
        """Stop both nodes (SIGTERM to their process groups, then SIGKILL to anything left);
        returns the pids that had to be killed after the grace period.

        The grace is short: raylets and workers leave within a second of SIGTERM, while the
        head's ``ray start --block``, its GCS and autoscaler outlast any grace (20 s measured), so
        a long one only delays the SIGKILL that stops them (15 s per module before)."""
        for p in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.our_processes() and time.monotonic() < deadline:
            for p in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=0.2)
            time.sleep(0.5)
        left = self.our_processes()
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        return left


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()
        time.sleep(1.0)
        survivors = c.our_processes()
        shutil.rmtree(c.tmp, ignore_errors=True)
        assert survivors == [], f"Ray processes left running: {survivors}"


def _luxit(cluster: LocalCluster, *args: str, timeout: float = 420) -> subprocess.CompletedProcess:
    env = dict(cluster.env, **{SECRET_NAME: SECRET_VALUE, "COLUMNS": "200"})
    return subprocess.run([sys.executable, "-m", "luxit_ray.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, cwd=str(REPO))


CHECK_SECRET = """
import hashlib, os, sys
import ray
from luxit_ray.submit import export_job_secrets

export_job_secrets()
name = sys.argv[1]


def digest():
    return hashlib.sha256(os.environ.get(name, "").encode()).hexdigest()


@ray.remote(num_cpus=0.01)
def probe():
    return digest()


ray.init()
print("driver", digest())
for node in ("node_a", "node_b"):
    print("worker", node, ray.get(probe.options(resources={node: 0.01}).remote()))
"""


@pytest.mark.slow
def test_submit_runs_on_both_nodes_and_reports_failures(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    from ray.job_submission import JobSubmissionClient
    from ray.util.state import list_tasks

    out = tmp_path / "out"
    proj = tmp_path / "proj"
    job = write_project(proj, out)

    done = _luxit(cluster, "submit", str(job), "--address", cluster.address, "--working-dir", str(proj),
                  "--submission-id", "ok-1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "job ok-1 SUCCEEDED" in done.stdout
    assert "prepare" in done.stdout  # the job's own summary table came through the followed logs
    assert SECRET_VALUE not in done.stdout + done.stderr

    # outputs: the seeds of the run, with the manifest's counts
    run_dir = out / "submit-1"
    assert (run_dir / "seeds" / "_SUCCESS").is_file()
    seeds = pads.dataset(str(run_dir / "seeds"), format="parquet").to_table(columns=["doc_id", "source"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert seeds.num_rows == manifest["steps"]["prepare"]["seeds"]["rtl"] > 0
    assert set(seeds["source"].to_pylist()) == {"rtl"}

    # tasks of this job ran on both nodes
    client = JobSubmissionClient(cluster.address)
    ray_job_id = client.get_job_info("ok-1").job_id
    tasks = list_tasks(address=cluster.address, filters=[("job_id", "=", ray_job_id)], limit=10000,
                       detail=True, raise_on_missing_output=False)
    label = {n["node_id"]: next(r for r in n["resources_total"] if r.startswith("node_")) for n in cluster.nodes()}
    used = {label[t.node_id] for t in tasks if t.node_id in label}
    assert used == {"node_a", "node_b"}, [(t.name, t.node_id) for t in tasks]

    # a job whose corpus is missing: non-zero exit, the error line in the followed logs
    missing = str(proj / "data" / "missing.jsonl")
    failed = _luxit(cluster, "submit", str(job), f"sources.0.path={missing}", "run.run_id=submit-2",
                    "--address", cluster.address, "--working-dir", str(proj), "--submission-id", "bad-1")
    assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-3000:]
    assert f"error: {missing}: no such file" in failed.stdout
    assert "job bad-1 FAILED" in failed.stderr
    status = _luxit(cluster, "status", "bad-1", "--address", cluster.address)
    assert status.returncode == 1 and "FAILED" in status.stdout
    logs = _luxit(cluster, "logs", "bad-1", "--address", cluster.address)
    assert logs.returncode == 0 and f"error: {missing}: no such file" in logs.stdout

    # the secret reaches the driver and the workers of a job on both nodes
    check = proj / "check_secret.py"
    check.write_text(CHECK_SECRET, encoding="utf-8")
    plan = submit.plan_submission(job, address=cluster.address, working_dir=proj, submission_id="secret-1")
    plan.entrypoint = f"python check_secret.py {SECRET_NAME}"
    submit.submit(plan)
    lines: list[str] = []
    assert submit.follow(cluster.address, "secret-1", lines.append) == "SUCCEEDED", lines[-30:]
    digest = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    assert f"driver {digest}" in lines and f"worker node_a {digest}" in lines and f"worker node_b {digest}" in lines
    shown = submit.job_info(cluster.address, "secret-1")["metadata"]
    assert shown["luxit.secret." + SECRET_NAME] == "***"

    # the secret went to the job's processes only: no file of the cluster holds it
    leaked = [str(p) for p in cluster.tmp.rglob("*") if p.is_file() and SECRET_VALUE.encode() in p.read_bytes()]
    assert leaked == []


# ---- `luxit run` with RAY_ADDRESS: the keys reach the workers as with `luxit submit` --------


def test_a_driver_on_an_existing_cluster_forwards_the_keys_in_job_metadata(tmp_path, monkeypatch, caplog):
    import logging

    import ray

    from luxit_ray import runs
    from luxit_ray.config import load_job

    job = write_project(tmp_path / "proj", tmp_path / "out")
    monkeypatch.setenv(SECRET_NAME, SECRET_VALUE)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6399")
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    caplog.set_level(logging.DEBUG)
    runs.init_ray(load_job(job))
    (kw,) = calls
    assert kw["address"] == "127.0.0.1:6399"
    assert kw["job_config"].metadata == {"luxit.secret." + SECRET_NAME: SECRET_VALUE}
    # the value is never in runtime_env (Ray logs it on every node) nor in our log
    assert kw["runtime_env"] == {"worker_process_setup_hook": "luxit_ray.submit.export_job_secrets"}
    assert SECRET_VALUE not in caplog.text and SECRET_NAME in caplog.text
    # a job started by `luxit submit` carries the keys already: nothing added
    calls.clear()
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps({"runtime_env": {}, "metadata": {}}))
    runs.init_ray(load_job(job))
    assert "job_config" not in calls[0] and "runtime_env" not in calls[0]
    # an embedded local Ray shares this process's environment: nothing added
    calls.clear()
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR")
    monkeypatch.delenv("RAY_ADDRESS")
    runs.init_ray(load_job(job))
    assert "job_config" not in calls[0] and "address" not in calls[0]


RUN_DRIVER = """
import hashlib, os, sys
import ray
from luxit_ray import runs
from luxit_ray.config import load_job

runs.init_ray(load_job(sys.argv[1]))
name = sys.argv[2]

@ray.remote(num_cpus=0)
def probe():
    value = os.environ.get(name)
    return hashlib.sha256(value.encode()).hexdigest() if value else "unset"

for node in ("node_a", "node_b"):
    print("worker", node, ray.get(probe.options(resources={node: 0.01}).remote()))
"""


@pytest.mark.slow
def test_luxit_run_with_ray_address_gets_the_keys_to_both_nodes(cluster, tmp_path, monkeypatch):
    job = write_project(tmp_path / "proj", tmp_path / "out")
    script = tmp_path / "driver.py"
    script.write_text(RUN_DRIVER, encoding="utf-8")
    env = dict(cluster.env, RAY_ADDRESS=f"127.0.0.1:{cluster.gcs_port}", PYTHONPATH=str(REPO))
    env[SECRET_NAME] = SECRET_VALUE
    done = subprocess.run([sys.executable, str(script), str(job), SECRET_NAME], env=env, capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    digest = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()
    assert f"worker node_a {digest}" in done.stdout and f"worker node_b {digest}" in done.stdout
    assert SECRET_VALUE not in done.stdout + done.stderr
    leaked = [str(p) for p in cluster.tmp.rglob("*") if p.is_file() and SECRET_VALUE.encode() in p.read_bytes()]
    assert leaked == []
