"""Tiny PettingZoo envs that exercise adapter edge cases (importable by path)."""

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class MixedDoneEnv(ParallelEnv):
    """3 agents; on the last step a terminates, b and c truncate. c dies at step 1.

    Agent ``b`` gets an action mask in its info (action 0 forbidden).
    """

    metadata = {"name": "mixed_done_v0"}

    def __init__(self, steps: int = 3, render_mode=None):
        self.possible_agents = ["c", "a", "b"]  # deliberately unsorted
        self.agents = []
        self.steps = steps
        self.render_mode = render_mode
        self.t = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Box(-1.0, 1.0, (2,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(3)

    def _obs(self, a):
        return np.array([self.t / 10.0, ord(a) / 1000.0], np.float32)

    def reset(self, seed=None, options=None):
        self.t = 0
        self.agents = list(self.possible_agents)
        infos = {a: {} for a in self.agents}
        infos["b"]["action_mask"] = np.array([0, 1, 1], np.int8)
        return {a: self._obs(a) for a in self.agents}, infos

    def step(self, actions):
        self.t += 1
        rewards = {a: float(actions[a]) for a in self.agents}
        last = self.t >= self.steps
        terms = {a: (a == "a" and last) or (a == "c" and self.t == 1) for a in self.agents}
        truncs = {a: a == "b" and last for a in self.agents}
        obs = {a: self._obs(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        if "b" in infos:
            infos["b"]["action_mask"] = np.array([0, 1, 1], np.int8)
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, infos


def mixed_done(steps: int = 3, render_mode=None):
    return MixedDoneEnv(steps, render_mode)


class MultiBinaryEnv(MixedDoneEnv):
    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.MultiBinary(3)


def multibinary(render_mode=None):
    return MultiBinaryEnv(render_mode=render_mode)
