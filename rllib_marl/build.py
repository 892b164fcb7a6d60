"""The YAML path's second half: one env probe, the checks that need the env, and
a plain translation of an :class:`~rllib_marl.config.ExperimentConfig` into the
algorithm's own ``AlgorithmConfig`` — the object a Python user builds with the
same chain (``QMIXConfig().environment(...).training(...)``).

Everything here runs before Ray starts; the translated config's ``validate()``
(the algorithm's own checks against the env) runs here too, so a mistake is
reported in one line before any cluster work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from rllib_marl.algorithms.base import SHARED_MODULE, AgentToModule, OneModule
from rllib_marl.config import SHARING, ExperimentConfig, ScaleConfig, check_teams, resolved_env_config
from rllib_marl.envs.spec import agent_prefix
from rllib_marl.probe import first_steps, inspect_env
from rllib_marl.schema import ConfigError

__all__ = ["Prepared", "build_algo_config", "experiment_of", "experiment_of_checkpoint",
           "module_mapping", "prepare", "validate"]


@dataclass
class Prepared:
    """An experiment made ready to train, before Ray starts.

    Attributes:
        exp: the parsed experiment.
        config: the algorithm's ``AlgorithmConfig``, validated against the env.
        mapping: agent → module (league runs: agent → seat).
        env: the env as the probe built it (open: the caller closes it).
    """

    exp: ExperimentConfig
    config: Any
    mapping: Dict[str, str]
    env: Any


def prepare(exp: ExperimentConfig, scale: ScaleConfig = ScaleConfig()) -> Prepared:
    """The env probe, the checks that need the env, the translation and the
    config's own ``validate()``: everything but Ray. Raises ``ConfigError``.

    The env is built once; the config's checks (spaces, turn order, global state)
    come before its first random steps, so an env the algorithm cannot act in is
    named as such."""
    env = inspect_env(exp)
    try:
        mapping = _mapping(env, exp)
        config = translate(exp, scale, env, mapping)
        try:
            _quiet_validate(config)
        except ConfigError:
            raise
        except ValueError as e:  # one of RLlib's own checks
            raise ConfigError("config", str(e).splitlines()[0]) from None
        # env.teams: auto is resolved from the env (a zero-sum two-player game is
        # reported per player); the experiment says what was resolved from here on.
        exp.env.teams = config.env_config.get("teams", exp.env.teams)
        check_teams(exp)
        if exp.league is not None:
            mapping = {a: f"seat_{k}" for a, k in config.policy_mapping_fn.seats.items()}
        first_steps(env, exp)
    except BaseException:
        env.close()
        raise
    return Prepared(exp, config, mapping, env)


def _quiet_validate(config) -> None:
    """``config.validate()`` with RLlib's log lines held back: the CLIs route them to
    the run's ray.log once Ray starts, and the Algorithm validates its copy again
    then; here, before any of that, only an error is worth a line."""
    import logging

    lg = logging.getLogger("ray.rllib")
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        config.validate()
    finally:
        lg.setLevel(level)


def validate(exp: ExperimentConfig) -> Tuple[Any, Dict[str, str]]:
    """``(env, mapping)`` of a valid experiment (see :func:`prepare`)."""
    p = prepare(exp)
    return p.env, p.mapping


def build_algo_config(exp: ExperimentConfig, scale: ScaleConfig = ScaleConfig()) -> Tuple[Any, Dict[str, str]]:
    """``(algo_config, agent → module mapping)``, validated (see :func:`prepare`)."""
    p = prepare(exp, scale)
    p.env.close()
    return p.config, p.mapping


def _mapping(env, exp: ExperimentConfig) -> Dict[str, str]:
    if exp.expected.team_returns:
        teams = sorted({agent_prefix(a) for a in env.possible_agents})
        for t in exp.expected.team_returns:
            if t not in teams:
                raise ConfigError(f"expected.team_returns.{t}", f"no such team; {exp.env.label}'s teams "
                                                                f"(by agent-name prefix) are {', '.join(teams)}")
    if exp.league is not None:
        return {}  # the seats: known once the config has read the env (see prepare)
    mapping = module_mapping(env, exp.multi_agent.sharing)
    if exp.comm is not None:
        _check_comm_teams(env, exp, mapping)
    return mapping


def model_config(exp: ExperimentConfig) -> Dict[str, object]:
    """The ``model:`` block as the modules' ``model_config`` (``critic_input: auto``
    leaves the algorithm's own default)."""
    m = dataclasses.asdict(exp.model)
    if m["critic_input"] == "auto":
        del m["critic_input"]
    return m


def translate(exp: ExperimentConfig, scale: ScaleConfig, env, mapping: Dict[str, str]):
    """The experiment as the algorithm's ``AlgorithmConfig``: each block set
    through RLlib's own config methods, as a Python user would."""
    from rllib_marl.envs.adapter import RLlibEnv

    env_cfg = resolved_env_config(exp)
    env_cfg.team_return = env.team_return_convention
    config = exp.spec.config_cls()
    config.environment(env=RLlibEnv, env_config=env_cfg.to_dict())
    config.env_runners(
        num_env_runners=scale.num_env_runners,
        num_envs_per_env_runner=scale.num_envs_per_env_runner,
        num_gpus_per_env_runner=scale.num_gpus_per_env_runner,
        rollout_fragment_length=exp.env_runners.rollout_fragment_length or "auto",
        batch_mode=exp.env_runners.batch_mode,
    )
    config.sampling(exp.env_runners.sampler)
    config.learners(num_learners=scale.num_learners, num_gpus_per_learner=scale.num_gpus_per_learner)
    config.training(**dataclasses.asdict(exp.training_config()))
    config.rl_module(model_config=model_config(exp))
    if exp.comm is not None:
        config.communication(exp.comm)
    if exp.league is not None:
        config.league(exp.league)
    else:
        modules = sorted(set(mapping.values()))
        config.multi_agent(policies=set(modules),
                           policy_mapping_fn=OneModule() if modules == [SHARED_MODULE] else AgentToModule(mapping))
    if exp.evaluation.interval > 0:
        ev = exp.evaluation
        config.evaluation(
            evaluation_interval=ev.interval,
            evaluation_duration=ev.episodes,
            evaluation_duration_unit="episodes",
            evaluation_num_env_runners=0,  # the driver evaluates: no extra actors
            # Our returns are averaged over this evaluation's episodes only.
            evaluation_config={"explore": ev.explore,
                               "metrics_num_episodes_for_smoothing": ev.episodes},
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
    config.derive_from_env(env)
    return config


def _check_comm_teams(env, exp: ExperimentConfig, mapping: Dict[str, str]) -> None:
    """Each team that exchanges messages is played by one module (its members
    share the message encoder). The teams are the env's own (``comm_teams``)."""
    for members in env.comm_teams:
        team = "all agents" if exp.env.teams in ("one", "auto") else agent_prefix(members[0])
        modules = sorted({mapping[a] for a in members})
        if len(modules) > 1:
            raise ConfigError("multi_agent.sharing", (
                f"comm: the agents of a team share one module (one message encoder), but {team} "
                f"({', '.join(members)}) map to {len(modules)} modules ({', '.join(modules)}); use sharing: "
                "shared, pad differing spaces with the pad_observations_v0 / pad_action_space_v0 wrappers, "
                "add env.agent_id: true to tell the agents apart, or env.teams: by_prefix for one team per "
                "agent-name prefix"))


def module_mapping(env, sharing: str) -> Dict[str, str]:
    """``{agent: module}`` of a built env by ``multi_agent.sharing``."""
    return sharing_mapping(env.possible_agents, env.observation_spaces, env.action_spaces, sharing, env.cfg.label)


def sharing_mapping(agents, observation_spaces, action_spaces, sharing: str, name: str = "the env") -> Dict[str, str]:
    """``{agent: module}`` by a sharing mode: ``shared`` (one module), ``per_agent``
    (one each) or ``per_group`` (one per kind of agent, named by agent-name prefix)."""
    if sharing == "per_agent":
        return {a: a for a in agents}

    def sig(a):
        return (repr(observation_spaces[a]), repr(action_spaces[a]))

    groups: Dict[tuple, List[str]] = {}
    for a in agents:
        groups.setdefault(sig(a), []).append(a)
    if sharing == "shared":
        if len(groups) > 1:
            raise ConfigError(
                "multi_agent.sharing",
                "shared needs every agent to have the same observation and action spaces; "
                f"{name} has {len(groups)} kinds of agents: use per_group or per_agent, "
                "or pad spaces with the pad_observations_v0 / pad_action_space_v0 wrappers",
            )
        return {a: SHARED_MODULE for a in agents}
    mapping = {}
    for members in groups.values():
        group = "+".join(sorted({agent_prefix(a) for a in members}))
        for a in members:
            mapping[a] = group
    return mapping


# ----- the other way: an AlgorithmConfig as an experiment ---------------------------------


def experiment_of(config) -> ExperimentConfig:
    """The experiment an rllib_marl ``AlgorithmConfig`` is (what ``evaluate``,
    ``--export`` and ``--resume`` read): env, algorithm, training, model,
    sharing, communication, seed. Raises ``ConfigError`` for what an experiment
    cannot say: an env not built by :class:`~rllib_marl.envs.RLlibEnv`, or an
    agent → module mapping that is none of the sharing modes."""
    from rllib_marl.algorithms.base import MarlConfig
    from rllib_marl.config import ModelConfig, parse_experiment
    from rllib_marl.envs.adapter import RLlibEnv
    from rllib_marl.envs.spec import EnvConfig
    from rllib_marl.league.mapping import LeagueMapping
    from rllib_marl.schema import to_plain

    if not isinstance(config, MarlConfig):
        raise ConfigError("checkpoint", f"{type(config).__name__} is not an rllib_marl algorithm config")
    if config.env is not RLlibEnv:
        raise ConfigError("checkpoint", f"its env ({config.env!r}) is not one rllib_marl builds from env_config; "
                                        "evaluate plays envs given as RLlibEnv with env_config={'name': ...}")
    env_fields = {f.name for f in dataclasses.fields(EnvConfig)}
    env = {k: v for k, v in (config.env_config or {}).items() if k in env_fields}
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    model = {k: v for k, v in config.model_config.items() if k in model_fields}
    raw: Dict[str, Any] = {"algorithm": config.name, "env": env, "model": model,
                           "training": to_plain(config.training_settings()),
                           "seed": int(config.seed or 0), "stop": {"iterations": 1}}
    comm = config.model_config.get("comm")
    if comm:
        eval_env = ((config.evaluation_config or {}).get("env_config") or {})
        raw["comm"] = {**comm, "dropout": float(env.get("comm_dropout", 0.0)),
                       "eval_dropout": float(eval_env.get("comm_dropout", 0.0))}
    env.pop("comm", None), env.pop("comm_dropout", None)
    if isinstance(config.policy_mapping_fn, LeagueMapping):
        raw["league"] = dict(config.policy_mapping_fn.league_state["config"])
    else:
        lay = config._layout()
        mapping = {a: config.policy_mapping_fn(a, None) for a in lay.agents}
        for sharing in SHARING:
            try:
                if sharing_mapping(lay.agents, lay.observation_spaces, lay.action_spaces, sharing) == mapping:
                    raw["multi_agent"] = {"sharing": sharing}
                    break
            except ConfigError:
                continue
        else:
            raise ConfigError("checkpoint", f"its agent -> module mapping {mapping} is none of the sharing modes "
                                            f"({', '.join(SHARING)}); evaluate plays those")
    return parse_experiment(raw)


def experiment_of_checkpoint(checkpoint, what: str = "checkpoint") -> ExperimentConfig:
    """:func:`experiment_of` the ``AlgorithmConfig`` stored in an RLlib checkpoint."""
    from rllib_marl import rllib_compat

    try:
        config = rllib_compat.checkpoint_config(checkpoint)
    except Exception as e:  # noqa: BLE001 - a damaged or foreign checkpoint is a user's input
        raise ConfigError(what, f"cannot read the algorithm config stored in {checkpoint} "
                                f"({type(e).__name__}: {e})") from None
    if config.env_layout is None:
        config.derive_from_env()
    try:
        return experiment_of(config)
    except ConfigError as e:
        raise ConfigError(what, f"{checkpoint}: {e.message}") from None
