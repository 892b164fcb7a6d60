"""Cross-play on predator-prey: trained predators against prey they never met.

``benchmarks/competitive.py --game tag`` trains four match-ups per seed: the
predators (``adversary_*``) with a central critic (MADDPG) or a local one
(independent DDPG), and the prey (``agent_0``) likewise. In training each side
only meets the opponent it learned with. Here every predator team plays every
prey team of *another* seed (seed s's predators against seed (s+1) mod 3's prey),
greedy, through ``python -m rllib_marl.evaluate``'s cross-play
(``--opponent PREY_RUN --play agent=opponent``).

Reported: touches per episode (the env's own ``touches`` metric; a predator's
return / 10), mean over the three seed pairs, each pair scored on ``--episodes``
episodes; and each cell's spread over the pairs.

Usage:
    python benchmarks/crossplay.py --runs benchmarks/out/competitive --episodes 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# run name prefix -> (predators' critic, prey's critic)
MATCHUPS = {
    "maddpg-vs-maddpg": ("central", "central"),
    "maddpg-pred_ddpg-prey": ("central", "local"),
    "ddpg-pred_maddpg-prey": ("local", "central"),
    "ddpg-vs-ddpg": ("local", "local"),
}


def score(pred_run: Path, prey_run: Path, episodes: int):
    from rllib_marl.evaluate import build_parser, make_plan, sample_episodes, summarize

    args = build_parser().parse_args([str(pred_run), "--opponent", str(prey_run), "--play", "agent=opponent",
                                      "--episodes", str(episodes)])
    plan = make_plan(args)
    stats = summarize(plan, sample_episodes(plan))
    return stats["env_metrics"]["touches"]["mean"]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default=str(ROOT / "benchmarks" / "out" / "competitive"))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--data", default=str(ROOT / "docs" / "data" / "crossplay_tag.json"))
    args = p.parse_args()
    runs = Path(args.runs)
    seeds = [int(s) for s in args.seeds.split(",")]
    results = []
    for pred_name, (pred_critic, pred_trained_vs) in MATCHUPS.items():
        for prey_name, (prey_trained_vs, prey_critic) in MATCHUPS.items():
            for i, s in enumerate(seeds):
                s_prey = seeds[(i + 1) % len(seeds)]
                t = score(runs / f"{pred_name}_seed{s}", runs / f"{prey_name}_seed{s_prey}", args.episodes)
                results.append({"predators": pred_name, "pred_seed": s, "prey": prey_name, "prey_seed": s_prey,
                                "touches": t})
                print(f"predators of {pred_name} seed {s} vs prey of {prey_name} seed {s_prey}: "
                      f"{t:.2f} touches/episode", flush=True)
    Path(args.data).parent.mkdir(parents=True, exist_ok=True)
    Path(args.data).write_text(json.dumps({"episodes": args.episodes, "results": results}, indent=2))

    def label(name, side):
        pred, prey = MATCHUPS[name]
        mine, theirs = (pred, prey) if side == "pred" else (prey, pred)
        return f"{mine} critic (trained vs {theirs}-critic {'prey' if side == 'pred' else 'predators'})"

    cols = list(MATCHUPS)
    print("\ntouches per episode, greedy, predators of seed s vs prey of seed s+1 (mean over seeds, sd)")
    print("| predators \\ prey | " + " | ".join(label(c, "prey") for c in cols) + " | mean |")
    print("|---" * (len(cols) + 2) + "|")
    for r in cols:
        cells, row_vals = [], []
        for c in cols:
            v = [x["touches"] for x in results if x["predators"] == r and x["prey"] == c]
            row_vals += v
            cells.append(f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:.2f}")
        print(f"| {label(r, 'pred')} | " + " | ".join(cells) + f" | {statistics.mean(row_vals):.2f} |")
    print("| mean | " + " | ".join(
        f"{statistics.mean([x['touches'] for x in results if x['prey'] == c]):.2f}" for c in cols) + " | |")
    return 0


if __name__ == "__main__":
    from rllib_marl.session import pin_hash_seed

    pin_hash_seed(sys.argv)
    sys.exit(main())
