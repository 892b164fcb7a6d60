"""Validated experiment → RLlib ``AlgorithmConfig``."""

from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_marl.config import ExperimentConfig, ScaleConfig, resolved_env_config, validate
from rllib_marl.env_runner import FastMultiAgentEnvRunner
from rllib_marl.envs.adapter import RLlibEnv
from rllib_marl.metrics import MarlMetricsCallback


def add_callbacks(config, *classes) -> None:
    """Adds RLlib callback classes to those already configured.

    RLlib 2.60 takes a list of classes, each instantiated on every env runner and
    on the algorithm; ``config.callbacks(X)`` alone would replace what an
    algorithm (or a league) set before. Order: those already there first.
    """
    current = config.callbacks_class
    existing = list(current) if isinstance(current, (list, tuple)) else [current]
    existing = [c for c in existing if c is not RLlibCallback]
    config.callbacks(callbacks_class=existing + [c for c in classes if c not in existing])


class AgentToModule:
    """Picklable ``policy_mapping_fn``: a fixed agent → module table."""

    def __init__(self, mapping: Dict[str, str]):
        self.mapping = dict(mapping)

    def __call__(self, agent_id, episode=None, **kwargs) -> str:
        return self.mapping[agent_id]


def _configure_league(config, exp: ExperimentConfig, env, seats: Dict[str, str], module_class, mc) -> None:
    """League runs: the learners are the modules; each episode's match-up picks
    which one (or which frozen snapshot) plays each seat (``rllib_marl.league``)."""
    from ray.rllib.policy.policy import PolicySpec

    from rllib_marl.league.callback import LeagueCallback
    from rllib_marl.league.league import League
    from rllib_marl.league.mapping import LeagueMapping

    league = League(exp.league, seed=exp.seed)
    a0 = sorted(env.possible_agents)[0]
    obs_space, act_space = env.observation_spaces[a0], env.action_spaces[a0]  # symmetric game
    seat_of = {a: int(s.split("_")[1]) for a, s in seats.items()}
    config.multi_agent(
        policies={m: PolicySpec(observation_space=obs_space, action_space=act_space)
                  for m in league.learners},
        policy_mapping_fn=LeagueMapping(league.get_state(), seat_of),
        policies_to_train=list(league.learners),
    )
    config.rl_module(
        rl_module_spec=MultiRLModuleSpec(
            rl_module_specs={m: RLModuleSpec(module_class=module_class, model_config=mc,
                                             observation_space=obs_space, action_space=act_space)
                             for m in league.learners}
        )
    )
    add_callbacks(config, LeagueCallback)


def model_config(exp: ExperimentConfig) -> Dict[str, object]:
    m = dataclasses.asdict(exp.model)
    if m["critic_input"] == "auto":
        m["critic_input"] = exp.spec.critic_input
    if exp.comm is not None:  # the module's part of the comm block (dropout is the env's)
        m["comm"] = {k: getattr(exp.comm, k) for k in ("type", "rounds", "message_size", "log_stats")}
    return m


def build_algo_config(exp: ExperimentConfig, scale: ScaleConfig = ScaleConfig()) -> Tuple[object, Dict[str, str]]:
    """Returns ``(algo_config, agent→module mapping)``; validates first."""
    env, mapping = validate(exp)
    env_cfg = resolved_env_config(exp)
    env_cfg.team_return = env.team_return_convention

    config = exp.spec.config_cls()
    # RLlib's pre-check rejects final observations of agents that finished on the
    # first step (e.g. one-shot matrix games); the adapter has its own tests.
    config.environment(env=RLlibEnv, env_config=env_cfg.to_dict(), disable_env_checking=True)
    config.framework("torch")
    config.env_runners(
        num_env_runners=scale.num_env_runners,
        num_envs_per_env_runner=scale.num_envs_per_env_runner,
        rollout_fragment_length=exp.env_runners.rollout_fragment_length or "auto",
        batch_mode=exp.env_runners.batch_mode,
    )
    if exp.env_runners.sampler == "fast":
        config.env_runners(env_runner_cls=FastMultiAgentEnvRunner)
    config.learners(
        num_learners=scale.num_learners,
        num_gpus_per_learner=scale.num_gpus_per_learner,
    )
    config.training(**exp.training_config().to_rllib())
    mc = model_config(exp)
    module_class = config.get_default_rl_module_spec().module_class
    if exp.league is not None:
        _configure_league(config, exp, env, mapping, module_class, mc)
    else:
        modules = sorted(set(mapping.values()))
        config.multi_agent(
            policies=set(modules),
            policy_mapping_fn=AgentToModule(mapping),
            policies_to_train=modules,
        )
        config.rl_module(
            rl_module_spec=MultiRLModuleSpec(
                rl_module_specs={mid: RLModuleSpec(module_class=module_class, model_config=mc)
                                 for mid in modules}
            )
        )
    add_callbacks(config, MarlMetricsCallback)  # algorithms may add theirs
    if exp.spec.configure is not None:
        exp.spec.configure(config, exp, env, mapping)
    env.close()
    if exp.evaluation.interval > 0:
        ev = exp.evaluation
        config.evaluation(
            evaluation_interval=ev.interval,
            evaluation_duration=ev.episodes,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=0,  # the driver evaluates: no extra actors
            # Our returns are averaged over this evaluation's episodes only.
            evaluation_config={"explore": ev.explore,
                               "metrics_num_episodes_for_smoothing": ev.episodes,
                               **({"env_config": {**env_cfg.to_dict(), "comm_dropout": exp.comm.eval_dropout}}
                                  if exp.comm is not None else {})},
        )
    config.debugging(seed=exp.seed)
    config.fault_tolerance(
        restart_failed_env_runners=True,
        # A sub-env that raises in step() is rebuilt and its episode dropped
        # (counted in progress.csv's env_step_failures); the env runner gives up
        # after a few failures in a row (FastMultiAgentEnvRunner).
        restart_failed_sub_environments=True,
        delay_between_env_runner_restarts_s=5.0,
    )
    return config, mapping
