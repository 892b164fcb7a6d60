"""Lever pulling (the CommNet paper's coordination task, as our own game).

Each episode draws ``n_agents`` identities at random from a pool of
``pool_size``; the agent in each seat sees only its identity (one-hot) and pulls
one of ``n_agents`` levers. All agents receive the same reward: the fraction of
distinct levers pulled. One step per episode.

Without communication an agent's lever can depend only on its own identity, so
the best a team can do is a fixed identity → lever map; its expected reward is
:func:`no_comm_ceiling` (about ``1 - (1 - 1/N)^N``: 0.672 for N = 5 from a pool
of 500). Agents that can exchange messages can agree on distinct levers and
reach 1. Seats carry no information: configs must leave ``env.agent_id: false``
(with a seat one-hot, seat i could simply pull lever i).
"""

from __future__ import annotations

import functools
from math import comb

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


def covered_probability(pool_size: int, n_agents: int, group: int) -> float:
    """P(at least one of ``n_agents`` identities drawn without replacement from
    ``pool_size`` falls in a given set of ``group`` identities)."""
    return 1.0 - comb(pool_size - group, n_agents) / comb(pool_size, n_agents)


def no_comm_ceiling(pool_size: int, n_agents: int) -> float:
    """The exact best expected reward without communication.

    A decentralized policy maps each identity to a lever (a stochastic one is a
    mixture of such maps, so it does no better in expectation). With ``m_l``
    identities on lever ``l``, the expected fraction of distinct levers is
    ``mean_l P(lever l covered)``, and ``P`` is concave in ``m_l``: the best map
    splits the pool as evenly as possible.
    """
    base, extra = divmod(pool_size, n_agents)
    sizes = [base + 1] * extra + [base] * (n_agents - extra)
    return sum(covered_probability(pool_size, n_agents, m) for m in sizes) / n_agents


class LeverEnv(ParallelEnv):
    # Every agent receives the one team reward: the team return is its mean.
    metadata = {"render_modes": [], "name": "levers_v0", "team_return": "mean"}

    def __init__(self, n_agents: int = 5, pool_size: int = 500, render_mode=None):
        if pool_size < n_agents or n_agents < 2:
            raise ValueError(f"need 2 <= n_agents <= pool_size, got n_agents={n_agents}, pool_size={pool_size}")
        self.n_agents, self.pool_size = int(n_agents), int(pool_size)
        self.possible_agents = [f"agent_{i}" for i in range(self.n_agents)]
        self.agents = []
        self.render_mode = render_mode
        self._rng = np.random.default_rng()
        self.identity = {}

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Discrete(self.pool_size)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(self.n_agents)

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        drawn = self._rng.choice(self.pool_size, self.n_agents, replace=False)
        self.identity = {a: int(i) for a, i in zip(self.agents, drawn)}
        return dict(self.identity), {a: {} for a in self.agents}

    def step(self, actions):
        levers = {int(actions[a]) for a in self.agents}
        r = len(levers) / self.n_agents
        obs = dict(self.identity)
        rewards = {a: r for a in self.agents}
        terms = {a: True for a in self.agents}
        truncs = {a: False for a in self.agents}
        infos = {a: {} for a in self.agents}
        self.agents = []
        return obs, rewards, terms, truncs, infos


def lever_game(**kwargs) -> LeverEnv:
    return LeverEnv(**kwargs)
