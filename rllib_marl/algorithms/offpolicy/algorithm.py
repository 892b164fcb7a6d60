"""The off-policy training step and config shared by QMIX and MADDPG.

One training iteration of every off-policy algorithm here::

    1. sample   env_steps_per_iteration env steps from the env runners
    2. store    the episode chunks in the JointReplayBuffer (RLlib's add())
    3. learn    one update per env_steps_per_update sampled steps once the buffer
                holds learning_starts env steps; each update draws one train
                batch per learner (:meth:`OffPolicyAlgorithm.sample_train_batch`)
    4. sync     the acting modules' weights to the env runners

Subclasses say what a train batch is (aligned sequences for QMIX, joint
transitions for MADDPG); the loop, the replay ratio bookkeeping and the replay
buffer in checkpoints live here once.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.policy.sample_batch import MultiAgentBatch
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

from rllib_marl.algorithms.base import MarlConfig
from rllib_marl.algorithms.offpolicy.replay import JointReplayBuffer
from rllib_marl.schema import ConfigError

REPLAY_BUFFER_STATE = "replay_buffer"
NUM_UPDATES_LIFETIME = "num_updates_lifetime"
REPLAY_ENV_STEPS = "replay_buffer_env_steps"
_STEPS_OWED = "rllib_marl_steps_owed"


class OffPolicyConfig(MarlConfig, AlgorithmConfig):
    """Config base of the off-policy algorithms: the training dataclass's fields
    (replay, replay ratio, sampling budget), the agent order and groups from
    :class:`~rllib_marl.algorithms.base.MarlConfig`, and a rollout fragment that
    makes one ``sample()`` round return about ``env_steps_per_iteration`` env
    steps (with ``rollout_fragment_length="auto"``)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        self.num_epochs = 1
        self.rollout_fragment_length = "auto"  # env_steps_per_iteration over the sub-envs

    @override(AlgorithmConfig)
    def get_rollout_fragment_length(self, worker_index: int = 0) -> int:
        if self.rollout_fragment_length == "auto":
            runners = max(1, self.num_env_runners)
            return max(1, math.ceil(self.env_steps_per_iteration / (runners * self.num_envs_per_env_runner)))
        return super().get_rollout_fragment_length(worker_index)

    def env_steps_per_sample(self) -> int:
        """Env steps one ``training_step`` adds to the buffer at most: sampling goes
        in whole rounds of ``rollout_fragment_length`` steps on every sub-env of
        every env runner until ``env_steps_per_iteration`` are in."""
        per_round = max(1, self.num_env_runners) * self.num_envs_per_env_runner * self.get_rollout_fragment_length()
        return math.ceil(self.env_steps_per_iteration / per_round) * per_round

    def train_batch_env_steps(self) -> int:
        """Env steps one update's batch covers (QMIX: windows of ``max_seq_len``)."""
        return self.train_batch_size

    @override(MarlConfig)
    def validate_layout(self, layout) -> None:
        super().validate_layout(layout)
        if self.train_batch_size % max(1, self.num_learners) != 0:
            raise ConfigError("training.train_batch_size", f"{self.train_batch_size} must be divisible by "
                                                           f"num_learners ({self.num_learners})")
        # The buffer must hold what one iteration samples (RLlib's buffer evicts whole
        # stored episodes to make room and fails when the new ones alone overflow it),
        # what learning waits for, and one train batch.
        cap = self.replay_capacity
        need = {"one iteration's sample (env_steps_per_iteration, in whole rollout fragments)":
                self.env_steps_per_sample(),
                "training.learning_starts (updates wait for that many stored env steps)": self.learning_starts,
                "one train batch (train_batch_size" + (" x max_seq_len" if self.train_batch_env_steps()
                                                     != self.train_batch_size else "") + ")":
                self.train_batch_env_steps()}
        for what, steps in need.items():
            if steps > cap:
                raise ConfigError("training.replay_capacity",
                                  f"{cap:,} env steps cannot hold {what}: {steps:,} env steps; "
                                  f"allowed: replay_capacity >= {max(need.values()):,} for these settings")


class OffPolicyAlgorithm(Algorithm):
    """Sample → store → learn → sync (see module docstring)."""

    @override(Algorithm)
    def setup(self, config) -> None:
        super().setup(config)
        self.replay_buffer = self._new_replay_buffer()
        self._steps_owed = 0.0  # sampled env steps not yet paid for with an update

    def _new_replay_buffer(self) -> JointReplayBuffer:
        cfg = self.config
        return JointReplayBuffer(capacity=cfg.replay_capacity, agent_ids=cfg.agent_ids,
                                 team_reward=cfg.team_reward, seed=cfg.seed)

    def sample_train_batch(self, batch_size: int) -> MultiAgentBatch:
        """One learner's train batch of ``batch_size`` items from the buffer."""
        raise NotImplementedError

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
        per_learner = cfg.train_batch_size // n_learners
        for _ in range(n_updates):
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                batches = [self.sample_train_batch(per_learner) for _ in range(n_learners)]
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
                    policies=cfg.acting_modules,
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
            state[REPLAY_BUFFER_STATE][_STEPS_OWED] = self._steps_owed
        return state

    @override(Algorithm)
    def set_state(self, state: Dict[str, Any]) -> None:
        super().set_state(state)
        buf: Optional[Dict[str, Any]] = state.get(REPLAY_BUFFER_STATE)
        if buf is not None:
            buf = dict(buf)
            self._steps_owed = buf.pop(_STEPS_OWED, 0.0)
            self.replay_buffer = self._new_replay_buffer()
            self.replay_buffer.set_state(buf)
