"""The env's own episode metrics, beside the returns.

Some envs measure more than reward: the MPE scenarios' ``benchmark_data`` is
what the MADDPG paper reports (touches in predator-prey, success in physical
deception, collisions in cooperative navigation). An :class:`EpisodeMetrics`
follows one episode of one env and gives a flat ``{name: float}`` at its end;
the adapter puts it in the final ``infos`` of every agent under
``env_metrics`` and the metrics callback logs each value (mean over episodes).

Measured here (mpe2, or PettingZoo's older ``pettingzoo.mpe``):

* ``simple_tag``: ``touches`` — predator-prey collisions summed over the
  episode (every predator's reward is 10 per such collision, so this is a
  predator's return / 10 when no shaping is on).
* ``simple_adversary``: ``good_success`` — 1 if, at the episode's last step, a
  good agent is within 2 goal-landmark radii of the goal; ``adversary_success``
  — 1 if the adversary is (the distance the scenario itself uses to switch
  its shaped reward off).
* ``simple_spread``: ``collisions`` — agent-agent collisions summed over the
  episode (each pair once per step); ``occupied_landmarks`` — landmarks with
  an agent within 0.1 at the last step (the scenario's ``benchmark_data``).

* our matrix games (``ipd``, ``rps``, ``climbing``, ``penalty``):
  ``action_<k>`` — the share of all players' moves in the episode that were
  action ``k``; the iterated prisoner's dilemma also gives ``cooperation``
  (share of moves that cooperate, action 0) and ``mutual_cooperation`` (share
  of rounds where both did).

Turn-based (AEC) envs are not measured.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

ENV_METRICS_INFO = "env_metrics"


class EpisodeMetrics:
    """Measures one episode: ``reset()``, ``step()`` after each env step, ``result()``."""

    def __init__(self, world, scenario):
        self.world = world
        self.scenario = scenario

    def reset(self) -> None:
        pass

    def step(self) -> None:
        pass

    def result(self) -> Dict[str, float]:
        raise NotImplementedError


def _positions(entities) -> np.ndarray:
    return np.array([e.state.p_pos for e in entities], dtype=np.float64).reshape(len(entities), -1)


def _collisions(a, b, same: bool) -> int:
    """Colliding pairs between entity lists ``a`` and ``b`` (``same``: one list, pairs once)."""
    if not a or not b:
        return 0
    d = np.linalg.norm(_positions(a)[:, None] - _positions(b)[None], axis=-1)
    reach = np.array([x.size for x in a])[:, None] + np.array([y.size for y in b])[None]
    hit = d < reach
    if same:
        hit = np.triu(hit, k=1)
    return int(hit.sum())


class _Tag(EpisodeMetrics):
    def reset(self):
        self.touches = 0

    def step(self):
        agents = self.world.agents
        self.touches += _collisions([a for a in agents if a.adversary],
                                    [a for a in agents if not a.adversary], same=False)

    def result(self):
        return {"touches": float(self.touches)}


class _Adversary(EpisodeMetrics):
    def result(self):
        agents = self.world.agents

        def near(agent) -> bool:
            goal = agent.goal_a
            return bool(np.linalg.norm(agent.state.p_pos - goal.state.p_pos) < 2 * goal.size)

        good = [a for a in agents if not a.adversary]
        bad = [a for a in agents if a.adversary]
        return {"good_success": float(any(near(a) for a in good)),
                "adversary_success": float(any(near(a) for a in bad))}


class _Spread(EpisodeMetrics):
    def reset(self):
        self.collisions = 0

    def step(self):
        agents = [a for a in self.world.agents if a.collide]
        self.collisions += _collisions(agents, agents, same=True)

    def result(self):
        pos = _positions(self.world.agents)
        lm = _positions(self.world.landmarks)
        d = np.linalg.norm(lm[:, None] - pos[None], axis=-1).min(axis=1)
        return {"collisions": float(self.collisions), "occupied_landmarks": float((d < 0.1).sum())}


class _Matrix(EpisodeMetrics):
    """``world`` is the MatrixGameEnv itself (no scenario)."""

    def reset(self):
        self.counts = np.zeros(self.world.n_actions)
        self.mutual = 0
        self.rounds = 0

    def step(self):
        joint = self.world._last
        if joint is None:
            return
        for a in joint:
            self.counts[int(a)] += 1
        self.mutual += int(all(int(a) == 0 for a in joint))
        self.rounds += 1

    def result(self):
        share = self.counts / max(1.0, self.counts.sum())
        out = {f"action_{k}": float(v) for k, v in enumerate(share)}
        if self.world.metadata.get("name") == "ipd_v0":
            out["cooperation"] = float(share[0])
            out["mutual_cooperation"] = self.mutual / max(1, self.rounds)
        return out


_BY_SCENARIO = {"simple_tag": _Tag, "simple_adversary": _Adversary, "simple_spread": _Spread}


def for_env(env) -> Optional[EpisodeMetrics]:
    """The metrics of a PettingZoo env (wrappers allowed), or None if it has none."""
    try:
        raw = env.unwrapped
    except Exception:  # noqa: BLE001 - an env without a reachable base has no metrics
        return None
    from rllib_marl.envs.games.matrix import MatrixGameEnv

    if isinstance(raw, MatrixGameEnv):
        return _Matrix(raw, None)
    if callable(getattr(raw, "episode_metrics", None)):  # VMAS: the scenario's summed step infos
        return raw.episode_metrics()
    scenario, world = getattr(raw, "scenario", None), getattr(raw, "world", None)
    if scenario is None or world is None:
        return None
    module = type(scenario).__module__
    if not module.startswith(("mpe2.", "pettingzoo.mpe.")):
        return None
    cls = _BY_SCENARIO.get(module.rsplit(".", 1)[-1])
    return cls(world, scenario) if cls else None
