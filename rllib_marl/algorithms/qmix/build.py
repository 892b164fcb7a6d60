"""The QMIX-specific part of turning an experiment into an RLlib config."""

from __future__ import annotations

from typing import Dict

from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_marl.algorithms.offpolicy.build import configure_offpolicy
from rllib_marl.algorithms.qmix.qmix_learner import MIXER_MODULE
from rllib_marl.policies.q_agent import MixerModule


def configure_qmix(config, exp, env, mapping: Dict[str, str]) -> None:
    """Adds the mixer module, the agent order, the window length and the sampling budget.

    Called by ``rllib_marl.build.build_algo_config`` after the per-agent modules
    are set up.
    """
    tr = exp.training_config()
    groups = dict(configure_offpolicy(config, exp, env, mapping))
    # model.max_seq_len is the length of the replay windows the GRU is unrolled over.
    config.training(max_seq_len=exp.model.max_seq_len)
    agents = sorted(env.possible_agents)
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
