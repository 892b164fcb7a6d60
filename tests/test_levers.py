"""The lever-pulling game (issue #13's benchmark) and its exact no-communication ceiling."""

import itertools
from math import comb

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from rllib_marl.envs.games.levers import LeverEnv, covered_probability, no_comm_ceiling


def test_the_game_follows_pettingzoos_parallel_api():
    parallel_api_test(LeverEnv(n_agents=5, pool_size=50), num_cycles=20)


def test_reward_is_the_fraction_of_distinct_levers():
    env = LeverEnv(n_agents=4, pool_size=10)
    obs, _ = env.reset(seed=3)
    assert len(set(obs.values())) == 4  # drawn without replacement
    _, rewards, terms, _, _ = env.step({"agent_0": 0, "agent_1": 0, "agent_2": 1, "agent_3": 3})
    assert set(rewards.values()) == {0.75} and all(terms.values())


def test_ceiling_is_the_best_identity_to_lever_map():
    """Every way of splitting a small pool over the levers (what a deterministic
    decentralized policy is, up to relabelling) scores at most the ceiling; the
    even split reaches it."""
    pool, n = 9, 3
    best = max(
        sum(covered_probability(pool, n, m) for m in sizes) / n
        for sizes in itertools.product(range(pool + 1), repeat=n) if sum(sizes) == pool
    )
    assert best == pytest.approx(no_comm_ceiling(pool, n))
    assert no_comm_ceiling(n, n) == 1.0  # a pool of N: every identity its own lever
    assert covered_probability(10, 3, 0) == 0.0
    assert covered_probability(10, 3, 8) == pytest.approx(1 - comb(2, 3) / comb(10, 3))


def test_ceiling_matches_play_and_beats_random_levers():
    pool, n, episodes = 500, 5, 20000
    env = LeverEnv(n_agents=n, pool_size=pool)
    rng = np.random.default_rng(0)
    lever_of = np.arange(pool) % n  # the even split
    got, rand = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=i)
        _, r, *_ = env.step({a: int(lever_of[o]) for a, o in obs.items()})
        got.append(r["agent_0"])
        env.reset(seed=i)
        _, r, *_ = env.step({a: int(rng.integers(n)) for a in obs})
        rand.append(r["agent_0"])
    ceiling = no_comm_ceiling(pool, n)
    assert ceiling == pytest.approx(0.67397, abs=1e-5)
    assert np.mean(got) == pytest.approx(ceiling, abs=3 * np.std(got) / np.sqrt(episodes))
    assert np.mean(rand) == pytest.approx(1 - (1 - 1 / n) ** n, abs=3 * np.std(rand) / np.sqrt(episodes))
