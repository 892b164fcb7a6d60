"""A small continuous cooperative game: two agents' actions must add up to a target.

Each of ``max_steps`` steps draws a target ``c ~ U(-1, 1)`` that both agents
observe; each agent acts with ``a_i`` in ``[-1, 1]`` and both receive the team
reward ``-(a_0 + a_1 - c)^2``. Any split of ``c`` between the agents is optimal
(return 0); uniformly random actions score ``-(1/3 + 1/3 + 1/3) = -1`` per step
in expectation. The reward depends on both actions, so an agent's own action
alone explains only part of it: a test bed for centralized critics that runs in
seconds.
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class TargetSumEnv(ParallelEnv):
    # Both agents receive the one team reward: the team return is its mean.
    metadata = {"render_modes": [], "name": "target_sum_v0", "team_return": "mean"}

    def __init__(self, max_steps: int = 5, render_mode=None):
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents = []
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self._rng = np.random.default_rng()
        self._c = 0.0
        self._t = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Box(-1.0, 1.0, (1,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Box(-1.0, 1.0, (1,), np.float32)

    def _obs(self):
        o = np.array([self._c], np.float32)
        return {a: o.copy() for a in self.agents}

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._c = float(self._rng.uniform(-1.0, 1.0))
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        total = sum(float(np.clip(np.asarray(actions[a]).reshape(-1)[0], -1.0, 1.0)) for a in self.agents)
        r = -((total - self._c) ** 2)
        self._t += 1
        self._c = float(self._rng.uniform(-1.0, 1.0))
        done = self._t >= self.max_steps
        obs = self._obs()
        rewards = {a: r for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def target_sum_game(max_steps: int = 5, render_mode=None) -> TargetSumEnv:
    return TargetSumEnv(max_steps, render_mode)
