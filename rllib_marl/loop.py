"""The training loop of one run (the CLI's ``train`` without ``--tune``): build
the algorithm from the plan's config, train until a stop criterion, checkpoint,
report, and check ``--as-test``.

A Python user who wants the same artefacts (progress.csv, checkpoints, the
summary) for their own ``AlgorithmConfig`` calls :func:`run` with a
:class:`Plan`; most need only ``config.build_algo()``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from rllib_marl.config import ExperimentConfig, ScaleConfig, dump_experiment
from rllib_marl.rundir import FINAL, ITERATION, RUN_CONFIG, save_checkpoint
from rllib_marl.schema import ConfigError
from rllib_marl.session import (
    EXIT_BAD_INPUT,
    EXIT_NOT_REACHED,
    EXIT_OK,
    EXIT_SIGNAL,
    LIBRARY_LOG,
    Interrupts,
    init_ray,
    route_library_logs,
)


@dataclass
class Plan:
    exp: ExperimentConfig
    scale: ScaleConfig
    out: Path
    resume_from: Optional[Path]
    address: Optional[str] = None  # a Ray cluster to join (--address)
    render_every: int = 0  # iterations between recorded episodes (--render-every); 0: none
    config: Any = None  # the algorithm's AlgorithmConfig, validated (rllib_marl.build.prepare)
    mapping: Optional[Dict[str, str]] = None  # agent -> module (league: agent -> seat)


def _env_runner_nodes(algo) -> List[str]:
    """The Ray node id of each remote env runner (empty without remote runners)."""
    import ray

    try:
        if not algo.env_runner_group.num_remote_env_runners():
            return []
        return list(algo.env_runner_group.foreach_env_runner(
            lambda r: ray.get_runtime_context().get_node_id(), local_env_runner=False))
    except Exception:  # noqa: BLE001 - informational only; a runner being restarted must not fail the run
        return []


def _league_line(row) -> str:
    """Progress-line text of a league run: each learner's results this iteration."""
    parts = [f"pool {row['league/pool']}"]
    for k in sorted(row):
        if k.startswith("league/win/"):
            m = k[len("league/win/"):]
            parts.append(f"{m} W/D/L {row[k]:.2f}/{row.get(f'league/draw/{m}', math.nan):.2f}/"
                         f"{row.get(f'league/loss/{m}', math.nan):.2f} Elo {row.get(f'league/elo/{m}', math.nan):.0f}"
                         + (f" exploitability {row[f'league/exploitability/{m}']:.3f}"
                            if f"league/exploitability/{m}" in row else ""))
    return " | ".join(parts)


def _stop_reached(exp: ExperimentConfig, result, wall_s: float) -> Optional[str]:
    s = exp.stop
    if s.env_steps is not None and result["env_steps"] >= s.env_steps:
        return f"env_steps >= {s.env_steps:,}"
    if s.iterations is not None and result["training_iteration"] >= s.iterations:
        return f"iterations >= {s.iterations}"
    if s.time_s is not None and wall_s >= s.time_s:
        return f"time >= {s.time_s:.0f} s"
    tr = result.get("team_return_mean", float("nan"))
    if s.team_return is not None and math.isfinite(tr) and tr >= s.team_return:
        return f"team return >= {s.team_return}"
    return None


def _render(algo, exp: ExperimentConfig, mapping, out: Path, it: int) -> None:
    from rllib_marl.evaluate import render_during_training

    path = out / "render" / f"iter_{it:06d}.gif"
    n = render_during_training(algo, exp, mapping, path)
    print(f"recorded: {path} ({n} frames)", flush=True)


def run(plan: Plan, as_test: bool = False, quiet: bool = False, num_cpus: Optional[int] = None,
        verbose: bool = True) -> int:
    """A single training run (the non-Tune path)."""
    from rllib_marl.build import build_algo_config
    from rllib_marl.metrics import (
        ENV_METRICS,
        EVAL_AGENT_RETURN,
        EVAL_ENV_METRICS,
        EVAL_TEAM_RETURN,
        EVAL_TEAM_RETURNS,
        TEAM_RETURNS,
        lift_eval_metrics,
    )
    from rllib_marl.report import (
        ProgressLog,
        eval_columns,
        plot_curve,
        progress_row,
        summary,
        write_json,
    )

    exp, out = plan.exp, plan.out
    out.mkdir(parents=True, exist_ok=True)
    dump_experiment(exp, out / RUN_CONFIG)
    config, mapping = (plan.config, plan.mapping) if plan.config is not None else build_algo_config(exp, plan.scale)
    init_ray(num_cpus, plan.address, log_dir=None if verbose else out)
    algo = config.build_algo()
    if not verbose:
        route_library_logs(out)
    start_iter = 0
    wall_offset = 0.0
    if plan.resume_from is not None:
        try:
            algo.restore_from_path(str(plan.resume_from.resolve()))
        except Exception as e:  # noqa: BLE001 - a checkpoint without a manifest may still be damaged
            import logging

            logging.getLogger("ray").warning("restoring %s failed", plan.resume_from, exc_info=True)  # ray.log
            algo.stop()
            raise ConfigError("--resume", f"checkpoint {plan.resume_from} cannot be restored "
                                          f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                                          f"damaged? resume from an earlier one: --resume "
                                          f"{plan.resume_from.parent}/<iter_N>") from e
        done = plan.resume_from / ITERATION  # a run's checkpoint; one saved from Python has the algorithm's count
        start_iter = int(done.read_text()) if done.is_file() else int(algo.iteration)
        print(f"resumed from {plan.resume_from} (iteration {start_iter})", flush=True)
    log = ProgressLog(out, resume_iteration=start_iter if plan.resume_from else None)
    if log.rows:
        wall_offset = float(log.rows[-1]["wall_s"])
    if getattr(config, "batched", lambda: False)():
        from rllib_marl.batched_runner import DEFAULT_NUM_ENVS

        sub_envs = (config.env_config.get("kwargs") or {}).get("num_envs", DEFAULT_NUM_ENVS)
        runners = f"env runners {plan.scale.num_env_runners} x {sub_envs} sub-envs (batched)"
    else:
        runners = f"env runners {plan.scale.num_env_runners} x {plan.scale.num_envs_per_env_runner} envs"
    print(
        f"{exp.algorithm} on {exp.env.label} | modules: {sorted(config.policies)} | {runners} | "
        f"learners {plan.scale.num_learners} | output {out}",
        flush=True,
    )
    t0 = time.time() - wall_offset
    result = None
    reason = None
    ev = exp.evaluation
    evaluated = False
    interrupts = Interrupts()
    warned_no_games = False  # a league iteration without a game is said once a run
    prev = log.rows[-1].get("env_step_failures") if log.rows else 0  # a resumed run's count so far
    failures = int(prev) if isinstance(prev, (int, float)) and math.isfinite(prev) else 0
    try:
        while reason is None:
            result = algo.train()
            wall = time.time() - t0
            it = int(result["training_iteration"])
            evaluated = bool(ev.interval) and it % ev.interval == 0
            row = progress_row(result, wall, evaluated=evaluated)
            log.add(row)
            if not quiet:
                agents = " ".join(
                    f"{k[7:]} {v:.2f}" for k, v in row.items() if k.startswith("return/")
                )
                teams = {k[12:]: v for k, v in row.items() if k.startswith("team_return/")}
                ev_teams = {k[17:]: v for k, v in row.items() if k.startswith("eval/team_return/")}
                if "league/pool" in row:
                    team_text = _league_line(row)
                    agents, ev_text = "", ""
                elif teams:
                    team_text = "teams " + " ".join(f"{t} {v:.2f}" for t, v in teams.items())
                    ev_text = (" | evaluation " + " ".join(f"{t} {v:.2f}" for t, v in ev_teams.items())
                               if ev_teams else "")
                else:
                    team_text = f"team return {row['team_return']:9.2f}"
                    ev_text = (f" | evaluation {row['eval/team_return']:.2f}"
                               if "eval/team_return" in row else "")
                print(
                    f"iter {it:4d} | env steps {row['env_steps']:>9,} | {team_text} | "
                    f"{agents} | {wall:7.1f} s{ev_text}",
                    flush=True,
                )
            if row["env_step_failures"] > failures:
                print(f"warning: the env raised in step() {row['env_step_failures'] - failures} more time(s) "
                      f"({row['env_step_failures']} in all): its sub-envs were rebuilt and the episodes in "
                      f"progress dropped; the errors are in {out / LIBRARY_LOG if not verbose else 'the log above'}",
                      file=sys.stderr, flush=True)
                failures = row["env_step_failures"]
            if (row.get("league/games") == 0 and row.get("league/pool", 0) and not warned_no_games
                    and exp.league is not None and exp.league.pfsp + exp.league.verification > 0):
                print(f"warning: league iteration {it} recorded no game between two different players (every "
                      "episode was self-play, or no episode finished in the iteration): its payoff table and Elo "
                      "did not change; check the env's episode length against train_batch_size, or lower "
                      "league.self_play", file=sys.stderr, flush=True)
                warned_no_games = True
            reason = _stop_reached(exp, result, wall)
            if interrupts.received:
                reason = f"interrupted ({interrupts.received})"
                break
            if plan.render_every and (it % plan.render_every == 0 or reason is not None):
                _render(algo, exp, mapping, out, it)
            if exp.checkpoint.interval and it % exp.checkpoint.interval == 0 and reason is None:
                save_checkpoint(algo, out, f"iter_{it:06d}", it, exp.checkpoint.keep)
        wall = time.time() - t0
        if interrupts.received:
            it = int(result["training_iteration"])
            ck = save_checkpoint(algo, out, f"iter_{it:06d}", it, exp.checkpoint.keep)
            print(f"\n{reason} after iteration {it} ({int(result['env_steps']):,} env steps): checkpoint {ck}\n"
                  f"resume with: python -m rllib_marl.train --resume {out}", flush=True)
            return EXIT_SIGNAL[interrupts.received]
        if ev.interval and not evaluated:  # evaluate the final weights too
            result["evaluation"] = algo.evaluate()
            lift_eval_metrics(result)
            log.update_last(eval_columns(result))
        if ev.interval:
            result["eval_note"] = (
                f"{ev.episodes} episodes, {'exploring' if ev.explore else 'greedy'}, "
                f"after the last iteration")
        final = save_checkpoint(algo, out, FINAL, int(result["training_iteration"]), exp.checkpoint.keep)
        runner_nodes = _env_runner_nodes(algo)
        league = getattr(algo, "_rllib_marl_league", None)
    finally:
        interrupts.restore()
        log.close()
        algo.stop()

    conv = result.get("team_return_convention", "sum")
    plot_curve(log.rows, out / "learning_curve.png",
               f"{exp.algorithm} on {exp.env.label} (seed {exp.seed})", conv)
    team = float(result.get("team_return_mean", float("nan")))
    from rllib_marl.report import env_version

    env_pkg = env_version(exp.env.name)
    expected = exp.expected.team_return
    summary_data = {
        "algorithm": exp.algorithm,
        "env": exp.env.label,
        "env_kwargs": exp.env.kwargs,
        "env_package": env_pkg,
        "seed": exp.seed,
        "stop_reason": reason,
        "env_steps": int(result["env_steps"]),
        "iterations": int(result["training_iteration"]),
        "wall_s": wall,
        "team_return": team,
        "team_return_convention": conv,
        "teams": exp.env.teams,
        "team_returns": result.get(TEAM_RETURNS),
        "eval_team_returns": result.get(EVAL_TEAM_RETURNS),
        "agent_returns": result.get("agent_return_mean", {}),
        "env_metrics": result.get(ENV_METRICS),
        "eval_env_metrics": result.get(EVAL_ENV_METRICS),
        "eval_team_return": result.get(EVAL_TEAM_RETURN),
        "eval_agent_returns": result.get(EVAL_AGENT_RETURN),
        "eval_episodes": ev.episodes if ev.interval else None,
        "eval_explore": ev.explore if ev.interval else None,
        "expected_team_return": expected,
        "checkpoint": str(final),
        "env_runner_nodes": runner_nodes,
    }
    if league is not None:
        from rllib_marl.league.callback import LEAGUE_KEY, export_league, league_summary

        summary_data["league"] = result.get(LEAGUE_KEY)
        summary_data["league_files"] = export_league(league, out)
    write_json(out / "summary.json", summary_data)
    print(f"\nstopped: {reason}")
    print(summary(result, f"{exp.env.label} ({env_pkg})", wall))
    if league is not None:
        print(league_summary(league))
    print(f"checkpoint: {final}\nlearning curve: {out / 'learning_curve.png'}\n"
          f"progress: {out / 'progress.csv'} | tensorboard --logdir {out / 'tb'}")
    if as_test:
        checks = []  # (what, reached, expected, "at least" | "at most")
        if expected is not None:
            checks.append(("team return", team, expected, "at least"))
        for t, want in sorted(exp.expected.team_returns.items()):
            checks.append((f"team {t} return", float((result.get(TEAM_RETURNS) or {}).get(t, math.nan)),
                           want, "at least"))
        if exp.expected.exploitability is not None:
            lg = summary_data.get("league") or {}
            for m in [p.name for p in league.players.values() if p.learner and p.role == "main"]:
                checks.append((f"{m} exploitability", float(lg.get(f"exploitability/{m}", math.nan)),
                               exp.expected.exploitability, "at most"))
        for m, want in sorted(exp.expected.win_rate.items()):
            lg = summary_data.get("league") or {}
            checks.append((f"{m} win rate", float(lg.get(f"win_rate/{m}", math.nan)), want, "at least"))
        if not checks:
            print("--as-test: the config has no expected.team_return, expected.team_returns, "
                  "expected.exploitability or expected.win_rate", file=sys.stderr)
            return EXIT_BAD_INPUT
        ok = True
        for what, got, want, how in checks:
            good = math.isfinite(got) and (got >= want if how == "at least" else got <= want)
            ok = ok and good
            sign = (">=" if how == "at least" else "<=") if good else ("<" if how == "at least" else ">")
            print(f"--as-test: {what} {got:.3g} {sign} expected {want} ({how}) "
                  f"-> {'PASSED' if good else 'FAILED'}")
        return EXIT_OK if ok else EXIT_NOT_REACHED
    return EXIT_OK
