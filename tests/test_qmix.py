"""QMIX / VDN / IQL: sequence sampling, masks in the loss, acting, config errors, smoke."""

import json

import numpy as np
import pytest
import torch
import tree
import yaml
from gymnasium import spaces
from ray.rllib.core.columns import Columns

from rllib_marl import train
from rllib_marl.algorithms.offpolicy import replay as R
from rllib_marl.algorithms.qmix.qmix_learner import joint_td_loss, td_targets
from rllib_marl.algorithms.offpolicy.replay import JointReplayBuffer
from rllib_marl.build import build_algo_config
from rllib_marl.config import ScaleConfig, parse_experiment
from rllib_marl.policies.q_agent import QAgentModule
from rllib_marl.schema import ConfigError

RANDOM_DONE = {"name": "fixture_envs:random_done", "action_mask_from_info": True,
               "global_state": "concat", "agent_id": True}
SPREAD = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 2, "max_cycles": 10}}
AGENTS = ["x", "y", "z"]


def qmix_exp(env=RANDOM_DONE, **training):
    return parse_experiment({"algorithm": "qmix", "env": env, "stop": {"iterations": 1},
                             "training": training, "model": {"gru_hidden": 8, "hidden": [16]}})


def collect(num_episodes=12, seed=0):
    config, _ = build_algo_config(qmix_exp(), ScaleConfig(num_env_runners=0, num_envs_per_env_runner=3))
    config.debugging(seed=seed)
    runner = config.env_runner_cls(config=config)
    return runner.sample(num_episodes=num_episodes, explore=True)


# ----- sequence sampling ---------------------------------------------------------------


def test_windows_align_agents_by_env_step():
    episodes = collect()
    buf = JointReplayBuffer(10_000, agent_ids=AGENTS, team_reward="sum")
    buf.add(episodes)
    T = 16  # longer than any episode (max_steps 12): one window per episode
    lengths = set()
    for ep in buf.episodes:
        w = buf._window(ep, 0, T)
        n_env = len(ep)
        lengths.add(n_env)
        np.testing.assert_array_equal(w[R.FILLED], (np.arange(T) < n_env).astype(np.float32))
        team = np.zeros(T, np.float32)
        for j, aid in enumerate(AGENTS):
            sa = ep.agent_episodes[aid]
            n = len(sa)
            np.testing.assert_array_equal(w[R.ALIVE][:, j], (np.arange(T) < n).astype(np.float32))
            np.testing.assert_array_equal(w[R.ACTIONS][:n, j], sa.get_actions())
            obs = sa.get_observations()
            for key in ("obs", "action_mask", "state"):
                np.testing.assert_allclose(w[R.OBS][key][: n + 1, j], obs[key])
                assert not w[R.OBS][key][n + 1:, j].any(), "steps after an agent's end are zero"
            team[:n] += np.asarray(sa.get_rewards(), np.float32)
            # The value after an agent's last step enters the target only if it was truncated.
            assert w[R.ALIVE_NEXT][n - 1, j] == float(sa.is_truncated and not ep.is_terminated)
            assert (w[R.ALIVE_NEXT][: n - 1, j] == 1).all()
        np.testing.assert_allclose(w[R.REWARD], team, rtol=1e-6)
        assert w[R.TERMINATED].sum() == float(ep.is_terminated)
        if ep.is_terminated:
            assert w[R.TERMINATED][n_env - 1] == 1
        # The global state comes from an agent alive at every step of the episode.
        np.testing.assert_allclose(w[R.STATE][: n_env + 1],
                                   [ep.get_observations(t, env_steps=True)
                                    [max(ep.agent_episodes, key=lambda a: len(ep.agent_episodes[a]))]["state"]
                                    for t in range(n_env + 1)], rtol=1e-6)
    assert len(lengths) > 1


def test_chunks_are_joined_and_windows_carry_the_stored_recurrent_state():
    config, _ = build_algo_config(qmix_exp(), ScaleConfig(num_env_runners=0, num_envs_per_env_runner=2))
    runner = config.env_runner_cls(config=config)
    buf = JointReplayBuffer(10_000, agent_ids=AGENTS, seed=0)
    for _ in range(6):  # chunks of 7 env steps: episodes span several sample() calls
        buf.add(runner.sample(num_timesteps=7))
    assert all(ep.env_t_started == 0 for ep in buf.episodes)
    long = max(buf.episodes, key=len)
    assert len(long) > 7
    w = buf._window(long, 4, 4)
    for j, aid in enumerate(AGENTS):
        sa = long.agent_episodes[aid]
        if len(sa) > 4:
            np.testing.assert_allclose(w[R.H0]["h"][j],
                                       sa.get_extra_model_outputs(Columns.STATE_OUT, indices=3)["h"])
    batch = buf.sample_sequences(32, 4)
    assert batch[R.OBS]["obs"].shape[:3] == (32, 5, 3)
    assert batch[R.H0]["h"].shape == (32, 3, 8)


def test_cached_episode_arrays_give_the_same_windows():
    config, _ = build_algo_config(qmix_exp(), ScaleConfig(num_env_runners=0, num_envs_per_env_runner=2))
    runner = config.env_runner_cls(config=config)
    buf = JointReplayBuffer(10_000, agent_ids=AGENTS, seed=0)
    for _ in range(5):
        buf.add(runner.sample(num_timesteps=9))
    rng = np.random.default_rng(0)
    checked = 0
    for ep in buf.episodes:
        for _ in range(2):  # the second pass reads the cache of finished episodes
            for T in (1, 3, 5):
                start = int(rng.integers(len(ep)))
                fast, ref = buf._window(ep, start, T), buf._compute_window(ep, start, T)
                assert sorted(fast) == sorted(ref)
                for key in ref:
                    for a, b in zip(tree.flatten(fast[key]), tree.flatten(ref[key])):
                        np.testing.assert_allclose(a, b, err_msg=key)
                checked += 1
    assert checked > 20 and buf._arrays


# ----- masks in the loss ---------------------------------------------------------------


def _loss_inputs(seed=0, B=4, T=5, N=3, A=4):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T + 1, N, A, generator=g, requires_grad=True)
    avail = (torch.rand(B, T + 1, N, A, generator=g) < 0.6).float()
    avail[..., 0] = 1.0
    filled = torch.ones(B, T)
    filled[0, 3:] = 0.0  # padding
    alive = torch.ones(B, T, N)
    alive[1, 2:, 1] = 0.0  # agent 1 dead from step 2
    alive_next = alive.clone()
    alive_next[1, 1, 1] = 0.0
    return dict(q=q, q_target=torch.randn(B, T + 1, N, A, generator=g), actions=torch.zeros(B, T, N, dtype=torch.long),
                alive=alive, alive_next=alive_next, avail=avail, reward=torch.randn(B, T, generator=g),
                terminated=torch.zeros(B, T), filled=filled, gamma=0.9, n_step=1, double_q=True)


@pytest.mark.parametrize("mixer", ["vdn", "iql"])
def test_padding_dead_agents_and_unavailable_actions_do_not_reach_the_loss(mixer):
    mix = (lambda qs: qs.sum(-1)) if mixer == "vdn" else None
    base = _loss_inputs()
    loss, _ = joint_td_loss(**base, mix=mix, target_mix=mix)

    def changed(**edits):
        x = {k: (v.detach().clone() if torch.is_tensor(v) else v) for k, v in base.items()}
        for key, fn in edits.items():
            fn(x[key])
        return joint_td_loss(**x, mix=mix, target_mix=mix)[0]

    # Padding steps: their rewards and Q-values are ignored.
    assert torch.isclose(changed(reward=lambda r: r[0, 3:].add_(100.0)), loss)
    # A dead agent's Q-values are ignored at the steps it is dead.
    assert torch.isclose(changed(q=lambda q: q[1, 2:5, 1].add_(100.0),
                                 q_target=lambda q: q[1, 2:, 1].add_(100.0)), loss)
    # Unavailable actions are never maximized over in the target.
    blocked = base["avail"][:, 1:] < 0.5
    assert blocked.any()
    assert torch.isclose(changed(q_target=lambda q: q[:, 1:].masked_fill_(blocked, 1e6),
                                 q=lambda q: q[:, 1:].masked_fill_(blocked, 1e6)), loss)
    # ... and the check can fail: making them available changes the loss.
    assert not torch.isclose(changed(q_target=lambda q: q[:, 1:].masked_fill_(blocked, 1e6),
                                     q=lambda q: q[:, 1:].masked_fill_(blocked, 1e6),
                                     avail=lambda a: a.fill_(1.0)), loss)


def test_n_step_targets():
    r = torch.tensor([[1.0, 2.0, 3.0, 0.0]])
    term = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    filled = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    qn = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    g = 0.5
    one = td_targets(r, term, qn, filled, g, 1)
    torch.testing.assert_close(one[0, :3], torch.tensor([1 + g * 10, 2 + g * 20, 3.0]))
    two = td_targets(r, term, qn, filled, g, 2)
    # t=0: r0 + g r1 + g^2 Q(1); t=1: r1 + g r2, then the episode terminated; t=2: r2.
    torch.testing.assert_close(two[0, :3], torch.tensor([1 + g * 2 + g * g * 20, 2 + g * 3, 3.0]))


# ----- acting --------------------------------------------------------------------------


def test_epsilon_greedy_never_takes_a_masked_action():
    obs_space = spaces.Dict({"obs": spaces.Box(-1, 1, (3,)), "action_mask": spaces.Box(0, 1, (5,))})
    mod = QAgentModule(observation_space=obs_space, action_space=spaces.Discrete(5),
                       model_config={"use_gru": False, "hidden": [8], "epsilon_timesteps": 0,
                                     "epsilon_end": 1.0})
    g = torch.Generator().manual_seed(0)
    mask = (torch.rand(2000, 5, generator=g) < 0.4).float()
    mask[torch.arange(2000), torch.randint(5, (2000,), generator=g)] = 1.0
    batch = {Columns.OBS: {"obs": torch.randn(2000, 3, generator=g), "action_mask": mask}}
    for out in (mod._forward_exploration(batch, t=0), mod._forward_inference(batch)):
        a = out[Columns.ACTIONS]
        assert (mask[torch.arange(2000), a] == 1).all()
    explored = mod._forward_exploration(batch, t=0)[Columns.ACTIONS]
    assert len(set(explored.tolist())) == 5  # epsilon 1: every allowed action shows up


# ----- config errors -------------------------------------------------------------------


@pytest.mark.parametrize("env,training,path,fragment", [
    ({**SPREAD, "kwargs": {**SPREAD["kwargs"], "continuous_actions": True}}, {}, "algorithm",
     "algorithms that do: mappo, ippo"),
    ({"name": "pettingzoo.classic.tictactoe_v3"}, {}, "env.api", "turn-based (AEC)"),
    ({**SPREAD, "global_state": "none"}, {}, "env.global_state", "training.mixer: vdn or none"),
])
def test_qmix_refuses_what_it_cannot_do(env, training, path, fragment):
    from rllib_marl.build import validate

    with pytest.raises(ConfigError) as e:
        validate(qmix_exp(env, **training))
    assert e.value.path == path and fragment in str(e.value)


def test_vdn_and_iql_need_no_global_state():
    from rllib_marl.build import validate

    for mixer in ("vdn", "none"):
        validate(qmix_exp({**SPREAD, "global_state": "none"}, mixer=mixer))


# ----- smoke ---------------------------------------------------------------------------

TINY = {"learning_starts": 50, "env_steps_per_iteration": 100, "env_steps_per_update": 50,
        "train_batch_size": 4}


def _run(tmp_path, data, *flags):
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(data))
    assert train.main(["--config", str(p), "--output", str(tmp_path / "run"), "--quiet", *flags]) == 0
    return json.loads((tmp_path / "run" / "summary.json").read_text())


@pytest.mark.parametrize("mixer,sharing,learners", [
    ("qmix", "shared", 2),
    ("vdn", "shared", 0),
    ("none", "shared", 0),
    ("qmix", "per_agent", 0),
], ids=["qmix-ddp-2-learners", "vdn", "iql", "qmix-one-network-per-agent"])
def test_qmix_family_builds_what_it_is_asked_for(ray_local, mixer, sharing, learners):
    """The mixer asked for is the one the learner trains (a QMIX hypernetwork mixer
    module, VDN's sum, or none for IQL); per_agent gives one network per agent;
    under two DDP learners both hold the same weights after an update."""
    import torch

    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, parse_experiment
    from rllib_marl.policies.mixers import QMixer

    exp = parse_experiment({"algorithm": "qmix", "env": SPREAD, "training": {**TINY, "mixer": mixer},
                            "multi_agent": {"sharing": sharing}, "stop": {"iterations": 1},
                            "model": {"gru_hidden": 8, "hidden": [16], "max_seq_len": 5}})
    config, mapping = build_algo_config(exp, ScaleConfig(num_learners=learners, num_envs_per_env_runner=2))
    algo = config.build_algo()
    try:
        agents = {"agent_0", "agent_1"}
        expected = ({"shared"} if sharing == "shared" else agents) | ({"mixer"} if mixer == "qmix" else set())

        def state(learner):
            mods = {mid: {k: v.detach().cpu().clone() for k, v in learner.module[mid].state_dict().items()}
                    for mid in learner.module.keys()}
            mix = learner.module["mixer"].unwrapped().mixer if "mixer" in learner.module.keys() else None
            return mods, type(mix).__name__, learner.config.mixer

        before = [r.get() for r in algo.learner_group.foreach_learner(state)]
        result = algo.train()
        after = [r.get() for r in algo.learner_group.foreach_learner(state)]
        assert result["env_steps"] >= 64
        mods, mix_cls, cfg_mixer = after[0]
        assert set(mods) == expected and set(mapping.values()) == expected - {"mixer"}
        assert cfg_mixer == mixer
        assert mix_cls == (QMixer.__name__ if mixer == "qmix" else "NoneType")
        moved = [mid for mid in mods if any(not torch.equal(v, before[0][0][mid][k]) for k, v in mods[mid].items())]
        assert set(moved) == expected  # every network (mixer included) was trained
        if learners == 2:
            assert len(after) == 2
            for mid in mods:
                for k, v in mods[mid].items():
                    assert torch.equal(v, after[1][0][mid][k]), (mid, k)
    finally:
        algo.stop()


def test_resume_keeps_the_replay_buffer(ray_local, tmp_path):
    from ray.rllib.algorithms.algorithm import Algorithm

    data = {"algorithm": "qmix", "env": SPREAD, "training": TINY, "stop": {"iterations": 2},
            "model": {"gru_hidden": 8, "hidden": [16], "max_seq_len": 5}, "checkpoint": {"interval": 1}}
    _run(tmp_path, data)
    algo = Algorithm.from_checkpoint(str(tmp_path / "run" / "checkpoints" / "final"))
    try:
        assert algo.replay_buffer.num_env_steps() >= 200
        assert algo.replay_buffer.get_num_episodes() >= 1
    finally:
        algo.stop()


def test_train_batch_rows_are_window_major_per_module():
    """Rows of module m are (window b, m's agents in order); shared columns repeat."""
    from rllib_marl.algorithms.qmix.qmix_learner import to_train_batch

    B, T, N = 2, 3, 3
    obs = np.arange(B * (T + 1) * N, dtype=np.float32).reshape(B, T + 1, N, 1)
    seq = {R.OBS: {"obs": obs}, R.ACTIONS: np.arange(B * T * N).reshape(B, T, N),
           R.ALIVE: np.ones((B, T, N)), R.ALIVE_NEXT: np.ones((B, T, N)),
           R.REWARD: np.arange(B * T, dtype=np.float32).reshape(B, T),
           R.TERMINATED: np.zeros((B, T)), R.FILLED: np.ones((B, T))}
    batch = to_train_batch(seq, [("a", [0, 2]), ("b", [1])])
    a, b = batch.policy_batches["a"], batch.policy_batches["b"]
    assert len(a) == B * 2 and len(b) == B
    for row, (w, agent) in enumerate([(0, 0), (0, 2), (1, 0), (1, 2)]):
        np.testing.assert_array_equal(a[Columns.OBS]["obs"][row], obs[w, :, agent])
        np.testing.assert_array_equal(a[R.ACTIONS][row], seq[R.ACTIONS][w, :, agent])
        np.testing.assert_array_equal(a[R.REWARD][row], seq[R.REWARD][w])
    np.testing.assert_array_equal(b[Columns.OBS]["obs"][1], obs[1, :, 1])


def test_tune_over_mixers_needs_a_qmix_base():
    tune = {"search_space": {"training.mixer": {"grid": ["qmix", "vdn"]}}}
    base = {"algorithm": "qmix", "env": {"name": "two_step"}, "stop": {"iterations": 1}, "tune": tune}
    parse_experiment(base)  # qmix base: fine
    with pytest.raises(ConfigError, match="set training.mixer: qmix"):
        parse_experiment({**base, "training": {"mixer": "vdn"}})


def test_model_max_seq_len_sets_the_replay_window(ray_local):
    """``model.max_seq_len`` reaches the sampler: the train batch's windows have that length."""
    exp = parse_experiment({"algorithm": "qmix", "env": SPREAD, "stop": {"iterations": 1},
                            "training": {**TINY}, "model": {"gru_hidden": 8, "hidden": [16]}},
                           ["model.max_seq_len=7"])
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=0, num_envs_per_env_runner=2))
    assert config.max_seq_len == 7
    algo = config.build_algo()
    try:
        algo.train()
        batch = algo.sample_train_batch(4)
        rows = next(iter(batch.policy_batches.values()))
        assert rows[R.ACTIONS].shape[1] == 7 and rows[Columns.OBS]["obs"].shape[1] == 8
    finally:
        algo.stop()
