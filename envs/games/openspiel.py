"""OpenSpiel's turn-based games as PettingZoo AEC envs (``env.name: openspiel:<game>``).

``openspiel:kuhn_poker``, ``openspiel:leduc_poker``, ``openspiel:tic_tac_toe``
or any sequential OpenSpiel game with information-state tensors; ``env.kwargs``
are the game's parameters (``{players: 3}`` for three-player Kuhn). Needs
``open-spiel`` (``pip install 'rllib_marl[openspiel]'``).

Conventions:

* agents ``player_0`` .. ``player_{n-1}``: OpenSpiel's player ids;
* chance nodes (the deal) are resolved inside the env by sampling OpenSpiel's
  own ``chance_outcomes()`` with the env's seeded RNG, so the learning agents
  only ever see decision nodes, and an episode ends exactly where OpenSpiel's
  state is terminal (no step limit counts chance moves: the Shimmy 2.0.1 wrapper
  counted them against ``max_game_length()`` and cut two-player Kuhn after its
  first bet);
* observation: ``{"observation": information_state_tensor(player),
  "action_mask": legal_actions_mask(player)}`` (the mask is all zeros when it is
  not the agent's turn); the action space is ``Discrete(num_distinct_actions)``;
* rewards: OpenSpiel's ``rewards()`` after every move (the terminal payoffs
  for poker), so an episode's return per agent is ``state.returns()``. Poker is
  zero-sum: report each seat, never a sum over the two.

:func:`info_states` enumerates every information state of a game with the
observation each player sees there, which is what exact exploitability
(:mod:`rllib_marl.league.openspiel_eval`) evaluates a module on.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv

OPENSPIEL = "openspiel:"
INSTALL = "pip install 'rllib_marl[openspiel]' (or pip install open-spiel)"


def load_game(name: str, params: Optional[Dict[str, Any]] = None):
    """``pyspiel.load_game`` with a one-line error for what a user can get wrong."""
    try:
        import pyspiel
    except ImportError:
        raise ValueError(f"openspiel:{name} needs open-spiel, which is not installed; {INSTALL}") from None
    registered = pyspiel.registered_names()
    if name not in registered:
        close = [g for g in registered if name.split("_")[0] in g][:8]
        raise ValueError(f"openspiel: no game {name!r}" + (f"; similar: {', '.join(close)}" if close else "")
                         + " (pyspiel.registered_names() lists them)")
    try:
        game = pyspiel.load_game(name, dict(params or {}))
    except pyspiel.SpielError as e:
        raise ValueError(f"openspiel:{name}: {e}") from None
    gt = game.get_type()
    if gt.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
        raise ValueError(f"openspiel:{name} is a simultaneous-move game; only turn-based (sequential) games "
                         "are supported (matrix games: the built-in rps, ipd, ...)")
    if not gt.provides_information_state_tensor:
        raise ValueError(f"openspiel:{name} has no information-state tensor to observe")
    return game


def observation_of(state, player: int) -> Dict[str, np.ndarray]:
    """What ``player`` sees at ``state``: its information-state tensor and, when it
    is to move, the legal-action mask."""
    n = state.get_game().num_distinct_actions()
    mask = np.zeros(n, np.int8)
    if not state.is_terminal() and state.current_player() == player:
        mask[state.legal_actions(player)] = 1
    return {"observation": np.asarray(state.information_state_tensor(player), np.float32), "action_mask": mask}


def info_states(game) -> List[Tuple[str, int, Dict[str, np.ndarray]]]:
    """Every decision node's ``(information state string, player, observation)``,
    one per information state (depth-first over all chance outcomes)."""
    seen: Dict[str, Tuple[str, int, Dict[str, np.ndarray]]] = {}

    def walk(state):
        if state.is_terminal():
            return
        if state.is_chance_node():
            for a, _ in state.chance_outcomes():
                walk(state.child(a))
            return
        p = state.current_player()
        key = state.information_state_string(p)
        if key not in seen:
            seen[key] = (key, p, observation_of(state, p))
        for a in state.legal_actions():
            walk(state.child(a))

    walk(game.new_initial_state())
    return list(seen.values())


class OpenSpielEnv(AECEnv):
    """A sequential OpenSpiel game as a PettingZoo AEC env (see module docstring)."""

    metadata = {"name": "openspiel", "is_parallelizable": False, "render_modes": ["ansi"]}

    def __init__(self, game: str = "kuhn_poker", render_mode: Optional[str] = None, **params):
        super().__init__()
        self.game_name = game
        self.game = load_game(game, params)
        self.render_mode = render_mode
        import pyspiel

        zero_sum = self.game.get_type().utility == pyspiel.GameType.Utility.ZERO_SUM
        self.metadata = {**self.metadata, "zero_sum": zero_sum}  # each seat reported, never their sum
        n = self.game.num_players()
        self.possible_agents = [f"player_{i}" for i in range(n)]
        self.agents: List[str] = []
        (dim,) = self.game.information_state_tensor_shape()
        n_actions = self.game.num_distinct_actions()
        self._obs_space = spaces.Dict({
            "observation": spaces.Box(-np.inf, np.inf, (dim,), np.float32),
            "action_mask": spaces.Box(0, 1, (n_actions,), np.int8),
        })
        self._act_space = spaces.Discrete(n_actions)
        self.observation_spaces = {a: self._obs_space for a in self.possible_agents}
        self.action_spaces = {a: self._act_space for a in self.possible_agents}
        self.state = None
        self._rng = np.random.default_rng()

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def _player(self, agent: str) -> int:
        return int(agent.rsplit("_", 1)[1])

    def _deal(self) -> np.ndarray:
        """Resolves chance nodes with the env's RNG (OpenSpiel's own probabilities);
        returns the rewards earned on the way (none in poker)."""
        gained = np.zeros(self.game.num_players())
        while self.state.is_chance_node():
            outcomes, probs = zip(*self.state.chance_outcomes())
            self.state.apply_action(int(self._rng.choice(outcomes, p=np.asarray(probs) / np.sum(probs))))
            gained += np.asarray(self.state.rewards(), np.float64)
        return gained

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.state = self.game.new_initial_state()
        self._deal()
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self._select()

    def _select(self) -> None:
        if self.state.is_terminal():
            self.terminations = {a: True for a in self.agents}
            # Dead-step the agents in order; PettingZoo's _was_dead_step moves on.
            self.agent_selection = self.agents[0]
        else:
            self.agent_selection = f"player_{self.state.current_player()}"

    def observe(self, agent: str) -> Dict[str, np.ndarray]:
        return observation_of(self.state, self._player(agent))

    def step(self, action) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        action = int(action)
        legal = self.state.legal_actions()
        if action not in legal:
            raise ValueError(f"openspiel:{self.game_name}: action {action} is illegal for {agent} here; "
                             f"legal: {legal} (use the observation's action_mask)")
        self._cumulative_rewards[agent] = 0.0
        self.state.apply_action(action)
        gained = np.asarray(self.state.rewards(), np.float64) + self._deal()
        self.rewards = {a: float(gained[self._player(a)]) for a in self.agents}
        self._accumulate_rewards()
        self._select()

    def render(self):
        return str(self.state)

    def close(self):
        pass


def openspiel_env(game: str = "kuhn_poker", render_mode: Optional[str] = None, **params) -> OpenSpielEnv:
    return OpenSpielEnv(game, render_mode=render_mode, **params)
