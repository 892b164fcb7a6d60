"""Train one experiment: ``python -m rllib_marl.train --config FILE [options]``.

Locally this starts an embedded Ray (no setup); with ``RAY_ADDRESS`` set (e.g.
under ``ray job submit``) it joins that cluster. ``--tune`` runs the config's
``tune:`` block with Ray Tune instead of a single run.

Exit status: 0 done, 1 ``--as-test`` and the expected result was not reached,
130 / 143 interrupted by SIGINT / SIGTERM (a checkpoint was saved to resume from),
2 bad input (config, env, checkpoint) — reported before Ray starts, 3 the env
kept raising in ``step()`` even right after a rebuild.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from rllib_marl.config import (
    ExperimentConfig,
    ScaleConfig,
    dump_experiment,
    load_experiment,
    load_raw,
    parse_experiment,
)
from rllib_marl.schema import ConfigError

EXIT_OK, EXIT_NOT_REACHED, EXIT_BAD_INPUT, EXIT_ENV_FAILED = 0, 1, 2, 3
RUN_CONFIG = "run_config.yaml"
CHECKPOINTS = "checkpoints"
FINAL = "final"
LEAGUE_STATE = "league.json"  # beside each checkpoint of a league run
PARTIAL = ".partial"  # a checkpoint being written
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rllib_marl.train",
        description="Train a multi-agent RLlib algorithm on a PettingZoo env.",
    )
    p.add_argument("--config", help="experiment YAML (e.g. tuned_examples/mappo/simple_spread.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set training.lr=1e-4 (repeatable)")
    p.add_argument("--seed", type=int, help="overrides the config's seed")
    p.add_argument("--output", help="run directory (default: results/<name>-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    p.add_argument("--as-test", action="store_true",
                   help="exit 1 unless the config's expected result is reached")
    p.add_argument("--tune", action="store_true", help="run the config's tune: block with Ray Tune")
    p.add_argument("--num-env-runners", type=int, default=0)
    p.add_argument("--num-envs-per-env-runner", type=int, default=ScaleConfig.num_envs_per_env_runner,
                   help="sub-envs per env runner, batched in one forward pass (default: %(default)s)")
    p.add_argument("--num-learners", type=int, default=0)
    p.add_argument("--num-gpus-per-learner", type=float, default=0.0)
    p.add_argument("--num-cpus", type=int, default=None,
                   help="CPUs of the embedded local Ray (default: all)")
    p.add_argument("--address", default=None,
                   help="join a running Ray cluster instead of starting a local one: 'auto' (the "
                        "cluster `ray start` began on this node, e.g. under `ray submit`) or HOST:PORT; "
                        "`ray job submit` needs nothing (it sets RAY_ADDRESS)")
    p.add_argument("--render-every", type=int, default=0, metavar="K",
                   help="every K iterations (and at the end), record one greedy episode to "
                        "render/iter_N.gif in the run directory (the env must render rgb_array frames)")
    p.add_argument("--quiet", action="store_true", help="no per-iteration progress lines")
    p.add_argument("--verbose", action="store_true",
                   help="show Ray's and RLlib's log lines and warnings (default: they go to ray.log "
                        "in the run directory) and the remote workers' output")
    return p


@dataclass
class Plan:
    exp: ExperimentConfig
    scale: ScaleConfig
    out: Path
    resume_from: Optional[Path]
    address: Optional[str] = None  # a Ray cluster to join (--address)
    render_every: int = 0  # iterations between recorded episodes (--render-every); 0: none


def _latest_checkpoint(run_dir: Path) -> Optional[Path]:
    ck = run_dir / CHECKPOINTS
    if not ck.is_dir():
        return None
    # A checkpoint is complete once its iteration.txt exists (written last, before
    # the directory is renamed into place); half-written ones end in ".partial".
    cands = [d for d in ck.iterdir() if d.is_dir() and not d.name.endswith(PARTIAL)
             and (d / "iteration.txt").is_file() and any(d.glob("algorithm_state*"))]
    if not cands:
        return None
    return max(cands, key=lambda d: (int((d / "iteration.txt").read_text()), d.name == FINAL))


def make_plan(args) -> Plan:
    """Everything that can be checked without Ray: config, env, checkpoint."""
    scale = ScaleConfig(
        num_env_runners=args.num_env_runners,
        num_envs_per_env_runner=args.num_envs_per_env_runner,
        num_learners=args.num_learners,
        num_gpus_per_learner=args.num_gpus_per_learner,
    )
    for name in ("num_env_runners", "num_learners"):
        if getattr(scale, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')}", "must be >= 0")
    if scale.num_envs_per_env_runner < 1:
        raise ConfigError("--num-envs-per-env-runner", "must be >= 1")
    if scale.num_gpus_per_learner < 0:
        raise ConfigError("--num-gpus-per-learner", "must be >= 0")
    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    resume_from = None
    if args.resume:
        run_dir = Path(args.resume).expanduser()
        if not (run_dir / RUN_CONFIG).is_file():
            raise ConfigError("--resume", f"{run_dir} is not a run directory (no {RUN_CONFIG})")
        resume_from = _latest_checkpoint(run_dir)
        if resume_from is None:
            raise ConfigError("--resume", f"no checkpoint in {run_dir / CHECKPOINTS}; nothing to resume")
        raw = load_raw(run_dir / RUN_CONFIG)
        exp = parse_experiment(raw, overrides)
        out = run_dir
    else:
        if not args.config:
            raise ConfigError("--config", "required (or --resume DIR)")
        config_path = Path(args.config).expanduser()  # "~" may reach us unexpanded (ray job / ray submit)
        exp = load_experiment(config_path, overrides)
        name = exp.name or config_path.stem
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(args.output).expanduser() if args.output else Path("results") / f"{exp.algorithm}-{name}-{stamp}"
        if (out / RUN_CONFIG).is_file():  # a fresh run would overwrite its progress and keep stale checkpoints
            raise ConfigError("--output", f"{out} already holds a run ({RUN_CONFIG}); continue it with "
                                          f"--resume {out}, or choose another --output (or delete it)")
    if args.tune and exp.tune is None:
        raise ConfigError("tune", "--tune needs a tune: block in the config")
    # Stage 2 validation (builds the env once, no Ray).
    from rllib_marl.config import validate

    env, _ = validate(exp)
    if getattr(env, "global_state_note", ""):
        print(env.global_state_note, flush=True)
    from rllib_marl.memory import available_bytes, estimate

    # Refused only for a local run: on a cluster the driver's machine is not where
    # the batch and the replay live.
    local = not (args.address or os.environ.get("RAY_ADDRESS"))
    mem = estimate(exp, env, available_bytes() if local else None)
    env.close()
    problem = mem.problem()
    if problem:
        raise ConfigError("memory", problem)
    print(mem.line(), flush=True)
    if args.address and args.num_cpus is not None:
        raise ConfigError("--num-cpus", "sizes the embedded local Ray only; a cluster joined with --address "
                                        "has the CPUs its nodes were started with")
    render_every = getattr(args, "render_every", 0) or 0
    if render_every < 0:
        raise ConfigError("--render-every", "must be >= 0")
    if render_every:
        if args.tune:
            raise ConfigError("--render-every", "records episodes of a single run, not of Tune trials")
        from rllib_marl.evaluate import check_renderable

        check_renderable(exp, "x.gif", what="--render-every")
    return Plan(exp, scale, out, resume_from, address=args.address, render_every=render_every)


LIBRARY_LOG = "ray.log"  # Ray's / RLlib's log lines and Python warnings, unless --verbose
# (and our env runner's per-failure tracebacks: the CLI prints a one-line count)
_LIBRARY_LOGGERS = ("ray", "ray.rllib", "ray.tune", "ray.train", "ray.data", "rllib_marl.env_runner")


def route_library_logs(out: Optional[Path]) -> Optional[Path]:
    """Sends Ray's and RLlib's log records and Python warnings to ``out/ray.log``
    instead of the terminal, so the CLI shows our lines. Errors still reach the
    terminal. Called again after Ray starts (``ray.init`` adds its own handler)."""
    import logging

    if out is None:
        return None
    path = (out / LIBRARY_LOG).resolve()
    ours = [h for name in (*_LIBRARY_LOGGERS, "py.warnings") for h in logging.getLogger(name).handlers
            if getattr(h, "_rllib_marl", False)]
    handler = next((h for h in ours if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path), None)
    if handler is None:  # a new run in this process: drop an earlier run's handlers
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._rllib_marl = True
    errors = logging.StreamHandler(sys.stderr)  # today's stderr (replaced on every call)
    errors.setLevel(logging.ERROR)
    errors._rllib_marl = True
    for name in (*_LIBRARY_LOGGERS, "py.warnings"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if h is not handler and h is not errors:
                lg.removeHandler(h)
                if getattr(h, "_rllib_marl", False) and isinstance(h, logging.FileHandler):
                    h.close()
        if handler not in lg.handlers:
            lg.addHandler(handler)
        if name == "ray" and errors not in lg.handlers:
            lg.addHandler(errors)
        lg.propagate = False
    # Re-installed each time: something may have put warnings.showwarning back
    # while logging still believes it captures.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    return path


def init_ray(num_cpus: Optional[int] = None, address: Optional[str] = None,
             log_dir: Optional[Path] = None) -> None:
    """Starts the embedded local Ray, or joins a cluster.

    Joins when ``address`` is given (``--address auto``: the cluster started with
    ``ray start`` on this node, as under ``ray submit``) or ``RAY_ADDRESS`` is set
    (``ray job submit``). Otherwise always a fresh local Ray: a cluster left
    running on this machine by ``ray start`` is not joined by accident.
    """
    import ray

    if ray.is_initialized():
        return
    route_library_logs(log_dir)
    # Without --verbose, remote workers' output stays in Ray's session logs.
    kwargs = dict(include_dashboard=False, logging_level="WARNING", log_to_driver=log_dir is None)
    if address or os.environ.get("RAY_ADDRESS"):
        from rllib_marl.cluster import ClusterError

        target = address or os.environ["RAY_ADDRESS"]
        try:
            ray.init(address=address or None, **kwargs)
        except ConnectionError as e:
            raise ClusterError(f"cannot join the Ray cluster at {target!r} ({e}); start one with "
                               "`ray start --head`, or leave out --address (and RAY_ADDRESS) to train "
                               "on a local Ray") from None
    else:
        ray.init(address="local", num_cpus=num_cpus, **kwargs)
    route_library_logs(log_dir)
    if sum(1 for n in ray.nodes() if n.get("Alive")) > 1:
        from rllib_marl.cluster import check_nodes

        check_nodes()  # every node on the driver's versions, before anything is built


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


class _Interrupts:
    """SIGINT / SIGTERM during training: the first finishes the iteration in
    progress (the loop then saves a checkpoint and says how to resume); a second
    exits at once. Handlers are Python's own again afterwards."""

    def __init__(self):
        import signal

        self.received: Optional[str] = None
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        import signal

        name = signal.Signals(signum).name
        if self.received is not None:
            print(f"\n{name} again: exiting now without a new checkpoint", file=sys.stderr, flush=True)
            os._exit(EXIT_SIGNAL.get(name, 130))
        self.received = name
        print(f"\n{name}: finishing this iteration, then saving a checkpoint "
              f"({name} again exits at once)", file=sys.stderr, flush=True)

    def restore(self) -> None:
        import signal

        for sig, handler in self._old.items():
            signal.signal(sig, handler)


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


def _save(algo, out: Path, tag: str, iteration: int, keep: int) -> Path:
    """Writes ``checkpoints/<tag>`` atomically: into ``<tag>.partial``, then
    renamed into place, so a kill during a save never leaves the run without its
    previous complete checkpoint."""
    ck_root = out / CHECKPOINTS
    path = ck_root / tag
    tmp = ck_root / (tag + PARTIAL)
    if tmp.exists():
        shutil.rmtree(tmp)
    ck_root.mkdir(parents=True, exist_ok=True)
    algo.save_to_path(str(tmp.resolve()))
    if getattr(algo, "_rllib_marl_league", None) is not None:
        from rllib_marl.league.callback import save_league

        save_league(algo, tmp / LEAGUE_STATE)
    (tmp / "iteration.txt").write_text(str(iteration))
    if path.exists():  # re-saving a tag (e.g. final after a resume): swap, then drop the old
        old = ck_root / (tag + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
    if tag != FINAL:
        olds = sorted(d for d in ck_root.iterdir() if d.name.startswith("iter_") and d.name[5:].isdigit())
        for d in olds[:-keep]:
            shutil.rmtree(d, ignore_errors=True)
    return path


def _render(algo, exp: ExperimentConfig, mapping, out: Path, it: int) -> None:
    from rllib_marl.evaluate import render_during_training

    path = out / "render" / f"iter_{it:06d}.gif"
    n = render_during_training(algo, exp, mapping, path)
    print(f"recorded: {path} ({n} frames)", flush=True)


def env_version(name: str) -> str:
    """``"mpe2 1.1.1"`` for an env import path; our games report rllib_marl's version."""
    from importlib import metadata

    import rllib_marl

    pkg = name.split(":")[0].split(".")[0]
    if "." not in name and ":" not in name:
        return f"rllib_marl {rllib_marl.__version__}"
    try:
        return f"{pkg} {metadata.version(pkg)}"
    except metadata.PackageNotFoundError:
        return f"{pkg} (version unknown)"


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
    config, mapping = build_algo_config(exp, plan.scale)
    init_ray(num_cpus, plan.address, log_dir=None if verbose else out)
    algo = config.build_algo()
    if not verbose:
        route_library_logs(out)
    start_iter = 0
    wall_offset = 0.0
    if plan.resume_from is not None:
        if (plan.resume_from / LEAGUE_STATE).is_file():
            # The saved pool's snapshot modules must exist before their weights load.
            from rllib_marl.league.callback import restore_league

            restore_league(algo, json.loads((plan.resume_from / LEAGUE_STATE).read_text()))
        algo.restore_from_path(str(plan.resume_from.resolve()))
        start_iter = int((plan.resume_from / "iteration.txt").read_text())
        print(f"resumed from {plan.resume_from} (iteration {start_iter})", flush=True)
    log = ProgressLog(out, resume_iteration=start_iter if plan.resume_from else None)
    if log.rows:
        wall_offset = float(log.rows[-1]["wall_s"])
    print(
        f"{exp.algorithm} on {exp.env.name} | modules: {sorted(config.policies)} | "
        f"env runners {plan.scale.num_env_runners} x {plan.scale.num_envs_per_env_runner} envs | "
        f"learners {plan.scale.num_learners} | output {out}",
        flush=True,
    )
    t0 = time.time() - wall_offset
    result = None
    reason = None
    ev = exp.evaluation
    evaluated = False
    interrupts = _Interrupts()
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
            reason = _stop_reached(exp, result, wall)
            if interrupts.received:
                reason = f"interrupted ({interrupts.received})"
                break
            if plan.render_every and (it % plan.render_every == 0 or reason is not None):
                _render(algo, exp, mapping, out, it)
            if exp.checkpoint.interval and it % exp.checkpoint.interval == 0 and reason is None:
                _save(algo, out, f"iter_{it:06d}", it, exp.checkpoint.keep)
        wall = time.time() - t0
        if interrupts.received:
            it = int(result["training_iteration"])
            ck = _save(algo, out, f"iter_{it:06d}", it, exp.checkpoint.keep)
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
        final = _save(algo, out, FINAL, int(result["training_iteration"]), exp.checkpoint.keep)
        runner_nodes = _env_runner_nodes(algo)
        league = getattr(algo, "_rllib_marl_league", None)
    finally:
        interrupts.restore()
        log.close()
        algo.stop()

    conv = result.get("team_return_convention", "sum")
    plot_curve(log.rows, out / "learning_curve.png",
               f"{exp.algorithm} on {exp.env.name} (seed {exp.seed})", conv)
    team = float(result.get("team_return_mean", float("nan")))
    env_pkg = env_version(exp.env.name)
    expected = exp.expected.team_return
    summary_data = {
        "algorithm": exp.algorithm,
        "env": exp.env.name,
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
    print(summary(result, f"{exp.env.name} ({env_pkg})", wall))
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


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan = make_plan(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from rllib_marl.cluster import ClusterError
    from rllib_marl.env_runner import EnvFailedError

    try:
        if args.tune:
            from rllib_marl.tune import run_tune

            return run_tune(plan, num_cpus=args.num_cpus)
        return run(plan, as_test=args.as_test, quiet=args.quiet, num_cpus=args.num_cpus,
                   verbose=args.verbose)
    except KeyboardInterrupt:  # before the training loop (its own handler covers the loop)
        print("\ninterrupted before training started: nothing to save", file=sys.stderr)
        return EXIT_SIGNAL["SIGINT"]
    except ClusterError as e:
        print(f"cluster error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EnvFailedError as e:
        ck = _latest_checkpoint(plan.out)
        print(f"env error: {e}\nthe tracebacks are in {plan.out / LIBRARY_LOG}; "
              + (f"the last checkpoint is {ck} (resume with --resume {plan.out} once the env is fixed)"
                 if ck else "no checkpoint was written"), file=sys.stderr)
        return EXIT_ENV_FAILED


HASH_SEED = "0"


def pin_hash_seed(argv: Optional[List[str]] = None) -> None:
    """Restarts this process with ``PYTHONHASHSEED=0`` unless it already runs with it.

    Some of RLlib's per-agent and per-module iteration follows Python's string
    hashing, which is random per process: the same config and seed gave different
    runs from the second iteration on. With the hash seed pinned (the driver, and
    the local Ray it starts, whose workers inherit the environment), the same
    config and seed give the same progress.csv on CPU.

    ``argv``: what to run again (default: this CLI with its arguments); scripts
    that train in-process (benchmarks) pass ``sys.argv``.
    """
    if os.environ.get("PYTHONHASHSEED") == HASH_SEED:
        return
    os.environ["PYTHONHASHSEED"] = HASH_SEED
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *(argv or ["-m", "rllib_marl.train", *sys.argv[1:]])])


if __name__ == "__main__":
    pin_hash_seed()
    sys.exit(main())
