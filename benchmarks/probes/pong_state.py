"""Cooperative pong with the game's true state as each paddle's observation.

A diagnostic for the pixel runs (docs/benchmarks.md, "Pixels"): the same game,
rewards, terminations and runner, but each paddle observes seven numbers
instead of frames: the ball's centre and velocity, its own paddle's centre,
the other paddle's centre, and which side it plays. With ``ego=False`` the
paddles come in a fixed order (left, right) for both, as in the frames, so a
shared policy must work out from the side which paddle is its own. If IPPO learns here and not
from frames, the frames (or what the CNN makes of them) are the problem; if it
does not learn here either, the problem is in the RL set-up.

Use as ``env.name: benchmarks.probes.pong_state:parallel_env`` with the
repository root on ``PYTHONPATH``.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.butterfly import cooperative_pong_v6


class PongState(ParallelEnv):
    metadata = {"name": "pong_state", "render_modes": []}

    def __init__(self, ego: bool = True, **kwargs):
        kwargs.pop("render_mode", None)
        self._ego = ego
        self._env = cooperative_pong_v6.parallel_env(**kwargs)
        self.possible_agents = list(self._env.possible_agents)
        self.agents = []
        box = spaces.Box(-2.0, 2.0, (7,), np.float32)
        self.observation_spaces = {a: box for a in self.possible_agents}
        self.action_spaces = {a: self._env.action_space(a) for a in self.possible_agents}

    def observation_space(self, agent):
        return self.observation_spaces[agent]

    def action_space(self, agent):
        return self.action_spaces[agent]

    def _game(self):
        return self._env.unwrapped.env

    def _obs(self):
        g = self._game()
        w, h = float(g.area.width), float(g.area.height)
        ball = g.ball._rect
        vx, vy = g.ball._speed
        p0, p1 = g.p0.rects[0].centery / h, g.p1.rects[0].centery / h
        common = [ball.centerx / w, ball.centery / h, vx / 9.0, vy / 9.0]
        out = {}
        for i, a in enumerate(self.possible_agents):
            own, other = (p0, p1) if i == 0 or not self._ego else (p1, p0)
            out[a] = np.asarray(common + [own, other, float(i)], np.float32)
        return {a: out[a] for a in self.agents}

    def reset(self, seed=None, options=None):
        _, infos = self._env.reset(seed=seed, options=options)
        self.agents = list(self._env.agents)
        return self._obs(), infos

    def step(self, actions):
        _, rew, term, trunc, infos = self._env.step(actions)
        obs = self._obs()
        self.agents = list(self._env.agents)
        return obs, rew, term, trunc, infos

    def close(self):
        self._env.close()


def parallel_env(**kwargs):
    return PongState(**kwargs)
