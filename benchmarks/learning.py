"""Learning benchmark: MAPPO, IPPO and stock RLlib PPO on mpe2 simple_spread_v3 (N=3).

Each (algorithm, seed) is one process; its learning curve goes to
``OUT/<algo>_seed<k>.csv`` (env steps, wall seconds, team and per-agent return).
``--report`` then aggregates all CSVs in OUT into a markdown table and a PNG.

* ``mappo`` / ``ippo``: ``python -m rllib_marl.train`` on the tuned examples.
* ``stock``: RLlib's own PPO with one shared policy, RLlib's PettingZoo wrapper
  (``ParallelPettingZooEnv``) and env runner, lr 3e-4, 10 epochs, minibatch 500,
  4000-step batches (RLlib's default PPO model otherwise).

Team return = sum over the 3 agents of their env rewards per 25-step episode
(mean over the last 100 episodes, RLlib's smoothing window), mpe2 simple_spread_v3
with N=3, local_ratio 0.5, discrete actions.

Usage:
    python benchmarks/learning.py --algos mappo,ippo,stock --seeds 0,1,2 --jobs 2
    python benchmarks/learning.py --report        # table + PNG from OUT
    # MADDPG / MATD3 at 1M env steps (continuous and discrete actions):
    python benchmarks/learning.py --algos maddpg-cont,maddpg-disc,matd3-cont,matd3-disc \
        --env-steps 1000000 --jobs 2 --out benchmarks/out/learning_1m \
        --checkpoints 250000,500000,750000,1000000 --main 1000000 --plot learning_maddpg.png
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from child import fresh, run_pool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "learning"
MAPPO = ROOT / "tuned_examples" / "mappo" / "simple_spread.yaml"
IPPO = ROOT / "tuned_examples" / "ippo" / "simple_spread.yaml"
QMIX = ROOT / "tuned_examples" / "qmix" / "simple_spread.yaml"
MADDPG = ROOT / "tuned_examples" / "maddpg" / "simple_spread.yaml"  # continuous actions
MADDPG_DISCRETE = ROOT / "tuned_examples" / "maddpg" / "simple_spread_paper.yaml"
NOISE_DECAY = ["--set", "training.noise_std_start=0.3", "--set", "training.noise_std_end=0.05",
               "--set", "training.noise_timesteps=500000"]
# name -> (tuned example, extra CLI args). The library's defaults sample with our
# FastMultiAgentEnvRunner and 8 sub-envs; `-rllib-runner` is the same algorithm
# sampled by RLlib's MultiAgentEnvRunner with one env, as before issue #4.
VARIANTS = {
    "mappo": (MAPPO, []),
    "ippo": (IPPO, []),
    "mappo-rllib-runner": (MAPPO, ["--set", "env_runners.sampler=rllib",
                                   "--num-envs-per-env-runner", "1"]),
    "ippo-rllib-runner": (IPPO, ["--set", "env_runners.sampler=rllib",
                                 "--num-envs-per-env-runner", "1"]),
    # MAPPO with the agent-specific critic input of the MAPPO paper: state + own obs.
    "mappo-state+obs": (MAPPO, ["--set", "model.critic_input=state+obs"]),
    # MAPPO with GAE lambda 1.0 (stock RLlib PPO's default) instead of 0.95.
    "mappo-lambda1": (MAPPO, ["--set", "training.lambda=1.0"]),
    "qmix": (QMIX, []),
    # QMIX with one update per sampled episode (PyMARL's ratio; the tuned example
    # makes two).
    "qmix-1x-updates": (QMIX, ["--set", "training.env_steps_per_update=25"]),
    "vdn": (QMIX, ["--set", "training.mixer=vdn"]),
    "iql": (QMIX, ["--set", "training.mixer=none"]),
    "maddpg-cont": (MADDPG, []),
    "matd3-cont": (MADDPG, ["--set", "training.variant=matd3"]),
    "maddpg-disc": (MADDPG_DISCRETE, []),
    "matd3-disc": (MADDPG_DISCRETE, ["--set", "training.variant=matd3"]),
    # Continuous-action probes against the tuned example (constant noise 0.1, lr 1e-2):
    # the noise decaying 0.3 -> 0.05 over 500k env steps (its first setting), and
    # learning rates 1e-3 with that decaying noise.
    "maddpg-cont-noise-decay": (MADDPG, NOISE_DECAY),
    "matd3-cont-noise-decay": (MADDPG, NOISE_DECAY + ["--set", "training.variant=matd3"]),
    "maddpg-cont-lr1e-3": (MADDPG, NOISE_DECAY + ["--set", "training.actor_lr=1e-3",
                                                  "--set", "training.critic_lr=1e-3"]),
}
CHECKPOINTS = (100_000, 200_000, 300_000, 500_000)
MAIN = 300_000  # budget of issue #3's comparison: per-agent and wall-time columns
STOCK_TARGET = -55.3  # stock RLlib PPO at 300k steps, mean of 3 seeds (issue #3)
REACH = -55.0  # team return whose first crossing the "wall s to reach" column times
PLOT = "learning_simple_spread.png"


def run_ours(algo: str, seed: int, env_steps: int, out: Path) -> None:
    run_dir = out / "runs" / f"{algo}_seed{seed}"
    config, extra = VARIANTS[algo]
    cmd = [sys.executable, "-m", "rllib_marl.train", "--config", str(config), *extra,
           "--seed", str(seed), "--set", f"stop.env_steps={env_steps}",
           "--set", "checkpoint.interval=0", "--output", str(fresh(run_dir)), "--quiet",
           "--num-cpus", "1"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    with (run_dir / "progress.csv").open() as f, (out / f"{algo}_seed{seed}.csv").open("w") as g:
        rows = list(csv.DictReader(f))
        w = csv.writer(g)
        agents = sorted(k for k in rows[0] if k.startswith("return/"))
        # Greedy evaluation columns (empty where no evaluation ran), if configured.
        evals = [k for k in rows[-1] if k.startswith("eval/")]
        w.writerow(["env_steps", "wall_s", "team_return", *agents, *evals])
        for r in rows:
            w.writerow([r["env_steps"], r["wall_s"], r["team_return"], *(r[a] for a in agents),
                        *(r.get(k, "") for k in evals)])


def run_stock(seed: int, env_steps: int, out: Path) -> None:
    import ray

    from stock import stock_ppo_config

    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")
    config = stock_ppo_config(seed)
    algo = config.build_algo()
    t0 = time.time()
    with (out / f"stock_seed{seed}.csv").open("w") as g:
        w = csv.writer(g)
        agents = [f"return/agent_{i}" for i in range(3)]
        w.writerow(["env_steps", "wall_s", "team_return", *agents])
        steps = 0
        while steps < env_steps:
            r = algo.train()
            er = r["env_runners"]
            steps = int(er["num_env_steps_sampled_lifetime"])
            per = er.get("agent_episode_returns_mean", {})
            w.writerow([steps, round(time.time() - t0, 2), er.get("episode_return_mean", math.nan),
                        *(per.get(a[7:], math.nan) for a in agents)])
            g.flush()
    algo.stop()
    ray.shutdown()


def random_play(episodes: int = 1000) -> tuple:
    """Team return of uniformly random actions: (mean, standard error)."""
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env(N=3, max_cycles=25)
    rets = []
    for ep in range(episodes):
        env.reset(seed=ep)
        # Action seeds apart from the env's: the same seed in both would tie the
        # random actions to the start positions.
        for i, a in enumerate(env.agents):
            env.action_space(a).seed(10**6 + ep * len(env.agents) + i)
        total = 0.0
        while env.agents:
            _, r, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
            total += sum(r.values())
        rets.append(total)
    return statistics.mean(rets), statistics.stdev(rets) / math.sqrt(len(rets))


def _load(path: Path):
    with path.open() as f:
        return [{k: float(v) if v != "" else math.nan for k, v in r.items()} for r in csv.DictReader(f)]


def _at(rows, steps):
    """The row at the first logged point with env_steps >= steps."""
    for r in rows:
        if r["env_steps"] >= steps:
            return r
    return None


SMOOTH = 20_000


def _smoothed(rows, steps, key="team_return"):
    """Mean of ``key`` over the logged points in (steps - 20k, steps], the upper
    end being the first logged point at or past ``steps``; None if the run has not
    reached ``steps``. Each logged point is already a mean over the last 100 episodes."""
    anchor = _at(rows, steps)
    if anchor is None:
        return None
    return statistics.mean(
        r[key] for r in rows if steps - SMOOTH < r["env_steps"] <= anchor["env_steps"]
    )


def _fmt(vals):
    vals = [v for v in vals if v is not None and not math.isnan(v)]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.1f}"
    return f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}"


def _eval_at(rows, steps, key="eval/team_return"):
    """The evaluation logged at the first evaluated point at or past ``steps``
    (within one 20k window), or None."""
    for r in rows:
        if r["env_steps"] >= steps and not math.isnan(r.get(key, math.nan)):
            return r[key] if r["env_steps"] < steps + SMOOTH else None
    return None


def _eval_table(runs) -> list:
    """Greedy evaluation (the tuned examples' ``evaluation`` block) per checkpoint."""
    evaluated = {a: s for a, s in runs.items()
                 if any("eval/team_return" in r for rows in s.values() for r in rows[-1:])}
    if not evaluated:
        return []
    lines = [
        "",
        "Evaluation (`evaluation` block of the tuned examples: 50 episodes, greedy actions, "
        "no training in between; start states fixed per seed): team return, mean ± std over seeds.",
        "",
        "| algorithm | seeds | " + " | ".join(f"evaluation @ {c // 1000}k" for c in CHECKPOINTS)
        + f" | per-agent evaluation @ {MAIN // 1000}k |",
        "|---|---|" + "---|" * len(CHECKPOINTS) + "---|",
    ]
    for algo, seeds in sorted(evaluated.items()):
        cells = [_fmt([_eval_at(r, c) for r in seeds.values()]) for c in CHECKPOINTS]
        agents = sorted({k for r in seeds.values() for k in r[-1] if k.startswith("eval/return/")})
        per = ", ".join(f"{a[12:]} {_fmt([_eval_at(r, MAIN, a) for r in seeds.values()])}"
                        for a in agents)
        lines.append(f"| {algo} | {','.join(map(str, sorted(seeds)))} | " + " | ".join(cells)
                     + f" | {per} |")
    return lines


def report(out: Path, docs: Path) -> str:
    runs = {}
    for p in sorted(out.glob("*_seed*.csv")):
        algo, seed = p.stem.rsplit("_seed", 1)
        runs.setdefault(algo, {})[int(seed)] = _load(p)
    lines = [
        f"Team return at X: mean of the logged points in (X - {SMOOTH // 1000}k, X], each a "
        "mean over the last 100 episodes; mean ± std over seeds.",
        "",
        "| algorithm | seeds | " + " | ".join(f"team return @ {c // 1000}k" for c in CHECKPOINTS)
        + f" | per-agent return @ {MAIN // 1000}k | wall s to {MAIN // 1000}k | wall s to reach {REACH:g} |",
        "|---|---|" + "---|" * len(CHECKPOINTS) + "---|---|---|",
    ]
    for algo in sorted(runs):
        seeds = runs[algo]
        cells = []
        for c in CHECKPOINTS:
            cells.append(_fmt([_smoothed(r, c) for r in seeds.values()]))
        end = [_at(r, MAIN) for r in seeds.values()]
        agents = sorted({k for r in seeds.values() for k in r[0] if k.startswith("return/")})
        per = ", ".join(
            f"{a[7:]} {_fmt([_smoothed(r, MAIN, a) for r in seeds.values()])}"
            for a in agents
        )
        wall = _fmt([(e or {}).get("wall_s") for e in end])
        reach = []
        for r in seeds.values():
            hit = next((x["wall_s"] for x in r if x["team_return"] >= REACH), None)
            reach.append(hit)
        reach_s = _fmt(reach) + (f" ({sum(h is None for h in reach)} never)" if None in reach else "")
        done = [k for k, r in sorted(seeds.items()) if _at(r, MAIN) is not None]
        seed_list = ",".join(map(str, done)) + (
            f" (+{len(seeds) - len(done)} unfinished)" if len(done) < len(seeds) else "")
        lines.append(f"| {algo} | {seed_list} | " + " | ".join(cells) + f" | {per} | {wall} | {reach_s} |")
    rmean, rse = random_play()
    at_main = CHECKPOINTS.index(MAIN)
    cells = [""] * len(CHECKPOINTS)
    cells[at_main] = f"{rmean:.1f} ± {rse:.1f} (s.e.)"
    lines.append("| random play | 1000 episodes | " + " | ".join(cells) + " | | | |")
    lines += _eval_table(runs)
    table = "\n".join(lines)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for algo, seeds in sorted(runs.items()):
        for ax, xkey in zip(axes, ("env_steps", "wall_s")):
            for i, (seed, rows) in enumerate(sorted(seeds.items())):
                ax.plot([r[xkey] for r in rows], [r["team_return"] for r in rows],
                        color=f"C{sorted(runs).index(algo)}", alpha=0.8, lw=1.2,
                        label=algo if i == 0 else None)
    for ax, xl in zip(axes, ("env steps", "wall time (s, 2-core machine)")):
        ax.axhline(STOCK_TARGET, color="k", ls="--", lw=0.8, label="stock PPO @300k (issue)")
        ax.axhline(rmean, color="grey", ls=":", lw=0.8, label="random play")
        ax.set_xlabel(xl)
        ax.set_ylabel("team return (sum over 3 agents)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("mpe2 simple_spread_v3, N=3, 25-step episodes: one line per seed")
    fig.tight_layout()
    docs.mkdir(parents=True, exist_ok=True)
    fig.savefig(docs / PLOT, dpi=100)
    plt.close(fig)
    return table


def main() -> int:
    global CHECKPOINTS, MAIN, PLOT
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algos", default="mappo,ippo,stock")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--env-steps", type=int, default=300_000)
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (1 CPU each)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--docs", default=str(ROOT / "docs"))
    p.add_argument("--report", action="store_true", help="only aggregate existing CSVs")
    p.add_argument("--skip-existing", action="store_true",
                   help="do not rerun (algo, seed) pairs whose CSV reached --env-steps")
    p.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)),
                   help="env steps of the table's columns (default: %(default)s)")
    p.add_argument("--main", type=int, default=MAIN,
                   help="env steps of the per-agent and wall-time columns (one of --checkpoints)")
    p.add_argument("--plot", default="learning_simple_spread.png", help="PNG name under --docs")
    p.add_argument("--single", nargs=2, metavar=("ALGO", "SEED"), help=argparse.SUPPRESS)
    args = p.parse_args()
    CHECKPOINTS = tuple(int(c) for c in args.checkpoints.split(","))
    MAIN, PLOT = args.main, args.plot
    if MAIN not in CHECKPOINTS:
        p.error(f"--main {MAIN} must be one of --checkpoints {args.checkpoints}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.single:
        algo, seed = args.single[0], int(args.single[1])
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        if algo == "stock":
            run_stock(seed, args.env_steps, out)
        else:
            run_ours(algo, seed, args.env_steps, out)
        return 0
    if not args.report:
        jobs = [(a, s) for s in args.seeds.split(",") for a in args.algos.split(",")]
        if args.skip_existing:
            def complete(a, s):
                p = out / f"{a}_seed{s}.csv"
                return p.exists() and _at(_load(p), args.env_steps) is not None
            jobs = [(a, s) for a, s in jobs if not complete(a, s)]
        run_pool(jobs, args.jobs, lambda a, s: [sys.executable, __file__, "--single", a, str(s),
                                                "--env-steps", str(args.env_steps), "--out", str(out)])
    print(report(out, Path(args.docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
