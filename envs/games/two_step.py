"""The two-step cooperative game from the QMIX paper (Rashid et al., 2018).

Two agents, two actions each. In the first step agent 0's action picks which
matrix game is played in the second step (agent 1's first action does not
matter); both first-step rewards are 0. State 2A pays 7 whatever the agents do;
state 2B pays [[0, 1], [1, 8]]. The optimal joint return is 8; a value
decomposition that is additive (VDN) settles on 7.

Observations are the one-hot state (1, 2A, 2B) shared by both agents; the global
state is the same one-hot.
"""

from __future__ import annotations

import functools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

PAYOFF_2A = np.full((2, 2), 7.0, dtype=np.float32)
PAYOFF_2B = np.array([[0.0, 1.0], [1.0, 8.0]], dtype=np.float32)


class TwoStepGameEnv(ParallelEnv):
    # Both agents receive the one team reward: the team return is its mean.
    metadata = {"render_modes": ["ansi"], "name": "two_step_v0", "team_return": "mean"}

    def __init__(self, render_mode=None):
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents = []
        self.render_mode = render_mode
        self._obs_space = spaces.Box(0.0, 1.0, (3,), np.float32)
        self._act_space = spaces.Discrete(2)
        self._state = 0  # 0 = first step, 1 = 2A, 2 = 2B

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return self._obs_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return self._act_space

    def state(self) -> np.ndarray:
        s = np.zeros(3, np.float32)
        s[self._state] = 1.0
        return s

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self._state = 0
        s = self.state()
        return {a: s.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        if self._state == 0:
            self._state = 1 if int(actions["agent_0"]) == 0 else 2
            r, done = 0.0, False
        else:
            table = PAYOFF_2A if self._state == 1 else PAYOFF_2B
            r = float(table[int(actions["agent_0"]), int(actions["agent_1"])])
            done = True
        s = self.state()
        obs = {a: s.copy() for a in self.agents}
        rewards = {a: r for a in self.agents}
        terms = {a: done for a in self.agents}
        truncs = {a: False for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self):
        return ["state 1", "state 2A", "state 2B"][self._state]


def two_step_game(render_mode=None) -> TwoStepGameEnv:
    return TwoStepGameEnv(render_mode)
