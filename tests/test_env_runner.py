"""The fast env runner against RLlib's stock MultiAgentEnvRunner.

With a fixed seed and a fixed deterministic (greedy) policy both runners must
produce the same episodes: observations, actions, rewards, module outputs
(recurrent states included), episode boundaries and termination vs truncation.
"""

import numpy as np
import pytest
import torch
import tree
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED

from rllib_marl.build import build_algo_config
from rllib_marl.config import ScaleConfig, parse_experiment
from rllib_marl.env_runner import FastMultiAgentEnvRunner

SPREAD = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 2, "max_cycles": 10}}
RANDOM_DONE = {"name": "fixture_envs:random_done", "action_mask_from_info": True}
GRU = {"use_gru": True, "gru_hidden": 8, "hidden": [16]}


def make_runner(env, sampler, num_envs=2, model=None, seed=3, **cfg_updates):
    data = {"algorithm": "mappo", "env": env, "seed": seed,
            "env_runners": {"sampler": sampler}, "model": model or {},
            "stop": {"iterations": 1}}
    config, _ = build_algo_config(parse_experiment(data),
                                  ScaleConfig(num_env_runners=0, num_envs_per_env_runner=num_envs))
    if cfg_updates:
        config.env_runners(**cfg_updates)
    cls = config.env_runner_cls or MultiAgentEnvRunner
    assert cls is (FastMultiAgentEnvRunner if sampler == "fast" else MultiAgentEnvRunner)
    return cls(config=config)


def _leaves(x):
    return [np.asarray(v) for v in tree.flatten(x)]


def record(ep):
    """Everything an episode holds, per agent, as plain arrays."""
    rec = {"len": len(ep), "done": ep.is_done}
    for aid, sa in sorted(ep.agent_episodes.items()):
        extras = {k: _leaves(sa.get_extra_model_outputs(k))
                  for k in sorted(sa.extra_model_outputs) if k != "weights_seq_no"}
        rec[aid] = {
            "obs": _leaves(sa.get_observations()),
            "actions": _leaves(sa.get_actions()),
            "rewards": np.asarray(sa.get_rewards()),
            "terminated": sa.is_terminated,
            "truncated": sa.is_truncated,
            "extras": extras,
        }
    return rec


def key(rec):
    """Identifies an episode by its agents' first observations."""
    return b"".join(rec[a]["obs"][0][0].round(5).tobytes() for a in sorted(k for k in rec if k not in ("len", "done")))


def assert_same(a, b, path="episode"):
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), path
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for j, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{j}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=path)
    else:
        assert a == b, path


@pytest.mark.parametrize("env,model", [(SPREAD, None), (RANDOM_DONE, None), (RANDOM_DONE, GRU)],
                         ids=["simple_spread", "early-dones-masks", "early-dones-masks-gru"])
def test_same_episodes_as_stock_runner(env, model):
    stock = make_runner(env, "rllib", model=model)
    fast = make_runner(env, "fast", model=model)
    fast.module.set_state(stock.module.get_state())

    n = 10
    ours = {key(r): r for r in map(record, fast.sample(num_episodes=n, explore=False))}
    theirs = [record(e) for e in stock.sample(num_episodes=n, explore=False)]
    assert len(ours) == n and len(theirs) == n and all(r["done"] for r in theirs)
    # The stock runner resets a finished sub-env one loop iteration later than ours,
    # so which sub-env's episode completes last may differ: compare all common ones.
    common = [r for r in theirs if key(r) in ours]
    assert len(common) >= n - 2
    for r in common:
        assert_same(ours[key(r)], r)
    lengths = {r["len"] for r in common}
    if env is RANDOM_DONE:  # the test env really exercises early and mixed dones
        assert len(lengths) > 1
        assert any(r[a]["terminated"] for r in common for a in "xyz")
        assert any(r[a]["truncated"] for r in common for a in "xyz")


def test_chunks_continue_across_sample_calls():
    runner = make_runner(RANDOM_DONE, "fast", model=GRU, num_envs=3)
    total = 0
    for _ in range(4):
        eps = runner.sample(num_timesteps=50)
        steps = sum(len(e) for e in eps)
        assert 50 <= steps < 50 + 3
        assert runner.get_metrics()[NUM_ENV_STEPS_SAMPLED] == steps
        total += steps
        for e in eps:
            e.validate()
            for sa in e.agent_episodes.values():
                # Every agent step carries the recurrent state and the logp.
                assert len(sa.get_extra_model_outputs(Columns.STATE_OUT)["h"]) == len(sa)
                assert len(sa.get_extra_model_outputs(Columns.ACTION_LOGP)) == len(sa)
                if sa.t_started > 0:  # a continued chunk: state of the previous step
                    prev = sa.get_extra_model_outputs(Columns.STATE_OUT, indices=-1,
                                                      neg_index_as_lookback=True)
                    assert prev["h"].shape == (8,)
    assert total >= 200


def test_masked_actions_are_never_taken():
    for kwargs in ({"explore": True}, {"explore": False}, {"random_actions": True}):
        runner = make_runner(RANDOM_DONE, "fast")
        for ep in runner.sample(num_timesteps=200, **kwargs):
            for sa in ep.agent_episodes.values():
                masks = sa.get_observations()["action_mask"][: len(sa)]
                acts = np.asarray(sa.get_actions(), dtype=int)
                assert (masks[np.arange(len(sa)), acts] > 0.5).all(), kwargs


def test_explore_samples_and_logp_matches_distribution():
    runner = make_runner(SPREAD, "fast", num_envs=4)
    eps = runner.sample(num_timesteps=100, explore=True)
    acts, logps, logits = [], [], []
    for ep in eps:
        for sa in ep.agent_episodes.values():
            acts.append(np.asarray(sa.get_actions(), dtype=int))
            logps.append(sa.get_extra_model_outputs(Columns.ACTION_LOGP))
            logits.append(sa.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS))
    acts, logps, logits = map(np.concatenate, (acts, logps, logits))
    expected = torch.log_softmax(torch.as_tensor(logits), -1).numpy()[np.arange(len(acts)), acts]
    np.testing.assert_allclose(logps, expected, rtol=1e-5, atol=1e-6)
    assert len(set(acts.tolist())) > 1  # stochastic, not greedy


def test_inference_runs_on_one_thread_and_the_setting_is_restored():
    runner = make_runner(SPREAD, "fast")
    module = runner.module["shared"]
    seen = []
    forward = module._forward_exploration

    def spy(batch, **kw):
        seen.append(torch.get_num_threads())
        return forward(batch, **kw)

    module._forward_exploration = spy
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runner.sample(num_timesteps=20, explore=True)
        assert seen and set(seen) == {FastMultiAgentEnvRunner.inference_threads}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_seeded_runs_repeat_and_seeds_differ():
    def first_obs(seed):
        r = make_runner(SPREAD, "fast", seed=seed)
        return np.concatenate([_leaves(e.get_observations(0))[0] for e in r.sample(num_episodes=2)])

    np.testing.assert_array_equal(first_obs(5), first_obs(5))
    assert not np.array_equal(first_obs(5), first_obs(6))


def test_env_failure_rebuilds_sub_envs_and_keeps_sampling():
    runner = make_runner({"name": "fixture_envs:flaky", "kwargs": {"fail_at": 30}}, "fast",
                         num_envs=2)
    runner.config.restart_failed_sub_environments = True
    eps = runner.sample(num_timesteps=150)
    assert sum(len(e) for e in eps) >= 150
    assert runner.get_metrics()["num_env_step_failures"] >= 1

    strict = make_runner({"name": "fixture_envs:flaky", "kwargs": {"fail_at": 30}}, "fast")
    strict.config.restart_failed_sub_environments = False
    with pytest.raises(RuntimeError, match="simulated crash"):
        strict.sample(num_timesteps=150)


class CountingPassThrough(ConnectorV2):
    """Passes the batch through and counts the calls (one per vector step of the stock loop)."""

    calls = 0

    def __call__(self, *, batch, **kwargs):
        type(self).calls += 1
        return batch


def test_custom_connectors_fall_back_to_the_stock_loop_and_run():
    CountingPassThrough.calls = 0
    runner = make_runner(SPREAD, "fast", env_to_module_connector=lambda *args: CountingPassThrough())
    assert not runner._fast
    eps = runner.sample(num_timesteps=40)
    steps = sum(len(e) for e in eps)
    assert steps >= 40
    # One call per step of the 2-sub-env vector (plus the resets): it saw every step.
    assert CountingPassThrough.calls >= steps // 2


def test_remote_runner_is_restarted_after_a_crash(ray_local, tmp_path):
    """A remote fast runner whose env raises is replaced by RLlib; training goes on."""
    import json

    import yaml

    from rllib_marl import train

    marker = tmp_path / "crashed"
    cfg = {"algorithm": "mappo",
           "env": {"name": "fixture_envs:flaky", "kwargs": {"fail_at": 20, "marker": str(marker)}},
           "training": {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1},
           # RLlib brings the restarted runner back after its restart delay and
           # health probe (5-15 s here), so stop on env steps it must sample after
           # the crash (one iteration samples ~100), with a time cap instead of a
           # fixed number of iterations.
           "stop": {"env_steps": 400, "time_s": 120}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert train.main(["--config", str(path), "--num-env-runners", "1",
                       "--output", str(tmp_path / "run"), "--quiet"]) == 0
    assert marker.exists(), "the env never crashed: the test tested nothing"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["env_steps"] >= 400, summary["stop_reason"]
    assert np.isfinite(summary["team_return"])


@pytest.mark.parametrize("reuse_buffers", [False, True], ids=["fresh-arrays", "reused-arrays"])
@pytest.mark.parametrize("sampler", ["fast", "rllib"])
def test_recorded_actions_are_the_ones_each_agent_took(sampler, reuse_buffers):
    """Exploring (sampled) actions, several sub-envs, one shared module: every
    agent's recorded action at step t is the one the env applied to that agent
    (its next observation echoes it and its reward is it, plus its index x 10),
    and the stored log-probability is that action's under the stored logits.
    Also when the env overwrites one observation array in place every step (as
    SuperSuit's frame_stack_v1 does): the recorded observations are copies."""
    runner = make_runner({"name": "fixture_envs:echo", "kwargs": {"reuse_buffers": reuse_buffers}},
                         sampler, num_envs=3)
    episodes = runner.sample(num_episodes=12, explore=True)
    checked = 0
    for ep in episodes:
        for aid, sa in ep.agent_episodes.items():
            i = ["left", "right"].index(aid)
            obs = sa.get_observations()
            obs = np.asarray(obs["obs"] if isinstance(obs, dict) else obs)
            acts = np.asarray(sa.get_actions())
            rews = np.asarray(sa.get_rewards())
            assert len(acts) == len(rews) == len(obs) - 1
            np.testing.assert_array_equal(obs[1:, :3].argmax(-1), acts)
            np.testing.assert_allclose(rews, acts + 10.0 * i)
            logits = torch.as_tensor(np.asarray(sa.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS)))
            logp = np.asarray(sa.get_extra_model_outputs(Columns.ACTION_LOGP))
            want = torch.log_softmax(logits, -1)[torch.arange(len(acts)), torch.as_tensor(acts)].numpy()
            np.testing.assert_allclose(logp, want, rtol=1e-4, atol=1e-5)
            checked += len(acts)
    assert checked > 50


def test_stacked_frames_are_recorded_as_each_step_showed_them():
    """SuperSuit's frame_stack_v1 overwrites one array per agent every step. In
    the recorded episodes each observation must still be the stack that step
    showed: the newest frame of step t is the one before the newest at t+1, and
    the frames change as the ball moves."""
    env = {"name": "pettingzoo.butterfly.cooperative_pong_v6",
           "kwargs": {"max_cycles": 40, "render_mode": "rgb_array"},
           "wrappers": [{"name": "color_reduction_v0", "kwargs": {"mode": "B"}},
                        {"name": "resize_v1", "kwargs": {"x_size": 42, "y_size": 42}},
                        {"name": "frame_stack_v1", "kwargs": {"stack_size": 3}}]}
    runner = make_runner(env, "fast", num_envs=2)
    checked = 0
    for ep in runner.sample(num_episodes=2, explore=True):
        for sa in ep.agent_episodes.values():
            obs = np.asarray(sa.get_observations()["obs"])
            assert obs.shape[1:] == (42, 42, 3) and len(obs) > 5
            np.testing.assert_array_equal(obs[1:, ..., :-1], obs[:-1, ..., 1:])
            assert (obs[1:, ..., -1] != obs[:-1, ..., -1]).any(axis=(1, 2)).mean() > 0.5
            checked += 1
    assert checked == 4
