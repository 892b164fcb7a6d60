"""MAPPO and IPPO on RLlib's new API stack.

Both are PPO with :class:`rllib_marl.policies.ActorCriticModule`: decentralized
actors on each agent's own observation, and a critic on the global state
(MAPPO) or on the agent's own observation (IPPO). Everything else — sampling,
GAE, minibatching, multi-learner DDP, checkpoints — is RLlib's PPO.
"""

from __future__ import annotations

from typing import Optional

from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.base import MarlConfig, add_callbacks
from rllib_marl.algorithms.mappo.mappo_learner import MAPPOTorchLearner
from rllib_marl.algorithms.mappo.spec import CommConfig, PPOTraining
from rllib_marl.league.callback import LeagueCheckpoints
from rllib_marl.league.league import LeagueConfig
from rllib_marl.policies.actor_critic import ActorCriticModule
from rllib_marl.schema import ConfigError, check_fields


class MAPPOConfig(MarlConfig, PPOConfig):
    """PPOConfig with MAPPO defaults (:class:`PPOTraining`'s fields).

    The critic input (``state`` / ``state+obs`` / ``obs``) is a model setting
    (``rl_module(model_config={"critic_input": ...})``); IPPO is
    :class:`IPPOConfig`, which only changes its default. ``lr_end`` /
    ``lr_decay_env_steps`` make the learning rate fall linearly.
    """

    name = "mappo"
    training_cls = PPOTraining
    critic_input = "state"

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or MAPPO)
        self.train_batch_size_per_learner = None
        self.comm_settings: Optional[CommConfig] = None  # communication()
        self.league_settings: Optional[LeagueConfig] = None  # league()

    @override(PPOConfig)
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=ActorCriticModule)

    @override(PPOConfig)
    def get_default_learner_class(self):
        return MAPPOTorchLearner

    @override(MarlConfig)
    def module_defaults(self):
        return {"critic_input": self.critic_input}

    def learning_rate(self):
        """``lr``, or RLlib's piecewise schedule from ``lr`` to ``lr_end`` when set."""
        if self.lr_end is None:
            return self.lr
        return [[0, self.lr], [self.lr_decay_env_steps, self.lr_end]]

    @override(MarlConfig)
    def validate_layout(self, layout) -> None:
        if self.minibatch_size > self.train_batch_size:
            # RLlib's PPO refuses this too, in words about per-learner batches.
            raise ConfigError("training.minibatch_size", f"{self.minibatch_size} is larger than "
                                                         f"training.train_batch_size ({self.train_batch_size})")
        super().validate_layout(layout)
        critic = {**self.module_defaults(), **self.model_config}.get("critic_input")
        if critic in ("state", "state+obs"):
            self.require_state(layout, f"the centralized critic reads the global state (critic_input: {critic}); "
                                       "use auto, env or concat (or a critic on local observations: ippo, "
                                       "critic_input obs)")


    # ----- learned communication and the self-play league ---------------------------

    def communication(self, settings: Optional[CommConfig] = None, **kwargs) -> "MAPPOConfig":
        """Learned messages between the agents of each team (CommNet or TarMAC,
        :class:`CommConfig`'s fields as keywords); the env must be an
        :class:`~rllib_marl.envs.RLlibEnv` (it adds each team's observations)."""
        self.comm_settings = settings if settings is not None else CommConfig(**kwargs)
        return self

    def league(self, settings: Optional[LeagueConfig] = None, **kwargs) -> "MAPPOConfig":
        """Train in a self-play league (:class:`~rllib_marl.league.league.LeagueConfig`'s
        fields as keywords): the learners are the modules, each episode's match-up
        picks who plays each seat, and :class:`~rllib_marl.league.callback.LeagueCallback`
        runs the league. Two-sided games with interchangeable seats only."""
        from rllib_marl.league.callback import LeagueCallback

        self.league_settings = settings if settings is not None else LeagueConfig(**kwargs)
        add_callbacks(self, LeagueCallback)
        return self

    @override(MarlConfig)
    def complete_settings(self) -> None:
        """Communication: the modules' ``comm`` settings and the env's team
        observations and message dropout (evaluation runs: ``eval_dropout``)."""
        c = self.comm_settings
        if c is None:
            return
        check_fields(c, CommConfig, "comm")
        self.rl_module(model_config={**self.model_config, "comm": {
            "type": c.type, "rounds": c.rounds, "message_size": c.message_size, "log_stats": c.log_stats}})
        dropout = c.eval_dropout if self.in_evaluation else c.dropout
        self.environment(env_config={**(self.env_config or {}), "comm": True, "comm_dropout": dropout})
        ev = dict(self.evaluation_config or {})
        ev["env_config"] = {**(ev.get("env_config") or self.env_config), "comm": True,
                            "comm_dropout": c.eval_dropout}
        self.evaluation(evaluation_config=ev)

    @override(MarlConfig)
    def complete_for_env(self, layout) -> None:
        """A league: its learners as the modules, the seats, the matchmaking mapping."""
        if self.league_settings is None:
            return
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
        from ray.rllib.policy.policy import PolicySpec

        from rllib_marl.league.league import League
        from rllib_marl.league.mapping import LeagueMapping, seats_of

        if isinstance(self.policy_mapping_fn, LeagueMapping):
            return  # set up already (this config is a copy of one that was validated)
        for key, problem in self.league_settings.check():
            raise ConfigError(f"league.{key}", problem)
        if self.comm_settings is not None:
            raise ConfigError("comm", "a league run cannot use communication yet (its players change seats "
                                      "every episode); drop the comm block or the league")
        try:
            seats = seats_of(list(layout.agents), (self.env_config or {}).get("teams", "one"))
        except ValueError as e:
            raise ConfigError("league", str(e)) from None
        kinds = {(repr(layout.observation_spaces[a]), repr(layout.action_spaces[a])) for a in layout.agents}
        if len(kinds) > 1:
            raise ConfigError("league", f"a league needs a symmetric game (every seat with the same observation "
                                        f"and action spaces, so any player can take any seat); this env has "
                                        f"{len(kinds)} kinds of agents")
        league = League(self.league_settings, seed=self.seed or 0)
        first = layout.agents[0]
        obs_space, act_space = layout.observation_spaces[first], layout.action_spaces[first]
        self.multi_agent(
            policies={m: PolicySpec(observation_space=obs_space, action_space=act_space) for m in league.learners},
            policy_mapping_fn=LeagueMapping(league.get_state(), seats),
            policies_to_train=list(league.learners),
        )
        # Explicit per-learner specs: a snapshot is built from its learner's spec.
        mc = self.acting_model_config()
        self.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={
            m: RLModuleSpec(module_class=ActorCriticModule, model_config=mc, observation_space=obs_space,
                            action_space=act_space) for m in league.learners}))


class IPPOConfig(MAPPOConfig):
    """Independent PPO: the same module with the critic on the local observation."""

    name = "ippo"
    critic_input = "obs"

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or IPPO)


class BatchedTrainingStep:
    """PPO's training step for the batched env runner: the runners' rollouts
    (train batches with advantages and value targets, computed where they were
    sampled) go to RLlib's learners as one ``MultiAgentBatch``; otherwise RLlib's
    own step."""

    @override(PPO)
    def training_step(self) -> None:
        if not self.config.batched():
            return super().training_step()
        from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
        from ray.rllib.utils.metrics import (
            ALL_MODULES,
            ENV_RUNNER_RESULTS,
            ENV_RUNNER_SAMPLING_TIMER,
            LEARNER_RESULTS,
            LEARNER_UPDATE_TIMER,
            NUM_ENV_STEPS_SAMPLED_LIFETIME,
            NUM_MODULE_STEPS_TRAINED_LIFETIME,
            SYNCH_WORKER_WEIGHTS_TIMER,
            TIMERS,
        )

        from rllib_marl.batched_runner import rollouts_to_batch

        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            # RLlib sends runners inference-only weights when it builds, restores or restarts
            # them; the batched runners compute value targets with their critics, so every
            # sample starts from the learners' whole modules.
            self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group,
                                               inference_only=False)
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            rollouts, results = synchronous_parallel_sample(
                worker_set=self.env_runner_group, max_env_steps=self.config.total_train_batch_size,
                sample_timeout_s=self.config.sample_timeout_s, _uses_new_env_runners=True, _return_metrics=True)
            if not rollouts:
                return
            self.metrics.aggregate(results, key=ENV_RUNNER_RESULTS)
        with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
            batch = rollouts_to_batch(rollouts)
            learner_results = self.learner_group.update(
                batch=batch,
                timesteps={
                    NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek((ENV_RUNNER_RESULTS,
                                                                       NUM_ENV_STEPS_SAMPLED_LIFETIME)),
                    NUM_MODULE_STEPS_TRAINED_LIFETIME: self.metrics.peek(
                        (LEARNER_RESULTS, ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME), default=0),
                },
                num_epochs=self.config.num_epochs,
                minibatch_size=self.config.minibatch_size,
                shuffle_batch_per_epoch=self.config.shuffle_batch_per_epoch,
            )
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        del batch
        for r in rollouts:  # the learners are done with them: the local runner may reuse its storage
            r.release()
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            # The acting parts now, as RLlib does (runners act on them between iterations);
            # the critics travel once, with the whole modules before the next sample.
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group,
                policies=set(learner_results[0].keys()) - {ALL_MODULES},
                inference_only=True,
            )


class MAPPO(BatchedTrainingStep, LeagueCheckpoints, PPO):
    @classmethod
    @override(PPO)
    def get_default_config(cls) -> MAPPOConfig:
        return MAPPOConfig()


class IPPO(BatchedTrainingStep, LeagueCheckpoints, PPO):
    @classmethod
    @override(PPO)
    def get_default_config(cls) -> IPPOConfig:
        return IPPOConfig()
