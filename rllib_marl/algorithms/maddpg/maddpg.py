"""MADDPG and MATD3 on RLlib's new API stack.

* MADDPG (Lowe et al., 2017): a deterministic actor per agent (or shared, with
  the agent id) on its own observation; per agent a critic ``Q_i(x, a_1..a_N)``
  over every agent's observation (or the global state) and action, trained on
  that agent's own reward, so cooperative, competitive and mixed games work.
* MATD3 (Ackermann et al., 2019): twin critics with the minimum in the target,
  actor and target updates every ``policy_delay`` critic updates, target-policy
  smoothing on Box actions.
* ``critic: local``: a critic on the agent's own observation and action only,
  i.e. independent DDPG, the baseline the MADDPG paper compares against. The
  choice can differ between modules (``critic_by_module``).

Modules: acting modules per ``policy_mapping_fn`` (``multi_agent.sharing``)
(:class:`~rllib_marl.policies.maddpg.DeterministicActorModule`), and one
learner-only :class:`~rllib_marl.policies.maddpg.CriticModule` per acting
module (``<module>_critic``). The training step is the shared off-policy one; a
train batch is ``train_batch_size`` joint transitions (all agents at the same
env step, :meth:`JointReplayBuffer.sample_transitions`).
"""

from __future__ import annotations

from typing import Dict, List

import numpy as np
from gymnasium import spaces
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.base import MarlConfig
from rllib_marl.algorithms.maddpg.maddpg_learner import MADDPGTorchLearner, critic_layout, to_train_batch
from rllib_marl.algorithms.maddpg.spec import CRITICS, MADDPGTraining
from rllib_marl.algorithms.offpolicy.algorithm import OffPolicyAlgorithm, OffPolicyConfig
from rllib_marl.envs.observations import OBS, STATE
from rllib_marl.policies.defaults import DETERMINISTIC_ACTOR
from rllib_marl.policies.maddpg import CriticModule, DeterministicActorModule, action_size
from rllib_marl.schema import ConfigError

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


class MADDPGConfig(OffPolicyConfig):
    """Settings of MADDPG / MATD3: :class:`MADDPGTraining`'s fields. The joint
    layout follows from the env and the agent → module mapping:

    * ``critic_modules``: acting module → its learner-only critic module;
    * ``critic_kinds``: acting module → ``central`` or ``local``;
    * ``action_sizes`` / ``discrete``: per agent (sorted order), the width of its
      action in critic inputs and whether it is Discrete (one-hot).
    """

    name = "maddpg"
    training_cls = MADDPGTraining

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MADDPG)

    @property
    def twin_q(self) -> bool:
        return self.variant == "matd3"

    @property
    def resolved_policy_delay(self) -> int:
        """Critic updates per actor update: ``policy_delay``, or the variant's own
        (1 for MADDPG, 2 for MATD3) when it is None."""
        if self.policy_delay is not None:
            return int(self.policy_delay)
        return 2 if self.variant == "matd3" else 1

    @property
    def critic_modules(self) -> Dict[str, str]:
        return {mid: f"{mid}{CRITIC_SUFFIX}" for mid in self.acting_modules}

    @property
    def critic_kinds(self) -> Dict[str, str]:
        return {mid: self.critic_by_module.get(mid, self.critic) for mid in self.acting_modules}

    @property
    def action_sizes(self) -> List[int]:
        lay = self._layout()
        return [action_size(lay.action_spaces[a]) for a in lay.agents]

    @property
    def discrete(self) -> List[bool]:
        lay = self._layout()
        return [isinstance(lay.action_spaces[a], spaces.Discrete) for a in lay.agents]

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=DeterministicActorModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return MADDPGTorchLearner

    @override(MarlConfig)
    def module_settings(self):
        return {k: getattr(self, k) for k in MADDPGTraining.ACTOR_SETTINGS}

    @override(MarlConfig)
    def learner_only_specs(self, acting):
        """One critic per acting module, sized from the env (``critic_layout``)."""
        lay = self._layout()
        agents = list(lay.agents)
        kinds, out = self.critic_kinds, {}
        for mid, idx in self.agent_groups:
            first = agents[idx[0]]  # one module's agents share their spaces
            net = {**DETERMINISTIC_ACTOR, **(acting[mid].model_config if mid in acting else {})}
            out[self.critic_modules[mid]] = RLModuleSpec(
                module_class=CriticModule,
                observation_space=lay.observation_spaces[first],
                action_space=lay.action_spaces[first],
                learner_only=True,
                model_config={"in_dim": critic_in_dim(kinds[mid], self.critic_input, agents, idx,
                                                      lay.observation_spaces, lay.action_spaces),
                              "hidden": list(net["hidden"]), "activation": net["activation"], "twin": self.twin_q},
            )
        return out

    @override(OffPolicyConfig)
    def validate_layout(self, layout) -> None:
        super().validate_layout(layout)
        modules = self.acting_modules
        for mid, kind in self.critic_by_module.items():
            if mid not in modules:
                raise ConfigError(f"training.critic_by_module.{mid}",
                                  f"no such module; this env's modules are {', '.join(modules)}")
            if kind not in CRITICS:
                raise ConfigError(f"training.critic_by_module.{mid}",
                                  f"unknown value {kind!r}; allowed: {', '.join(CRITICS)}")
        clash = [m for m in modules if f"{m}{CRITIC_SUFFIX}" in modules]
        if clash:
            raise ConfigError("multi_agent", f"module {clash[0]}{CRITIC_SUFFIX!r} is {clash[0]}'s critic's id; "
                                             "map agents to other module ids")
        if self.model_config.get("use_gru"):
            raise ConfigError("model.use_gru", "maddpg has feed-forward actors only; set use_gru: false "
                                               "(or use mappo / qmix for recurrent policies)")
        if self.critic_input == "state":
            self.require_state(layout, self.spec.state_hint)


class MADDPG(OffPolicyAlgorithm):
    """MADDPG / MATD3 (see module docstring)."""

    @classmethod
    @override(OffPolicyAlgorithm)
    def get_default_config(cls) -> MADDPGConfig:
        return MADDPGConfig()

    @override(OffPolicyAlgorithm)
    def sample_train_batch(self, batch_size: int) -> MultiAgentBatch:
        cfg = self.config
        return to_train_batch(self.replay_buffer.sample_transitions(batch_size), cfg.agent_groups,
                              cfg.obs_shapes)
