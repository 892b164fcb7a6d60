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


def legal_probs(probs: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Each row restricted to its legal actions and renormalized (uniform over
    them where a row puts no mass on any)."""
    probs = np.asarray(probs, np.float64) * masks
    total = probs.sum(-1, keepdims=True)
    return np.where(total > 0, probs / np.where(total > 0, total, 1.0), masks / masks.sum(-1, keepdims=True))


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
    probs = legal_probs(probs_fn(players, obs, masks), masks)
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


class Terminals:
    """Every terminal history of a game as arrays: its chance probability, its
    returns, and for each player the (information state, action) pairs that player
    chose on the way (indices into :func:`info_states` x actions, padded with a
    constant-1 slot) -- so the value of any pair of tabular policies is a product
    of gathered probabilities and one matrix product (:meth:`values`)."""

    def __init__(self, game):
        from rllib_marl.envs.games.openspiel import info_states

        self.n_players = game.num_players()
        self.n_actions = game.num_distinct_actions()
        states = info_states(game)
        keys = {key: i for i, (key, _, _) in enumerate(states)}
        self.n_states = len(keys)
        self.masks = np.stack([o["action_mask"] for _, _, o in states]).astype(np.float64)
        chance, returns, picks = [], [], [[] for _ in range(self.n_players)]

        def walk(state, c, own):
            if state.is_terminal():
                chance.append(c)
                returns.append(state.returns())
                for p in range(self.n_players):
                    picks[p].append(own[p])
                return
            if state.is_chance_node():
                for a, pr in state.chance_outcomes():
                    walk(state.child(a), c * pr, own)
                return
            p = state.current_player()
            i = keys[state.information_state_string(p)]
            for a in state.legal_actions():
                nxt = list(own)
                nxt[p] = own[p] + [i * self.n_actions + a]
                walk(state.child(a), c, nxt)

        walk(game.new_initial_state(), 1.0, [[] for _ in range(self.n_players)])
        self.chance = np.asarray(chance)
        self.returns = np.asarray(returns)  # [Z, players]
        pad = self.n_states * self.n_actions  # the constant-1 slot
        self.picks = []
        for p in range(self.n_players):
            width = max(1, max(len(x) for x in picks[p]))
            self.picks.append(np.array([x + [pad] * (width - len(x)) for x in picks[p]], np.int64))

    def reach(self, probs: np.ndarray, player: int) -> np.ndarray:
        """``[K, Z]``: the probability that each of K policies (``[K, S, A]``), as
        ``player``, takes its own actions along each terminal history (each row
        restricted to the legal actions and renormalized, as :func:`tabular_policy`)."""
        probs = legal_probs(probs, self.masks)
        flat = np.concatenate([probs.reshape(len(probs), -1), np.ones((len(probs), 1))], axis=1)
        return flat[:, self.picks[player]].prod(-1)

    def values(self, probs: np.ndarray) -> np.ndarray:
        """Two players: ``M[i, j]`` = policy i's expected return against policy j,
        averaged over the two seats (i as player 0 against j as player 1, and the
        other way round)."""
        if self.n_players != 2:
            raise ValueError("pairwise values are for two-player games")
        r0, r1 = self.reach(probs, 0), self.reach(probs, 1)
        u0, u1 = self.chance * self.returns[:, 0], self.chance * self.returns[:, 1]
        return 0.5 * ((r0 * u0) @ r1.T + (r1 * u1) @ r0.T)


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
        self._terminals: Optional[Terminals] = None

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

    def mixture_exploitability(self, modules, weights=None, probs: Optional[np.ndarray] = None) -> float:
        """Exploitability of a mixture of modules (uniform by default), played as
        one policy (:func:`average_policy`)."""
        if probs is None:
            probs = np.stack([self.probs(m) for m in modules])
        avg = average_policy(self.game, probs, np.ones(len(probs)) if weights is None else weights)
        return exploitability_of(self.game, lambda players, obs, masks: avg)

    def meta_game(self, probs: np.ndarray) -> np.ndarray:
        """The exact meta-game ``M[i, j]`` between policies ``probs`` ``[K, S, A]``."""
        if self._terminals is None:
            self._terminals = Terminals(self.game)
        return self._terminals.values(probs)

    def pool_metrics(self, modules) -> Dict[str, float]:
        """For a pool of modules: the exploitability of its uniform mixture and of
        its Nash meta-strategy (PSRO), and the meta-strategy's support size."""
        from rllib_marl.league.meta import symmetric_nash

        probs = np.stack([self.probs(m) for m in modules])
        out = {"uniform": self.mixture_exploitability(None, probs=probs)}
        if self.game.num_players() == 2:
            x = symmetric_nash(self.meta_game(probs))
            out["nash"] = self.mixture_exploitability(None, weights=x, probs=probs)
            out["nash_support"] = float((x > 1e-3).sum())
        return out


def evaluator_for(env_config: Dict[str, Any]) -> Optional[OpenSpielEvaluator]:
    """An evaluator when the env config names an OpenSpiel game, else None."""
    from rllib_marl.envs.games.openspiel import OPENSPIEL

    name = (env_config or {}).get("name")
    if not (isinstance(name, str) and name.startswith(OPENSPIEL)):
        return None
    from rllib_marl.envs.adapter import make_env

    return OpenSpielEvaluator(make_env(dict(env_config)))
