"""MADDPG / MATD3: Gumbel-softmax, acting, target updates, critics, joint replay,
config errors, smoke runs (remote runner, DDP, resume, mixed critics) and learning."""

import json
from pathlib import Path

import numpy as np
import tree
import pytest
import torch
import yaml
from gymnasium import spaces

from rllib_marl import train
from rllib_marl.algorithms.offpolicy import replay as R
from rllib_marl.algorithms.offpolicy.replay import JointReplayBuffer
from rllib_marl.build import build_algo_config
from rllib_marl.config import ScaleConfig, parse_experiment
from rllib_marl.build import validate
from rllib_marl.policies.maddpg import CRITIC_IN, Q1, CriticModule, DeterministicActorModule, gumbel_softmax
from rllib_marl.schema import ConfigError

ROOT = Path(__file__).resolve().parent.parent
MIXED = {"name": "fixture_envs:mixed_done", "kwargs": {"steps": 4}, "action_mask_from_info": True}
TARGET_SUM = {"name": "target_sum"}
TINY = {"learning_starts": 64, "env_steps_per_iteration": 64, "env_steps_per_update": 16,
        "train_batch_size": 32, "replay_capacity": 5000}
TAG = {"name": "mpe2.simple_tag_v3",
       "kwargs": {"num_good": 1, "num_adversaries": 2, "num_obstacles": 1, "max_cycles": 10}}


def maddpg_exp(env, overrides=(), **training):
    return parse_experiment({"algorithm": "maddpg", "env": env, "stop": {"iterations": 1},
                             "training": {**TINY, **training}, "model": {"hidden": [16]}}, list(overrides))


# ----- Gumbel-softmax and acting -------------------------------------------------------


def test_straight_through_gumbel_is_one_hot_forward_with_soft_gradients():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(256, 5, generator=g, requires_grad=True)
    y = gumbel_softmax(logits, 1.0, hard=True, generator=g)
    assert set(y.detach().unique().tolist()) == {0.0, 1.0}
    assert torch.equal(y.detach().sum(-1), torch.ones(256))
    (y * torch.arange(5.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0 and torch.isfinite(logits.grad).all()
    soft = gumbel_softmax(logits.detach(), 1.0, hard=False, generator=g)
    assert ((soft > 0) & (soft < 1)).all() and torch.allclose(soft.sum(-1), torch.ones(256))
    # Hard samples are draws from softmax(logits).
    fixed = torch.tensor([[1.0, 0.0, -1.0]]).expand(20000, 3)
    freq = gumbel_softmax(fixed, 1.0, hard=True, generator=g).mean(0)
    assert torch.allclose(freq, torch.softmax(fixed[0], -1), atol=0.02), freq


def _obs_space(n_obs=3, mask=None):
    d = {"obs": spaces.Box(-1.0, 1.0, (n_obs,), np.float32)}
    if mask:
        d["action_mask"] = spaces.Box(0.0, 1.0, (mask,), np.float32)
    return spaces.Dict(d)


def test_discrete_actor_never_takes_a_masked_action():
    m = DeterministicActorModule(observation_space=_obs_space(mask=4), action_space=spaces.Discrete(4),
                                 model_config={"hidden": [8]})
    mask = torch.tensor([[0.0, 1.0, 0.0, 1.0]]).expand(2000, 4)
    batch = {"obs": {"obs": torch.randn(2000, 3), "action_mask": mask}}
    explored = m._forward_exploration(batch, t=0)["actions"]
    greedy = m._forward_inference(batch)["actions"]
    assert set(explored.tolist()) == {1, 3} and set(greedy.tolist()) <= {1, 3}
    train_a = m._forward_train(batch)["actor_action"]
    assert train_a[:, [0, 2]].abs().max() == 0 and torch.allclose(train_a.sum(-1), torch.ones(2000))


def test_box_actor_acts_in_normalized_bounds_with_decaying_noise():
    cfg = {"hidden": [8], "noise_std_start": 0.5, "noise_std_end": 0.0, "noise_timesteps": 100}
    m = DeterministicActorModule(observation_space=_obs_space(), action_space=spaces.Box(-2.0, 3.0, (2,)),
                                 model_config=cfg)
    batch = {"obs": {"obs": torch.randn(500, 3)}}
    greedy = m._forward_inference(batch)["actions"]
    early = m._forward_exploration(batch, t=0)["actions"]
    late = m._forward_exploration(batch, t=100)["actions"]
    assert early.abs().max() <= 1.0 and greedy.abs().max() < 1.0
    assert (early - greedy).std() > 0.3 and torch.allclose(late, greedy)


# ----- learner: target updates and delayed actor steps ---------------------------------


def _learner_after_one_iteration(exp):
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=0, num_envs_per_env_runner=4))
    algo = config.build_algo()
    algo.train()  # fills the buffer past learning_starts and updates a few times
    return algo, algo.learner_group._learner


def _snapshot(learner):
    out = {}
    for mid, mod in learner.module._rl_modules.items():
        for n, (main, target) in enumerate(mod.unwrapped().get_target_network_pairs()):
            out[(mid, n)] = ([p.detach().clone() for p in main.parameters()],
                             [p.detach().clone() for p in target.parameters()])
    return out


@pytest.mark.parametrize("variant", ["maddpg", "matd3"])
def test_target_networks_move_by_exactly_tau_and_matd3_delays_actor_and_targets(ray_local, variant):
    tau = 0.05
    exp = maddpg_exp(TARGET_SUM, tau=tau, variant=variant)
    algo, learner = _learner_after_one_iteration(exp)
    try:
        for step in range(2):
            actor_step = learner._num_updates % learner.config.resolved_policy_delay == 0
            before = _snapshot(learner)
            algo.learner_group.update(batch=algo.sample_train_batch(32))
            after = _snapshot(learner)
            for key, (online_b, target_b) in before.items():
                online_a, target_a = after[key]
                is_actor = key[0] == "shared"
                assert any(not torch.equal(a, b) for a, b in zip(online_a, online_b)) == \
                    (actor_step or not is_actor), (variant, step, key)
                for o, t_new, t_old in zip(online_a, target_a, target_b):
                    expect = tau * o + (1 - tau) * t_old if actor_step else t_old
                    torch.testing.assert_close(t_new, expect, rtol=1e-5, atol=1e-6)
        assert learner.config.resolved_policy_delay == (2 if variant == "matd3" else 1)
    finally:
        algo.stop()


def test_update_targets_lerps_every_float_tensor_and_copies_the_rest():
    import copy
    from types import SimpleNamespace

    from ray.rllib.core.rl_module.apis import TargetNetworkAPI

    from rllib_marl.algorithms.offpolicy.targets import update_targets

    class Mod(TargetNetworkAPI):
        def __init__(self, seed):
            torch.manual_seed(seed)
            self.main = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
            self.main[1].num_batches_tracked += 5  # an integer buffer
            self.target = copy.deepcopy(self.main)
            for p in self.target.parameters():
                p.data.normal_()

        def unwrapped(self):
            return self

        def make_target_networks(self):
            pass

        def get_target_network_pairs(self):
            return [(self.main, self.target)]

        def forward_target(self, batch, **kw):
            return {}

    mods = {"a": Mod(0), "b": Mod(1)}
    multi = SimpleNamespace(values=mods.values)  # a MultiRLModule as update_targets reads it
    before = {k: [t.clone() for t in m.target.state_dict().values()] for k, m in mods.items()}
    update_targets(multi, 0.3)
    for k, m in mods.items():
        for (name, t), o, t0 in zip(m.target.state_dict().items(), m.main.state_dict().values(), before[k]):
            if t.is_floating_point():
                torch.testing.assert_close(t, 0.3 * o + 0.7 * t0, rtol=1e-6, atol=1e-6)
            else:
                assert torch.equal(t, o), name
    update_targets(multi, 1.0)
    for m in mods.values():
        for t, o in zip(m.target.state_dict().values(), m.main.state_dict().values()):
            assert torch.equal(t, o)


# ----- critics ---------------------------------------------------------------------------


def test_centralized_critic_fits_a_joint_reward_and_a_local_one_cannot():
    """Reward a_0 * a_1 with independent uniform actions: given its own action only,
    an agent's expected reward is 0 (variance 1/9 left unexplained)."""
    from rllib_marl.algorithms.maddpg.maddpg_learner import critic_inputs

    torch.manual_seed(0)

    def data(B):
        obs = [torch.randn(B, 2), torch.randn(B, 2)]
        acts = [torch.rand(B, 1) * 2 - 1, torch.rand(B, 1) * 2 - 1]
        return obs, acts, (acts[0] * acts[1]).squeeze(-1)

    def fit(kind, in_dim):
        critic = CriticModule(observation_space=_obs_space(), action_space=spaces.Box(-1, 1, (1,)),
                              model_config={"in_dim": in_dim, "hidden": [64, 64], "activation": "relu"})
        opt = torch.optim.Adam(critic.parameters(), lr=3e-3)
        for _ in range(1500):
            obs, acts, r = data(256)
            x = critic_inputs([torch.cat(obs, -1)], obs, acts, [0], kind, 2)
            loss = ((critic._forward({CRITIC_IN: x})[Q1] - r) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        obs, acts, r = data(4096)
        with torch.no_grad():
            x = critic_inputs([torch.cat(obs, -1)], obs, acts, [0], kind, 2)
            return ((critic._forward({CRITIC_IN: x})[Q1] - r) ** 2).mean().item(), r.var().item()

    central, var = fit("central", 2 + 2 + 1 + 1)
    local, _ = fit("local", 2 + 1)
    assert central < 0.1 * var, (central, var)
    assert local > 0.8 * var, (local, var)


# ----- joint replay ------------------------------------------------------------------------


def _episodes(env, n=10, **training):
    config, _ = build_algo_config(maddpg_exp(env, **training), ScaleConfig(num_env_runners=0,
                                                                          num_envs_per_env_runner=3))
    runner = config.env_runner_cls(config=config)
    return runner.sample(num_episodes=n, explore=True)


def test_joint_transitions_come_from_one_env_step_and_mask_the_dead():
    """mixed_done: observations encode the env step (t / 10); c terminates after
    step 0, a terminates and b truncates after step 3; rewards equal actions."""
    buf = JointReplayBuffer(10_000, agent_ids=["a", "b", "c"], seed=0)
    buf.add(_episodes(MIXED))
    tr = buf.sample_transitions(512)
    t = tr[R.OBS]["obs"][..., 0]  # [B, 3]
    alive = tr[R.ALIVE]
    assert tr[R.ACTIONS].dtype == np.int64 and tr[R.ACTIONS].shape == (512, 3)
    assert (alive[:, :2] == 1).all(), "a and b act at every step"
    steps = np.round(t[:, 0] * 10).astype(int)
    assert set(steps) == {0, 1, 2, 3}
    np.testing.assert_allclose(t[:, 1], t[:, 0])  # same env step for every agent of a row
    np.testing.assert_array_equal(alive[:, 2], steps == 0)  # c only at step 0
    # c's final observation (step 1) is kept; after it a dead agent's observation is zero.
    assert not tr[R.OBS]["obs"][steps > 1, 2].any()
    np.testing.assert_allclose(tr[R.NEXT_OBS]["obs"][:, :2, 0], t[:, :2] + 0.1, atol=1e-6)
    np.testing.assert_array_equal(tr[R.REWARDS], tr[R.ACTIONS] * alive)
    first, last = steps == 0, steps == 3
    np.testing.assert_array_equal(tr[R.TERMINATEDS][:, 2], first)  # c terminates at step 0
    np.testing.assert_array_equal(tr[R.ALIVE_NEXT][:, 2], 0.0)
    np.testing.assert_array_equal(tr[R.TERMINATEDS][:, 0], last)  # a terminates at the end
    np.testing.assert_array_equal(tr[R.ALIVE_NEXT][:, 0], ~last)
    # b is truncated, but RLlib's MultiAgentEpisode marks the whole episode (and so
    # every agent) terminated when one agent terminates on the last step: no bootstrap.
    np.testing.assert_array_equal(tr[R.ALIVE_NEXT][:, 1], ~last)


def _row_matrix(tr):
    """Every field of every row side by side, rows in a canonical order."""
    B = tr[R.REWARDS].shape[0]
    cols = [np.asarray(x, np.float64).reshape(B, -1) for x in tree.flatten(tr)]
    m = np.concatenate(cols, axis=1)
    return m[np.lexsort(m.T[::-1])]


@pytest.mark.parametrize("env", [MIXED, TAG, TARGET_SUM], ids=["masks", "two-widths", "box"])
def test_packed_transitions_equal_the_per_episode_gather(env, monkeypatch):
    """The packed row store returns exactly what gathering episode by episode returns for
    the same draws, with unfinished episodes, evictions and compactions in between."""
    from rllib_marl.algorithms.offpolicy import replay

    monkeypatch.setattr(replay._PackedRows, "MIN_ROWS", 64)  # compact and grow often
    exp = maddpg_exp(env, ["multi_agent.sharing=per_group"])
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=0, num_envs_per_env_runner=3))
    runner = config.env_runner_cls(config=config)
    buf = JointReplayBuffer(300, agent_ids=config.agent_ids, seed=0)
    compared = unfinished = 0
    for _ in range(16):
        buf.add(runner.sample(num_timesteps=64, explore=True))  # cut mid-episode: some unfinished
        unfinished += sum(not e.is_done for e in buf.episodes)
        state = buf.rng.bit_generator.state
        packed = buf.sample_transitions(256)
        buf.rng.bit_generator.state = state
        reference = buf._gather_by_episode(list(buf._picks(256)))
        np.testing.assert_array_equal(_row_matrix(packed), _row_matrix(reference))
        assert packed[R.ACTIONS].dtype == reference[R.ACTIONS].dtype
        compared += 1
    assert compared == 16 and unfinished > 0 and buf._packed.compactions > 0
    assert len(buf._packed.starts) <= len(buf.episode_id_to_index)  # evicted episodes forgotten


def test_box_actions_are_stored_as_float_vectors():
    buf = JointReplayBuffer(10_000, agent_ids=["agent_0", "agent_1"], seed=0)
    eps = _episodes(TARGET_SUM, n=4)
    buf.add(eps)
    tr = buf.sample_transitions(64)
    assert tr[R.ACTIONS].dtype == np.float32 and tr[R.ACTIONS].shape == (64, 2, 1)
    assert np.abs(tr[R.ACTIONS]).max() <= 1.0
    stored = np.concatenate([np.asarray(e.agent_episodes["agent_0"].get_actions()) for e in eps])
    assert set(np.round(tr[R.ACTIONS][:, 0, 0], 6)) <= set(np.round(stored[:, 0], 6))


# ----- config errors -----------------------------------------------------------------------


@pytest.mark.parametrize("env,training,model,path,fragment", [
    ({"name": "pettingzoo.classic.tictactoe_v3"}, {}, {}, "env.api", "mappo / ippo"),
    (TAG, {"critic_by_module": {"predator": "local"}}, {}, "training.critic_by_module.predator",
     "adversary, agent"),
    (TAG, {"critic_by_module": {"adversary": "global"}}, {}, "training.critic_by_module.adversary",
     "central, local"),
    (TARGET_SUM, {"critic_input": "state"}, {}, "env.global_state", "critic_input"),
    (TARGET_SUM, {}, {"use_gru": True}, "model.use_gru", "feed-forward"),
    (TARGET_SUM, {"variant": "td3"}, {}, "training.variant", "maddpg, matd3"),
])
def test_config_errors_name_the_key_and_the_alternatives(env, training, model, path, fragment):
    data = {"algorithm": "maddpg", "env": env, "stop": {"iterations": 1}, "training": training,
            "model": model, "multi_agent": {"sharing": "per_group"}}
    if env is TARGET_SUM and training.get("critic_input") == "state":
        data["env"] = {**env, "global_state": "none"}
    with pytest.raises(ConfigError) as e:
        validate(parse_experiment(data))
    assert e.value.path == path and fragment in e.value.message, str(e.value)


def test_tune_refuses_settings_that_shape_the_modules():
    base = {"algorithm": "maddpg", "env": TARGET_SUM, "stop": {"iterations": 1}}
    parse_experiment({**base, "tune": {"search_space": {"training.actor_lr": {"loguniform": [1e-4, 1e-2]}}}})
    with pytest.raises(ConfigError, match="shapes the modules"):
        parse_experiment({**base, "tune": {"search_space": {"training.variant": {"grid": ["maddpg", "matd3"]}}}})


# ----- smoke: runners, learners, resume, mixed critics ---------------------------------


def _run(tmp_path, data, *flags):
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    assert train.main(["--config", str(p), "--output", str(tmp_path / "run"), "--quiet", *flags]) == 0
    return json.loads((tmp_path / "run" / "summary.json").read_text())


SPREAD_CONT = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 2, "max_cycles": 10, "continuous_actions": True}}


@pytest.mark.parametrize("env,training,flags", [
    (SPREAD_CONT, {}, ["--num-learners", "2"]),
    (SPREAD_CONT, {"variant": "matd3"}, ["--num-env-runners", "1"]),
    ({**TAG, "kwargs": {**TAG["kwargs"], "continuous_actions": False}}, {"variant": "matd3"},
     ["--num-learners", "2"]),
], ids=["ddp-2-learners", "matd3-remote-runner", "tag-discrete-matd3-ddp"])
def test_maddpg_runs(ray_local, tmp_path, env, training, flags):
    data = {"algorithm": "maddpg", "env": env, "training": {**TINY, **training},
            "multi_agent": {"sharing": "per_group"}, "stop": {"iterations": 3}, "model": {"hidden": [16]}}
    summary = _run(tmp_path, data, *flags)
    assert summary["env_steps"] >= 192
    assert all(np.isfinite(v) for v in summary["agent_returns"].values())
    # Episodes span several sample() calls (64 env steps over 8 sub-envs per
    # iteration); the reported length is still the whole episode's.
    last = (tmp_path / "run" / "progress.csv").read_text().splitlines()[-1].split(",")
    assert float(last[4]) == env["kwargs"]["max_cycles"]


def test_mixed_critics_per_team_and_resume_with_the_replay_buffer(ray_local, tmp_path):
    """MADDPG predators against DDPG prey: each team's critic sees what it should."""
    from ray.rllib.algorithms.algorithm import Algorithm

    data = {"algorithm": "maddpg", "env": {**TAG, "teams": "by_prefix"}, "multi_agent": {"sharing": "per_group"},
            "training": {**TINY, "critic_by_module": {"adversary": "central", "agent": "local"}},
            "stop": {"iterations": 2}, "model": {"hidden": [16]}, "checkpoint": {"interval": 1}}
    summary = _run(tmp_path, data)
    # Competitive: one return per team, none summed over opponents.
    assert sorted(summary["team_returns"]) == ["adversary", "agent"]
    assert not np.isfinite(summary["team_return"])
    np.testing.assert_allclose(summary["team_returns"]["adversary"],
                               sum(v for k, v in summary["agent_returns"].items() if k.startswith("adversary")))
    # The env's own metric, from the same episodes: touches = a predator's return / 10.
    assert summary["env_metrics"]["touches"] == pytest.approx(summary["agent_returns"]["adversary_0"] / 10)
    header = (tmp_path / "run" / "progress.csv").read_text().splitlines()[0].split(",")
    assert "env/touches" in header
    algo = Algorithm.from_checkpoint(str(tmp_path / "run" / "checkpoints" / "final"))
    try:
        cfg = algo.config
        assert cfg.critic_kinds == {"adversary": "central", "agent": "local"}
        learner = algo.learner_group._learner
        # 2 adversaries, 1 prey, 1 obstacle: observations 12, 12 and 10 wide.
        # Adversaries: all 3 observations and actions (3 x 5) + a 3-way id;
        # prey: its own observation and action.
        assert learner.module["adversary_critic"].q1[0].in_features == 34 + 15 + 3
        assert learner.module["agent_critic"].q1[0].in_features == 10 + 5
        assert algo.replay_buffer.num_env_steps() >= 128
        steps = algo.replay_buffer.num_env_steps()
        algo.train()
        assert algo.replay_buffer.num_env_steps() > steps
    finally:
        algo.stop()


# ----- learning ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_maddpg_learns_target_sum(ray_local, tmp_path, seed):
    # Random play: -5 per episode; the tuned example expects >= -0.1 after 8,000 env steps.
    cfg = ROOT / "tuned_examples" / "maddpg" / "target_sum.yaml"
    code = train.main(["--config", str(cfg), "--seed", str(seed), "--output", str(tmp_path),
                       "--quiet", "--as-test"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == 0, summary
