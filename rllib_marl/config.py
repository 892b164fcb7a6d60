"""Experiment configs: YAML → validated dataclasses → RLlib ``AlgorithmConfig``.

A config file has these top-level keys (all but ``algorithm`` and ``env``
optional)::

    algorithm: mappo            # see rllib_marl.algorithms.ALGORITHMS
    env: {...}                  # rllib_marl.envs.EnvConfig
    multi_agent: {sharing: shared}
    model: {...}                # ModelConfig
    training: {...}             # the algorithm's training dataclass
    env_runners: {...}          # EnvRunnersConfig (no hardware scale here)
    stop: {env_steps: 300000}
    expected: {team_return: -60.0}
    checkpoint: {interval: 10}
    evaluation: {interval: 25, episodes: 20, explore: false}
    league: {...}               # LeagueConfig: self-play league (two-sided games)
    comm: {type: tarmac}        # CommConfig: learned messages within each team
    tune: {...}                 # TuneConfig, used by --tune
    seed: 0

Hardware scale (env runners, learners, GPUs) comes from the command line or
the cluster, never from the file (:class:`ScaleConfig`).

This module is the YAML layer's first half, and imports neither torch nor Ray:
``parse_experiment`` checks keys, types, choices, bounds and the rules between
blocks. ``rllib_marl.build`` does the rest before Ray starts: one env probe
and a plain translation into the algorithm's own ``AlgorithmConfig`` (whose
``validate()`` checks the algorithm against the env).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from rllib_marl.algorithms.registry import ALGORITHMS, AlgorithmSpec, algorithms_with
from rllib_marl.algorithms.mappo.spec import CommConfig
from rllib_marl.league.league import LeagueConfig
from rllib_marl.policies.defaults import ModelConfig
from rllib_marl.envs.spec import EnvConfig
from rllib_marl.schema import ConfigError, any_number, bounded, choices, free_text, parse, parse_value, set_path, to_plain

SHARING = ("shared", "per_agent", "per_group")
SAMPLERS = ("auto", "fast", "batched", "rllib")


@dataclass
class MultiAgentConfig:
    """Parameter sharing.

    Attributes:
        sharing: ``shared`` (one module for all agents), ``per_agent`` (one each),
            or ``per_group`` (one per group of agents with the same spaces).
    """

    sharing: str = choices(*SHARING, default="shared")


@dataclass
class EnvRunnersConfig:
    """Sampling settings that do not depend on hardware.

    Attributes:
        sampler: which env runner samples: ``fast`` (ours, one forward pass per
            module over all sub-envs; rllib_marl/env_runner.py), ``batched``
            (a batched simulator's sub-envs as tensors, VMAS;
            rllib_marl/batched_runner.py), ``rllib`` (RLlib's MultiAgentEnvRunner)
            or ``auto`` (``batched`` where the env and the algorithm allow it, else ``fast``).
        rollout_fragment_length: steps per sub-env per sample call; 0 = auto.
        batch_mode: truncate_episodes or complete_episodes.
    """

    sampler: str = choices(*SAMPLERS, default="auto")
    rollout_fragment_length: int = bounded(0, ge=0)
    batch_mode: str = choices("truncate_episodes", "complete_episodes",
                              default="truncate_episodes")


@dataclass
class StopConfig:
    """When a run stops: the first of these that is reached (null = unused)."""

    env_steps: Optional[int] = bounded(None, ge=1)
    iterations: Optional[int] = bounded(None, ge=1)
    time_s: Optional[float] = bounded(None, gt=0)
    team_return: Optional[float] = any_number(None)


@dataclass
class ExpectedConfig:
    """What ``--as-test`` requires at the end of the run.

    Attributes:
        team_return: minimum mean team return (the run's convention).
        team_returns: per team (``env.teams: by_prefix``), the minimum mean
            return of that team, e.g. ``{adversary: 20.0}``.
        exploitability: league runs on a one-shot two-player zero-sum matrix
            game (e.g. ``rps``) or an OpenSpiel game (``openspiel:kuhn_poker``):
            the most exploitability each main agent may have at the end (exact,
            from its action probabilities; OpenSpiel's evaluator for its games).
        win_rate: league runs: per learner (``main_0``, ...), the least share of
            points (wins + draws / 2) it must hold over its opponents in the
            league's payoff table at the end.
    """

    team_return: Optional[float] = any_number(None)
    team_returns: Dict[str, float] = field(default_factory=dict)
    exploitability: Optional[float] = bounded(None, ge=0)
    win_rate: Dict[str, float] = field(default_factory=dict)


@dataclass
class CheckpointConfig:
    """Attributes:
        interval: save every this many iterations (0 = only at the end).
        keep: how many interval checkpoints to keep (the final one is extra).
    """

    interval: int = bounded(10, ge=0)
    keep: int = bounded(2, ge=1)


@dataclass
class EvaluationConfig:
    """Evaluation runs (RLlib's ``config.evaluation``), reported beside training.

    Attributes:
        interval: evaluate every this many iterations, and once more at the end
            of the run (0 = no evaluation).
        episodes: whole episodes per evaluation (their mean is reported).
        explore: false = greedy actions (argmax for policies, no epsilon for
            Q-learning); true = the training-time exploration.
    """

    interval: int = bounded(0, ge=0)
    episodes: int = bounded(20, ge=1)
    explore: bool = False


@dataclass
class SchedulerConfig:
    """A Tune trial scheduler.

    Attributes:
        type: ``asha`` or ``pbt``.
        time_attr: the progress measure (``training_iteration`` or ``env_steps``).
        grace_period / max_t / reduction_factor: ASHA settings.
        perturbation_interval: PBT: exploit/explore every this many ``time_attr``.
        hyperparam_mutations: PBT: like ``search_space`` (choice / uniform /
            loguniform), the values PBT may move to.
    """

    type: str = choices("asha", "pbt", default="asha")
    time_attr: str = choices("training_iteration", "env_steps", default="training_iteration")
    grace_period: int = bounded(5, ge=1)
    max_t: int = bounded(100, ge=1)
    reduction_factor: float = bounded(3.0, gt=1)
    perturbation_interval: int = bounded(5, ge=1)
    hyperparam_mutations: Dict[str, Dict[str, Any]] = field(default_factory=dict)


@dataclass
class TuneConfig:
    """Ray Tune search (``--tune``).

    Attributes:
        search_space: dotted key → one of ``{grid: [..]}``, ``{choice: [..]}``,
            ``{uniform: [lo, hi]}``, ``{loguniform: [lo, hi]}``. Keys may be
            ``training.*``, ``env.reward.*`` or ``env.kwargs.*``.
        num_samples: samples (repeats of the grid).
        metric / mode: what "best" means.
        scheduler: optional ASHA or PBT.
        stop: per-trial stop; defaults to the top-level ``stop``.
        max_concurrent_trials: null = as many as resources allow.
    """

    search_space: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    num_samples: int = bounded(1, ge=1)
    metric: str = free_text("team_return_mean")
    mode: str = choices("max", "min", default="max")
    scheduler: Optional[SchedulerConfig] = None
    stop: Optional[StopConfig] = None
    max_concurrent_trials: Optional[int] = bounded(None, ge=1)


@dataclass
class ExperimentConfig:
    algorithm: str
    env: EnvConfig
    multi_agent: MultiAgentConfig = field(default_factory=MultiAgentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: Dict[str, Any] = field(default_factory=dict)
    env_runners: EnvRunnersConfig = field(default_factory=EnvRunnersConfig)
    stop: StopConfig = field(default_factory=StopConfig)
    expected: ExpectedConfig = field(default_factory=ExpectedConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    league: Optional[LeagueConfig] = None
    comm: Optional[CommConfig] = None
    tune: Optional[TuneConfig] = None
    seed: int = bounded(0, ge=0)
    name: str = free_text("")

    @property
    def spec(self) -> AlgorithmSpec:
        return ALGORITHMS[self.algorithm]

    def training_config(self):
        """The typed training block (parsed once, in :func:`parse_experiment`)."""
        if isinstance(self.training, dict):
            return parse(self.spec.training_cls, self.training, "training")
        return self.training

    def to_plain(self) -> Dict[str, Any]:
        return to_plain(self)


@dataclass
class ScaleConfig:
    """Hardware scale, from the command line or the cluster.

    ``num_envs_per_env_runner`` sub-envs are stepped in lockstep by each env runner,
    all their agents going through one batched forward pass per module (a batched
    simulator's sub-env count is its own, ``env.kwargs.num_envs`` for VMAS).
    """

    num_env_runners: int = bounded(0, ge=0)
    num_envs_per_env_runner: int = bounded(8, ge=1)
    num_learners: int = bounded(0, ge=0)
    num_gpus_per_learner: float = bounded(0.0, ge=0)
    #: the acting module and a batched simulator (VMAS) on a GPU per env runner
    num_gpus_per_env_runner: float = bounded(0.0, ge=0)


SEARCH_DOMAINS = ("grid", "choice", "uniform", "loguniform")
_SEARCHABLE = re.compile(r"^(training\.[A-Za-z_]+|env\.reward\.[a-z_]+|env\.kwargs\.\w+)$")


# ----- loading and validation --------------------------------------------------------


def parse_override(text: str):
    """``"training.lr=1e-4"`` → ``("training.lr", 1e-4)`` (value read as YAML)."""
    if "=" not in text:
        raise ConfigError("--set", f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not re.fullmatch(r"[A-Za-z_][\w+]*(\.[A-Za-z_][\w+]*)*", key):
        raise ConfigError("--set", f"malformed key {key!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(key, f"cannot read value {raw!r}: {e}") from None
    return key, value


def load_raw(path: str | Path) -> Dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError("--config", f"no such file: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError("", f"{p} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError("", f"{p}: the top level must be a mapping")
    return data


def parse_experiment(raw: Dict[str, Any], overrides: List[str] = ()) -> ExperimentConfig:
    """Stage 1: keys, types and choices (no env is built)."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        key, value = parse_override(text)
        set_path(raw, key, value)
    # `lambda` is a Python keyword; RLlib calls it `lambda_`. Accept both.
    tr = raw.get("training")
    if isinstance(tr, dict) and "lambda" in tr:
        tr["lambda_"] = tr.pop("lambda")
    algo = raw.get("algorithm")
    if algo is None:
        raise ConfigError("algorithm", f"missing; allowed: {', '.join(ALGORITHMS)}")
    if algo not in ALGORITHMS:
        raise ConfigError("algorithm", f"unknown value {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    if "env" not in raw:
        raise ConfigError("env", "missing; e.g. env: {name: mpe2.simple_spread_v3}")
    defaults = ALGORITHMS[algo].model_defaults
    if defaults and isinstance(raw.get("model", {}), dict):
        raw["model"] = {**defaults, **raw.get("model", {})}
    exp = parse(ExperimentConfig, raw)
    exp.training = exp.training_config()  # typed against the algorithm, once
    _check_numbers(exp)
    if exp.tune is not None:
        _check_search_space(exp)
    return exp


def _check_numbers(exp: ExperimentConfig) -> None:
    if not exp.model.hidden or any(h < 1 for h in exp.model.hidden):
        raise ConfigError("model.hidden", "must be a non-empty list of positive sizes")
    for i, layer in enumerate(exp.model.cnn_layers):
        if len(layer) != 3 or min(layer) < 1:
            raise ConfigError(f"model.cnn_layers[{i}]", f"expected [channels, kernel, stride], each >= 1, got {layer}")
    if exp.model.share_encoder:
        _check_shared_encoder(exp)
    if all(getattr(exp.stop, f.name) is None for f in dataclasses.fields(StopConfig)):
        raise ConfigError("stop", "set at least one of env_steps, iterations, time_s, team_return")
    check_teams(exp)
    if exp.league is not None:
        for key, problem in exp.league.check():
            raise ConfigError(f"league.{key}", problem)
    if exp.expected.exploitability is not None and exp.league is None:
        raise ConfigError("expected.exploitability", "is measured on league runs only (add a league block)")
    if exp.expected.win_rate:
        if exp.league is None:
            raise ConfigError("expected.win_rate", "is measured on league runs only (add a league block)")
        from rllib_marl.league.league import League

        learners = League(exp.league).learners
        for name in exp.expected.win_rate:
            if name not in learners:
                raise ConfigError(f"expected.win_rate.{name}", f"no such learner; this league's learners are "
                                                               f"{', '.join(learners)}")
    if exp.env.comm or exp.env.comm_dropout:
        raise ConfigError("env.comm", "is set from the top-level comm block (comm: {type: tarmac}); "
                                      "leave env.comm and env.comm_dropout out")
    if exp.comm is not None:
        _check_comm(exp)
    if exp.league is not None:
        if not exp.spec.league:
            raise ConfigError("league", f"{exp.algorithm} cannot train in a league yet; algorithms "
                                        f"that can: {algorithms_with('league')}")
        _refuse_team_return(exp, "a league game is two-sided: the sum over both sides means nothing; use "
                                 "expected.win_rate or expected.exploitability (and stop by env steps, "
                                 "iterations or time); a Tune metric: marl_league/win_rate/main_0, "
                                 "marl_league/elo/main_0 or (matrix and OpenSpiel games) "
                                 "marl_league/exploitability/main_0")
    starts = getattr(exp.training, "learning_starts", None)
    if starts is not None and exp.stop.env_steps is not None and starts >= exp.stop.env_steps:
        raise ConfigError("training.learning_starts", f"{starts:,} is not below stop.env_steps "
                                                      f"({exp.stop.env_steps:,}): the run would end before its "
                                                      f"first update; allowed: < stop.env_steps")


def _check_comm(exp: ExperimentConfig) -> None:
    if not exp.spec.comm:
        raise ConfigError("comm", f"{exp.algorithm} does not support learned communication yet; algorithms "
                                  f"that do: {algorithms_with('comm')}")


def check_teams(exp: ExperimentConfig) -> None:
    """Team-return settings against ``env.teams`` (again once ``auto`` is resolved
    from the env: ``rllib_marl.build.prepare``)."""
    if exp.env.teams in ("by_prefix", "per_agent"):
        _refuse_team_return(exp, f"with env.teams: {exp.env.teams} there is no overall team return (a sum over "
                                 "opponents means nothing); use expected.team_returns with one entry per side"
                                 + (" (each agent's name)" if exp.env.teams == "per_agent" else ""))
    elif exp.expected.team_returns and exp.env.teams == "one":
        raise ConfigError("expected.team_returns", "needs env.teams: by_prefix or per_agent (one return per "
                                                   "side); with one team use expected.team_return")


def _refuse_team_return(exp: ExperimentConfig, why: str) -> None:
    """Games with no overall team return: ``stop.team_return``,
    ``expected.team_return`` and a Tune metric on the team return are refused,
    naming the key that is set."""
    tune_metric = exp.tune.metric if exp.tune is not None and exp.tune.metric.startswith("team_return") else None
    tune_stop = exp.tune.stop.team_return if exp.tune is not None and exp.tune.stop is not None else None
    for key, v in (("stop.team_return", exp.stop.team_return),
                   ("expected.team_return", exp.expected.team_return),
                   ("tune.metric", tune_metric), ("tune.stop.team_return", tune_stop)):
        if v is not None:
            raise ConfigError(key, why)


def _check_search_space(exp: ExperimentConfig) -> None:
    spaces = dict(exp.tune.search_space)
    if exp.tune.scheduler is not None:
        spaces.update(exp.tune.scheduler.hyperparam_mutations)
    for key, dom in spaces.items():
        path = f"tune.search_space.{key}"
        if not _SEARCHABLE.match(key):
            raise ConfigError(path, "searchable keys are training.*, env.reward.*, env.kwargs.*")
        if key.startswith("training."):
            field_name = key.split(".", 1)[1]
            fields = {f.name for f in dataclasses.fields(exp.spec.training_cls)}
            if field_name == "lambda":
                field_name = "lambda_"
            if field_name not in fields:
                raise ConfigError(path, f"unknown training key; allowed: {', '.join(sorted(fields))}")
        if not isinstance(dom, dict) or len(dom) != 1 or next(iter(dom)) not in SEARCH_DOMAINS:
            raise ConfigError(path, f"expected one of {{{': [...]}, {'.join(SEARCH_DOMAINS)}: [...]}}")
        kind, vals = next(iter(dom.items()))
        if not isinstance(vals, list) or not vals:
            raise ConfigError(f"{path}.{kind}", "expected a non-empty list")
        if kind in ("uniform", "loguniform"):
            vals = [parse_value(float, v, f"{path}.{kind}") for v in vals]
            if len(vals) != 2 or not vals[0] < vals[1] or (kind == "loguniform" and vals[0] <= 0):
                raise ConfigError(f"{path}.{kind}", "expected [low, high] with 0 < low < high")
        if exp.spec.check_search_space is not None:
            exp.spec.check_search_space(exp, key, f"{path}.{kind}", vals)


def _check_shared_encoder(exp: ExperimentConfig) -> None:
    spec = exp.spec
    if not spec.shared_encoder:
        others = algorithms_with("shared_encoder")
        raise ConfigError("model.share_encoder", f"{spec.name}'s modules have no actor and critic to share an "
                                                 f"observation encoder; {others} do")
    critic = exp.model.critic_input if exp.model.critic_input != "auto" else spec.critic_input
    if critic == "state":
        raise ConfigError("model.share_encoder", "the critic reads only the global state (critic_input: state), "
                                                 "not the observation the actor encodes; set model.critic_input: "
                                                 "obs or state+obs")
    if exp.comm is not None:
        raise ConfigError("model.share_encoder", "with a comm block the actor encodes its team's messages, not "
                                                 "one observation; drop one of the two")


def resolved_env_config(exp: ExperimentConfig) -> EnvConfig:
    cfg = copy.deepcopy(exp.env)
    if exp.comm is not None:
        cfg.comm, cfg.comm_dropout = True, exp.comm.dropout
    if cfg.global_state == "auto" and not exp.spec.needs_state(exp.training_config()):
        critic = exp.model.critic_input
        if critic in ("auto", "obs"):
            cfg.global_state = "none"
    return cfg


def load_experiment(path, overrides: List[str] = ()) -> ExperimentConfig:
    return parse_experiment(load_raw(path), overrides)


def dump_experiment(exp: ExperimentConfig, path: str | Path) -> None:
    raw = exp.to_plain()
    # An env class or function given from Python is written as its import path
    # (module:qualname), which env.name reads back where the module is importable.
    raw["env"]["name"] = exp.env.label
    Path(path).write_text(yaml.safe_dump(raw, sort_keys=False))
