"""VMAS (``vmas:<scenario>``): the batched path against one env at a time.

The batched env and the batched env runner must give what stepping the same
scenario one sub-env at a time through the adapter gives: observations (with the
global state), shaped rewards, terminations and truncations at ``max_steps``, and
value targets that bootstrap from the final observation at a truncation and from
the next observation at the end of a rollout (RLlib's GAE convention).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vmas")

import torch  # noqa: E402
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.evaluation.postprocessing import Postprocessing  # noqa: E402
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets  # noqa: E402
from ray.rllib.utils.spaces.space_utils import unsquash_action  # noqa: E402

from rllib_marl.batched_runner import gae  # noqa: E402
from rllib_marl.envs.adapter import make_env  # noqa: E402
from rllib_marl.envs.vmas_env import VmasBatchedEnv  # noqa: E402

SEEDS = [11, 12, 13]


def _views(cfg):
    views = [make_env(cfg) for _ in SEEDS]
    obs = [v.reset(seed=s)[0] for v, s in zip(views, SEEDS)]
    return views, obs


@pytest.mark.parametrize("scenario,continuous,reward", [
    ("simple_spread", False, {"mode": "mix", "team_weight": 0.3}),
    ("navigation", True, {"mode": "individual"}),
])
def test_batched_env_steps_as_one_env_at_a_time(scenario, continuous, reward):
    cfg = {"name": f"vmas:{scenario}", "kwargs": {"continuous_actions": continuous, "max_steps": 5},
           "reward": reward, "agent_id": True}
    benv = VmasBatchedEnv(cfg, num_envs=len(SEEDS))
    views, obs1 = _views(cfg)
    agents = views[0].possible_agents
    assert benv.agents == agents
    layout = benv.reset(seeds=SEEDS)
    rng = np.random.default_rng(0)
    info_sums = {}
    for t in range(5):
        for i in range(len(SEEDS)):
            for k, a in enumerate(agents):
                np.testing.assert_allclose(layout["obs"][k][i].numpy(), obs1[i][a]["obs"], rtol=0, atol=1e-6)
                np.testing.assert_allclose(layout["state"][i].numpy(), obs1[i][a]["state"], rtol=0, atol=1e-6)
        space = views[0].action_spaces[agents[0]]
        if continuous:
            acts = rng.uniform(space.low, space.high, size=(len(agents), len(SEEDS), space.shape[0])).astype(np.float32)
        else:
            acts = rng.integers(0, space.n, size=(len(agents), len(SEEDS)))
        layout, rew, env_rew, term, trunc, infos = benv.step([torch.as_tensor(acts[k]) for k in range(len(agents))])
        for k, val in infos.items():
            info_sums[k] = info_sums.get(k, 0.0) + val
        for i, v in enumerate(views):
            o, r, te, tr, _ = v.step({a: acts[k, i] for k, a in enumerate(agents)})
            obs1[i] = o
            for k, a in enumerate(agents):
                assert rew[k, i].item() == pytest.approx(r[a], abs=1e-4)
            assert bool(term[i]) == te["__all__"]
            assert bool(trunc[i]) == tr["__all__"]
            assert tr["__all__"] == (t == 4)  # truncated at max_steps, not before
    for i, v in enumerate(views):  # the scenario's infos, summed over the episode (its env metrics)
        assert set(v.env.info_sums) == set(info_sums)
        for k, total in info_sums.items():
            assert float(total[i]) == pytest.approx(v.env.info_sums[k], abs=1e-4)
    if scenario == "navigation":
        assert {"pos_rew", "final_rew", "agent_collisions"} <= set(info_sums)
    for i in range(len(SEEDS)):  # the final observations, before any reset
        for k, a in enumerate(agents):
            np.testing.assert_allclose(layout["obs"][k][i].numpy(), obs1[i][a]["obs"], rtol=0, atol=1e-6)


def test_gae_matches_rllib_value_targets():
    """Rows cut into episodes by terminations and truncations, each scored by
    RLlib's ``compute_value_targets`` with its bootstrap value appended."""
    rng = np.random.default_rng(3)
    T, rows = 12, 5
    values = torch.as_tensor(rng.normal(size=(T, rows)), dtype=torch.float32)
    rewards = torch.as_tensor(rng.normal(size=(T, rows)), dtype=torch.float32)
    term = torch.as_tensor(rng.random((T, rows)) < 0.1)
    trunc = torch.as_tensor(rng.random((T, rows)) < 0.1) & ~term
    done = term | trunc
    final = torch.as_tensor(rng.normal(size=(T, rows)), dtype=torch.float32)  # V(final obs) at truncations
    last = torch.as_tensor(rng.normal(size=rows), dtype=torch.float32)  # V(obs after the rollout)
    next_values = torch.cat([values[1:], last[None]])
    next_values = torch.where(trunc, final, next_values)
    adv, targets = gae(values, next_values, rewards, term, done, 0.97, 0.9)
    for r in range(rows):
        start = 0
        for t in range(T):
            if not (done[t, r] or t == T - 1):
                continue
            L = t + 1 - start
            boot = 0.0 if term[t, r] else float(next_values[t, r])
            ref = compute_value_targets(
                values=np.append(values[start:t + 1, r].numpy(), boot),
                rewards=np.append(rewards[start:t + 1, r].numpy(), 0.0),
                terminateds=np.append(np.eye(L)[-1] * float(term[t, r]), 0.0),
                truncateds=np.append(np.zeros(L - 1), [1.0, 1.0]),
                gamma=0.97, lambda_=0.9)[:L]
            np.testing.assert_allclose(targets[start:t + 1, r].numpy(), ref, rtol=1e-4, atol=1e-4)
            start = t + 1
    np.testing.assert_allclose(adv.numpy(), (targets - values).numpy(), atol=1e-5)


def test_categorical_draw_is_a_draw_from_the_softmax():
    """The batched runner's draw (inverse of the running sum): frequencies are the
    softmax's, masked actions (first and last here) are never drawn, and the
    log-probabilities are ``log_softmax``'s."""
    from rllib_marl.batched_runner import _draw_categorical

    torch.manual_seed(0)
    row = torch.tensor([-1e9, 0.0, 1.0, -1.0, 2.0, 0.5, -1e9])
    logits = row.repeat(200_000, 1)
    a, logp = _draw_categorical(logits)
    freq = torch.bincount(a, minlength=7).float() / len(a)
    probs = torch.softmax(row, -1)
    assert freq[0] == 0 and freq[-1] == 0
    np.testing.assert_allclose(freq.numpy(), probs.numpy(), atol=4e-3)
    np.testing.assert_allclose(logp.numpy(), torch.log_softmax(logits, -1).gather(-1, a[:, None]).squeeze(-1).numpy(),
                               atol=1e-5)
    # one row, one sure action
    a, logp = _draw_categorical(torch.tensor([[-1e9, 3.0, -1e9]]))
    assert a.tolist() == [1] and abs(float(logp)) < 1e-6


@pytest.mark.parametrize("algorithm", ["mappo", "ippo"])
def test_value_pass_in_chunks_equals_the_critic_on_every_row(monkeypatch, algorithm):
    """The sample's values are computed in chunks, and once per sub-env where the
    critic reads only the global state (MAPPO): they equal the critic on every row
    of the batch (IPPO: each agent's own observation), in new storage and in a
    released rollout's storage reused."""
    from rllib_marl import IPPOConfig, MAPPOConfig
    from rllib_marl import batched_runner
    from rllib_marl.batched_runner import BatchedEnvRunner

    monkeypatch.setattr(batched_runner, "VALUE_CHUNK_ROWS", 7)
    T, n = 10, 5
    cfg = ((MAPPOConfig if algorithm == "mappo" else IPPOConfig)()
           .environment(env_config={"name": "vmas:simple_spread",
                                    "kwargs": {"num_envs": n, "continuous_actions": False, "max_steps": 4}})
           .env_runners(num_env_runners=0, rollout_fragment_length=T)
           .training(train_batch_size=T * n, minibatch_size=T * n).sampling("batched").debugging(seed=3))
    cfg.validate()
    runner = BatchedEnvRunner(config=cfg)
    (kept,) = runner.sample()
    (first,) = runner.sample()  # not released: new storage
    (mid,) = first.batches
    assert not np.shares_memory(kept.batches[mid][Columns.ACTIONS], first.batches[mid][Columns.ACTIONS])
    first_actions = first.batches[mid][Columns.ACTIONS]
    first.release()
    assert first.batches == {}
    (rollout,) = runner.sample()  # writes into the released storage
    b = rollout.batches[mid]
    assert np.shares_memory(b[Columns.ACTIONS], first_actions)
    module = runner.module[mid]
    assert module.critic_input_keys() == (["state"] if algorithm == "mappo" else ["obs"])
    for batch in (kept.batches[mid], b):
        with torch.no_grad():
            ref = module.compute_values({Columns.OBS: {k: torch.as_tensor(v) for k, v in batch[Columns.OBS].items()}})
        assert len(ref) == T * n * 3
        np.testing.assert_allclose(batch[Columns.VF_PREDS], ref.numpy(), rtol=1e-5, atol=1e-5)
    # RLlib's own episode metrics are logged for the finished episodes (4 steps each).
    from ray.rllib.utils.metrics import EPISODE_AGENT_RETURN_MEAN, EPISODE_LEN_MEAN, EPISODE_RETURN_MEAN

    logged = runner.metrics
    assert logged.peek(EPISODE_LEN_MEAN) == 4
    assert np.isfinite(logged.peek(EPISODE_RETURN_MEAN))
    assert set(logged.peek(EPISODE_AGENT_RETURN_MEAN)) == set(runner._benv.agents)
    runner.stop()


@pytest.mark.parametrize("scenario,continuous", [("simple_spread", False), ("navigation", True)])
def test_batched_runner_rollout_matches_one_env_at_a_time(scenario, continuous):
    """The runner's rollout over a truncation (step 6 of 10): its observations are
    those of the one-at-a-time views fed the same actions, and its value targets
    bootstrap from the views' final observations there and from the runner's next
    observations at the rollout's end."""
    from rllib_marl import MAPPOConfig
    from rllib_marl.batched_runner import BatchedEnvRunner

    max_steps, T = 6, 10
    env_config = {"name": f"vmas:{scenario}",
                  "kwargs": {"num_envs": len(SEEDS), "continuous_actions": continuous, "max_steps": max_steps}}
    cfg = (MAPPOConfig().environment(env_config=env_config)
           .env_runners(num_env_runners=0, rollout_fragment_length=T)
           .training(train_batch_size=T * len(SEEDS), minibatch_size=T * len(SEEDS), gamma=0.95, lambda_=0.9)
           .sampling("batched").debugging(seed=1))
    cfg.validate()
    runner = BatchedEnvRunner(config=cfg)
    runner.reset_batched(seeds=SEEDS)
    (rollout,) = runner.sample()
    assert len(rollout) == T * len(SEEDS)
    (mid,) = rollout.batches
    b = rollout.batches[mid]
    module = runner.module[mid]
    views, obs1 = _views(env_config)
    agents = views[0].possible_agents
    n, na = len(SEEDS), len(agents)
    obs_b = b[Columns.OBS]["obs"].reshape(T, na, n, -1)
    state_b = b[Columns.OBS]["state"].reshape(T, na, n, -1)
    acts = b[Columns.ACTIONS].reshape(T, na, n, *b[Columns.ACTIONS].shape[1:])
    targets = b[Postprocessing.VALUE_TARGETS].reshape(T, na, n)
    # The stored log-probabilities are the module's own distribution's (the fast categorical draw).
    dist = module.get_exploration_action_dist_cls().from_logits(torch.as_tensor(b[Columns.ACTION_DIST_INPUTS]))
    np.testing.assert_allclose(dist.logp(torch.as_tensor(b[Columns.ACTIONS])).numpy(), b[Columns.ACTION_LOGP],
                               rtol=1e-4, atol=1e-4)

    def value(states, own):
        with torch.no_grad():
            return module.compute_values({Columns.OBS: {"obs": torch.as_tensor(own),
                                                        "state": torch.as_tensor(states)}}).numpy()

    space = views[0].action_spaces[agents[0]]
    for i, v in enumerate(views):
        seen_obs, seen_state, rewards = [], [], []
        for t in range(max_steps):
            for k, a in enumerate(agents):
                np.testing.assert_allclose(obs_b[t, k, i], obs1[i][a]["obs"], atol=1e-5)
            seen_obs.append([obs1[i][a]["obs"] for a in agents])
            seen_state.append([obs1[i][a]["state"] for a in agents])
            step = {a: (unsquash_action(acts[t, k, i], space) if continuous else acts[t, k, i])
                    for k, a in enumerate(agents)}
            obs1[i], r, _, tr, _ = v.step(step)
            rewards.append([r[a] for a in agents])
        assert tr["__all__"]
        final = [[obs1[i][a]["state"] for a in agents]], [[obs1[i][a]["obs"] for a in agents]]
        for k in range(na):
            vals = value(np.array(seen_state)[:, k], np.array(seen_obs)[:, k])
            boot = value(np.array(final[0])[:, k], np.array(final[1])[:, k])[0]
            ref = compute_value_targets(values=np.append(vals, boot), rewards=np.append(np.array(rewards)[:, k], 0.0),
                                        terminateds=np.zeros(max_steps + 1),
                                        truncateds=np.append(np.zeros(max_steps - 1), [1.0, 1.0]),
                                        gamma=0.95, lambda_=0.9)[:max_steps]
            np.testing.assert_allclose(targets[:max_steps, k, i], ref, rtol=1e-4, atol=1e-4)
        # After the reset: the chunk ends with the rollout, bootstrapped from the runner's next observation.
        rew_b = b[Columns.REWARDS].reshape(T, na, n)
        np.testing.assert_allclose(rew_b[:max_steps, :, i], np.array(rewards), atol=1e-4)
        nxt = runner._inputs(mid, runner._obs)
        rest = slice(max_steps, T)
        for k in range(na):
            row = k * n + i
            vals = value(state_b[rest, k, i], obs_b[rest, k, i])
            boot = value(nxt["state"][row:row + 1].numpy(), nxt["obs"][row:row + 1].numpy())[0]
            L = T - max_steps
            ref = compute_value_targets(values=np.append(vals, boot), rewards=np.append(rew_b[rest, k, i], 0.0),
                                        terminateds=np.zeros(L + 1), truncateds=np.append(np.zeros(L - 1), [1.0, 1.0]),
                                        gamma=0.95, lambda_=0.9)[:L]
            np.testing.assert_allclose(targets[rest, k, i], ref, rtol=1e-4, atol=1e-4)
    runner.stop()


# ----- the CLI: other algorithms one sub-env at a time, and mistakes -----------------------------

def _cli(tmp_path, data, *extra):
    import yaml

    from rllib_marl import train

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(data))
    return train.main(["--config", str(cfg), "--output", str(tmp_path / "run"), "--quiet", *extra])


@pytest.mark.parametrize("algorithm,continuous,training", [
    ("qmix", False, {"train_batch_size": 8, "learning_starts": 40, "replay_capacity": 5000}),
    ("maddpg", True, {"train_batch_size": 32, "learning_starts": 40}),
])
def test_off_policy_algorithms_train_on_vmas_one_sub_env_at_a_time(ray_local, tmp_path, algorithm, continuous,
                                                                  training):
    """``sampler: auto`` keeps the fast runner for algorithms that train from episodes."""
    import json

    data = {"algorithm": algorithm, "env": {"name": "vmas:simple_spread",
                                            "kwargs": {"continuous_actions": continuous, "max_steps": 10,
                                                       "n_agents": 2}},
            "training": training, "stop": {"iterations": 2}, "checkpoint": {"interval": 0}}
    assert _cli(tmp_path, data, "--num-envs-per-env-runner", "2") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["env_package"] == "vmas 1.5.2"
    assert np.isfinite(summary["team_return"])


@pytest.mark.parametrize("env,extra,message", [
    ({"name": "vmas:no_such_scenario"}, {}, "env.name: vmas:no_such_scenario is not a VMAS scenario"),
    ({"name": "vmas:navigation", "kwargs": {"dict_spaces": True}}, {}, "env.kwargs.dict_spaces: set by rllib_marl"),
    ({"name": "vmas:navigation", "global_state": "env"}, {}, "env.global_state"),
    ({"name": "vmas:navigation", "kwargs": {"n_agentz": 2}}, {}, "env.kwargs: vmas:navigation: Scenario kwargs"),
    ({"name": "vmas:navigation", "kwargs": {"continuous_actions": False}},
     {"algorithm": "qmix", "env_runners": {"sampler": "batched"}},
     "env_runners.sampler: batched: qmix does not train from batched samples yet"),
    ({"name": "vmas:navigation", "kwargs": {"continuous_actions": False}},
     {"model": {"use_gru": True}, "env_runners": {"sampler": "batched"}}, "recurrent modules"),
])
def test_vmas_mistakes_are_one_line_before_training(tmp_path, capsys, env, extra, message):
    data = {"algorithm": "mappo", "env": env, "stop": {"iterations": 1}, **extra}
    assert _cli(tmp_path, data) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "run").exists()


def test_batched_runners_sample_with_the_learners_critic(ray_local, monkeypatch, tmp_path):
    """RLlib syncs inference-only weights when it builds, restores or restarts env
    runners; the batched runner's value targets need the learner's critic, so every
    batched sample (here the first one after a restore) starts from the learner's
    whole module."""
    from rllib_marl import MAPPOConfig
    from rllib_marl.batched_runner import BatchedEnvRunner

    cfg = (MAPPOConfig()
           .environment(env_config={"name": "vmas:simple_spread",
                                    "kwargs": {"num_envs": 4, "continuous_actions": False, "max_steps": 5}})
           .env_runners(num_env_runners=0).training(train_batch_size=40, minibatch_size=40, num_epochs=1, lr=0.01)
           .debugging(seed=0))
    algo = cfg.build_algo()
    for _ in range(3):
        algo.train()
    path = algo.save_to_path(str(tmp_path / "ck"))
    algo.stop()
    restored = cfg.build_algo()
    restored.restore_from_path(path)
    assert isinstance(restored.env_runner, BatchedEnvRunner)
    seen = []
    original = BatchedEnvRunner._sample_batched

    def check(self, *args, **kwargs):
        learner = restored.learner_group.get_weights()["shared"]
        mine = self.module["shared"].state_dict()
        critic = [k for k in learner if k.startswith("critic")]
        assert critic
        seen.append(all(np.allclose(learner[k], mine[k].cpu().numpy()) for k in critic))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BatchedEnvRunner, "_sample_batched", check)
    restored.train()
    restored.stop()
    assert seen == [True]


def test_batched_runner_samples_as_a_remote_actor(ray_local, tmp_path):
    """A remote env runner with its own batched env: rollouts and whole-module weights
    travel through Ray (the cluster path)."""
    import json

    data = {"algorithm": "mappo", "env": {"name": "vmas:simple_spread",
                                          "kwargs": {"num_envs": 8, "continuous_actions": False, "max_steps": 10,
                                                     "n_agents": 2}},
            "training": {"train_batch_size": 160, "minibatch_size": 80, "num_epochs": 1},
            "stop": {"iterations": 2}, "checkpoint": {"interval": 0}}
    assert _cli(tmp_path, data, "--num-env-runners", "1") == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["env_steps"] == 320
    assert np.isfinite(summary["team_return"])
