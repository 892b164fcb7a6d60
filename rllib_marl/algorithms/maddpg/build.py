"""The MADDPG-specific part of turning an experiment into an RLlib config."""

from __future__ import annotations

from typing import Dict

import numpy as np
from gymnasium import spaces
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_marl.algorithms.maddpg.maddpg_learner import critic_layout
from rllib_marl.algorithms.offpolicy.build import configure_offpolicy
from rllib_marl.envs.adapter import OBS, STATE
from rllib_marl.policies.maddpg import CriticModule, action_size

CRITIC_SUFFIX = "_critic"


def critic_in_dim(kind: str, critic_input: str, agents, idx, obs_spaces, act_spaces) -> int:
    """Width of a critic's input vector, part by part of ``critic_layout``."""
    def obs_dim(a):
        return int(np.prod(obs_spaces[a][OBS].shape))

    own = agents[idx[0]]  # a module's agents share their spaces
    width = {
        "own_obs": lambda: obs_dim(own),
        "own_act": lambda: action_size(act_spaces[own]),
        "view": lambda: (int(np.prod(obs_spaces[agents[0]][STATE].shape)) if critic_input == "state"
                         else sum(obs_dim(a) for a in agents)),
        "all_acts": lambda: sum(action_size(act_spaces[a]) for a in agents),
        "agent_id": lambda: len(agents),
    }
    return sum(width[p]() for p in critic_layout(kind, len(idx) > 1))


def configure_maddpg(config, exp, env, mapping: Dict[str, str]) -> None:
    """Adds one learner-only critic per acting module and the joint layout.

    Called by ``rllib_marl.build.build_algo_config`` after the acting modules are
    set up.
    """
    tr = exp.training_config()
    groups = configure_offpolicy(config, exp, env, mapping)
    agents = sorted(env.possible_agents)
    obs_spaces, act_spaces = env.observation_spaces, env.action_spaces
    specs = dict(config.rl_module_spec.rl_module_specs)
    critic_modules, kinds = {}, {}
    for mid, idx in groups:
        kind = tr.critic_by_module.get(mid, tr.critic)
        members = [agents[i] for i in idx]  # one module's agents share their spaces
        specs[mid].model_config = {**specs[mid].model_config, **tr.actor_settings()}
        cid = f"{mid}{CRITIC_SUFFIX}"
        first = members[0]
        specs[cid] = RLModuleSpec(
            module_class=CriticModule,
            observation_space=obs_spaces[first],
            action_space=act_spaces[first],
            learner_only=True,
            model_config={"in_dim": critic_in_dim(kind, tr.critic_input, agents, idx, obs_spaces, act_spaces),
                          "hidden": list(exp.model.hidden), "activation": exp.model.activation,
                          "twin": tr.twin_q},
        )
        critic_modules[mid], kinds[mid] = cid, kind
    config.training(
        critic_modules=critic_modules,
        critic_kinds=kinds,
        action_sizes=[action_size(act_spaces[a]) for a in agents],
        discrete=[isinstance(act_spaces[a], spaces.Discrete) for a in agents],
    )
    modules = sorted(specs)
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
    config.multi_agent(policies=set(modules), policies_to_train=modules)

