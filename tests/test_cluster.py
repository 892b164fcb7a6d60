"""cluster.yaml validates offline and is safe; the README's `ray job submit` runs on a real
two-node local cluster with token authentication; nodes with other versions are refused."""

import json
import os
import shlex
import socket
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from rllib_marl import cluster

ROOT = Path(__file__).resolve().parent.parent


def test_cluster_yaml_passes_rays_schema_check():
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    cfg = prepare_config(raw)
    validate_config(cfg)  # raises on a schema violation
    types = cfg["available_node_types"]
    assert types["gpu_worker"]["resources"].get("GPU", 0) >= 1
    assert "GPU" not in types["cpu_worker"]["resources"]
    assert any("pip install" in c and "rllib_marl" in c for c in cfg["setup_commands"])
    assert cfg["file_mounts"]


def test_cluster_yaml_installs_the_cluster_extra_everywhere_and_exposes_nothing():
    from ray.autoscaler._private.util import prepare_config

    cfg = prepare_config(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    # The head and every worker node type run the package install, with its
    # cluster and butterfly extras, under the pins (the launcher merges setup_commands
    # into both); the pins include pymunk, so a node without it would refuse to start.
    for cmds in [cfg["head_setup_commands"], cfg["worker_setup_commands"]] + [
            node["worker_setup_commands"] for node in cfg["available_node_types"].values()
            if "worker_setup_commands" in node]:
        installs = [c for c in cmds if "pip install" in c and "rllib_marl" in c]
        assert installs and all("[cluster,butterfly]" in c and "-c " in c for c in installs)
    # The dashboard (and its job API) on the head's loopback only; nothing on 0.0.0.0.
    head_start = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "0.0.0.0" not in (ROOT / "cluster.yaml").read_text()
    # Token authentication on every node, the token carried to every node, and the
    # version check before Ray starts on every node.
    for cmds in (cfg["head_start_ray_commands"], cfg["worker_start_ray_commands"]):
        start = [i for i, c in enumerate(cmds) if "ray start" in c]
        check = [i for i, c in enumerate(cmds) if "cluster.py check" in c]
        assert start and check and check[0] < start[0]
        assert all("RAY_AUTH_MODE=token" in cmds[i] for i in start)
    assert "~/.ray/auth_token" in cfg["file_mounts"]


def test_pins_are_what_this_environment_runs_and_differences_are_named():
    # CI installs with the same constraints (.ci/setup.sh), so this holds there.
    assert cluster.pin_differences(cluster.versions()) == []
    got = {**cluster.versions(), "torch": "2.12.1"}
    assert cluster.pin_differences(got) == ["torch 2.12.1 is installed, the cluster pins 2.13.0"]
    lines = cluster.node_differences(cluster.versions(), {"10.0.0.7 (abcd1234)": got})
    assert lines == [f"node 10.0.0.7 (abcd1234): torch 2.12.1, the driver has {cluster.versions()['torch']}"]


def test_cluster_check_cli_refuses_a_node_that_differs(tmp_path):
    script = ROOT / "rllib_marl" / "cluster.py"
    ok = subprocess.run([sys.executable, str(script), "check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # The same check against a pin this node does not have: refused, with the reason.
    code = (f"import runpy, sys; sys.argv = ['cluster.py', 'check']; "
            f"m = runpy.run_path({str(script)!r}, run_name='not_main'); "
            f"m['PINS']['numpy'] = '0.0.1'; sys.exit(m['main'](['check']))")
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "will not join" in bad.stderr and "numpy" in bad.stderr and "0.0.1" in bad.stderr


def test_cluster_yaml_schema_check_can_fail():
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    raw["available_node_types"]["cpu_worker"]["min_workers"] = "many"
    with pytest.raises(Exception):
        validate_config(prepare_config(raw))


@pytest.mark.slow
def test_env_runners_spread_over_two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, parse_experiment

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "resources": {"head": 1}})
    worker = cluster.add_node(num_cpus=1, resources={"worker": 1})
    try:
        ray.init(address=cluster.address, include_dashboard=False, logging_level="ERROR")
        cluster.wait_for_nodes()
        exp = parse_experiment({
            "algorithm": "mappo",
            "env": {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 2, "max_cycles": 10}},
            "training": {"train_batch_size": 200, "minibatch_size": 100, "num_epochs": 1},
            "stop": {"iterations": 1},
        })
        # 1 CPU for the driver + 2 runners: 3 CPUs, more than the head has.
        config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=2))
        algo = config.build_algo()
        try:
            nodes = algo.env_runner_group.foreach_env_runner(
                lambda r: ray.get_runtime_context().get_node_id(), local_env_runner=False
            )
            result = algo.train()
        finally:
            algo.stop()
        assert len(nodes) == 2
        assert worker.node_id in nodes
        assert len(set(nodes)) == 2
        assert result["env_steps"] >= 200
    finally:
        ray.shutdown()
        cluster.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_job_command() -> list:
    """The README's `ray job submit` line, as arguments."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Cluster"):]
    line = next(ln for ln in section.splitlines() if ln.startswith("ray job submit"))
    return shlex.split(line)


def _wait(what: str, ok, timeout: float, procs=(), logs=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        for p in procs:
            if p.poll() is not None:
                tails = "".join(f.read_text()[-1500:] for f in sorted(logs.glob("*.log"))) if logs else ""
                raise AssertionError(f"{what}: a ray process exited with {p.returncode}\n{tails}")
        if ok():
            return
        time.sleep(2)
    raise AssertionError(f"{what}: not after {timeout:.0f} s")


@pytest.mark.slow
def test_readme_job_submit_on_a_two_node_cluster_with_token_auth(tmp_path):
    """`ray start` a head (dashboard on loopback, token auth) and a worker node, submit the
    README's `ray job submit` line at this machine's scale, and check where it ran."""
    bindir = Path(sys.executable).parent
    ray_cli = str(bindir / "ray")
    token = tmp_path / "token"
    token.write_text(os.urandom(32).hex())
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
               PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}")
    gcs, dash, client = _free_port(), _free_port(), _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name, *args):
        # Free ports for each node's agents: other Ray instances on this machine
        # (e.g. an embedded local one) may hold the fixed defaults.
        agents = [f"--{flag}={_free_port()}" for flag in (
            "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
            "metrics-export-port")]
        return subprocess.Popen([ray_cli, "start", "--block", "--disable-usage-stats", *agents, *args], env=env,
                                stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT)

    def cli(*args, env=env, timeout=120):
        return subprocess.run([ray_cli, *args], env=env, capture_output=True, text=True, timeout=timeout)

    # The worker node gets its own (short: Ray's socket paths under it must stay
    # under 108 bytes) temp dir: two nodes on one machine must not share the
    # directory their runtime-env agents unpack (and delete) job packages in.
    worker_tmp = tempfile.mkdtemp(prefix="rlm")
    current = Path("/tmp/ray/ray_current_cluster")  # `ray start --head` points this at the cluster
    before = current.read_text() if current.exists() else None
    procs = [start("head", "--head", f"--port={gcs}", "--dashboard-host=127.0.0.1",
                   f"--dashboard-port={dash}",
                   f"--ray-client-server-port={client}", "--num-cpus=1")]
    try:
        address = f"http://127.0.0.1:{dash}"
        _wait("dashboard", lambda: cli("job", "list", "--address", address).returncode == 0, 180, procs, logs)
        procs.append(start("worker", f"--address=127.0.0.1:{gcs}", "--num-cpus=1", f"--temp-dir={worker_tmp}"))

        def nodes():
            r = cli("list", "nodes", "--address", address, "--format", "json")
            try:  # the JSON list, after any log lines
                listed = json.loads(r.stdout[r.stdout.index("["):]) if r.returncode == 0 else []
            except ValueError:
                listed = []
            return [n for n in listed if n.get("state") == "ALIVE"]

        _wait("two nodes", lambda: len(nodes()) == 2, 180, procs, logs)
        node_ids = {n["node_id"] for n in nodes()}

        # The dashboard (job API) answers on loopback only, and only with the token.
        ip = next(n["node_ip"] for n in nodes())
        if ip not in ("127.0.0.1", "localhost"):
            with pytest.raises(OSError):
                socket.create_connection((ip, dash), timeout=5).close()
        wrong = {**env, "RAY_AUTH_TOKEN": "not-the-token"}
        denied = cli("job", "list", "--address", address, env=wrong)
        assert denied.returncode != 0 and "uthenticat" in denied.stdout + denied.stderr

        # The README's command line at this machine's scale: 2 env runners (one CPU on
        # each node, so one runner per node), a short budget, the output under tmp_path.
        cmd = readme_job_command()
        assert cmd[:3] == ["ray", "job", "submit"] and "--working-dir" in cmd and "--" in cmd
        cmd[0] = ray_cli
        cmd[cmd.index("--address") + 1] = address
        sep = cmd.index("--")
        train = cmd[sep + 1:]
        assert train[:3] == ["python", "-m", "rllib_marl.train"]
        for flag in ("--num-learners", "--num-gpus-per-learner"):
            i = train.index(flag)
            del train[i:i + 2]
        train[train.index("--num-env-runners") + 1] = "2"
        run_dir = tmp_path / "run"
        train[train.index("--output") + 1] = str(run_dir)
        train += ["--set", "stop.iterations=2", "--set", "training.train_batch_size=400",
                  "--set", "training.minibatch_size=200", "--set", "training.num_epochs=1",
                  "--num-envs-per-env-runner", "2", "--quiet"]
        for _ in range(12):  # the head's job agent may register a little after the dashboard answers
            job = subprocess.run(cmd[:sep + 1] + train, env=env, cwd=ROOT, capture_output=True, text=True,
                                 timeout=600)
            if "No available agent to submit job" not in job.stderr + job.stdout:
                break
            time.sleep(5)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["iterations"] == 2
        assert (run_dir / "checkpoints" / "final").is_dir()
        runner_nodes = summary["env_runner_nodes"]
        assert len(runner_nodes) == 2 and set(runner_nodes) == node_ids
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(worker_tmp, ignore_errors=True)
        # Leave no pointer to this (stopped) cluster for other Ray users on the machine.
        if current.exists() and f":{gcs}" in current.read_text():
            current.unlink() if before is None else current.write_text(before)


@pytest.mark.parametrize("address,env_address,expected", [
    (None, None, "local"),  # a cluster left running by `ray start` is never joined by accident
    ("auto", None, "auto"),  # ray submit: --address auto
    (None, "127.0.0.1:6379", None),  # ray job submit: RAY_ADDRESS
])
def test_train_starts_a_local_ray_unless_told_to_join(monkeypatch, address, env_address, expected):
    import ray

    from rllib_marl import train

    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}])
    if env_address:
        monkeypatch.setenv("RAY_ADDRESS", env_address)
    else:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
    train.init_ray(None, address)
    assert calls[0]["address"] == expected


def test_num_cpus_with_address_is_refused_before_ray_starts(capsys):
    from rllib_marl import train

    code = train.main(["--config", str(ROOT / "tuned_examples" / "mappo" / "simple_spread.yaml"),
                       "--address", "auto", "--num-cpus", "2"])
    assert code == train.EXIT_BAD_INPUT
    assert "--num-cpus" in capsys.readouterr().err


def test_an_unreachable_cluster_is_a_clear_error_not_a_traceback(monkeypatch, tmp_path, capsys):
    import ray

    from rllib_marl import train

    def no_cluster(**kwargs):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", no_cluster)
    code = train.main(["--config", str(ROOT / "tuned_examples" / "mappo" / "two_step.yaml"),
                       "--address", "auto", "--output", str(tmp_path / "run"), "--quiet"])
    assert code == train.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "cannot join the Ray cluster at 'auto'" in err and "ray start --head" in err
