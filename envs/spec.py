"""Typed description of an environment, as it appears under ``env:`` in a config.

The same dataclasses travel to every env runner (as a plain dict in
``env_config``) and rebuild the env there, so an env is described once and
built the same way on a laptop and on every node of a cluster.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List

REWARD_MODES = ("individual", "team", "mix")
TEAM_AGGREGATES = ("sum", "mean")
GLOBAL_STATE_MODES = ("auto", "env", "concat", "none")
APIS = ("auto", "parallel", "aec")
TEAM_RETURN_CONVENTIONS = ("auto", "sum", "mean")
TEAMS = ("auto", "one", "by_prefix", "per_agent")


def env_label(name: Any) -> str:
    """A printable name of an env: the string, or ``module:qualname`` of a class or function."""
    if isinstance(name, str):
        return name
    mod = getattr(name, "__module__", None)
    qual = getattr(name, "__qualname__", None) or getattr(name, "__name__", None)
    if mod and qual:
        return f"{mod}:{qual}"
    return repr(name)


def agent_prefix(agent_id: str) -> str:
    """``"adversary_1"`` → ``"adversary"``: the agent's name without its index."""
    return re.sub(r"[_-]?\d+$", "", str(agent_id)) or str(agent_id)


def teams_by_prefix(agents) -> Dict[str, List[str]]:
    """``{team: [agents]}`` by :func:`agent_prefix`, in the agents' order (``env.teams: by_prefix``)."""
    teams: Dict[str, List[str]] = {}
    for a in agents:
        teams.setdefault(agent_prefix(a), []).append(a)
    return teams


def teams_of(agents, teams: str) -> Dict[str, List[str]]:
    """``{team: [agents]}`` of ``env.teams``, in the agents' order: ``one`` (and an
    unresolved ``auto``) one team of all agents, ``by_prefix`` one per name
    prefix, ``per_agent`` each agent its own side."""
    agents = list(agents)
    if teams == "by_prefix":
        return teams_by_prefix(agents)
    if teams == "per_agent":
        return {str(a): [a] for a in agents}
    return {"team": agents}


def team_return_convention(configured: str, env) -> str:
    """The team-return convention in use: ``sum`` or ``mean`` as configured, or under
    ``auto`` the env's ``metadata["team_return"]`` (``sum`` when it names neither)."""
    if configured in ("sum", "mean"):
        return configured
    conv = getattr(env, "metadata", {}).get("team_return", "sum")
    return conv if conv in ("sum", "mean") else "sum"


def competitive(teams: str) -> bool:
    """Whether ``env.teams`` splits the agents into sides (no overall team return)."""
    return teams in ("by_prefix", "per_agent")


def team_lists(agents, teams: str) -> List[List[str]]:
    """The teams of ``env.teams`` as lists of agents, in the agents' order."""
    return list(teams_of(agents, teams).values())


@dataclass
class RewardConfig:
    """How each agent's training reward is formed from the env's rewards.

    Attributes:
        mode: ``individual`` (the env's own reward per agent), ``team`` (every
            agent gets the team reward) or ``mix`` (``(1 - w) * r_i + w * team``).
        team_aggregate: how the team reward is formed from the agents' rewards
            of one step: ``sum`` or ``mean``.
        team_weight: ``w`` in ``mix`` mode, in [0, 1].
    """

    mode: str = field(default="individual", metadata={"choices": REWARD_MODES})
    team_aggregate: str = field(default="sum", metadata={"choices": TEAM_AGGREGATES})
    team_weight: float = field(default=0.5, metadata={"bounds": (0.0, None, 1.0, None)})


@dataclass
class WrapperConfig:
    """One SuperSuit wrapper, e.g. ``{name: frame_stack_v1, kwargs: {stack_size: 4}}``."""

    name: str
    kwargs: Dict[str, Any] = field(default_factory=dict)


@dataclass
class EnvConfig:
    """A PettingZoo environment and how the library presents it to RLlib.

    Attributes:
        name: a registered short name (see ``rllib_marl.envs.registry.list_envs``)
            or an import path to a PettingZoo env module such as
            ``mpe2.simple_spread_v3`` or ``pettingzoo.classic.rps_v2``, or
            ``package.module:callable`` returning an env, ``gymnasium:<id>``
            (a Gymnasium env with Tuple spaces, e.g. LBF, RWARE), a name
            registered with ``ray.tune.register_env``, or (from Python) an env
            class or factory: see ``rllib_marl.envs.sources``.
        kwargs: keyword arguments for the env constructor.
        api: ``parallel`` (simultaneous moves), ``aec`` (turn-based), or
            ``auto`` (parallel where the module has ``parallel_env``).
        wrappers: SuperSuit wrappers applied in order, after construction.
        reward: training-reward structure (see :class:`RewardConfig`).
        global_state: the centralized-critic state: ``env`` (``env.state()``),
            ``concat`` (all agents' observations in sorted agent order),
            ``auto`` (``env`` where the env has a state, else ``concat``), or
            ``none`` (no state in the observation).
        agent_id: add a one-hot agent id (sorted agent order) to each observation.
        team_return: how the reported team return is formed from per-agent
            returns: ``sum`` (e.g. MPE), ``mean`` (games where every agent is paid
            the same team reward), or ``auto`` (the env's ``metadata["team_return"]``,
            else ``sum``).
        action_mask_from_info: read action masks from ``infos[agent]["action_mask"]``
            (masks inside dict observations are always detected).
        teams: how returns are reported: ``one`` (all agents are one team: a
            cooperative game), ``by_prefix`` (one team per agent-name prefix,
            e.g. ``adversary`` and ``agent`` in mpe2's simple_tag: competitive
            and mixed games, where a sum over opponents means nothing; each
            team's return is reported, no overall team return), ``per_agent``
            (each agent its own side: two-player games) or ``auto`` (``per_agent``
            for a two-player zero-sum game, told by the env's metadata
            ``zero_sum`` or by random episodes whose two returns always cancel;
            else ``one``).
        comm: add the communication keys (``team_obs``, ``comm_links``,
            ``comm_self``) to each agent's observation, for the agents of each
            team (as ``teams`` defines them). Set from the experiment's
            top-level ``comm`` block, not by hand.
        comm_dropout: probability that one message is lost in an env step
            (also set from the ``comm`` block; evaluation has its own).
    """

    name: Any = ""  # a string, or (from Python) a class or function
    kwargs: Dict[str, Any] = field(default_factory=dict)
    api: str = field(default="auto", metadata={"choices": APIS})
    wrappers: List[WrapperConfig] = field(default_factory=list)
    reward: RewardConfig = field(default_factory=RewardConfig)
    global_state: str = field(default="auto", metadata={"choices": GLOBAL_STATE_MODES})
    agent_id: bool = False
    team_return: str = field(default="auto", metadata={"choices": TEAM_RETURN_CONVENTIONS})
    action_mask_from_info: bool = False
    teams: str = field(default="auto", metadata={"choices": TEAMS})
    comm: bool = False
    comm_dropout: float = field(default=0.0, metadata={"bounds": (0.0, None, 1.0, None)})

    @property
    def label(self) -> str:
        """The env's name as text (``module:qualname`` of a class or function)."""
        return env_label(self.name)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "EnvConfig":
        d = dict(d)
        d["reward"] = RewardConfig(**d.get("reward", {}))
        d["wrappers"] = [
            w if isinstance(w, WrapperConfig) else WrapperConfig(**w)
            for w in d.get("wrappers", [])
        ]
        return cls(**d)
