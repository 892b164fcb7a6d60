"""Tiny PettingZoo envs that exercise adapter edge cases (importable by path)."""

import functools
import os

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


class RandomDoneEnv(ParallelEnv):
    """Seeded randomness everywhere: observations, rewards, which agents die when,
    and per-step action masks (in infos). Episodes last at most ``max_steps``;
    agents still alive then are truncated, the others terminated earlier.
    """

    metadata = {"name": "random_done_v0"}

    def __init__(self, max_steps: int = 12, p_die: float = 0.08, render_mode=None):
        self.possible_agents = ["x", "y", "z"]
        self.agents = []
        self.max_steps = max_steps
        self.p_die = p_die
        self.render_mode = render_mode
        self.rng = np.random.default_rng()
        self.t = 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Box(-10.0, 10.0, (3,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(4)

    def _obs_infos(self):
        obs = {a: self.rng.normal(size=3).astype(np.float32) for a in self.agents}
        infos = {}
        for a in self.agents:
            mask = (self.rng.random(4) < 0.6).astype(np.int8)
            mask[self.rng.integers(4)] = 1
            infos[a] = {"action_mask": mask}
        return obs, infos

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.t = 0
        self.agents = list(self.possible_agents)
        return self._obs_infos()

    def step(self, actions):
        self.t += 1
        rewards = {a: float(actions[a]) + float(self.rng.normal()) for a in self.agents}
        terms = {a: bool(self.rng.random() < self.p_die) for a in self.agents}
        last = self.t >= self.max_steps
        truncs = {a: last and not terms[a] for a in self.agents}
        obs, infos = self._obs_infos()
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, infos


def random_done(max_steps: int = 12, render_mode=None):
    return RandomDoneEnv(max_steps, render_mode=render_mode)


class FlakyEnv(RandomDoneEnv):
    """Raises on the ``fail_at``-th step of its life.

    With ``marker`` (a file path) it fails only once per test: the first env to
    reach ``fail_at`` creates the file, later instances see it and run clean.
    """

    def __init__(self, fail_at: int = 30, marker: str = "", render_mode=None):
        super().__init__(render_mode=render_mode)
        self.fail_at = fail_at
        self.marker = marker
        self.steps = 0

    def step(self, actions):
        self.steps += 1
        if self.steps == self.fail_at:
            if not self.marker:
                raise RuntimeError("flaky env: simulated crash")
            if not os.path.exists(self.marker):
                open(self.marker, "w").close()
                raise RuntimeError("flaky env: simulated crash")
        return super().step(actions)


def flaky(fail_at: int = 30, marker: str = "", render_mode=None):
    return FlakyEnv(fail_at, marker, render_mode=render_mode)


class EchoEnv(ParallelEnv):
    """2 agents; each sees its own last action (one-hot) and its index, and is
    paid its own action plus 10 x its index; all end together after a random
    length (terminated). A recorded episode whose actions do not match the next
    observations and the rewards, agent by agent, has mixed up agents or steps.

    ``reuse_buffers``: every step returns the same array per agent, overwritten
    in place, as SuperSuit's ``frame_stack_v1`` does; a consumer that keeps the
    arrays it was given without copying them ends up with every step's
    observation equal to the last one."""

    metadata = {"name": "echo_v0"}

    def __init__(self, render_mode=None, reuse_buffers=False):
        self.possible_agents = ["left", "right"]
        self.agents = []
        self.render_mode = render_mode
        self.rng = np.random.default_rng()
        self._buffers = {i: np.zeros(5, np.float32) for i in range(2)} if reuse_buffers else None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return spaces.Box(0.0, 1.0, (5,), np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return spaces.Discrete(3)

    def _obs(self, i, last):
        o = np.zeros(5, np.float32) if self._buffers is None else self._buffers[i]
        o[:] = 0.0
        if last is not None:
            o[int(last)] = 1.0
        o[3 + i] = 1.0
        return o

    def reset(self, seed=None, options=None):
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.left = int(self.rng.integers(3, 12))
        return {a: self._obs(i, None) for i, a in enumerate(self.agents)}, {a: {} for a in self.agents}

    def step(self, actions):
        self.left -= 1
        obs = {a: self._obs(i, actions[a]) for i, a in enumerate(self.agents)}
        rewards = {a: float(actions[a]) + 10.0 * i for i, a in enumerate(self.agents)}
        terms = {a: self.left <= 0 for a in self.agents}
        truncs = {a: False for a in self.agents}
        if self.left <= 0:
            self.agents = []
        return obs, rewards, terms, truncs, {a: {} for a in obs}


def echo(render_mode=None, reuse_buffers=False):
    return EchoEnv(render_mode, reuse_buffers)
