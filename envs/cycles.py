"""A cheaper AEC→parallel step for PettingZoo's own conversion.

Most PettingZoo envs with simultaneous moves (butterfly, MPE, SISL) are AEC
envs underneath: ``parallel_env()`` wraps them in
``pettingzoo.utils.conversions.aec_to_parallel_wrapper``, whose ``step`` reads
``last()`` for each agent before stepping it and throws the result away. For
pixel envs that costs an observation per agent per step: a copy of the screen
through every SuperSuit wrapper below the conversion (about a third of
cooperative pong's step time). ``speed_up_conversions`` gives each such
wrapper in a built env a ``step`` that does the same cycle without that read:
the same observations, rewards, terminations, truncations and infos, the same
checks (agents step in a cycle; agents leave only at the end of one).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator

from pettingzoo.utils.conversions import aec_to_parallel_wrapper


class CyclingParallelWrapper(aec_to_parallel_wrapper):
    """``aec_to_parallel_wrapper`` whose step does not read ``last()``."""

    def step(self, actions: Dict[str, Any]):
        aec = self.aec_env
        rewards: Dict[str, float] = {}
        for agent in list(aec.agents):
            acting = aec.agent_selection
            if agent != acting:
                done = aec.terminations[agent] or aec.truncations[agent]
                raise AssertionError(
                    f"parallel step: expected {agent} to act next, got {acting}; "
                    + ("agents may only leave at the end of a cycle" if done else "agents must act in a cycle"))
            aec.step(actions[agent])
            for other in aec.agents:
                rewards[other] = rewards.get(other, 0) + aec.rewards[other]
        terminations = dict(aec.terminations)
        truncations = dict(aec.truncations)
        infos = dict(aec.infos)
        observations = {agent: aec.observe(agent) for agent in aec.agents}
        # Agents that ended this cycle are stepped out with None actions.
        while aec.agents and (aec.terminations[aec.agent_selection] or aec.truncations[aec.agent_selection]):
            aec.step(None)
        self.agents = aec.agents
        return observations, rewards, terminations, truncations, infos


def wrapper_chain(env, depth: int = 64) -> Iterator[Any]:
    """``env`` and every env it wraps, outermost first (through ``env`` and
    ``aec_env`` attributes)."""
    for _ in range(depth):
        if env is None:
            return
        yield env
        inner = getattr(env, "__dict__", {})
        env = next((inner[a] for a in ("env", "aec_env") if inner.get(a) is not None), None)


def speed_up_conversions(env) -> int:
    """Gives every exact ``aec_to_parallel_wrapper`` in ``env``'s wrapper chain
    the cheaper step (in place); returns how many it changed."""
    return _set_step(env, aec_to_parallel_wrapper, CyclingParallelWrapper)


def restore_pettingzoo_step(env) -> int:
    """The reverse of :func:`speed_up_conversions`, for side-by-side comparisons
    (tests/test_env_cycles.py, benchmarks/env_cycles.py)."""
    return _set_step(env, CyclingParallelWrapper, aec_to_parallel_wrapper)


def _set_step(env, old: type, new: type) -> int:
    changed = 0
    for e in list(wrapper_chain(env)):
        if type(e) is old:
            e.__class__ = new
            changed += 1
    return changed
