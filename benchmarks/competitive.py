"""Predator-prey: MADDPG against independent DDPG, both ways round and each against itself.

mpe2 simple_tag_v3 (tuned_examples/maddpg/simple_tag.yaml: 3 predators, 1 prey,
2 obstacles, discrete actions). Four match-ups, each trained from scratch, per seed:

* ``maddpg-vs-maddpg``: central critics for both teams;
* ``maddpg-pred_ddpg-prey``: central predators, local-critic (DDPG) prey;
* ``ddpg-pred_maddpg-prey``: local-critic predators, central prey;
* ``ddpg-vs-ddpg``: local critics for both.

Reported as in the MADDPG paper: touches per episode (a predator's return / 10:
every predator is paid +10 per predator-prey collision), and each team's return,
over the last logged points of training (each a mean over the last 100 episodes).

Usage:
    python benchmarks/competitive.py --seeds 0,1,2 --jobs 2 --env-steps 200000
    python benchmarks/competitive.py --report
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from child import run_pool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "competitive"
TAG = ROOT / "tuned_examples" / "maddpg" / "simple_tag.yaml"
MATCHUPS = {
    "maddpg-vs-maddpg": [],
    "maddpg-pred_ddpg-prey": ["--set", "training.critic_by_module.agent=local"],
    "ddpg-pred_maddpg-prey": ["--set", "training.critic_by_module.adversary=local"],
    "ddpg-vs-ddpg": ["--set", "training.critic=local"],
}
LAST = 10  # logged points (iterations) averaged at the end of a run


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / f"{name}_seed{seed}"


def command(name: str, seed: int, env_steps: int, out: Path):
    return [sys.executable, "-m", "rllib_marl.train", "--config", str(TAG), *MATCHUPS[name],
            "--seed", str(seed), "--set", f"stop.env_steps={env_steps}", "--set", "checkpoint.interval=0",
            "--output", str(run_dir(out, name, seed)), "--quiet", "--num-cpus", "1"]


def _rows(path: Path):
    import csv

    with path.open() as f:
        return list(csv.DictReader(f))


def _mean_last(rows, key):
    vals = [float(r[key]) for r in rows[-LAST:] if r.get(key) not in (None, "")]
    return statistics.mean(vals) if vals else math.nan


def _fmt(vals):
    vals = [v for v in vals if not math.isnan(v)]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.2f}"
    return f"{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f}"


def report(out: Path) -> str:
    lines = [
        f"Touches per episode = predator return / 10; returns per team (sum over the team's agents); "
        f"each the mean of the last {LAST} logged iterations of training (each a mean over the last "
        "100 episodes, with exploration); mean ± std over seeds.",
        "",
        "| predators | prey | seeds | env steps | touches / episode | predator team return | prey return | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in MATCHUPS:
        touches, pred, prey, walls, steps, seeds = [], [], [], [], [], []
        for d in sorted(out.glob(f"{name}_seed*")):
            summ = d / "summary.json"
            if not summ.exists():
                continue
            rows = _rows(d / "progress.csv")
            seeds.append(d.name.rsplit("_seed", 1)[1])
            touches.append(_mean_last(rows, "return/adversary_0") / 10)
            pred.append(_mean_last(rows, "team_return/adversary"))
            prey.append(_mean_last(rows, "team_return/agent"))
            s = json.loads(summ.read_text())
            walls.append(s["wall_s"])
            steps.append(s["env_steps"])
        p, q = name.replace("-vs-", "_").split("_")[:2] if "-vs-" in name else name.split("_")
        pred_kind, prey_kind = p.split("-")[0].upper(), q.split("-")[0].upper()
        lines.append(f"| {pred_kind} | {prey_kind} | {','.join(seeds)} | "
                     f"{(min(steps) if steps else 0):,} | {_fmt(touches)} | {_fmt(pred)} | {_fmt(prey)} | "
                     f"{_fmt(walls)} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--matchups", default=",".join(MATCHUPS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--env-steps", type=int, default=200_000)
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (1 CPU each)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--report", action="store_true", help="only aggregate finished runs")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        jobs = [(m, int(s)) for s in args.seeds.split(",") for m in args.matchups.split(",")]
        jobs = [(m, s) for m, s in jobs if not (run_dir(out, m, s) / "summary.json").exists()]
        run_pool(jobs, args.jobs, lambda m, s: command(m, s, args.env_steps, out),
                 log=lambda m, s: out / f"{m}_seed{s}.log")
    print(report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
