"""Ray Tune search from a config's ``tune:`` block (``python -m rllib_marl.train --tune``).

The algorithm config built for a single run becomes Tune's ``param_space``;
each ``search_space`` key is placed where RLlib reads it (``training.lr`` →
``lr``, ``env.reward.team_weight`` → ``env_config.reward.team_weight``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, Tuple

from rllib_marl.config import ExperimentConfig, StopConfig, dump_experiment
from rllib_marl.report import format_table


def domain(spec: Dict[str, Any]):
    from ray import tune

    (kind, vals), = spec.items()
    if kind == "grid":
        return tune.grid_search(list(vals))
    if kind == "choice":
        return tune.choice(list(vals))
    lo, hi = (float(v) for v in vals)
    return tune.uniform(lo, hi) if kind == "uniform" else tune.loguniform(lo, hi)


def _location(param_space: Dict[str, Any], key: str) -> Tuple[str, ...]:
    """Where a search-space key lives in RLlib's config dict.

    ``training.lr`` -> ``("lr",)``, ``training.lambda_`` -> ``("lambda",)``
    (``AlgorithmConfig.to_dict()`` drops the trailing underscore),
    ``env.reward.team_weight`` -> ``("env_config", "reward", "team_weight")``.
    """
    head, rest = key.split(".", 1)
    if head != "training":
        return ("env_config", *rest.split("."))
    for name in (rest, rest[:-1] if rest.endswith("_") else None):
        if name in param_space:
            return (name,)
    raise KeyError(f"tune: {key} is not a setting of the algorithm config")


def _set(d: Dict[str, Any], path: Tuple[str, ...], value) -> None:
    for p in path[:-1]:
        d = d.setdefault(p, {})
    d[path[-1]] = value


def _get(d: Dict[str, Any], path: Tuple[str, ...]):
    for p in path:
        d = d.get(p) if isinstance(d, dict) else None
    return d


def tune_stop(stop: StopConfig) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if stop.env_steps is not None:
        out["env_steps"] = stop.env_steps
    if stop.iterations is not None:
        out["training_iteration"] = stop.iterations
    if stop.time_s is not None:
        out["time_total_s"] = stop.time_s
    if stop.team_return is not None:
        out["team_return_mean"] = stop.team_return
    return out


def build_param_space(exp: ExperimentConfig, config):
    """(Tune param_space from an AlgorithmConfig, {search key: its path in it})."""
    param_space = config.to_dict()
    paths = {}
    for key, spec in exp.tune.search_space.items():
        paths[key] = _location(param_space, key)
        _set(param_space, paths[key], domain(spec))
    return param_space, paths


def build_tuner(exp: ExperimentConfig, scale, out: Path, config=None):
    """(Tuner, {search key: its path in each trial's config}); ``config``: the
    experiment's AlgorithmConfig when already built."""
    from ray import tune

    from rllib_marl.build import build_algo_config

    tc = exp.tune
    if config is None:
        config, _ = build_algo_config(exp, scale)
    algo_cls = config.algo_class
    param_space, paths = build_param_space(exp, config)

    scheduler = None
    if tc.scheduler is not None:
        s = tc.scheduler
        if s.type == "asha":
            scheduler = tune.schedulers.ASHAScheduler(
                time_attr=s.time_attr, max_t=s.max_t, grace_period=s.grace_period,
                reduction_factor=s.reduction_factor,
            )
        else:
            mutations: Dict[str, Any] = {}
            for key, spec in s.hyperparam_mutations.items():
                _set(mutations, _location(param_space, key), domain(spec))
            scheduler = tune.schedulers.PopulationBasedTraining(
                time_attr=s.time_attr, perturbation_interval=s.perturbation_interval,
                hyperparam_mutations=mutations,
            )

    interval = exp.checkpoint.interval
    if tc.scheduler is not None and tc.scheduler.type == "pbt":
        interval = tc.scheduler.perturbation_interval
    run_config = tune.RunConfig(
        name="tune",
        storage_path=str(out.resolve()),
        stop=tune_stop(tc.stop or exp.stop),
        checkpoint_config=tune.CheckpointConfig(
            checkpoint_frequency=interval, checkpoint_at_end=True, num_to_keep=exp.checkpoint.keep,
        ),
        failure_config=tune.FailureConfig(max_failures=1),
        progress_reporter=tune.CLIReporter(
            metric_columns=["training_iteration", "env_steps", tc.metric],
            # Tune's flattened names of the searched keys.
            parameter_columns=["/".join(p) for p in paths.values()],
            max_report_frequency=30,
        ),
        verbose=1,
    )
    tune_config = tune.TuneConfig(
        metric=tc.metric, mode=tc.mode, num_samples=tc.num_samples, scheduler=scheduler,
        max_concurrent_trials=tc.max_concurrent_trials,
    )
    tuner = tune.Tuner(algo_cls, param_space=param_space, tune_config=tune_config,
                       run_config=run_config)
    return tuner, paths


def result_value(result: Dict[str, Any], key: str):
    """A Tune metric from a trial's result, named as Tune flattens nested results
    (``team_return_mean``, ``marl_league/win_rate/main_0``), with Tune's own flattening."""
    from ray.tune.utils import flatten_dict

    return flatten_dict(dict(result or {}), delimiter="/").get(key, math.nan)


def run_tune(plan, num_cpus=None) -> int:
    from rllib_marl.rundir import RUN_CONFIG
    from rllib_marl.session import init_ray

    exp, out = plan.exp, plan.out
    out.mkdir(parents=True, exist_ok=True)
    dump_experiment(exp, out / RUN_CONFIG)
    # Tune's newer console output ignores the progress reporter (the column
    # choice below); keep the classic one unless the user chose otherwise.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    init_ray(num_cpus, plan.address)
    tuner, paths = build_tuner(exp, plan.scale, out, config=plan.config)
    grid = tuner.fit()
    tc = exp.tune
    keys = list(tc.search_space)
    rows = []
    for r in grid:
        res = r.metrics or {}
        cfg = r.config or {}
        vals = [_get(cfg, paths[k]) for k in keys]
        status = "error" if r.error else "done"
        trial = "_".join(r.path.rsplit("/", 1)[-1].split("_")[:4])
        rows.append([trial, *vals,
                     float(result_value(res, tc.metric)), int(res.get("env_steps", 0)),
                     int(res.get("training_iteration", 0)), status])
    print()
    print(format_table(["trial", *keys, tc.metric, "env_steps", "iters", "status"], rows))
    try:
        best = grid.get_best_result(metric=tc.metric, mode=tc.mode)
    except RuntimeError as e:
        print(f"no best trial: {e}")
        return 1
    ck = best.checkpoint.path if best.checkpoint else None
    print(f"\nbest trial: {best.path}\nbest {tc.metric}: {result_value(best.metrics, tc.metric)}"
          f"\nbest checkpoint: {ck}")
    (out / "best_checkpoint.txt").write_text(str(ck))
    return 0 if not any(r.error for r in grid) else 1
