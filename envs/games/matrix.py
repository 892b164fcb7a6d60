"""Small cooperative and social-dilemma games as PettingZoo Parallel envs.

Every game here is a :class:`MatrixGameEnv`: ``n`` players choose simultaneously
from a few actions for ``rounds`` rounds and are paid from a payoff table. The
observation of every player is the last joint action, one-hot per player and
concatenated (all zeros on the first round), plus a one-hot round counter.

The payoff tables are the standard ones from the literature:

* Iterated prisoner's dilemma (actions: 0 = cooperate, 1 = defect): payoffs
  (C,C) = (3,3), (C,D) = (0,5), (D,C) = (5,0), (D,D) = (1,1).
* Climbing game (Claus & Boutilier, 1998): a shared payoff with optimum 11 next
  to heavy penalties (-30) for miscoordination.
* Penalty game with parameter ``k <= 0``: a shared payoff with two optima (10)
  that are penalized by ``k`` when the players miscoordinate across them.
* Rock-paper-scissors (actions: 0 = rock, 1 = paper, 2 = scissors), zero-sum:
  a win pays +1 to the winner and -1 to the loser, a tie 0. As a one-shot game
  (``rounds: 1``) its unique Nash equilibrium is uniform play, and the env
  exposes its row payoff (``zero_sum_payoff``) for exact exploitability.
"""

from __future__ import annotations

import functools
from typing import Dict, Optional, Sequence

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

PRISONERS_DILEMMA = np.array(
    [[[3.0, 3.0], [0.0, 5.0]], [[5.0, 0.0], [1.0, 1.0]]], dtype=np.float32
)

CLIMBING = np.array(
    [[11.0, -30.0, 0.0], [-30.0, 7.0, 6.0], [0.0, 0.0, 5.0]], dtype=np.float32
)


ROCK_PAPER_SCISSORS = np.stack(
    [np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=np.float32),
     -np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=np.float32)],
    axis=-1,
)


def penalty_matrix(k: float) -> np.ndarray:
    """The penalty game's shared payoff table; ``k`` must be <= 0."""
    if k > 0:
        raise ValueError(f"penalty game: k must be <= 0, got {k}")
    return np.array(
        [[10.0, 0.0, k], [0.0, 2.0, 0.0], [k, 0.0, 10.0]], dtype=np.float32
    )


class MatrixGameEnv(ParallelEnv):
    """A repeated n-player normal-form game.

    Args:
        payoffs: Either a shared table of shape ``[A] * n`` (every player gets
            the same payoff) or a general table of shape ``[A] * n + [n]``.
        n_players: ``n``.
        rounds: Number of rounds per episode (the episode is truncated after).
        name: Name shown in ``metadata``.
    """

    metadata = {"render_modes": ["ansi"], "name": "matrix_game_v0"}

    def __init__(
        self,
        payoffs: np.ndarray,
        n_players: int = 2,
        rounds: int = 1,
        name: str = "matrix_game_v0",
        render_mode: Optional[str] = None,
    ):
        payoffs = np.asarray(payoffs, dtype=np.float32)
        n_actions = payoffs.shape[0]
        shared = payoffs.ndim == n_players
        ok = set(payoffs.shape[:n_players]) == {n_actions} and (
            shared or payoffs.shape[n_players:] == (n_players,)
        )
        if not ok:
            raise ValueError(
                f"payoff table of shape {payoffs.shape} does not fit {n_players} players"
            )
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.payoffs = payoffs
        self.shared = shared
        self.n_actions = n_actions
        self.rounds = rounds
        self.render_mode = render_mode
        # A shared payoff is one team reward handed to every player: the team
        # return is then that common value (the mean over players), not the sum.
        self.metadata = dict(
            self.metadata, name=name, team_return="mean" if shared else "sum"
        )
        # A one-shot two-player zero-sum game: the row player's payoff, for exact
        # exploitability (rllib_marl.league); None otherwise.
        self.zero_sum_payoff = (
            payoffs[..., 0].astype(np.float64)
            if not shared and n_players == 2 and rounds == 1
            and np.allclose(payoffs[..., 0], -payoffs[..., 1])
            else None
        )
        self.possible_agents = [f"player_{i}" for i in range(n_players)]
        self.agents = []
        obs_dim = n_players * n_actions + rounds
        self._obs_space = spaces.Box(0.0, 1.0, (obs_dim,), np.float32)
        self._act_space = spaces.Discrete(n_actions)
        self._t = 0
        self._last: Optional[Sequence[int]] = None

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return self._obs_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return self._act_space

    def _obs(self) -> np.ndarray:
        o = np.zeros(self._obs_space.shape, np.float32)
        if self._last is not None:
            for i, a in enumerate(self._last):
                o[i * self.n_actions + int(a)] = 1.0
        o[len(self.possible_agents) * self.n_actions + min(self._t, self.rounds - 1)] = 1.0
        return o

    def state(self) -> np.ndarray:
        return self._obs()

    def reset(self, seed=None, options=None):
        if seed is not None:
            for space in (self._obs_space, self._act_space):
                space.seed(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._last = None
        o = self._obs()
        return {a: o.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: Dict[str, int]):
        joint = tuple(int(actions[a]) for a in self.possible_agents)
        pay = self.payoffs[joint]
        if self.shared:
            rewards = {a: float(pay) for a in self.agents}
        else:
            rewards = {a: float(pay[i]) for i, a in enumerate(self.possible_agents)}
        self._last = joint
        self._t += 1
        done = self._t >= self.rounds
        o = self._obs()
        obs = {a: o.copy() for a in self.agents}
        terms = {a: False for a in self.agents}
        truncs = {a: done for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self):
        return f"round {self._t}, last joint action {self._last}"


def iterated_prisoners_dilemma(rounds: int = 10, render_mode=None) -> MatrixGameEnv:
    """Two players, ``rounds`` rounds of the prisoner's dilemma (0 = C, 1 = D)."""
    return MatrixGameEnv(PRISONERS_DILEMMA, 2, rounds, "ipd_v0", render_mode)


def climbing_game(rounds: int = 1, render_mode=None) -> MatrixGameEnv:
    """Two players, the climbing game (optimum 11 at joint action (0, 0))."""
    return MatrixGameEnv(CLIMBING, 2, rounds, "climbing_v0", render_mode)


def penalty_game(k: float = -100.0, rounds: int = 1, render_mode=None) -> MatrixGameEnv:
    """Two players, the penalty game with miscoordination penalty ``k <= 0``."""
    return MatrixGameEnv(penalty_matrix(k), 2, rounds, "penalty_v0", render_mode)


def rock_paper_scissors(rounds: int = 1, render_mode=None) -> MatrixGameEnv:
    """Two players, zero-sum rock-paper-scissors (one-shot by default)."""
    return MatrixGameEnv(ROCK_PAPER_SCISSORS, 2, rounds, "rps_v0", render_mode)
