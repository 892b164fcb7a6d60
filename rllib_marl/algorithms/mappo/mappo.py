"""MAPPO and IPPO on RLlib's new API stack.

Both are PPO with :class:`rllib_marl.policies.ActorCriticModule`: decentralized
actors on each agent's own observation, and a critic on the global state
(MAPPO) or on the agent's own observation (IPPO). Everything else — sampling,
GAE, minibatching, multi-learner DDP, checkpoints — is RLlib's PPO.
"""

from __future__ import annotations

from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.mappo.mappo_learner import MAPPOTorchLearner
from rllib_marl.algorithms.mappo.spec import PPOTraining
from rllib_marl.algorithms.spec import torch_learner, training_defaults
from rllib_marl.policies.actor_critic import ActorCriticModule


class MAPPOConfig(PPOConfig):
    """PPOConfig with MAPPO defaults (:class:`PPOTraining`).

    The critic input (state / state+obs / obs) is a model setting
    (``rl_module(model_config={"critic_input": ...})``); IPPO is
    :class:`IPPOConfig`, which only changes that default.
    """

    critic_input = "state"

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MAPPO)
        # Defaults are written once, in the training block's dataclass.
        for name, value in training_defaults(PPOTraining).items():
            setattr(self, name, value)
        self.train_batch_size_per_learner = None

    @override(PPOConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(
            module_class=ActorCriticModule,
            model_config={"critic_input": self.critic_input},
        )

    @override(PPOConfig)
    def get_default_learner_class(self):
        return torch_learner(self, MAPPOTorchLearner)


class IPPOConfig(MAPPOConfig):
    """Independent PPO: the same module with the critic on the local observation."""

    critic_input = "obs"

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IPPO)


class MAPPO(PPO):
    @classmethod
    @override(PPO)
    def get_default_config(cls) -> MAPPOConfig:
        return MAPPOConfig()


class IPPO(PPO):
    @classmethod
    @override(PPO)
    def get_default_config(cls) -> IPPOConfig:
        return IPPOConfig()
