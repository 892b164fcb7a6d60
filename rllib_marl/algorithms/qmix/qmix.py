"""QMIX, VDN and IQL on RLlib's new API stack: one algorithm, ``mixer`` picks which.

* ``qmix``: monotonic hypernetwork mixer over the global state (Rashid et al., 2018);
* ``vdn``: ``Q_tot`` = sum of the agents' Q (Sunehag et al., 2018);
* ``none``: independent Q-learning (IQL), one TD error per agent on the team reward.

Modules: every agent maps to a shared :class:`QAgentModule` (``"agent"``; or one
per agent / per group), so an env runner batches all agents of all sub-envs;
QMIX adds the learner-only :class:`MixerModule` (``"mixer"``).

One training iteration::

    1. sample   env_steps_per_iteration env steps from the env runners (epsilon-greedy)
    2. store    the episode chunks in the SequenceReplayBuffer (RLlib's add())
    3. learn    one update per env_steps_per_update sampled steps, each on
                train_batch_size windows of max_seq_len steps, once the buffer
                holds learning_starts env steps
    4. sync     the agent modules' weights to the env runners
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.annotations import override
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_SAMPLE_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from rllib_marl.algorithms.qmix.qmix_learner import QMIXTorchLearner, to_train_batch
from rllib_marl.algorithms.qmix.replay import SequenceReplayBuffer
from rllib_marl.algorithms.registry import torch_learner
from rllib_marl.policies.mixers import MIXERS
from rllib_marl.policies.q_agent import QAgentModule

REPLAY_BUFFER_STATE = "replay_buffer"
NUM_UPDATES_LIFETIME = "num_qmix_updates_lifetime"
REPLAY_ENV_STEPS = "replay_buffer_env_steps"


class QMIXConfig(AlgorithmConfig):
    """Settings of QMIX / VDN / IQL (see :meth:`training`)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or QMIX)
        self.mixer = "qmix"
        self.mixing_embed_dim = 32
        self.hypernet_layers = 2
        self.hypernet_embed = 64
        self.double_q = True
        self.n_step = 1
        self.target_update_interval = 200
        self.tau = 1.0
        self.replay_capacity = 200_000
        self.learning_starts = 1_000
        self.env_steps_per_iteration = 1_000
        self.env_steps_per_update = 25
        self.max_seq_len = 25
        self.checkpoint_replay_buffer = True
        # Filled in by rllib_marl.build from the env: the sorted agents, the
        # (module id, agent indices) groups and the team-reward convention.
        self.agent_ids: List[str] = []
        self.agent_groups: List[Tuple[str, List[int]]] = []
        self.team_reward = "sum"
        # RLlib settings with QMIX's usual values.
        self.lr = 5e-4
        self.gamma = 0.99
        self.grad_clip = 10.0
        self.train_batch_size = 32  # sequences per update
        self.num_epochs = 1

    @override(AlgorithmConfig)
    def training(self, *, mixer=NotProvided, mixing_embed_dim=NotProvided, hypernet_layers=NotProvided,
                 hypernet_embed=NotProvided, double_q=NotProvided, n_step=NotProvided,
                 target_update_interval=NotProvided, tau=NotProvided, replay_capacity=NotProvided,
                 learning_starts=NotProvided, env_steps_per_iteration=NotProvided,
                 env_steps_per_update=NotProvided, max_seq_len=NotProvided,
                 checkpoint_replay_buffer=NotProvided, agent_ids=NotProvided, agent_groups=NotProvided,
                 team_reward=NotProvided, **kwargs) -> "QMIXConfig":
        """QMIX settings; the rest (lr, gamma, grad_clip, train_batch_size) are RLlib's.

        Args:
            mixer: ``qmix``, ``vdn`` or ``none`` (IQL).
            mixing_embed_dim, hypernet_layers, hypernet_embed: QMIX mixer size.
            double_q: select the next action with the online net, value it with the target.
            n_step: n-step returns inside the sampled window (1 = one-step TD).
            target_update_interval: updates between hard target copies (``tau`` = 1).
            tau: Polyak factor applied after every update when < 1.
            replay_capacity: env steps kept in the replay buffer.
            learning_starts: env steps in the buffer before the first update.
            env_steps_per_iteration: env steps sampled per training iteration.
            env_steps_per_update: sampled env steps per gradient update (replay ratio).
            max_seq_len: env steps per sampled window (the GRU is unrolled over it).
            checkpoint_replay_buffer: save the buffer in checkpoints.
        """
        super().training(**kwargs)
        for name, value in dict(
            mixer=mixer, mixing_embed_dim=mixing_embed_dim, hypernet_layers=hypernet_layers,
            hypernet_embed=hypernet_embed, double_q=double_q, n_step=n_step,
            target_update_interval=target_update_interval, tau=tau, replay_capacity=replay_capacity,
            learning_starts=learning_starts, env_steps_per_iteration=env_steps_per_iteration,
            env_steps_per_update=env_steps_per_update, max_seq_len=max_seq_len,
            checkpoint_replay_buffer=checkpoint_replay_buffer, agent_ids=agent_ids,
            agent_groups=agent_groups, team_reward=team_reward,
        ).items():
            if value is not NotProvided:
                setattr(self, name, value)
        return self

    @override(AlgorithmConfig)
    def validate(self) -> None:
        super().validate()
        if self.mixer not in MIXERS:
            self._value_error(f"mixer must be one of {MIXERS}, got {self.mixer!r}")
        if not self.agent_groups:
            self._value_error("agent_groups is empty: build QMIX configs with rllib_marl.build")
        if self.train_batch_size % max(1, self.num_learners) != 0:
            self._value_error(
                f"train_batch_size ({self.train_batch_size} sequences) must be divisible by "
                f"num_learners ({self.num_learners})"
            )

    @override(AlgorithmConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=QAgentModule)

    @override(AlgorithmConfig)
    def get_default_learner_class(self):
        return torch_learner(self, QMIXTorchLearner)


class QMIX(Algorithm):
    """QMIX / VDN / IQL (see module docstring)."""

    @classmethod
    @override(Algorithm)
    def get_default_config(cls) -> QMIXConfig:
        return QMIXConfig()

    @override(Algorithm)
    def setup(self, config) -> None:
        super().setup(config)
        self.replay_buffer = self._new_replay_buffer()
        self._steps_owed = 0.0  # sampled env steps not yet paid for with an update

    def _new_replay_buffer(self) -> SequenceReplayBuffer:
        cfg = self.config
        return SequenceReplayBuffer(capacity=cfg.replay_capacity, agent_ids=cfg.agent_ids,
                                    team_reward=cfg.team_reward, seed=cfg.seed)

    @override(Algorithm)
    def training_step(self) -> None:
        cfg = self.config
        # 1. sample
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group,
                max_env_steps=cfg.env_steps_per_iteration,
                concat=True,
                sample_timeout_s=cfg.sample_timeout_s,
                _uses_new_env_runners=True,
                _return_metrics=True,
            )
        self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
        # 2. store
        with self.metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
            self.replay_buffer.add(episodes)
        sampled = sum(len(e) for e in episodes)
        self.metrics.log_value(REPLAY_ENV_STEPS, self.replay_buffer.num_env_steps(), window=1)
        if self.replay_buffer.num_env_steps() < cfg.learning_starts:
            return
        # 3. learn
        self._steps_owed += sampled
        n_updates = int(self._steps_owed // cfg.env_steps_per_update)
        self._steps_owed -= n_updates * cfg.env_steps_per_update
        lifetime = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        n_learners = max(1, cfg.num_learners)
        for _ in range(n_updates):
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                per_learner = cfg.train_batch_size // n_learners
                batches = [
                    to_train_batch(self.replay_buffer.sample_sequences(per_learner, cfg.max_seq_len),
                                   cfg.agent_groups)
                    for _ in range(n_learners)
                ]
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                kwargs = {"batch": batches[0]} if n_learners == 1 else {"batches": batches}
                results = self.learner_group.update(
                    **kwargs, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: lifetime}
                )
            self.metrics.aggregate(results, key=LEARNER_RESULTS)
            self.metrics.log_value(NUM_UPDATES_LIFETIME, 1, reduce="lifetime_sum")
        # 4. sync weights
        if n_updates:
            with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
                self.env_runner_group.sync_weights(
                    from_worker_or_learner_group=self.learner_group,
                    policies=[mid for mid, _ in cfg.agent_groups],
                    inference_only=True,
                )

    # ----- checkpoints: optionally with the replay buffer ---------------------------

    @override(Algorithm)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> Dict[str, Any]:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self.config.checkpoint_replay_buffer and self._check_component(
            REPLAY_BUFFER_STATE, components, not_components
        ):
            state[REPLAY_BUFFER_STATE] = self.replay_buffer.get_state()
            state[REPLAY_BUFFER_STATE]["rllib_marl_steps_owed"] = self._steps_owed
        return state

    @override(Algorithm)
    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        buf: Optional[Dict[str, Any]] = state.get(REPLAY_BUFFER_STATE)
        if buf is not None:
            self._steps_owed = buf.pop("rllib_marl_steps_owed", 0.0)
            self.replay_buffer = self._new_replay_buffer()
            self.replay_buffer.set_state(buf)
