"""QMIX, VDN and IQL on RLlib's new API stack: one algorithm, ``mixer`` picks which.

* ``qmix``: monotonic hypernetwork mixer over the global state (Rashid et al., 2018);
* ``vdn``: ``Q_tot`` = sum of the agents' Q (Sunehag et al., 2018);
* ``none``: independent Q-learning (IQL), one TD error per agent on the team reward.

Modules: every agent maps to a shared :class:`QAgentModule` (``"shared"``; or one
per agent / per group, by ``policy_mapping_fn``), so an env runner batches all
agents of all sub-envs; QMIX adds the learner-only :class:`MixerModule`
(``"mixer"``) itself, sized from the env.

The training step is the shared off-policy one
(:mod:`rllib_marl.algorithms.offpolicy.algorithm`: sample epsilon-greedily,
store, learn, sync); a QMIX train batch is ``train_batch_size`` aligned windows
of ``max_seq_len`` env steps (the agent module's ``model_config["max_seq_len"]``).
"""

from __future__ import annotations

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.sample_batch import MultiAgentBatch
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.base import MarlConfig
from rllib_marl.algorithms.offpolicy.algorithm import OffPolicyAlgorithm, OffPolicyConfig
from rllib_marl.algorithms.qmix.qmix_learner import MIXER_MODULE, QMIXTorchLearner, to_train_batch
from rllib_marl.algorithms.qmix.spec import QMIXTraining
from rllib_marl.policies.defaults import Q_AGENT
from rllib_marl.policies.q_agent import MixerModule, QAgentModule
from rllib_marl.schema import ConfigError


class QMIXConfig(OffPolicyConfig):
    """Settings of QMIX / VDN / IQL: :class:`QMIXTraining`'s fields. The replay
    window length is the agent module's ``max_seq_len`` (``rl_module(model_config=
    {"max_seq_len": ...})``, ``model.max_seq_len`` in YAML)."""

    name = "qmix"
    training_cls = QMIXTraining

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or QMIX)

    @property
    def max_seq_len(self) -> int:
        """Env steps per replayed window (the GRU is unrolled over them)."""
        return int({**Q_AGENT, **self.model_config}["max_seq_len"])

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=QAgentModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return QMIXTorchLearner

    @override(MarlConfig)
    def module_settings(self):
        return {k: getattr(self, k) for k in QMIXTraining.EXPLORATION}

    @override(MarlConfig)
    def learner_only_specs(self, acting):
        if self.mixer != "qmix":
            return {}
        lay = self._layout()
        first = lay.agents[0]
        return {MIXER_MODULE: RLModuleSpec(
            module_class=MixerModule,
            observation_space=lay.observation_spaces[first],
            action_space=lay.action_spaces[first],
            learner_only=True,
            model_config={"mixer": "qmix", "n_agents": len(lay.agents), "embed_dim": self.mixing_embed_dim,
                          "hypernet_layers": self.hypernet_layers, "hypernet_embed": self.hypernet_embed},
        )}

    @override(OffPolicyConfig)
    def train_batch_env_steps(self) -> int:
        return self.train_batch_size * self.max_seq_len

    @override(OffPolicyConfig)
    def validate_layout(self, layout) -> None:
        super().validate_layout(layout)
        if MIXER_MODULE in self.acting_modules:
            raise ConfigError("multi_agent", f"{MIXER_MODULE!r} is the mixer's module id; map agents to another")
        if self.mixer == "qmix":
            self.require_state(layout, self.spec.state_hint)


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
