"""Mixed and competitive MPE games: MADDPG against independent DDPG, both ways round.

Two games (``--game``), each with four match-ups trained from scratch per seed:
a central critic (MADDPG) or a local one (independent DDPG) for each side,
set with ``training.critic_by_module`` / ``training.critic``.

* ``tag``: mpe2 simple_tag_v3 (tuned_examples/maddpg/simple_tag.yaml): 3
  predators (``adversary_*``) chase 1 faster prey (``agent_0``) among 2
  obstacles. Reported as in the MADDPG paper: touches per episode (the env's
  own ``touches`` metric, equal to a predator's return / 10).
* ``adversary``: mpe2 simple_adversary_v3 (tuned_examples/maddpg/simple_adversary.yaml,
  physical deception): 2 good agents against 1 adversary. Reported: the env's
  own success rates, ``good_success`` and ``adversary_success`` (a good agent /
  the adversary within 2 goal radii of the goal at the episode's last step).

Both: each team's return (sum over its agents), over the last logged points of
training (each a mean over the last 100 episodes, with exploration).

Usage:
    python benchmarks/competitive.py --game tag --seeds 0,1,2 --jobs 2 --env-steps 200000
    python benchmarks/competitive.py --game adversary --seeds 0,1,2 --jobs 2 --env-steps 200000
    python benchmarks/competitive.py --game tag --report
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from child import fresh, run_pool

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "tuned_examples" / "maddpg"
# game -> tuned example, default output, (adversary side, agent side) labels,
# the env metrics reported.
GAMES = {
    "tag": (EXAMPLES / "simple_tag.yaml", ROOT / "benchmarks" / "out" / "competitive",
            ("pred", "prey"), ("touches",)),
    "adversary": (EXAMPLES / "simple_adversary.yaml", ROOT / "benchmarks" / "out" / "competitive_adversary",
                  ("adv", "good"), ("good_success", "adversary_success")),
}
# (adversary team's critic, agent team's critic) -> CLI overrides.
KINDS = {
    ("maddpg", "maddpg"): [],
    ("maddpg", "ddpg"): ["--set", "training.critic_by_module.agent=local"],
    ("ddpg", "maddpg"): ["--set", "training.critic_by_module.adversary=local"],
    ("ddpg", "ddpg"): ["--set", "training.critic=local"],
}
LAST = 10  # logged points (iterations) averaged at the end of a run


def matchups(game: str):
    """``{name: (adversary kind, agent kind, overrides)}``; tag's names are
    ``maddpg-vs-maddpg``, ``maddpg-pred_ddpg-prey``, ..."""
    a, b = GAMES[game][2]
    out = {}
    for (ka, kb), extra in KINDS.items():
        name = f"{ka}-vs-{kb}" if ka == kb else f"{ka}-{a}_{kb}-{b}"
        out[name] = (ka, kb, extra)
    return out


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / f"{name}_seed{seed}"


def command(game: str, name: str, seed: int, env_steps: int, out: Path):
    return [sys.executable, "-m", "rllib_marl.train", "--config", str(GAMES[game][0]), *matchups(game)[name][2],
            "--seed", str(seed), "--set", f"stop.env_steps={env_steps}", "--set", "checkpoint.interval=0",
            "--output", str(fresh(run_dir(out, name, seed))), "--quiet", "--num-cpus", "1"]


def _rows(path: Path):
    import csv

    with path.open() as f:
        return list(csv.DictReader(f))


def _mean_last(rows, key):
    vals = [float(r[key]) for r in rows[-LAST:] if r.get(key) not in (None, "")]
    return statistics.mean(vals) if vals else math.nan


def _fmt(vals, digits=2):
    vals = [v for v in vals if not math.isnan(v)]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def _metric(rows, name):
    if rows and f"env/{name}" in rows[0]:
        return _mean_last(rows, f"env/{name}")
    if name == "touches":  # runs from before the env metrics: a predator's return / 10
        return _mean_last(rows, "return/adversary_0") / 10
    return math.nan


def report(game: str, out: Path) -> str:
    a, b = GAMES[game][2]
    metrics = GAMES[game][3]
    lines = [
        f"Env metrics: the env's own (envs/env_metrics.py), mean per episode; returns per team (sum over "
        f"the team's agents); each the mean of the last {LAST} logged iterations of training (each a mean "
        "over the last 100 episodes, with exploration); mean ± std over seeds.",
        "",
        f"| {a} side | {b} side | seeds | env steps | " + " | ".join(metrics)
        + " | adversary team return | agent team return | wall s |",
        "|---|---|---|---|" + "---|" * len(metrics) + "---|---|---|",
    ]
    for name, (ka, kb, _) in matchups(game).items():
        vals = {m: [] for m in metrics}
        adv, agent, walls, steps, seeds = [], [], [], [], []
        for d in sorted(out.glob(f"{name}_seed*")):
            summ = d / "summary.json"
            if not d.is_dir() or not summ.exists():
                continue
            rows = _rows(d / "progress.csv")
            seeds.append(d.name.rsplit("_seed", 1)[1])
            for m in metrics:
                vals[m].append(_metric(rows, m))
            adv.append(_mean_last(rows, "team_return/adversary"))
            agent.append(_mean_last(rows, "team_return/agent"))
            s = json.loads(summ.read_text())
            walls.append(s["wall_s"])
            steps.append(s["env_steps"])
        lines.append(f"| {ka.upper()} | {kb.upper()} | {','.join(seeds)} | {(min(steps) if steps else 0):,} | "
                     + " | ".join(_fmt(vals[m]) for m in metrics)
                     + f" | {_fmt(adv)} | {_fmt(agent)} | {_fmt(walls, 0)} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--game", choices=sorted(GAMES), default="tag")
    p.add_argument("--matchups", default=None, help="comma-separated names (default: all four)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--env-steps", type=int, default=200_000)
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (1 CPU each)")
    p.add_argument("--out", default=None, help="default: benchmarks/out/competitive[_adversary]")
    p.add_argument("--report", action="store_true", help="only aggregate finished runs")
    args = p.parse_args()
    out = Path(args.out) if args.out else GAMES[args.game][1]
    names = args.matchups.split(",") if args.matchups else list(matchups(args.game))
    out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        jobs = [(m, int(s)) for s in args.seeds.split(",") for m in names]
        jobs = [(m, s) for m, s in jobs if not (run_dir(out, m, s) / "summary.json").exists()]
        run_pool(jobs, args.jobs, lambda m, s: command(args.game, m, s, args.env_steps, out),
                 log=lambda m, s: out / f"{m}_seed{s}.log")
    print(report(args.game, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
