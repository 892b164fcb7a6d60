"""QMIX, VDN and IQL on RLlib's new API stack: one algorithm, ``mixer`` picks which.

* ``qmix``: monotonic hypernetwork mixer over the global state (Rashid et al., 2018);
* ``vdn``: ``Q_tot`` = sum of the agents' Q (Sunehag et al., 2018);
* ``none``: independent Q-learning (IQL), one TD error per agent on the team reward.

Modules: every agent maps to a shared :class:`QAgentModule` (``"agent"``; or one
per agent / per group), so an env runner batches all agents of all sub-envs;
QMIX adds the learner-only :class:`MixerModule` (``"mixer"``).

The training step is the shared off-policy one
(:mod:`rllib_marl.algorithms.offpolicy.algorithm`: sample epsilon-greedily,
store, learn, sync); a QMIX train batch is ``train_batch_size`` aligned windows
of ``max_seq_len`` env steps (``model.max_seq_len``).
"""

from __future__ import annotations

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.offpolicy.algorithm import OffPolicyAlgorithm, OffPolicyConfig
from rllib_marl.algorithms.qmix.qmix_learner import QMIXTorchLearner, to_train_batch
from rllib_marl.algorithms.qmix.spec import QMIXTraining
from rllib_marl.algorithms.spec import torch_learner
from rllib_marl.policies.defaults import Q_AGENT
from rllib_marl.policies.mixers import MIXERS
from rllib_marl.policies.q_agent import QAgentModule


class QMIXConfig(OffPolicyConfig):
    """Settings of QMIX / VDN / IQL: :class:`QMIXTraining`'s fields, plus
    ``max_seq_len`` (env steps per sampled window; ``model.max_seq_len``)."""

    training_cls = QMIXTraining
    extra_settings = OffPolicyConfig.extra_settings + ("max_seq_len",)

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or QMIX)
        self.max_seq_len = Q_AGENT["max_seq_len"]

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        if self.mixer not in MIXERS:
            self._value_error(f"mixer must be one of {MIXERS}, got {self.mixer!r}")
        if self.max_seq_len < 1:
            self._value_error(f"max_seq_len must be >= 1, got {self.max_seq_len}")

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=QAgentModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return torch_learner(self, QMIXTorchLearner)


class QMIX(OffPolicyAlgorithm):
    """QMIX / VDN / IQL (see module docstring)."""

    @classmethod
    @override(OffPolicyAlgorithm)
    def get_default_config(cls) -> QMIXConfig:
        return QMIXConfig()

    @override(OffPolicyAlgorithm)
    def sample_train_batch(self, batch_size: int) -> MultiAgentBatch:
        cfg = self.config
        return to_train_batch(self.replay_buffer.sample_sequences(batch_size, cfg.max_seq_len),
                              cfg.agent_groups, cfg.obs_shapes)
