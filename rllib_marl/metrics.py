"""Team and per-agent returns, reported the same way for every algorithm.

Returns here are in the env's own rewards (before any reward shaping set in
``env.reward``), taken from the ``env_return`` each agent's final ``infos``
entry carries. The team return is the sum of the agents' returns, or their mean
for envs whose agents all receive one shared team reward (``env.team_return``;
the env's ``metadata["team_return"]`` decides under ``auto``).

Competitive and mixed games (``env.teams: by_prefix`` / ``per_agent``) report one return per
team (same convention, over that team's agents) and no overall team return: a
sum over opponents means nothing.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

from ray.rllib.callbacks.callbacks import RLlibCallback

from rllib_marl.envs.adapter import ENV_RETURN_INFO
from rllib_marl.envs.env_metrics import ENV_METRICS_INFO
from rllib_marl.envs.spec import competitive, teams_of

# Keys under result["env_runners"][MARL_KEY] and top-level result keys.
MARL_KEY = "marl"
TEAM_RETURN = "team_return_mean"
AGENT_RETURN = "agent_return_mean"
EPISODE_LEN = "episode_len_mean"
ENV_STEPS = "env_steps"
CONVENTION = "team_return_convention"
EVAL_TEAM_RETURN = "eval_team_return_mean"
EVAL_AGENT_RETURN = "eval_agent_return_mean"
TEAM_RETURNS = "team_returns_mean"  # per team, env.teams: by_prefix / per_agent only
EVAL_TEAM_RETURNS = "eval_team_returns_mean"
ENV_METRICS = "env_metrics_mean"  # the env's own episode metrics (envs/env_metrics.py)
EVAL_ENV_METRICS = "eval_env_metrics_mean"


def smoothing_window(config) -> int:
    """Per-runner window of an episode metric, so that the merged mean over all
    env runners covers RLlib's ``metrics_num_episodes_for_smoothing`` episodes."""
    n_runners = getattr(config, "num_env_runners", 0) or 1
    smooth = getattr(config, "metrics_num_episodes_for_smoothing", 100)
    return max(1, int(math.ceil(smooth / n_runners)))


def episode_returns(episode) -> Tuple[Dict[str, float], Dict[str, float]]:
    """``({agent: env return}, {env metric: value})`` of a finished episode, in
    the env's own rewards (before shaping), from the agents' final infos."""
    returns: Dict[str, float] = {}
    measured: Dict[str, float] = {}
    for aid, sa_ep in episode.agent_episodes.items():
        if len(sa_ep) == 0:
            continue
        info = sa_ep.get_infos(-1)
        if ENV_RETURN_INFO in info:
            returns[str(aid)] = float(info[ENV_RETURN_INFO])
        measured = measured or info.get(ENV_METRICS_INFO) or {}
    return returns, dict(measured)


def team_value(returns: Dict[str, float], agents, convention: str) -> float:
    """A team's return from its agents' returns: their sum, or their mean under
    the ``mean`` convention (NaN when none of them has a return)."""
    vals = [returns[a] for a in agents if a in returns]
    if not vals:
        return math.nan
    return sum(vals) / len(vals) if convention == "mean" else sum(vals)


class MarlMetricsCallback(RLlibCallback):
    """Logs team / per-agent env returns per episode; lifts them to the top level."""

    @staticmethod
    def _convention(config) -> str:
        if getattr(config, "env_layout", None) is not None:  # an rllib_marl config read its env
            return config.team_reward
        env_config = getattr(config, "env_config", None) or {}
        conv = env_config.get("team_return", "sum")
        return conv if conv in ("sum", "mean") else "sum"

    @staticmethod
    def _teams(config) -> str:
        return (getattr(config, "env_config", None) or {}).get("teams", "one")

    def on_episode_end(self, *, episode, env_runner=None, metrics_logger=None, **kwargs):
        if metrics_logger is None:
            return
        returns, measured = episode_returns(episode)
        # The whole episode's length: ``len(episode)`` counts only the chunk since
        # the last sample() cut, ``env_t`` every env step since the reset.
        log_episode(metrics_logger, getattr(env_runner, "config", None), returns,
                    int(getattr(episode, "env_t", len(episode))), measured)

    def on_train_result(self, *, algorithm, result: Dict[str, Any], **kwargs):
        lift_marl_metrics(result, self._convention(algorithm.config))
        self._carried = carry_last_episodes(result, getattr(self, "_carried", {}))


def log_episode(metrics_logger, cfg, returns: Dict[str, float], length: int,
                measured: Optional[Dict[str, float]] = None) -> None:
    """Logs one finished episode: team return(s), length, per-agent returns and
    the env's own metrics (what :class:`MarlMetricsCallback` logs per episode;
    the batched env runner calls it for the episodes it finishes)."""
    if not returns:
        return
    conv = MarlMetricsCallback._convention(cfg)
    win = smoothing_window(cfg)
    teams = MarlMetricsCallback._teams(cfg)
    if competitive(teams):
        for name, members in teams_of(sorted(returns), teams).items():
            metrics_logger.log_value((MARL_KEY, TEAM_RETURNS, name), team_value(returns, members, conv), window=win)
    elif not _is_league(cfg):  # a league game is two-sided: no team return
        metrics_logger.log_value((MARL_KEY, TEAM_RETURN), team_value(returns, list(returns), conv), window=win)
    metrics_logger.log_value((MARL_KEY, EPISODE_LEN), int(length), window=win)
    for aid, r in returns.items():
        metrics_logger.log_value((MARL_KEY, AGENT_RETURN, aid), r, window=win)
    for name, v in (measured or {}).items():
        metrics_logger.log_value((MARL_KEY, ENV_METRICS, name), float(v), window=win)


def _is_league(config) -> bool:
    from rllib_marl.league.mapping import LeagueMapping

    return isinstance(getattr(config, "policy_mapping_fn", None), LeagueMapping)


def lift_marl_metrics(result: Dict[str, Any], convention: str) -> None:
    """Copies our env-runner metrics to the top level of a result dict."""
    er = result.get("env_runners", {})
    m = er.get(MARL_KEY, {})
    result[TEAM_RETURN] = float(m.get(TEAM_RETURN, float("nan")))
    result[EPISODE_LEN] = float(m.get(EPISODE_LEN, float("nan")))
    result[AGENT_RETURN] = {k: float(v) for k, v in m.get(AGENT_RETURN, {}).items()}
    if TEAM_RETURNS in m:
        result[TEAM_RETURNS] = {k: float(v) for k, v in m[TEAM_RETURNS].items()}
    if ENV_METRICS in m:
        result[ENV_METRICS] = {k: float(v) for k, v in m[ENV_METRICS].items()}
    result[ENV_STEPS] = int(er.get("num_env_steps_sampled_lifetime", 0) or 0)
    result[CONVENTION] = convention
    lift_eval_metrics(result)


#: The episode means a training iteration may lack: no episode ended in it.
CARRIED = (TEAM_RETURN, EPISODE_LEN, AGENT_RETURN, TEAM_RETURNS, ENV_METRICS)


def _missing(value) -> bool:
    if isinstance(value, dict):
        return not value or all(_missing(v) for v in value.values())
    return value is None or (isinstance(value, float) and math.isnan(value))


def carry_last_episodes(result: Dict[str, Any], carried: Dict[str, Any]) -> Dict[str, Any]:
    """An iteration in which no episode ended (episodes longer than its sample, as
    with 100-step VMAS episodes and a batch of 50 steps per sub-env) keeps the
    previous iteration's episode means: the last episodes are still the same ones,
    so the mean over them has not changed. Returns the values to carry on."""
    out = dict(carried)
    for key in CARRIED:
        if key in result and not _missing(result[key]):
            out[key] = result[key]
        elif key in carried:
            result[key] = carried[key]
    return out


def lift_eval_metrics(result: Dict[str, Any]) -> None:
    """Copies an evaluation's team / per-agent returns to the top level, if any."""
    ev = (result.get("evaluation") or {}).get("env_runners", {}).get(MARL_KEY)
    if not ev or (TEAM_RETURN not in ev and TEAM_RETURNS not in ev):
        return
    result[EVAL_TEAM_RETURN] = float(ev.get(TEAM_RETURN, float("nan")))
    if TEAM_RETURNS in ev:
        result[EVAL_TEAM_RETURNS] = {k: float(v) for k, v in ev[TEAM_RETURNS].items()}
    if ENV_METRICS in ev:
        result[EVAL_ENV_METRICS] = {k: float(v) for k, v in ev[ENV_METRICS].items()}
    result[EVAL_AGENT_RETURN] = {k: float(v) for k, v in ev.get(AGENT_RETURN, {}).items()}
