"""Exact exploitability of a trained module in an OpenSpiel game.

The module's action probabilities at every information state of the game
(:func:`rllib_marl.envs.games.openspiel.info_states`, each observation built
exactly as the env runners build it, through the env adapter) fill an OpenSpiel
``TabularPolicy``, which OpenSpiel's own evaluator scores::

    NashConv = sum over players of (best-response value - the policy's value)
    exploitability = NashConv / number of players

Both are 0 exactly at a Nash equilibrium. One module plays every seat (the
information state says whose turn it is). Uniform random play in two-player Kuhn
poker: NashConv 11/12, exploitability 0.458; in Leduc poker 4.747 / 2.374.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np


def tabular_policy(game, probs_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]):
    """An OpenSpiel ``TabularPolicy`` from ``probs_fn(players, observations,
    masks) -> [S, A]`` over all information states (illegal actions dropped and
    each row renormalized; a row with no mass on a legal action is uniform)."""
    from open_spiel.python import policy as osp

    from rllib_marl.envs.games.openspiel import info_states

    tab = osp.TabularPolicy(game)
    states = info_states(game)
    players = np.array([p for _, p, _ in states])
    obs = np.stack([o["observation"] for _, _, o in states])
    masks = np.stack([o["action_mask"] for _, _, o in states]).astype(np.float64)
    probs = np.asarray(probs_fn(players, obs, masks), np.float64) * masks
    total = probs.sum(-1, keepdims=True)
    probs = np.where(total > 0, probs / np.where(total > 0, total, 1.0), masks / masks.sum(-1, keepdims=True))
    for (key, _, _), row in zip(states, probs):
        tab.action_probability_array[tab.state_lookup[key]] = row
    return tab


def nash_conv(game, probs_fn) -> float:
    from open_spiel.python.algorithms import exploitability

    return float(exploitability.nash_conv(game, tabular_policy(game, probs_fn)))


def exploitability_of(game, probs_fn) -> float:
    return nash_conv(game, probs_fn) / game.num_players()


def average_policy(game, probs: np.ndarray, weights) -> np.ndarray:
    """The behaviour policy of a mixture of policies (``probs`` ``[K, S, A]`` over
    :func:`info_states`, ``weights`` ``[K]``): at each information state, each
    policy's probabilities weighted by the mixture weight times the probability
    that the policy itself takes its player there (its own actions only; with
    perfect recall that is a function of the information state). Playing it is
    the same as drawing one policy of the mixture per game: what fictitious play
    converges with, while its last iterate may not."""
    from rllib_marl.envs.games.openspiel import info_states

    keys = {key: i for i, (key, _, _) in enumerate(info_states(game))}
    probs = np.asarray(probs, np.float64)
    w = np.asarray(weights, np.float64) / np.sum(weights)
    K, S, A = probs.shape
    num, den, done = np.zeros((S, A)), np.zeros(S), np.zeros(S, bool)

    def walk(state, reach):
        if state.is_terminal():
            return
        if state.is_chance_node():
            for a, _ in state.chance_outcomes():
                walk(state.child(a), reach)
            return
        p = state.current_player()
        i = keys[state.information_state_string(p)]
        if not done[i]:
            done[i] = True
            num[i] = (w * reach[p]) @ probs[:, i, :]
            den[i] = float(w @ reach[p])
        for a in state.legal_actions():
            child = list(reach)
            child[p] = reach[p] * probs[:, i, a]
            walk(state.child(a), child)

    walk(game.new_initial_state(), [np.ones(K) for _ in range(game.num_players())])
    out = np.full((S, A), 1.0 / A)
    ok = den > 0
    out[ok] = num[ok] / den[ok, None]
    return out


class OpenSpielEvaluator:
    """Exact exploitability of modules in the OpenSpiel game of an env config, or
    built by :func:`evaluator_for` only where the env is one."""

    def __init__(self, adapter):
        from rllib_marl.envs.games.openspiel import info_states

        self.adapter = adapter
        self.game = adapter.env.unwrapped.game
        states = info_states(self.game)
        built = [adapter._build_obs({f"player_{p}": o}, {})[f"player_{p}"] for _, p, o in states]
        self._batch = {k: np.stack([b[k] for b in built]) for k in built[0]}

    def probs(self, module) -> np.ndarray:
        """The module's action probabilities ``[S, A]`` at every information state
        (in :func:`info_states` order; masked by the module as when acting)."""
        import torch
        from ray.rllib.core.columns import Columns

        batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in self._batch.items()}}
        with torch.no_grad():
            logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
            return torch.softmax(logits.double(), -1).cpu().numpy()

    def exploitability(self, module) -> float:
        probs = self.probs(module)
        return exploitability_of(self.game, lambda players, obs, masks: probs)

    def mixture_exploitability(self, modules, weights=None) -> float:
        """Exploitability of a mixture of modules (uniform by default), played as
        one policy (:func:`average_policy`)."""
        probs = np.stack([self.probs(m) for m in modules])
        avg = average_policy(self.game, probs, np.ones(len(modules)) if weights is None else weights)
        return exploitability_of(self.game, lambda players, obs, masks: avg)


def evaluator_for(env_config: Dict[str, Any]) -> Optional[OpenSpielEvaluator]:
    """An evaluator when the env config names an OpenSpiel game, else None."""
    from rllib_marl.envs.games.openspiel import OPENSPIEL

    name = (env_config or {}).get("name")
    if not (isinstance(name, str) and name.startswith(OPENSPIEL)):
        return None
    from rllib_marl.envs.adapter import make_env

    return OpenSpielEvaluator(make_env(dict(env_config)))
