"""Smoke tests: every tuned example and the main options run end to end."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from rllib_marl import train
from rllib_marl.algorithms.registry import ALGORITHMS

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "tuned_examples").rglob("*.yaml"))
# Each algorithm's smallest settings, from its registry entry: a new algorithm is enrolled by registering it.
SMALL = {name: [f"training.{k}={v}" for k, v in spec.smoke_training.items()] + ["stop.iterations=1"]
         for name, spec in ALGORITHMS.items()}

# Examples whose episodes outlast the small batch: shorter episodes, so that one
# ends in the iteration and the team return is a number.
SHORTER = {"ippo/pistonball_10.yaml": ["env.kwargs.max_cycles=20"],
           "ippo/cooperative_pong.yaml": ["env.kwargs.max_cycles=30"],
           "mappo/lbf_5x5_2p_1f.yaml": ["env.kwargs.max_episode_steps=20"],
           "mappo/vmas_navigation.yaml": ["env.kwargs.num_envs=4", "env.kwargs.max_steps=20"]}


def run_cli(out, *args):
    return train.main([*args, "--output", str(out), "--quiet"])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tuned_example_runs(ray_local, tmp_path, path):
    args = ["--config", str(path)]
    algo = yaml.safe_load(path.read_text())["algorithm"]
    for s in SMALL[algo] + SHORTER.get(str(path.relative_to(ROOT / "tuned_examples")), []):
        args += ["--set", s]
    assert run_cli(tmp_path / "run", *args) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["iterations"] == 1 and summary["env_steps"] >= 200
    if summary["teams"] == "by_prefix":  # competitive: one return per team, none overall
        assert summary["team_returns"] and all(np.isfinite(v) for v in summary["team_returns"].values())
    elif summary.get("league"):  # two-sided league game: each learner's return, no team return
        assert np.isnan(summary["team_return"])
        assert np.isfinite(summary["league"]["return/main_0"])
    else:
        assert np.isfinite(summary["team_return"])
    assert set(summary["agent_returns"])
    for f in ("learning_curve.png", "progress.csv", "run_config.yaml"):
        assert (tmp_path / "run" / f).exists()
    assert (tmp_path / "run" / "checkpoints" / "final").is_dir()


def write_cfg(tmp_path, data):
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


SPREAD = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 2, "max_cycles": 10}}
TINY = {"train_batch_size": 200, "minibatch_size": 100, "num_epochs": 1}


@pytest.mark.parametrize("variant,flags", [
    ({"algorithm": "ippo", "model": {"use_gru": True, "gru_hidden": 16, "max_seq_len": 5},
      "multi_agent": {"sharing": "per_agent"}}, ["--num-env-runners", "1"]),
    ({"algorithm": "mappo", "env": {**SPREAD, "kwargs": {**SPREAD["kwargs"], "continuous_actions": True}}},
     ["--num-envs-per-env-runner", "2"]),
], ids=["ippo-gru-per_agent-remote_runner", "mappo-continuous-vector_env"])
def test_options_run_from_the_cli(ray_local, tmp_path, variant, flags):
    """The CLI paths of a remote runner and of sub-env vectors; what each option
    claims is checked by the tests below."""
    data = {"env": SPREAD, "training": TINY, "stop": {"iterations": 1}, **variant}
    assert run_cli(tmp_path / "run", "--config", write_cfg(tmp_path, data), *flags) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["env_steps"] >= 200 and np.isfinite(summary["team_return"])


def _build(data, **scale):
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, parse_experiment

    exp = parse_experiment({"stop": {"iterations": 1}, **data})
    config, mapping = build_algo_config(exp, ScaleConfig(**{"num_envs_per_env_runner": 2, **scale}))
    return config, mapping


def _runner(data):
    config, mapping = _build(data)
    return config.env_runner_cls(config=config), mapping


@pytest.mark.parametrize("env,sharing,modules", [
    (SPREAD, "shared", {"shared"}),
    ({**SPREAD, "kwargs": {"N": 3, "max_cycles": 10}}, "per_agent", {"agent_0", "agent_1", "agent_2"}),
    ({"name": "mpe2.simple_adversary_v3", "kwargs": {"max_cycles": 10}}, "per_group", {"adversary", "agent"}),
])
def test_sharing_builds_the_expected_modules(env, sharing, modules):
    config, mapping = _build({"algorithm": "mappo", "env": env, "multi_agent": {"sharing": sharing}})
    assert set(mapping.values()) == modules
    assert set(config.policies) == modules
    if sharing == "per_group":
        assert mapping == {"adversary_0": "adversary", "agent_0": "agent", "agent_1": "agent"}


def test_two_learners_hold_the_same_weights_after_an_update(ray_local):
    import torch

    config, _ = _build({"algorithm": "mappo", "env": SPREAD, "training": TINY}, num_learners=2)
    algo = config.build_algo()
    try:
        def weights(learner):
            return {k: v.detach().cpu().clone() for k, v in learner.module["shared"].state_dict().items()}

        before = [r.get() for r in algo.learner_group.foreach_learner(weights)]
        algo.train()
        after = [r.get() for r in algo.learner_group.foreach_learner(weights)]
        assert len(after) == 2
        for k in after[0]:
            assert torch.equal(after[0][k], after[1][k]), k  # DDP: the same step on both
        assert any(not torch.equal(after[0][k], before[0][k]) for k in after[0])  # and a step was taken
    finally:
        algo.stop()


def test_gru_state_is_carried_from_step_to_step():
    """Recomputing the GRU over an episode's observations from the initial state gives
    the state the runner stored after every step."""
    import torch
    import tree
    from ray.rllib.core.columns import Columns

    runner, _ = _runner({"algorithm": "ippo", "env": SPREAD, "multi_agent": {"sharing": "per_agent"},
                         "model": {"use_gru": True, "gru_hidden": 8, "max_seq_len": 5}})
    episodes = runner.sample(num_episodes=2, explore=True)
    checked = 0
    for ep in episodes:
        for aid, sa in ep.agent_episodes.items():
            module = runner.module[ep.module_for(aid)]
            stored = sa.get_extra_model_outputs(Columns.STATE_OUT)
            state = tree.map_structure(lambda x: torch.as_tensor(x)[None], module.get_initial_state())
            for t in range(len(sa)):
                obs = tree.map_structure(lambda x: torch.as_tensor(np.asarray(x))[None, None],
                                         sa.get_observations(t))
                with torch.no_grad():
                    out = module._forward_inference({Columns.OBS: obs, Columns.STATE_IN: state})
                state = out[Columns.STATE_OUT]
                for got, want in zip(tree.flatten(state), tree.flatten(tree.map_structure(lambda x: x[t], stored))):
                    np.testing.assert_allclose(got[0].numpy(), want, rtol=1e-5, atol=1e-6)
                checked += 1
    assert checked >= 2 * 2 * 10
    first = tree.flatten(tree.map_structure(lambda x: x[0], stored))[0]
    assert np.abs(first).sum() > 0  # the state moved away from zeros


def test_masked_actions_are_never_taken():
    from rllib_marl.envs import ACTION_MASK

    runner, _ = _runner({"algorithm": "mappo", "env": {"name": "pettingzoo.classic.tictactoe_v3"}})
    moves = 0
    for ep in runner.sample(num_episodes=30, explore=True):
        for sa in ep.agent_episodes.values():
            for t in range(len(sa)):
                mask = np.asarray(sa.get_observations(t)[ACTION_MASK])
                assert mask[int(sa.get_actions(t))] == 1.0
                moves += 1
    assert moves > 100


def test_mixed_reward_is_the_formula_and_returns_stay_the_envs():
    """reward.mode mix, w = 0.5: each agent trains on (1 - w) r_i + w * team; the
    reported returns stay the env's own."""
    from rllib_marl.envs import ENV_RETURN_INFO

    runner, _ = _runner({"algorithm": "ippo", "env": {"name": "mpe2.simple_adversary_v3",
                                                      "kwargs": {"max_cycles": 10},
                                                      "reward": {"mode": "mix", "team_weight": 0.5}},
                         "multi_agent": {"sharing": "per_group"}})
    for ep in runner.sample(num_episodes=4, explore=True):
        env_ret = {a: sa.get_infos(-1)[ENV_RETURN_INFO] for a, sa in ep.agent_episodes.items()}
        team = sum(env_ret.values())
        for a, sa in ep.agent_episodes.items():
            trained = float(np.sum(sa.get_rewards()))
            assert trained == pytest.approx(0.5 * env_ret[a] + 0.5 * team, rel=1e-5, abs=1e-4)
        assert len(set(np.round(list(env_ret.values()), 3))) > 1  # the env's own differ by agent


def _weights(run_dir):
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = run_dir / "checkpoints" / "final" / "learner_group" / "learner" / "rl_module"
    mod = RLModule.from_checkpoint(path)
    return {k: v.detach().numpy().copy() for k, v in mod["shared"].state_dict().items()}


@pytest.mark.parametrize("algorithm", ["mappo", "qmix"])
def test_evaluation_columns_and_summary(ray_local, tmp_path, algorithm):
    """Greedy evaluation every 2 iterations and once more after the last one."""
    data = {"algorithm": algorithm, "env": SPREAD, "evaluation": {"interval": 2, "episodes": 3},
            "stop": {"iterations": 3}}
    small = SMALL[algorithm][:-1]
    args = ["--config", write_cfg(tmp_path, data)] + [a for s in small for a in ("--set", s)]
    assert run_cli(tmp_path / "run", *args) == 0
    with open(tmp_path / "run" / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["eval/team_return"] != "" for r in rows] == [False, True, True]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert np.isfinite(summary["eval_team_return"])
    assert summary["eval_team_return"] == pytest.approx(float(rows[-1]["eval/team_return"]))
    assert set(summary["eval_agent_returns"]) == set(summary["agent_returns"])
    # 2 agents, team = sum: the team return is the sum of the agents' returns.
    assert summary["eval_team_return"] == pytest.approx(sum(summary["eval_agent_returns"].values()))
    assert summary["eval_episodes"] == 3 and summary["eval_explore"] is False


def test_same_seed_same_run_with_zero_env_runners(ray_local, tmp_path):
    data = {"algorithm": "mappo", "env": SPREAD, "training": TINY, "stop": {"iterations": 2},
            "checkpoint": {"interval": 0}}
    cfg = write_cfg(tmp_path, data)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert run_cli(tmp_path / name, "--config", cfg, "--seed", str(seed)) == 0
    rows = {n: (tmp_path / n / "progress.csv").read_text().splitlines() for n in "abc"}

    def returns(lines):
        hdr = lines[0].split(",")
        i = hdr.index("team_return")
        return [float(l.split(",")[i]) for l in lines[1:]]

    assert returns(rows["a"]) == returns(rows["b"])
    wa, wb, wc = (_weights(tmp_path / n) for n in "abc")
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa)


def test_resume_continues_a_killed_run(ray_local, tmp_path):
    data = {"algorithm": "mappo", "env": SPREAD, "training": TINY, "stop": {"iterations": 2},
            "checkpoint": {"interval": 1, "keep": 2}}
    run = tmp_path / "run"
    assert run_cli(run, "--config", write_cfg(tmp_path, data)) == 0
    # As if the run had been killed after its checkpoint at iteration 1.
    import shutil

    shutil.rmtree(run / "checkpoints" / "final")
    assert (run / "checkpoints" / "iter_000001").is_dir()
    assert train.main(["--resume", str(run), "--set", "stop.iterations=3", "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 3
    assert summary["env_steps"] == 3 * 200
    lines = (run / "progress.csv").read_text().splitlines()
    assert [int(l.split(",")[0]) for l in lines[1:]] == [1, 2, 3]


def test_as_test_exit_status(ray_local, tmp_path):
    data = {"algorithm": "ippo", "env": {"name": "two_step"}, "training": TINY,
            "stop": {"iterations": 1}, "expected": {"team_return": 100.0}}
    assert run_cli(tmp_path / "a", "--config", write_cfg(tmp_path, data), "--as-test") == 1
    data["expected"]["team_return"] = -1.0
    assert run_cli(tmp_path / "b", "--config", write_cfg(tmp_path, data), "--as-test") == 0


@pytest.mark.parametrize("algorithm", ["mappo", "qmix", "maddpg"])
def test_learners_step_with_fused_adam(ray_local, algorithm):
    """Every optimizer is a fused Adam, and one iteration steps it and moves the weights."""
    import torch

    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, load_experiment

    exp = load_experiment(ROOT / "tuned_examples" / algorithm / "simple_spread.yaml",
                          SMALL[algorithm])
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=0, num_envs_per_env_runner=1))
    algo = config.build_algo()
    try:
        learner = algo.learner_group._learner
        optims = list(learner._named_optimizers.values())
        assert optims and all(isinstance(o, torch.optim.Adam) and o.defaults["fused"] for o in optims)
        params = {f"{mid}.{n}": p for mid in learner.module.keys()
                  for n, p in learner.module[mid].named_parameters()}
        before = {n: p.detach().clone() for n, p in params.items()}
        algo.train()
        stepped = [o for o in optims if any(o.state.get(p, {}).get("step", 0) > 0
                                            for g in o.param_groups for p in g["params"])]
        assert len(stepped) == len(optims)
        moved = [n for n, p in params.items() if not torch.equal(p, before[n])]
        assert moved and all(any(n.startswith(f"{mid}.") for n in moved) for mid in learner.module.keys())
    finally:
        algo.stop()


def test_callbacks_compose(ray_local):
    """An algorithm's or a league's callbacks are added beside the metrics callback, not over it,
    and both run."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    from rllib_marl.algorithms.base import add_callbacks
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, parse_experiment
    from rllib_marl.metrics import MarlMetricsCallback

    class CountEpisodes(RLlibCallback):
        def on_episode_end(self, *, metrics_logger=None, **kwargs):
            metrics_logger.log_value("episodes_seen_by_second_callback", 1, reduce="sum")

    exp = parse_experiment({"algorithm": "ippo", "env": {"name": "two_step"}, "training": TINY,
                            "stop": {"iterations": 1}})
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=0, num_envs_per_env_runner=1))
    assert config.callbacks_class == [MarlMetricsCallback]
    add_callbacks(config, CountEpisodes)
    add_callbacks(config, CountEpisodes)  # no duplicates
    assert config.callbacks_class == [MarlMetricsCallback, CountEpisodes]
    algo = config.build_algo()
    try:
        result = algo.train()
        assert result["env_runners"]["episodes_seen_by_second_callback"] > 0
        assert np.isfinite(result["team_return_mean"])  # the metrics callback ran too
    finally:
        algo.stop()
