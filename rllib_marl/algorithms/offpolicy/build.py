"""The part of building an RLlib config that every off-policy algorithm shares."""

from __future__ import annotations

import math
from typing import Dict, List, Tuple


def agent_groups(agents: List[str], mapping: Dict[str, str]) -> List[Tuple[str, List[int]]]:
    """``(module id, indices of its agents in sorted order)`` per acting module."""
    groups: Dict[str, List[int]] = {}
    for i, aid in enumerate(agents):
        groups.setdefault(mapping[aid], []).append(i)
    return sorted(groups.items())


def configure_offpolicy(config, exp, env, mapping: Dict[str, str]) -> List[Tuple[str, List[int]]]:
    """Agent order, module groups, team-reward convention and sampling budget.

    Returns the agent groups. One ``sample()`` call per env runner returns about
    ``env_steps_per_iteration`` env steps.
    """
    agents = sorted(env.possible_agents)
    groups = agent_groups(agents, mapping)
    obs_shapes = {mid: {key: tuple(sp.shape) for key, sp in env.observation_spaces[agents[idx[0]]].spaces.items()}
                  for mid, idx in groups}
    config.training(agent_ids=agents, agent_groups=groups, team_reward=env.team_return_convention,
                    obs_shapes=obs_shapes)
    tr = exp.training_config()
    runners = max(1, config.num_env_runners)
    per_env = math.ceil(tr.env_steps_per_iteration / (runners * config.num_envs_per_env_runner))
    config.env_runners(rollout_fragment_length=max(1, per_env))
    return groups
