"""MAPPO on VMAS navigation, balance and transport: learning curves, end-to-end speed.

Each run is ``python -m rllib_marl.train`` on tuned_examples/mappo/vmas_navigation.yaml's
settings (batched env runner, 600 sub-envs, 60k env steps per iteration, 2 epochs of
4,096-row minibatches, 64x64 relu, lr 1e-3, gamma 0.9) with the task's kwargs as
BenchMARL 1.5.2's task configs set them (``benchmarl/conf/task/vmas/<task>.yaml``),
one run at a time with both cores. Reported per task: the final return (mean over
agents, the last 100 episodes per the run's summary), env steps per second with
learning (env steps / wall time of the whole run), and the wall time until the
return first reached ``--reach`` of its final value.

Usage:
    python benchmarks/vmas_learning.py --tasks navigation,balance,transport --seeds 0,1,2 \\
        --env-steps 1200000 --out /tmp/vmas_learning --docs docs
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "tuned_examples" / "mappo" / "vmas_navigation.yaml"

#: BenchMARL 1.5.2's task configs (benchmarl/conf/task/vmas/*.yaml).
TASKS = {
    "simple_spread": {"max_steps": 100, "n_agents": 3, "obs_agents": True},
    "navigation": {"max_steps": 100, "n_agents": 3, "collisions": True, "agents_with_same_goal": 1,
                   "split_goals": False, "observe_all_goals": False, "shared_rew": False, "lidar_range": 0.35,
                   "agent_radius": 0.1},
    "balance": {"max_steps": 100, "n_agents": 4, "random_package_pos_on_line": True, "package_mass": 5},
    "transport": {"max_steps": 100, "n_agents": 4, "n_packages": 1, "package_width": 0.15,
                  "package_length": 0.15, "package_mass": 50},
}


def run(task: str, seed: int, env_steps: int, out: Path, overrides, kwargs=None) -> list:
    """One run of our CLI on the tuned example for ``task`` (``kwargs``: the task's, by
    default BenchMARL's from :data:`TASKS`); its progress rows."""
    exp = yaml.safe_load(EXAMPLE.read_text())
    exp["name"] = f"vmas_{task}"
    exp["env"]["name"] = f"vmas:{task}"
    exp["env"]["kwargs"] = {"num_envs": exp["env"]["kwargs"]["num_envs"], **(TASKS[task] if kwargs is None else kwargs)}
    exp["stop"] = {"env_steps": env_steps}
    exp.pop("expected", None)
    exp["checkpoint"] = {"interval": 0}
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(exp))
    cmd = [sys.executable, "-m", "rllib_marl.train", "--config", str(out / "config.yaml"), "--seed", str(seed),
           "--output", str(out / "run"), "--quiet", "--num-cpus", "2"]
    for o in overrides:
        cmd += ["--set", o]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(out / "stderr.txt", "w"),
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    with open(out / "run" / "progress.csv") as f:
        return [{"env_steps": int(r["env_steps"]), "wall_s": float(r["wall_s"]), "return": float(r["team_return"])}
                for r in csv.DictReader(f)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="navigation,balance,transport")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--env-steps", type=int, default=1_200_000)
    p.add_argument("--reach", type=float, default=0.9, help="share of the final return for the time-to column")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="/tmp/vmas_learning")
    p.add_argument("--docs", default=None)
    args = p.parse_args()
    results = {}
    for task in args.tasks.split(","):
        for seed in [int(s) for s in args.seeds.split(",")]:
            rows = run(task, seed, args.env_steps, Path(args.out) / f"{task}_seed{seed}", args.set)
            results.setdefault(task, {})[seed] = rows
            print(f"{task} seed {seed}: {rows[-1]['return']:.3f} after {rows[-1]['env_steps']:,} env steps, "
                  f"{rows[-1]['wall_s']:.0f} s", flush=True)
    print()
    print(f"| task | seeds | env steps | final return per seed | mean | env steps/s with learning (median) | "
          f"wall s to {args.reach:.0%} of the final return (median) |")
    print("|---|---|---:|---|---:|---:|---:|")
    for task, per_seed in results.items():
        finals = [rows[-1]["return"] for rows in per_seed.values()]
        speeds = [rows[-1]["env_steps"] / rows[-1]["wall_s"] for rows in per_seed.values()]
        reach = []
        for rows in per_seed.values():
            start, final = rows[0]["return"], rows[-1]["return"]
            target = start + args.reach * (final - start)
            reach.append(next(r["wall_s"] for r in rows if r["return"] >= target))
        print(f"| {task} | {', '.join(map(str, per_seed))} | {args.env_steps:,} | "
              f"{', '.join(f'{x:.3f}' for x in finals)} | {statistics.mean(finals):.3f} | "
              f"{statistics.median(speeds):,.0f} | {statistics.median(reach):.0f} |")
    if args.docs:
        docs = Path(args.docs)
        (docs / "data" / "vmas").mkdir(parents=True, exist_ok=True)
        data = docs / "data" / "vmas" / "learning.json"
        # Tasks run with other budgets before are kept: this run replaces only its own.
        merged = json.loads(data.read_text()) if data.exists() else {}
        merged.update({task: {str(k): v for k, v in per_seed.items()} for task, per_seed in results.items()})
        data.write_text(json.dumps(merged, indent=1))
        plot(merged, docs / "vmas_learning.png")


def plot(results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.4), squeeze=False)
    for ax, (task, per_seed) in zip(axes[0], results.items()):
        for seed, rows in per_seed.items():
            ax.plot([r["env_steps"] for r in rows], [r["return"] for r in rows], label=f"seed {seed}")
        ax.set_title(f"VMAS {task}")
        ax.set_xlabel("env steps")
        ax.set_ylabel("return (mean over agents)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
