"""What an evaluation plays: the trained runs behind checkpoints (:class:`Source`),
who takes which seat (:class:`EvalPlan`), and the RLlib config that puts the
planned modules on their seats (:func:`eval_config`). Used by ``evaluate``,
``--export`` and ``--comm-log``; no Algorithm, learner or replay buffer is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from rllib_marl.rundir import RUN_CONFIG, resolve_checkpoint
from rllib_marl.schema import ConfigError

OPPONENT = "opponent"
LEAGUE_MAIN = "main_0"  # the league's first main agent: plays every seat unless --play says otherwise
RL_MODULE_DIR = Path("learner_group") / "learner" / "rl_module"


@dataclass
class Source:
    """One trained run's checkpoint."""

    label: str  # "checkpoint" or "opponent"
    run_dir: Path  # the run's directory (for a checkpoint saved from Python: the checkpoint's own)
    checkpoint: Path
    exp: Any  # ExperimentConfig
    mapping: Dict[str, str]  # the run's own agent -> module
    modules: List[str]  # module ids stored in the checkpoint

    @property
    def module_dir(self) -> Path:
        return self.checkpoint / RL_MODULE_DIR


def load_source(path: str, label: str) -> Tuple[Source, Any]:
    """The run behind a checkpoint, and its env as validation built it (the
    caller closes it). A checkpoint saved from Python (``algo.save_to_path``)
    carries its ``AlgorithmConfig``; its experiment is read from that."""
    from rllib_marl.build import experiment_of_checkpoint, validate
    from rllib_marl.config import load_experiment

    run_dir, ck = resolve_checkpoint(path, label)
    if run_dir is not None:
        exp = load_experiment(run_dir / RUN_CONFIG)
    else:
        exp, run_dir = experiment_of_checkpoint(ck, label), ck
    env, mapping = validate(exp)
    if exp.league is not None:  # league seats: the main learner plays every seat by default
        mapping = {a: LEAGUE_MAIN for a in mapping}
    mdir = ck / RL_MODULE_DIR
    if not mdir.is_dir():
        env.close()
        raise ConfigError(label, f"{ck} has no module weights ({RL_MODULE_DIR} is missing)")
    modules = sorted(d.name for d in mdir.iterdir() if any(d.glob("module_state*")))
    return Source(label, run_dir, ck, exp, mapping, modules), env


def _agents_of(who: str, agents: List[str]) -> List[str]:
    from rllib_marl.envs.spec import agent_prefix

    if who in agents:
        return [who]
    team = [a for a in agents if agent_prefix(a) == who]
    if team:
        return team
    teams = sorted({agent_prefix(a) for a in agents})
    raise ConfigError("--play", f"{who!r} is neither an agent nor a team of this env; agents: "
                                f"{', '.join(agents)}; teams: {', '.join(teams)}")


def seat_plan(main: Source, opponent: Optional[Source], play: List[str],
              agents: List[str]) -> Dict[str, Tuple[Source, str]]:
    """``{agent: (source, module id)}`` from the run's own mapping and ``--play``."""
    plan = {a: (main, main.mapping[a]) for a in agents}
    for text in play:
        if "=" not in text:
            raise ConfigError("--play", f"{text!r}: expected SEATS=MODULE, e.g. adversary=opponent")
        who, what = (s.strip() for s in text.split("=", 1))
        targets = _agents_of(who, agents)
        if what == OPPONENT or what.startswith(OPPONENT + ":"):
            if opponent is None:
                raise ConfigError("--play", f"{text!r} names the opponent; give its checkpoint with --opponent")
            src = opponent
            mid = what[len(OPPONENT) + 1:] if ":" in what else None
        else:
            src, mid = main, what
        for a in targets:
            m = mid if mid is not None else src.mapping.get(a)
            if m is None:
                raise ConfigError("--play", f"{text!r}: the opponent's run has no agent {a!r}; name its "
                                            f"module with opponent:MODULE ({_listing(src.modules)})")
            if m not in src.modules:
                raise ConfigError("--play", f"{text!r}: no module {m!r} in {src.checkpoint}; it has "
                                            f"{_listing(src.modules)}")
            plan[a] = (src, m)
    if opponent is not None and not any(src is opponent for src, _ in plan.values()):
        raise ConfigError("--opponent", "no seat is given to the opponent; say which with --play, e.g. "
                                        "--play TEAM=opponent")
    return plan


def _listing(names: List[str], limit: int = 12) -> str:
    """Names in natural order (main_0@2 before main_0@10), the middle elided when long."""
    import re

    key = [tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)) for n in names]
    ordered = [n for _, n in sorted(zip(key, names))]
    if len(ordered) <= limit:
        return ", ".join(ordered)
    return ", ".join(ordered[: limit - 2]) + f", ..., {ordered[-1]} ({len(ordered)} modules)"


def eval_module_id(src: Source, mid: str) -> str:
    return mid if src.label != OPPONENT else f"{OPPONENT}_{mid}"  # ":" is not allowed in module ids


def _space_text(space) -> str:
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return "{" + ", ".join(f"{k}: {_space_text(v)}" for k, v in space.spaces.items()) + "}"
    if isinstance(space, spaces.Discrete):
        return f"Discrete({space.n})"
    return f"{type(space).__name__}{tuple(space.shape)}"


def check_fits(module, env, agent: str, src: Source, mid: str) -> None:
    """Refuses a module whose observation or action space is not the env's for ``agent``."""
    obs_m, obs_e = module.observation_space, env.observation_spaces[agent]
    act_m, act_e = module.action_space, env.action_spaces[agent]
    from rllib_marl.envs.observations import actor_keys

    keys = actor_keys(obs_m)
    same_obs = keys == actor_keys(obs_e) and all(obs_m[k].shape == obs_e[k].shape for k in keys)
    same_act = type(act_m) is type(act_e) and getattr(act_m, "n", None) == getattr(act_e, "n", None) \
        and act_m.shape == act_e.shape
    if not (same_obs and same_act):
        raise ConfigError("--play" if src.label == OPPONENT else src.label,
                          f"module {mid!r} of {src.checkpoint} was trained on observations "
                          f"{_space_text(obs_m)} and actions {_space_text(act_m)}; this env gives {agent!r} "
                          f"{_space_text(obs_e)} and {_space_text(act_e)}: the spaces must be the same")


@dataclass
class EvalPlan:
    main: Source
    opponent: Optional[Source]
    seats: Dict[str, Tuple[Source, str]]
    episodes: int
    explore: bool
    seed: int
    num_env_runners: int
    num_envs: int
    convention: str = "sum"  # team return: sum or mean over a team's agents
    sides: Optional[Dict[str, List[str]]] = None  # two sides of a game, for win / draw / loss
    sides_inferred: bool = False  # two agents, one team: sides only if the episodes are zero-sum
    modules: Dict[str, Any] = field(default_factory=dict)  # eval module id -> loaded RLModule
    agents: List[str] = field(default_factory=list)  # the env's agents, sorted
    api: str = "parallel"  # the env's PettingZoo API
    base_config: Any = None  # the run's RLlib config, built once (see eval_config)
    comm_dropout: Optional[float] = None  # runs with a comm block: message loss probability


def _sides(plan: EvalPlan, agents: List[str]) -> Tuple[Optional[Dict[str, List[str]]], bool]:
    """The two sides of a game, if any, and whether they are only inferred (two
    agents, one team: sides only if the episodes turn out zero-sum)."""
    from rllib_marl.envs.spec import competitive, teams_of

    if plan.opponent is not None:
        mine = [a for a in agents if plan.seats[a][0] is plan.main]
        theirs = [a for a in agents if plan.seats[a][0] is plan.opponent]
        return ({"checkpoint": mine, OPPONENT: theirs} if mine and theirs else None), False
    exp = plan.main.exp
    if exp.league is not None:
        return {a: [a] for a in agents}, False
    if competitive(exp.env.teams):
        teams = teams_of(agents, exp.env.teams)
        return (teams if len(teams) == 2 else None), False
    if len(agents) == 2:  # e.g. a two-player board game trained without a league: see summarize
        return {a: [a] for a in agents}, True
    return None, False


def eval_config(plan: EvalPlan, num_env_runners: int, num_envs: int, render: bool = False, callbacks=()):
    """The run's RLlib config, reduced to what env runners need, with the planned
    modules on the planned seats."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from rllib_marl.algorithms.base import AgentToModule
    from rllib_marl.build import build_algo_config

    if plan.base_config is None:  # validates the run's config and builds its env: once per plan
        plan.base_config, _ = build_algo_config(plan.main.exp)
    config = plan.base_config.copy(copy_frozen=False)
    config.env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs)
    specs = {
        eid: RLModuleSpec(module_class=type(m), observation_space=m.observation_space,
                          action_space=m.action_space, model_config=dict(m.model_config or {}),
                          inference_only=True)
        for eid, m in plan.modules.items()
    }
    mapping = {a: eval_module_id(src, mid) for a, (src, mid) in plan.seats.items()}
    config.multi_agent(policies=set(specs), policy_mapping_fn=AgentToModule(mapping),
                       policies_to_train=[])
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
    config.callbacks(callbacks_class=list(callbacks))
    config.evaluation(evaluation_interval=None)
    config.debugging(seed=plan.seed)
    # As RLlib's evaluation runners: their envs are seeded with seed + 1,000,000, so
    # evaluating with the run's seed replays the episodes of its own evaluations.
    config.in_evaluation = True
    env_cfg = dict(config.env_config)
    if render:
        env_cfg["render_mode"] = "rgb_array"
    if plan.comm_dropout is not None:  # as the run's evaluations, unless --comm-dropout says otherwise
        env_cfg["comm_dropout"] = plan.comm_dropout
    config.environment(env_config=env_cfg)
    return config


def module_states(plan: EvalPlan) -> Dict[str, Any]:
    """The acting part of each planned module's weights."""
    return {eid: m.get_state(inference_only=True) for eid, m in plan.modules.items()}


def _runner_class(config):
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

    return config.env_runner_cls or MultiAgentEnvRunner


def local_runner(config, states):
    runner = _runner_class(config)(config=config)
    runner.module.set_state(states)
    return runner


