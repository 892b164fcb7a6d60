"""A tiny pixel game for the CNN path: name the quadrant the light is in.

Each agent sees its own ``size x size`` uint8 grayscale frame, black but for
a 2x2 white square at a random place; its action names the quadrant
(0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) and earns 1 when
right. ``max_steps`` frames per episode, a new square every step. Uniformly
random play earns 1/4 per agent per step (team return 0.25 x agents x steps,
summed); a perfect team earns agents x steps. The frames stay uint8 up to the
model (``rllib_marl.policies.nets.ObsEncoder``), which is what the game tests.
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class QuadrantEnv(ParallelEnv):
    metadata = {"render_modes": ["rgb_array"], "name": "quadrant_v0"}

    def __init__(self, size: int = 12, n_agents: int = 2, max_steps: int = 5, render_mode=None):
        if size < 4 or size % 2:
            raise ValueError(f"size must be even and >= 4, got {size}")
        self.size, self.max_steps = int(size), int(max_steps)
        self.possible_agents = [f"agent_{i}" for i in range(int(n_agents))]
        self.agents = []
        self.render_mode = render_mode
        self._rng = np.random.default_rng()
        self._pos = {}
        self._quad = {}
        self._t = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Box(0, 255, (self.size, self.size), np.uint8)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(4)

    def _draw(self):
        """A quadrant per agent, then a place for the square wholly inside it."""
        half = self.size // 2
        self._quad = {a: int(self._rng.integers(4)) for a in self.agents}
        self._pos = {a: (int(self._rng.integers(half - 1)) + half * (q // 2),
                         int(self._rng.integers(half - 1)) + half * (q % 2)) for a, q in self._quad.items()}

    def _frame(self, agent):
        f = np.zeros((self.size, self.size), np.uint8)
        r, c = self._pos[agent]
        f[r:r + 2, c:c + 2] = 255
        return f

    def _quadrant(self, agent) -> int:
        return self._quad[agent]

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._draw()
        return {a: self._frame(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        rewards = {a: float(int(actions[a]) == self._quadrant(a)) for a in self.agents}
        self._t += 1
        done = self._t >= self.max_steps
        self._draw()
        obs = {a: self._frame(a) for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self):
        frames = [np.stack([self._frame(a)] * 3, -1) for a in self.possible_agents if a in self._pos]
        return np.concatenate(frames, axis=1) if frames else np.zeros((self.size, self.size, 3), np.uint8)

    def state(self):
        return np.stack([self._frame(a) for a in self.possible_agents], -1)


def quadrant_game(**kwargs) -> QuadrantEnv:
    return QuadrantEnv(**kwargs)
