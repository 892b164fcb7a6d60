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
from rllib_marl.algorithms.registry import torch_learner
from rllib_marl.policies.actor_critic import ActorCriticModule


class MAPPOConfig(PPOConfig):
    """PPOConfig with MAPPO defaults (Yu et al., 2022, on MPE).

    The critic input (state / state+obs / obs) is a model setting
    (``rl_module(model_config={"critic_input": ...})``); IPPO is
    :class:`IPPOConfig`, which only changes that default.
    """

    critic_input = "state"

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MAPPO)
        self.lr = 5e-4
        self.gamma = 0.99
        self.lambda_ = 0.95
        self.clip_param = 0.2
        self.num_epochs = 10
        self.minibatch_size = 1000
        self.train_batch_size = 4000
        self.train_batch_size_per_learner = None
        self.use_kl_loss = False
        self.kl_coeff = 0.0
        self.entropy_coeff = 0.01
        self.vf_loss_coeff = 1.0
        self.vf_clip_param = 10.0
        self.grad_clip = 10.0

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
