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

Modules: acting modules per ``multi_agent.sharing``
(:class:`~rllib_marl.policies.maddpg.DeterministicActorModule`), and one
learner-only :class:`~rllib_marl.policies.maddpg.CriticModule` per acting
module (``<module>_critic``). The training step is the shared off-policy one; a
train batch is ``train_batch_size`` joint transitions (all agents at the same
env step, :meth:`JointReplayBuffer.sample_transitions`).
"""

from __future__ import annotations

from typing import Dict, List

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.maddpg.maddpg_learner import MADDPGTorchLearner, to_train_batch
from rllib_marl.algorithms.maddpg.spec import CRITICS, MADDPGTraining
from rllib_marl.algorithms.offpolicy.algorithm import OffPolicyAlgorithm, OffPolicyConfig
from rllib_marl.algorithms.spec import torch_learner
from rllib_marl.policies.maddpg import DeterministicActorModule


class MADDPGConfig(OffPolicyConfig):
    """Settings of MADDPG / MATD3: :class:`MADDPGTraining`'s fields, plus the
    joint layout ``rllib_marl.build`` derives from the env:

    * ``critic_modules``: acting module → its critic module;
    * ``critic_kinds``: acting module → ``central`` or ``local``;
    * ``action_sizes`` / ``discrete``: per agent (sorted order), the width of its
      action in critic inputs and whether it is Discrete (one-hot).
    """

    training_cls = MADDPGTraining
    extra_settings = OffPolicyConfig.extra_settings + (
        "critic_modules", "critic_kinds", "action_sizes", "discrete")

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MADDPG)
        self.critic_modules: Dict[str, str] = {}
        self.critic_kinds: Dict[str, str] = {}
        self.action_sizes: List[int] = []
        self.discrete: List[bool] = []

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        if self.variant not in ("maddpg", "matd3"):
            self._value_error(f"variant must be maddpg or matd3, got {self.variant!r}")
        if set(self.critic_kinds.values()) - set(CRITICS):
            self._value_error(f"critic kinds must be in {CRITICS}, got {self.critic_kinds}")
        if self.policy_delay < 1:
            self._value_error(f"policy_delay must be >= 1, got {self.policy_delay}")

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=DeterministicActorModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return torch_learner(self, MADDPGTorchLearner)


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
