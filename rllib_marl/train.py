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
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from rllib_marl import loop
from rllib_marl.config import ScaleConfig, load_experiment, load_raw, parse_experiment
from rllib_marl.loop import Plan
from rllib_marl.rundir import (
    CHECKPOINTS,
    ITERATION,
    RUN_CONFIG,
    check_intact,
    check_writable,
    io_problem,
    is_checkpoint,
    latest_checkpoint,
    newest_intact,
)
from rllib_marl.schema import ConfigError, field_problem
from rllib_marl.session import (
    EXIT_BAD_INPUT,
    EXIT_ENV_FAILED,
    EXIT_NOT_REACHED,
    EXIT_OK,
    EXIT_SIGNAL,
    LIBRARY_LOG,
    console_entry,
    init_ray,
    pin_hash_seed,
    route_library_logs,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_ENV_FAILED", "EXIT_NOT_REACHED", "EXIT_OK", "EXIT_SIGNAL", "Plan",
           "build_parser", "init_ray", "main", "make_plan", "pin_hash_seed", "route_library_logs"]


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
    p.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR from its latest checkpoint; or continue from a checkpoint "
                        "directory (one of a run's, or one saved from Python: then also --output and a "
                        "--set stop.*)")
    p.add_argument("--as-test", action="store_true",
                   help="exit 1 unless the config's expected result is reached")
    p.add_argument("--tune", action="store_true", help="run the config's tune: block with Ray Tune")
    p.add_argument("--num-env-runners", type=int, default=0)
    p.add_argument("--num-envs-per-env-runner", type=int, default=ScaleConfig.num_envs_per_env_runner,
                   help="sub-envs per env runner, batched in one forward pass (default: %(default)s)")
    p.add_argument("--num-learners", type=int, default=0)
    p.add_argument("--num-gpus-per-learner", type=float, default=0.0)
    p.add_argument("--num-gpus-per-env-runner", type=float, default=0.0,
                   help="GPUs per env runner: its acting module, and a batched simulator (VMAS) with it")
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


def make_plan(args) -> Plan:
    """Everything that can be checked without Ray: config, env, checkpoint."""
    scale = ScaleConfig(
        num_env_runners=args.num_env_runners,
        num_envs_per_env_runner=args.num_envs_per_env_runner,
        num_learners=args.num_learners,
        num_gpus_per_learner=args.num_gpus_per_learner,
        num_gpus_per_env_runner=args.num_gpus_per_env_runner,
    )
    for f in dataclasses.fields(ScaleConfig):  # the bounds declared on ScaleConfig
        problem = field_problem(f, getattr(scale, f.name))
        if problem:
            raise ConfigError(f"--{f.name.replace('_', '-')}", problem)
    overrides = list(args.set)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    resume_from = None
    stored_config = None
    if args.resume and not (Path(args.resume).expanduser() / RUN_CONFIG).is_file() \
            and is_checkpoint(Path(args.resume).expanduser()):
        exp, out, resume_from, stored_config = _checkpoint_to_resume(args, overrides)
    elif args.resume:
        run_dir = Path(args.resume).expanduser()
        if not run_dir.exists():
            raise ConfigError("--resume", f"{run_dir} does not exist")
        if not (run_dir / RUN_CONFIG).is_file():
            raise ConfigError("--resume", f"{run_dir} is not a run directory (no {RUN_CONFIG}) nor a checkpoint "
                                          "(with algorithm_state.pkl)")
        resume_from = newest_intact(run_dir, "--resume")
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
        _refuse_existing_run(out)
    if args.tune and exp.tune is None:
        raise ConfigError("tune", "--tune needs a tune: block in the config")
    check_writable(out, "--resume" if args.resume else "--output")
    # The env probe, the translation and the algorithm's own checks (no Ray).
    from rllib_marl.build import prepare

    prepared = prepare(exp, scale)
    env = prepared.env
    if getattr(env, "global_state_note", ""):
        print(env.global_state_note, flush=True)
    layout = getattr(prepared.config, "env_layout", None)
    if layout is not None and layout.teams_note:
        print(f"env.teams auto -> {layout.teams}: {layout.teams_note}", flush=True)
    for note in (layout.notes if layout is not None else ()):
        print(f"warning: {exp.env.label}: {note}", flush=True)
    from rllib_marl.memory import available_bytes, estimate

    # Refused only for a local run: on a cluster the driver's machine is not where
    # the batch and the replay live.
    local = not (args.address or os.environ.get("RAY_ADDRESS"))
    mem = estimate(prepared.config, env, available_bytes() if local else None)
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
    config = prepared.config
    if stored_config is not None:
        config, scale = _resumed_config(stored_config, args, scale)
    return Plan(exp, scale, out, resume_from, address=args.address, render_every=render_every,
                config=config, mapping=prepared.mapping)


def _refuse_existing_run(out: Path) -> None:
    if (out / RUN_CONFIG).is_file():  # a fresh run would overwrite its progress and keep stale checkpoints
        raise ConfigError("--output", f"{out} already holds a run ({RUN_CONFIG}); continue it with "
                                      f"--resume {out}, or choose another --output (or delete it)")


def _checkpoint_to_resume(args, overrides):
    """``--resume CHECKPOINT``: a checkpoint directory itself — one of a run's
    (the run goes on from it, in its run directory) or one saved from Python with
    ``algo.save_to_path()`` (a new run directory, ``--output``, continues it with
    the algorithm config stored in the checkpoint, every Python setting kept)."""
    from rllib_marl.build import experiment_of_checkpoint

    ck = Path(args.resume).expanduser()
    run_dir = ck.parent.parent
    if ck.parent.name == CHECKPOINTS and (run_dir / RUN_CONFIG).is_file():
        if not (ck / ITERATION).is_file():
            raise ConfigError("--resume", f"{ck} is not a complete checkpoint (no {ITERATION}); "
                                          f"resume the run with --resume {run_dir}")
        check_intact(ck, "--resume")
        return parse_experiment(load_raw(run_dir / RUN_CONFIG), overrides), run_dir, ck, None
    if not args.output:
        raise ConfigError("--output", f"resuming {ck}, a checkpoint saved outside a run directory, "
                                      "starts a new run directory: name it with --output DIR")
    if not any(o.split("=", 1)[0].startswith("stop.") for o in overrides):
        raise ConfigError("--resume", f"{ck} holds no stop condition (it was saved from Python): say how long "
                                      "to train, e.g. --set stop.iterations=N (counted from the first "
                                      "iteration, so N above the checkpoint's) or --set stop.env_steps=N")
    out = Path(args.output).expanduser()
    _refuse_existing_run(out)
    from rllib_marl.rllib_compat import checkpoint_config

    raw = experiment_of_checkpoint(ck, what="--resume").to_plain()
    raw["stop"] = {}
    return parse_experiment(raw, overrides), out, ck, checkpoint_config(ck)


def _resumed_config(config, args, scale: ScaleConfig):
    """The checkpoint's own AlgorithmConfig, with the scale flags given on the
    command line (those left at their defaults keep the checkpoint's values)."""
    defaults = build_parser().parse_args([])
    runners = {k: getattr(args, k) for k in ("num_env_runners", "num_envs_per_env_runner", "num_gpus_per_env_runner")
               if getattr(args, k) != getattr(defaults, k)}
    learners = {k: getattr(args, k) for k in ("num_learners", "num_gpus_per_learner")
                if getattr(args, k) != getattr(defaults, k)}
    if runners:
        config.env_runners(**runners)
    if learners:
        config.learners(**learners)
    return config, ScaleConfig(num_env_runners=config.num_env_runners,
                               num_envs_per_env_runner=config.num_envs_per_env_runner,
                               num_learners=config.num_learners,
                               num_gpus_per_learner=config.num_gpus_per_learner,
                               num_gpus_per_env_runner=config.num_gpus_per_env_runner)


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
        return loop.run(plan, as_test=args.as_test, quiet=args.quiet, num_cpus=args.num_cpus,
                   verbose=args.verbose)
    except ConfigError as e:  # found once Ray is up: a checkpoint that cannot be restored
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:  # a full disk, a directory made read-only while the run went on
        problem = io_problem(e)
        if problem is None:
            raise
        ck = latest_checkpoint(plan.out)
        print(f"I/O error: {problem}; "
              + (f"the last complete checkpoint is {ck} (resume with --resume {plan.out})" if ck
                 else "no checkpoint was written"), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # before the training loop (its own handler covers the loop)
        print("\ninterrupted before training started: nothing to save", file=sys.stderr)
        return EXIT_SIGNAL["SIGINT"]
    except ClusterError as e:
        print(f"cluster error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except EnvFailedError as e:
        ck = latest_checkpoint(plan.out)
        print(f"env error: {e}\nthe tracebacks are in {plan.out / LIBRARY_LOG}; "
              + (f"the last checkpoint is {ck} (resume with --resume {plan.out} once the env is fixed)"
                 if ck else "no checkpoint was written"), file=sys.stderr)
        return EXIT_ENV_FAILED


cli = console_entry(main, "rllib_marl.train")  # the rllib-marl-train console script


if __name__ == "__main__":
    pin_hash_seed()
    sys.exit(main())
