"""Throughput benchmark: env steps per second on mpe2 simple_spread_v3 (N=3).

Rows, all measured in one run on one machine, each in its own process:

* ``raw env``: the PettingZoo parallel env with uniformly random actions;
* ``adapter``: the same through our RLlib adapter (Dict observations with the
  global state and agent id), random actions, no RLlib;
* ``sample`` rows: an env runner alone (inference, no training), RLlib's
  ``MultiAgentEnvRunner`` (stock PPO, its PettingZoo wrapper) and ours
  (``FastMultiAgentEnvRunner``, MAPPO's module), ``num_env_runners=0``;
* ``train`` rows: end-to-end ``algo.train()`` at the same PPO settings (4000 env
  steps per iteration, 10 epochs, minibatch 500, one shared policy): stock RLlib
  PPO and our MAPPO.

Each measurement is the median over ``--repeats`` timed calls after one warm-up
call. The rows are measured ``--rounds`` times, round-robin, because the speed of
a shared machine drifts by tens of percent over minutes: each figure is the
median over rounds, each ratio the median of the ratios within a round.
``--scaling`` adds the table of our runner over ``num_env_runners`` 0/1/2 x
``num_envs_per_env_runner`` 1/4/16 (sampling alone, env steps/s summed over
runners, resident memory per runner; one round).

``--paired`` (default 9 pairs) measures the two ratios issue #4 sets targets for
in one process each: the raw env and our runner in turn, stock PPO and MAPPO
in turn (one ``train()`` each), and reports the median and range of the
per-pair ratios.

Usage:
    python benchmarks/throughput.py               # main table (3 rounds, 4-12 min each) + paired
    python benchmarks/throughput.py --scaling     # plus the scaling table
    python benchmarks/throughput.py --rows none --paired 9    # the paired ratios alone
    python benchmarks/throughput.py --rows none --paired 0 --scaling --runners 1,4,14 \
        --envs 8 --stock-scaling                  # scaling on a bigger machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from child import emit, run_child

ROOT = Path(__file__).resolve().parent.parent
MAPPO = ROOT / "tuned_examples" / "mappo" / "simple_spread.yaml"
QMIX = ROOT / "tuned_examples" / "qmix" / "simple_spread.yaml"
MADDPG = ROOT / "tuned_examples" / "maddpg" / "simple_spread.yaml"
BATCH = 4000

# name -> (kind, options). kind: raw | adapter | sample | train
ROWS = {
    "raw env (PettingZoo, random actions)": ("raw", {}),
    "adapter (ours, random actions)": ("adapter", {}),
    "sample: stock RLlib runner, 1 env": ("sample", {"who": "stock", "envs": 1}),
    "sample: stock RLlib runner, 8 envs": ("sample", {"who": "stock", "envs": 8}),
    "sample: ours, 1 env": ("sample", {"who": "ours", "envs": 1}),
    "sample: ours, 8 envs (default)": ("sample", {"who": "ours", "envs": 8}),
    "train: stock RLlib PPO, 1 env": ("train", {"who": "stock", "envs": 1}),
    "train: stock RLlib PPO, 8 envs": ("train", {"who": "stock", "envs": 8}),
    "train: MAPPO, RLlib's runner, 1 env": ("train", {"who": "ours-rllib", "envs": 1}),
    "train: MAPPO, ours, 8 envs (default)": ("train", {"who": "ours", "envs": 8}),
    "train: QMIX (tuned example's replay ratio), ours, 8 envs": ("train", {"who": "qmix", "envs": 8}),
    "train: MADDPG (tuned example's replay ratio), ours, 8 envs": ("train", {"who": "maddpg", "envs": 8}),
}


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _ours_config(envs: int, runners: int = 0, sampler: str = "fast", example: Path = MAPPO):
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, load_experiment

    exp = load_experiment(example, [f"env_runners.sampler={sampler}", "seed=0"])
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=runners, num_envs_per_env_runner=envs))
    return config


def _stock_config(envs: int, runners: int = 0):
    from stock import stock_ppo_config

    return stock_ppo_config(0, runners, envs)


def _timed(fn, repeats: int) -> float:
    """Median env steps/s over ``repeats`` calls of ``fn`` (returns env steps)."""
    fn()  # warm-up
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        n = fn()
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def _raw_stepper(adapter: bool):
    """A function ``run(n)`` that steps the env ``n`` times with random actions."""
    import numpy as np

    if adapter:
        from rllib_marl.config import load_experiment, resolved_env_config
        from rllib_marl.envs.adapter import make_env

        env = make_env(resolved_env_config(load_experiment(MAPPO)))
        spaces = {a: env.get_action_space(a) for a in env.possible_agents}
    else:
        from mpe2 import simple_spread_v3

        env = simple_spread_v3.parallel_env(N=3, max_cycles=25)
        spaces = {a: env.action_space(a) for a in env.possible_agents}
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    live = list(spaces)

    def run(n=BATCH * 2):
        nonlocal live
        for _ in range(n):
            obs, _, terms, truncs, _ = env.step({a: int(rng.integers(spaces[a].n)) for a in live})
            if adapter:
                done = terms["__all__"] or truncs["__all__"]
                live = [a for a in obs if not (terms.get(a) or truncs.get(a))]
            else:
                done = not env.agents
                live = list(env.agents)
            if done:
                env.reset()
                live = list(spaces)
        return n

    return run


def measure_raw(repeats: int, adapter: bool) -> float:
    return _timed(_raw_stepper(adapter), repeats)


def _paired(repeats: int, base, ours) -> dict:
    """Alternates ``base()`` and ``ours()`` (each returns env steps) ``repeats``
    times after one warm-up of each, swapping which goes first every pair; returns
    both rates of every pair. A drifting machine moves both members of a pair."""
    base(), ours()
    pairs = []
    for i in range(repeats):
        rates = {}
        for name, fn in ((("base", base), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("base", base))):
            t = time.perf_counter()
            n = fn()
            rates[name] = n / (time.perf_counter() - t)
        pairs.append([rates["base"], rates["ours"]])
    return {"pairs": pairs}


def measure_paired_sample(repeats: int) -> dict:
    """The raw env and our runner (8 sub-envs, MAPPO's module) in one process."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    config = _ours_config(8)
    runner = config.env_runner_cls(config=config)
    raw = _raw_stepper(adapter=False)
    return _paired(repeats, lambda: raw(BATCH),
                   lambda: sum(len(e) for e in runner.sample(num_timesteps=BATCH, explore=True)))


def measure_paired_train(repeats: int) -> dict:
    """Stock RLlib PPO (1 env) and our MAPPO (8 sub-envs) in one process, one
    ``train()`` of each in turn."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    base, ours = _stock_config(1).build_algo(), _ours_config(8).build_algo()
    out = _paired(repeats, _train_once(base), _train_once(ours))
    base.stop()
    ours.stop()
    return out


def measure_sample(repeats: int, who: str, envs: int) -> float:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    config = _stock_config(envs) if who == "stock" else _ours_config(envs)
    runner = config.env_runner_cls(config=config) if config.env_runner_cls else None
    if runner is None:
        from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

        runner = MultiAgentEnvRunner(config=config)

    def run():
        return sum(len(e) for e in runner.sample(num_timesteps=BATCH, explore=True))

    return _timed(run, repeats)


def _train_once(algo):
    """A function that runs ``algo.train()`` once and returns the env steps it sampled."""
    seen = [0]

    def run() -> int:
        total = int(algo.train()["env_runners"]["num_env_steps_sampled_lifetime"])
        n, seen[0] = total - seen[0], total
        return n

    return run


def measure_train(repeats: int, who: str, envs: int) -> float:
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    if who == "stock":
        config = _stock_config(envs)
    elif who in ("qmix", "maddpg"):
        config = _ours_config(envs, example=QMIX if who == "qmix" else MADDPG)
    else:
        config = _ours_config(envs, sampler="rllib" if who == "ours-rllib" else "fast")
    algo = config.build_algo()
    run = _train_once(algo)
    if who in ("qmix", "maddpg"):  # time iterations that learn: fill the buffer to learning_starts first
        sampled = 0
        while sampled < config.learning_starts:
            sampled += run()

    rate = _timed(run, repeats)
    algo.stop()
    return rate


def measure_scaling(repeats: int, runners: int, envs: int, who: str = "ours") -> dict:
    """One runner layout, sampling alone: env steps/s summed over runners, RSS per
    runner (MB). ``who``: our runner with MAPPO's module, or stock RLlib PPO's."""
    import ray

    ray.init(address="local", num_cpus=max(2, runners + 1), include_dashboard=False, logging_level="ERROR")
    config = _stock_config(envs, runners) if who == "stock" else _ours_config(envs, runners=runners)
    algo = config.build_algo()
    group = algo.env_runner_group
    per_runner = max(BATCH // max(runners, 1), envs)

    def run():
        if runners == 0:
            return sum(len(e) for e in group.local_env_runner.sample(num_timesteps=per_runner))
        out = group.foreach_env_runner(
            lambda r: sum(len(e) for e in r.sample(num_timesteps=per_runner)), local_env_runner=False
        )
        return sum(out)

    rate = _timed(run, repeats)
    if runners == 0:
        rss = [_rss_mb()]
    else:
        rss = group.foreach_env_runner(lambda r: _rss_mb(), local_env_runner=False)
    algo.stop()
    return {"steps_per_s": rate, "rss_mb": statistics.mean(rss)}


def print_main_table(args, rows) -> None:
    """The selected rows, measured in rounds: every row once per round, in table
    order, so that a machine that speeds up or slows down during the run moves all
    rows alike. Ratios are taken within a round; their median over rounds is shown."""
    per_round: list = []
    for rnd in range(args.rounds):
        got = {}
        for name, kind, opts in rows:
            got[name] = _run_child({"kind": kind, **opts}, args.repeats)["steps_per_s"]
            print(f"  round {rnd + 1}/{args.rounds}: {name}: {got[name]:,.0f} env steps/s",
                  file=sys.stderr, flush=True)
        per_round.append(got)

    def ratio(name: str, ref: str):
        if ref not in per_round[0]:
            return None
        return statistics.median(r[name] / r[ref] for r in per_round)

    print("| row | env steps/s | vs raw env | vs stock (same kind, 1 env) |")
    print("|---|---|---|---|")
    for name, _, _ in rows:
        rate = statistics.median(r[name] for r in per_round)
        # QMIX's ratio to stock PPO is for scale only.
        ref = ("train: stock RLlib PPO, 1 env" if name.startswith("train")
               else "sample: stock RLlib runner, 1 env" if name.startswith("sample") else None)
        vs_raw = ratio(name, "raw env (PettingZoo, random actions)")
        vs_ref = ratio(name, ref) if ref else None
        print(f"| {name} | {rate:,.0f} | {'' if vs_raw is None else f'{vs_raw:.0%}'} | "
              f"{'' if vs_ref is None else f'{vs_ref:.2f}x'} |")
    if args.rounds > 1:
        print("\nPer round (env steps/s):\n")
        print("| row | " + " | ".join(f"round {i + 1}" for i in range(args.rounds)) + " |")
        print("|---|" + "---|" * args.rounds)
        for name, _, _ in rows:
            print(f"| {name} | " + " | ".join(f"{r[name]:,.0f}" for r in per_round) + " |")


def print_paired(args) -> None:
    """The two ratios issue #4 sets targets for, from paired measurements."""
    print(f"\nPaired in one process ({args.paired} pairs, one warm-up each, alternating "
          "which goes first; ratio per pair, median and range over pairs):\n")
    print("| ratio | reference, env steps/s | ours, env steps/s | median ratio | range |")
    print("|---|---|---|---|---|")
    for kind, label, fmt in (
        ("paired_sample", "sampling: our runner (8 envs) / raw env", "{:.0%}"),
        ("paired_train", "end to end: MAPPO, ours (8 envs) / stock RLlib PPO (1 env)", "{:.2f}x"),
    ):
        pairs = _run_child({"kind": kind}, args.paired)["pairs"]
        ratios = [o / b for b, o in pairs]
        print(f"  measured {label}: " + ", ".join(fmt.format(r) for r in ratios), file=sys.stderr, flush=True)
        print(f"| {label} | {statistics.median(b for b, _ in pairs):,.0f} | "
              f"{statistics.median(o for _, o in pairs):,.0f} | {fmt.format(statistics.median(ratios))} | "
              f"{fmt.format(min(ratios))} to {fmt.format(max(ratios))} |", flush=True)


def _int_list(text: str) -> list:
    return [int(x) for x in text.split(",") if x.strip()]


def print_scaling(args) -> None:
    """The runners x sub-envs table (one round), ours, then stock if asked."""
    grid_envs = _int_list(args.envs)
    print("\nSampling alone (no training); env steps/s summed over runners, "
          "resident memory per runner process (MB).\n")
    print("| runner | num_env_runners | " + " | ".join(f"{e} envs: steps/s, RSS" for e in grid_envs) + " |")
    print("|---|---|" + "---|" * len(grid_envs))
    for who in ("ours", "stock") if args.stock_scaling else ("ours",):
        for runners in _int_list(args.runners):
            cells = []
            for envs in grid_envs:
                r = _run_child({"kind": "scaling", "who": who, "runners": runners, "envs": envs}, args.repeats)
                cells.append(f"{r['steps_per_s']:,.0f}, {r['rss_mb']:.0f} MB")
                print(f"  measured {who}: {runners} runners x {envs} envs", file=sys.stderr, flush=True)
            print(f"| {who} | {runners} | " + " | ".join(cells) + " |", flush=True)


def _child(args) -> int:
    opts = json.loads(args.child)
    kind = opts.pop("kind")
    if kind in ("raw", "adapter"):
        result = {"steps_per_s": measure_raw(args.repeats, adapter=kind == "adapter")}
    elif kind == "sample":
        result = {"steps_per_s": measure_sample(args.repeats, **opts)}
    elif kind == "train":
        result = {"steps_per_s": measure_train(args.repeats, **opts)}
    elif kind == "paired_sample":
        result = measure_paired_sample(args.repeats)
    elif kind == "paired_train":
        result = measure_paired_train(args.repeats)
    else:
        result = measure_scaling(args.repeats, **opts)
    emit(result)
    return 0


def _run_child(opts: dict, repeats: int) -> dict:
    return run_child(__file__, opts, ["--repeats", str(repeats)])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="timed calls per measurement")
    p.add_argument("--rounds", type=int, default=3,
                   help="measure every row this many times, round-robin; medians over rounds")
    p.add_argument("--rows", default="",
                   help="substrings separated by ';' (row names contain commas): only matching "
                        "rows; one that matches nothing (e.g. 'none') skips the main table")
    p.add_argument("--paired", type=int, default=9,
                   help="pairs for the paired ratios (raw env vs our runner, stock PPO vs MAPPO "
                        "in one process each); 0 skips them")
    p.add_argument("--scaling", action="store_true", help="also the runners x envs table")
    p.add_argument("--runners", default="0,1,2", help="scaling table: num_env_runners values")
    p.add_argument("--envs", default="1,4,16", help="scaling table: num_envs_per_env_runner values")
    p.add_argument("--stock-scaling", action="store_true",
                   help="scaling table: also stock RLlib PPO's runner at the same layouts")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return _child(args)

    import platform

    import torch

    print(f"# {platform.node()} | {os.cpu_count()} CPUs | torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads | {time.strftime('%Y-%m-%d %H:%M')} | "
          f"median of {args.repeats} timed calls after 1 warm-up; {BATCH} env steps per call; "
          f"{args.rounds} rounds, medians over rounds (ratios within each round)\n")
    wanted = [s.strip() for s in args.rows.split(";") if s.strip()]
    rows = [(n, k, o) for n, (k, o) in ROWS.items() if not wanted or any(w in n for w in wanted)]
    if rows:  # e.g. --rows none: the paired ratios and/or the scaling table alone
        print_main_table(args, rows)
    if args.paired:
        print_paired(args)
    if args.scaling:
        print_scaling(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
