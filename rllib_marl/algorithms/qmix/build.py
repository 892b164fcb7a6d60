"""The QMIX-specific part of turning an experiment into an RLlib config."""

from __future__ import annotations

import math
from typing import Dict

from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_marl.algorithms.qmix.qmix_learner import MIXER_MODULE
from rllib_marl.policies.q_agent import MixerModule


def configure_qmix(config, exp, env, mapping: Dict[str, str]) -> None:
    """Adds the mixer module, the agent order and the sampling budget.

    Called by ``rllib_marl.build.build_algo_config`` after the per-agent modules
    are set up.
    """
    tr = exp.training_config()
    agents = sorted(env.possible_agents)
    groups = {}
    for i, aid in enumerate(agents):
        groups.setdefault(mapping[aid], []).append(i)
    config.training(
        agent_ids=agents,
        agent_groups=sorted(groups.items()),
        team_reward=env.team_return_convention,
    )
    spec: MultiRLModuleSpec = config.rl_module_spec
    specs = dict(spec.rl_module_specs)
    for mid in groups:
        specs[mid].model_config = {**specs[mid].model_config, **tr.exploration()}
    modules = set(groups)
    if tr.mixer == "qmix":
        first = agents[0]
        specs[MIXER_MODULE] = RLModuleSpec(
            module_class=MixerModule,
            observation_space=env.observation_spaces[first],
            action_space=env.action_spaces[first],
            learner_only=True,
            model_config={"mixer": "qmix", "n_agents": len(agents), "embed_dim": tr.mixing_embed_dim,
                          "hypernet_layers": tr.hypernet_layers, "hypernet_embed": tr.hypernet_embed},
        )
        modules.add(MIXER_MODULE)
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
    config.multi_agent(policies=modules, policies_to_train=sorted(modules))
    # One sample() call per runner returns about env_steps_per_iteration env steps.
    runners = max(1, config.num_env_runners)
    per_env = math.ceil(tr.env_steps_per_iteration / (runners * config.num_envs_per_env_runner))
    config.env_runners(rollout_fragment_length=max(1, per_env))
