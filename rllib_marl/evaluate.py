"""Score, watch and export a trained team:
``python -m rllib_marl.evaluate RUN_DIR_OR_CHECKPOINT [options]``.

* Scores the checkpoint on ``--episodes`` episodes (greedy unless ``--explore``)
  and prints team, per-team and per-agent returns with 95% confidence
  intervals, win / draw / loss where the game has two sides, and the env's own
  metrics; writes ``evaluation.json`` (and, with ``--marl-eval``, the same
  episodes in the marl-eval JSON layout BenchMARL emits).
* Cross-play: ``--opponent CHECKPOINT --play TEAM_OR_AGENT=opponent`` lets the
  other checkpoint's modules play those seats; ``--play AGENT=MODULE`` picks any
  module of the checkpoint (e.g. a league snapshot ``main_0@40``).
* ``--render PATH.gif`` (or ``.mp4``) records episodes from the env's
  ``rgb_array`` frames, with the step and the returns drawn on each frame.
* ``--export DIR`` writes each acting module as ONNX and TorchScript, with a
  ``layout.json`` of its inputs; ``python -m rllib_marl.deploy DIR`` then plays
  the exported team with onnxruntime alone (no Ray, no torch).

Episodes are sampled by our env runner (RLlib's ``MultiAgentEnvRunner``
extension point), locally or on ``--num-env-runners`` Ray actors through RLlib's
``EnvRunnerGroup``; no Algorithm, learner or replay buffer is built.

Exit status: 0 done, 2 bad input (reported before anything runs).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from rllib_marl.schema import ConfigError
from rllib_marl.train import CHECKPOINTS, EXIT_BAD_INPUT, EXIT_OK, RUN_CONFIG, _latest_checkpoint

EVALUATION_JSON = "evaluation.json"
OPPONENT = "opponent"
LEAGUE_MAIN = "main_0"  # the league's first main agent: plays every seat unless --play says otherwise
RL_MODULE_DIR = Path("learner_group") / "learner" / "rl_module"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rllib_marl.evaluate",
        description="Score a trained checkpoint, play it against another, render it, export it.",
    )
    p.add_argument("checkpoint", help="a run directory (its latest checkpoint) or a checkpoint directory")
    p.add_argument("--episodes", type=int, default=100, help="episodes to score (default: %(default)s)")
    p.add_argument("--explore", action="store_true", help="sample actions as in training (default: greedy)")
    p.add_argument("--seed", type=int, default=None, help="env seed (default: the run's seed)")
    p.add_argument("--num-env-runners", type=int, default=0,
                   help="Ray actors that sample episodes in parallel (default 0: in this process)")
    p.add_argument("--num-envs-per-env-runner", type=int, default=8,
                   help="sub-envs per runner, batched in one forward pass (default: %(default)s)")
    p.add_argument("--opponent", metavar="CHECKPOINT", help="a second run or checkpoint, for cross-play")
    p.add_argument("--play", action="append", default=[], metavar="SEATS=MODULE",
                   help="who plays which seats: SEATS is an agent id or a team (agent-name prefix); "
                        "MODULE is a module of the checkpoint (e.g. main_0@40), 'opponent' (the "
                        "opponent's own module for those agents) or 'opponent:MODULE' (repeatable)")
    p.add_argument("--output", metavar="PATH",
                   help=f"where to write the results (default: {EVALUATION_JSON} in the run directory)")
    p.add_argument("--marl-eval", metavar="PATH", help="also write the episodes in marl-eval's JSON layout")
    p.add_argument("--render", metavar="PATH", help="record episodes to PATH (.gif, or .mp4 with imageio-ffmpeg)")
    p.add_argument("--render-episodes", type=int, default=1, help="episodes to record (default: %(default)s)")
    p.add_argument("--fps", type=int, default=10, help="frames per second of the recording (default: %(default)s)")
    p.add_argument("--export", metavar="DIR", help="write each acting module as ONNX and TorchScript to DIR")
    p.add_argument("--comm-dropout", type=float, default=None, metavar="P",
                   help="runs with a comm block: probability that a message is lost (default: the run's "
                        "comm.eval_dropout)")
    p.add_argument("--comm-log", metavar="PATH",
                   help="runs with a comm block: write one greedy episode's messages to PATH (JSON): per step "
                        "and round, who each agent heard and with what weight (TarMAC: its attention)")
    p.add_argument("--verbose", action="store_true", help="show Ray's and RLlib's log lines")
    return p


# ----- what to evaluate -------------------------------------------------------------


@dataclass
class Source:
    """One trained run's checkpoint."""

    label: str  # "checkpoint" or "opponent"
    run_dir: Path
    checkpoint: Path
    exp: Any  # ExperimentConfig
    mapping: Dict[str, str]  # the run's own agent -> module
    modules: List[str]  # module ids stored in the checkpoint

    @property
    def module_dir(self) -> Path:
        return self.checkpoint / RL_MODULE_DIR


def resolve_checkpoint(path: str, what: str) -> Tuple[Path, Path]:
    """``(run_dir, checkpoint_dir)`` for a run directory or a checkpoint directory."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(what, f"{p} does not exist")
    if (p / RUN_CONFIG).is_file():
        ck = _latest_checkpoint(p)
        if ck is None:
            raise ConfigError(what, f"no complete checkpoint in {p / CHECKPOINTS}")
        return p, ck
    if any(p.glob("algorithm_state*")):
        run_dir = p.parent.parent
        if not (run_dir / RUN_CONFIG).is_file():
            raise ConfigError(what, f"{p} is a checkpoint outside a run directory (no {RUN_CONFIG} in "
                                    f"{run_dir}); evaluate needs the run's config")
        return run_dir, p
    raise ConfigError(what, f"{p} is neither a run directory (with {RUN_CONFIG}) nor a checkpoint "
                            "(with algorithm_state.pkl)")


def load_source(path: str, label: str) -> Tuple[Source, Any]:
    """The run behind a checkpoint, and its env as validation built it (the
    caller closes it)."""
    from rllib_marl.config import load_experiment, validate

    run_dir, ck = resolve_checkpoint(path, label)
    exp = load_experiment(run_dir / RUN_CONFIG)
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
    from rllib_marl.envs.spec import teams_by_prefix

    if plan.opponent is not None:
        mine = [a for a in agents if plan.seats[a][0] is plan.main]
        theirs = [a for a in agents if plan.seats[a][0] is plan.opponent]
        return ({"checkpoint": mine, OPPONENT: theirs} if mine and theirs else None), False
    exp = plan.main.exp
    if exp.league is not None:
        return {a: [a] for a in agents}, False
    if exp.env.teams == "by_prefix":
        teams = teams_by_prefix(agents)
        return (teams if len(teams) == 2 else None), False
    if len(agents) == 2:  # e.g. a two-player board game trained without a league: see summarize
        return {a: [a] for a in agents}, True
    return None, False


def make_plan(args) -> EvalPlan:
    """Everything checked before anything runs: checkpoints, seats, spaces."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    if args.episodes < 1:
        raise ConfigError("--episodes", "must be >= 1")
    if args.num_env_runners < 0:
        raise ConfigError("--num-env-runners", "must be >= 0")
    if args.num_envs_per_env_runner < 1:
        raise ConfigError("--num-envs-per-env-runner", "must be >= 1")
    if args.render_episodes < 1:
        raise ConfigError("--render-episodes", "must be >= 1")
    main, env = load_source(args.checkpoint, "checkpoint")
    comm = main.exp.comm
    try:
        for flag, value in (("--comm-dropout", args.comm_dropout), ("--comm-log", args.comm_log)):
            if value is not None and comm is None:
                raise ConfigError(flag, f"{main.run_dir} was trained without communication (no comm block)")
        if args.comm_dropout is not None and not 0.0 <= args.comm_dropout <= 1.0:
            raise ConfigError("--comm-dropout", f"{args.comm_dropout} is outside [0, 1]")
        if not args.verbose:  # RLlib's warnings while loading modules go to the run's ray.log
            from rllib_marl.train import route_library_logs

            route_library_logs(main.run_dir)
        opponent = None
        if args.opponent:
            opponent, opponent_env = load_source(args.opponent, OPPONENT)
            opponent_env.close()
        agents = sorted(env.possible_agents)
        seats = seat_plan(main, opponent, args.play, agents)
        plan = EvalPlan(main, opponent, seats, args.episodes, args.explore,
                        main.exp.seed if args.seed is None else args.seed,
                        args.num_env_runners, min(args.num_envs_per_env_runner, args.episodes),
                        convention=env.team_return_convention, agents=agents, api=env.api)
        for agent in agents:
            src, mid = seats[agent]
            eid = eval_module_id(src, mid)
            if eid not in plan.modules:
                plan.modules[eid] = RLModule.from_checkpoint(str((src.module_dir / mid).resolve()))
            check_fits(plan.modules[eid], env, agent, src, mid)
        plan.sides, plan.sides_inferred = _sides(plan, agents)
        if comm is not None:
            plan.comm_dropout = comm.eval_dropout if args.comm_dropout is None else args.comm_dropout
    finally:
        env.close()
    if args.render:
        check_renderable(main.exp, args.render)
    return plan


# ----- runners ------------------------------------------------------------------------


def eval_config(plan: EvalPlan, num_env_runners: int, num_envs: int, render: bool = False, callbacks=()):
    """The run's RLlib config, reduced to what env runners need, with the planned
    modules on the planned seats."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from rllib_marl.build import AgentToModule, build_algo_config

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


def episode_record(episode) -> Dict[str, Any]:
    from rllib_marl.metrics import episode_returns

    returns, measured = episode_returns(episode)
    return {"returns": returns, "length": int(getattr(episode, "env_t", len(episode))), "metrics": measured}


def _sample_records(runner, n: int, explore: bool) -> List[Dict[str, Any]]:
    return [episode_record(e) for e in runner.sample(num_episodes=n, explore=explore)]


def sample_episodes(plan: EvalPlan, verbose: bool = False) -> List[Dict[str, Any]]:
    """``plan.episodes`` finished episodes (returns, length, env metrics each)."""
    states = module_states(plan)
    if plan.num_env_runners == 0:
        config = eval_config(plan, 0, plan.num_envs)
        runner = local_runner(config, states)
        try:
            return _sample_records(runner, plan.episodes, plan.explore)
        finally:
            runner.stop()
    from ray.rllib.env.env_runner_group import EnvRunnerGroup

    from rllib_marl.train import init_ray

    k = min(plan.num_env_runners, plan.episodes)
    init_ray(log_dir=None if verbose else plan.main.run_dir)
    config = eval_config(plan, k, plan.num_envs)
    group = EnvRunnerGroup(config=config, local_env_runner=False, num_env_runners=k)
    try:
        group.foreach_env_runner(lambda r: r.module.set_state(states), local_env_runner=False)
        n, explore = plan.episodes, plan.explore

        def share(r):  # worker_index 1..k: the first n % k runners take one episode more
            count = n // k + (1 if r.worker_index <= n % k else 0)
            return _sample_records(r, count, explore)

        parts = group.foreach_env_runner(share, local_env_runner=False)
    finally:
        group.stop()
    return [rec for part in parts for rec in part]


# ----- statistics -----------------------------------------------------------------------


def t_quantile_975(dof: int) -> float:
    """Student's t 0.975 quantile: a table up to 10 degrees of freedom, then the
    Cornish-Fisher expansion around the normal quantile (within 0.05% there)."""
    if dof <= 0:
        return math.nan
    table = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
    if dof <= len(table):
        return table[dof - 1]
    z = 1.959964
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def describe(values: List[float]) -> Dict[str, float]:
    """Mean, sample standard deviation and the 95% confidence interval's half-width."""
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "ci95": math.nan, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    ci = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return {"mean": mean, "std": std, "ci95": ci, "n": n}


def summarize(plan: EvalPlan, records: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per-agent, team / per-team and per-side statistics of the episodes."""
    from rllib_marl.envs.spec import teams_by_prefix
    from rllib_marl.metrics import team_value

    exp, convention = plan.main.exp, plan.convention
    agents = sorted({a for r in records for a in r["returns"]})
    out: Dict[str, Any] = {
        "agent_returns": {a: describe([r["returns"][a] for r in records if a in r["returns"]]) for a in agents},
        "episode_length": describe([float(r["length"]) for r in records]),
    }
    cooperative = exp.env.teams != "by_prefix" and exp.league is None and plan.opponent is None
    if cooperative:
        out["team_return"] = describe([team_value(r["returns"], agents, convention) for r in records])
    elif exp.env.teams == "by_prefix":
        out["team_returns"] = {t: describe([team_value(r["returns"], members, convention) for r in records])
                               for t, members in teams_by_prefix(agents).items()}
    if plan.sides:
        names = list(plan.sides)
        side_returns = {s: [team_value(r["returns"], plan.sides[s], "sum") for r in records] for s in names}
        out["side_returns"] = {s: describe(v) for s, v in side_returns.items()}
        a, b = (side_returns[s] for s in names) if len(names) == 2 else ([], [])
        totals = [x + y for x, y in zip(a, b)]
        scale = max([1.0] + [abs(x) for x in a + b])
        zero_sum = bool(totals) and all(abs(x) <= 1e-6 * scale for x in totals)
        if not zero_sum and plan.sides_inferred:  # two cooperating agents: no sides after all
            del out["side_returns"]
        elif not zero_sum:
            out["outcome_note"] = (f"no win / draw / loss: {names[0]}'s and {names[1]}'s returns do not sum to "
                                   "zero (the game is not zero-sum), so a higher return is not a win")
        elif totals:
            if plan.sides_inferred:  # a two-player zero-sum game: no team return
                out.pop("team_return", None)
            wins = sum(x > y for x, y in zip(a, b))
            losses = sum(x < y for x, y in zip(a, b))
            n = len(a)
            out["outcome"] = {
                "sides": {s: plan.sides[s] for s in names},
                "rule": f"{names[0]} wins an episode when its summed env return is higher than {names[1]}'s",
                "win": wins / n, "draw": (n - wins - losses) / n, "loss": losses / n, "episodes": n,
            }
    metric_names = sorted({k for r in records for k in r["metrics"]})
    if metric_names:
        out["env_metrics"] = {k: describe([float(r["metrics"][k]) for r in records if k in r["metrics"]])
                              for k in metric_names}
    return out


def _fmt(d: Dict[str, float]) -> str:
    ci = "" if not math.isfinite(d["ci95"]) else f" ± {d['ci95']:.3g}"
    std = "" if not math.isfinite(d["std"]) else f"   (std {d['std']:.3g})"
    return f"{d['mean']:10.3f}{ci}{std}"


def table(stats: Dict[str, Any], header: str) -> str:
    lines = [header, f"{'':24s}{'mean ± 95% CI':>10s}"]
    if "team_return" in stats:
        lines.append(f"{'team return':24s}{_fmt(stats['team_return'])}")
    for t, d in stats.get("team_returns", {}).items():
        lines.append(f"{'team ' + t:24s}{_fmt(d)}")
    if "side_returns" in stats and not stats.get("team_returns") and any(
            len(m) > 1 for m in stats.get("outcome", {}).get("sides", {}).values()):
        for s, d in stats["side_returns"].items():
            lines.append(f"{s:24s}{_fmt(d)}")
    for a, d in stats["agent_returns"].items():
        lines.append(f"{'  ' + a:24s}{_fmt(d)}")
    for k, d in stats.get("env_metrics", {}).items():
        lines.append(f"{k:24s}{_fmt(d)}")
    lines.append(f"{'episode length':24s}{_fmt(stats['episode_length'])}")
    if "outcome_note" in stats:
        lines.append(stats["outcome_note"])
    if "outcome" in stats:
        o = stats["outcome"]
        names = list(o["sides"])
        lines.append(f"{names[0]} vs {names[1]}: win {o['win']:.3f} / draw {o['draw']:.3f} / loss {o['loss']:.3f} "
                     f"({o['rule']})")
    return "\n".join(lines)


def _step_count(src: Source) -> Optional[int]:
    """Env steps of the run when the checkpoint was written (from progress.csv)."""
    it_file = src.checkpoint / "iteration.txt"
    prog = src.run_dir / "progress.csv"
    if not (it_file.is_file() and prog.is_file()):
        return None
    it = int(it_file.read_text())
    with open(prog) as f:
        for row in csv.DictReader(f):
            if int(float(row.get("iteration") or row.get("training_iteration") or -1)) == it:
                return int(float(row["env_steps"]))
    return None


def marl_eval_layout(plan: EvalPlan, records: List[Dict[str, Any]], stats: Dict[str, Any]) -> Dict[str, Any]:
    """The episodes in marl-eval's layout: env → task → algorithm → run → step,
    with the groups :func:`summarize` reported (``stats``): the two sides, the
    teams, or one team (``return``)."""
    from rllib_marl.envs.spec import teams_by_prefix
    from rllib_marl.metrics import team_value

    exp, convention = plan.main.exp, plan.convention
    name = exp.env.name.split(":")[-1]
    env_name, task = (name.rsplit(".", 1) if "." in name else ("rllib_marl", name))
    agents = sorted({a for r in records for a in r["returns"]})
    metrics: Dict[str, List[float]] = {}
    if "side_returns" in stats or "team_returns" in stats:
        groups = plan.sides if "side_returns" in stats else teams_by_prefix(agents)
        for g, members in groups.items():
            metrics[f"return_{g}"] = [team_value(r["returns"], members, convention) for r in records]
    else:
        metrics["return"] = [team_value(r["returns"], agents, convention) for r in records]
    for a in agents:
        metrics[f"return_{a}"] = [r["returns"].get(a, math.nan) for r in records]
    step = {"step_count": _step_count(plan.main) or 0, **metrics}
    run = {"step_0": step, "absolute_metrics": dict(metrics)}
    return {env_name: {task: {exp.algorithm: {f"seed_{exp.seed}": run}}}}


# ----- rendering ------------------------------------------------------------------------


def check_renderable(exp, path: str, what: str = "--render") -> None:
    """Refuses, before anything runs, an env without ``rgb_array`` frames or a
    format this machine cannot write."""
    from rllib_marl.config import resolved_env_config
    from rllib_marl.envs.adapter import make_env

    suffix = Path(path).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(what, f"{path}: the recording must end in .gif or .mp4")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ConfigError(what, "writing .mp4 needs imageio and imageio-ffmpeg "
                                          "(pip install 'rllib_marl[render]' imageio-ffmpeg); .gif needs nothing") from None
    try:
        env = make_env(resolved_env_config(exp), render_mode="rgb_array")
    except Exception as e:  # noqa: BLE001 - the env's own refusal, reported as ours
        raise ConfigError(what, f"{exp.env.name} cannot render rgb_array frames ({e})") from None
    try:
        env.reset(seed=0)
        frame = env.render()
    except Exception as e:  # noqa: BLE001
        raise ConfigError(what, f"{exp.env.name} cannot render rgb_array frames ({type(e).__name__}: {e})") from None
    finally:
        env.close()
    import numpy as np

    if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[-1] in (3, 4)):
        raise ConfigError(what, f"{exp.env.name} gives no rgb_array frame (render() returned "
                                      f"{type(frame).__name__}); it cannot be recorded")


MAX_FRAME_WIDTH = 400


def _annotate(frame, text: str):
    from PIL import Image, ImageDraw

    import numpy as np

    img = Image.fromarray(np.asarray(frame)[..., :3].astype(np.uint8))
    if img.width < 240:  # tiny frames (e.g. our grid games): scale up so the text fits
        f = int(math.ceil(240 / img.width))
        img = img.resize((img.width * f, img.height * f), Image.NEAREST)
    elif img.width > MAX_FRAME_WIDTH:  # large frames: smaller files, text still legible
        img = img.resize((MAX_FRAME_WIDTH, round(img.height * MAX_FRAME_WIDTH / img.width)), Image.LANCZOS)
    draw = ImageDraw.Draw(img)
    lines = text.split("\n")
    h = 11 * len(lines) + 4
    draw.rectangle([0, 0, img.width, h], fill=(0, 0, 0))
    draw.multiline_text((3, 2), text, fill=(255, 255, 255), spacing=1)
    return img


def frame_recorder():
    """A fresh RLlib callback class (env-runner side) that keeps each step's frame,
    with the episode, the step and the returns so far drawn on it, in its
    ``frames`` list (the runner builds the instance; the class holds the frames)."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    class FrameRecorder(RLlibCallback):
        frames: List[Any] = []
        episodes = 0

        def _grab(self, env, env_index, episode):
            sub = env.envs[env_index].unwrapped
            text = f"episode {FrameRecorder.episodes} step {int(getattr(episode, 'env_t', 0))}"
            rets = sub.env_returns
            if rets:
                text += "\n" + "  ".join(f"{a} {v:.1f}" for a, v in sorted(rets.items()))
            FrameRecorder.frames.append(_annotate(sub.render(), text))

        def on_episode_start(self, *, episode, env=None, env_index=0, **kwargs):
            FrameRecorder.episodes += 1
            self._grab(env, env_index, episode)

        def on_episode_step(self, *, episode, env=None, env_index=0, **kwargs):
            self._grab(env, env_index, episode)

    return FrameRecorder


def render_episodes(plan: EvalPlan, path: Path, episodes: int = 1, fps: int = 10, states=None) -> int:
    """Records ``episodes`` episodes (one sub-env, in this process) to ``path``:
    each episode's first observation and every step after it. Returns the
    number of frames written."""
    recorder = frame_recorder()
    config = eval_config(plan, 0, 1, render=True, callbacks=[recorder])
    runner = local_runner(config, states if states is not None else module_states(plan))
    try:
        runner.sample(num_episodes=episodes, explore=plan.explore)
    finally:
        runner.stop()
    write_frames(recorder.frames, path, fps)
    return len(recorder.frames)


def write_frames(frames, path: Path, fps: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        raise RuntimeError("no frames were recorded")
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    if path.suffix.lower() == ".gif":
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=max(1, int(1000 / fps)), loop=0)
        return
    import imageio.v2 as imageio
    import numpy as np

    with imageio.get_writer(str(path), fps=fps) as w:
        for f in frames:
            w.append_data(np.asarray(f))


def render_during_training(algo, exp, mapping: Dict[str, str], path: Path, fps: int = 10) -> int:
    """Records one greedy episode with the learners' current weights (``train
    --render-every``); returns the number of frames."""
    run_mapping = {a: LEAGUE_MAIN for a in mapping} if exp.league is not None else dict(mapping)
    mids = sorted(set(run_mapping.values()))
    src = Source("checkpoint", path.parent, path.parent, exp, run_mapping, mids)
    modules = {m: algo.get_module(m) for m in mids}
    plan = EvalPlan(src, None, {a: (src, m) for a, m in run_mapping.items()}, 1, False, exp.seed, 0, 1,
                    modules=modules)
    state = algo.learner_group.get_state(components=[f"learner/rl_module/{m}" for m in mids], inference_only=True)
    weights = state["learner"]["rl_module"]
    return render_episodes(plan, path, 1, fps, states=weights)


# ----- main -----------------------------------------------------------------------------


def run(args, plan: EvalPlan) -> int:
    from rllib_marl.train import env_version

    exp = plan.main.exp
    out = Path(args.output).expanduser() if args.output else plan.main.run_dir / EVALUATION_JSON
    convention = plan.convention
    env_pkg = env_version(exp.env.name)
    who = ", ".join(f"{a}: {'opponent ' if s.label == OPPONENT else ''}{m}" for a, (s, m) in plan.seats.items())
    comm_text = (f" | {exp.comm.type} messages, dropout {plan.comm_dropout:g}"
                 if plan.comm_dropout is not None else "")
    print(f"evaluating {plan.main.checkpoint} | {exp.env.name} ({env_pkg}) | {who}{comm_text}", flush=True)
    records = sample_episodes(plan, verbose=args.verbose)
    stats = summarize(plan, records)
    header = (f"{len(records)} episodes, {'exploring' if plan.explore else 'greedy'}, seed {plan.seed} | "
              "returns in the env's own rewards"
              + (f"; team return = {convention} over the team's agents"
                 if "team_return" in stats or "team_returns" in stats else ""))
    print(table(stats, header), flush=True)
    result = {
        "checkpoint": str(plan.main.checkpoint),
        "run_dir": str(plan.main.run_dir),
        "opponent": str(plan.opponent.checkpoint) if plan.opponent else None,
        "seats": {a: {"source": "opponent" if s.label == OPPONENT else "checkpoint", "module": m}
                  for a, (s, m) in plan.seats.items()},
        "algorithm": exp.algorithm,
        "env": exp.env.name,
        "env_kwargs": exp.env.kwargs,
        "env_package": env_pkg,
        "team_return_convention": convention,
        "episodes": len(records),
        "explore": plan.explore,
        "seed": plan.seed,
        "env_steps_trained": _step_count(plan.main),
        "comm_dropout": plan.comm_dropout,
        **stats,
        "episode_records": records,
    }
    from rllib_marl.report import write_json

    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(f"results: {out}")
    if args.marl_eval:
        write_json(Path(args.marl_eval).expanduser(), marl_eval_layout(plan, records, stats))
        print(f"marl-eval layout: {args.marl_eval}")
    if args.comm_log:
        from rllib_marl.comm_log import write_message_log

        print(write_message_log(plan, Path(args.comm_log).expanduser()))
    if args.render:
        n = render_episodes(plan, Path(args.render).expanduser(), args.render_episodes, args.fps)
        print(f"recording: {args.render} ({args.render_episodes} episode(s), {n} frames)")
    if args.export:
        from rllib_marl.export import export_team

        files = export_team(plan, Path(args.export).expanduser())
        print(f"exported: {files}\nplay it without Ray: python -m rllib_marl.deploy {args.export}")
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan = make_plan(args)
    except ConfigError as e:
        print(f"evaluate error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return run(args, plan)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    from rllib_marl.train import pin_hash_seed

    pin_hash_seed(["-m", "rllib_marl.evaluate", *sys.argv[1:]])
    sys.exit(main())
