"""cluster.yaml validates offline; a real two-node local Ray cluster places env runners on both."""

from pathlib import Path

import pytest
import yaml

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
