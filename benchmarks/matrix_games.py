"""QMIX, VDN and IQL on the cooperative one-shot matrix games and the two-step game.

For each game, mixer and seed: train on the game's tuned example
(``tuned_examples/qmix/<game>.yaml``) under one of two exploration protocols,
then play the greedy policy and report its team return (the shared payoff):

* ``uniform``: epsilon = 1 throughout (uniformly random joint actions), the QMIX
  paper's protocol for its two-step game;
* ``decay``: the tuned example's epsilon schedule (1 -> 0).

Usage:
    python benchmarks/matrix_games.py                 # 3 seeds, all games, both protocols
    python benchmarks/matrix_games.py --games two_step --seeds 0
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GAMES = {
    # name: (optimal team return, payoff structure for the table)
    "climbing": (11.0, "[[11, -30, 0], [-30, 7, 6], [0, 0, 5]]"),
    "penalty": (10.0, "[[10, 0, k], [0, 2, 0], [k, 0, 10]], k = -50"),
    "two_step": (8.0, "state 2A pays 7; 2B pays [[0, 1], [1, 8]]"),
}
MIXERS = ("qmix", "vdn", "none")


def greedy_return(game: str, mixer: str, seed: int, protocol: str) -> float:
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, load_experiment

    from rllib_marl.metrics import EVAL_TEAM_RETURN, lift_eval_metrics

    # Greedy evaluation of 8 episodes after training (RLlib's evaluation).
    overrides = [f"training.mixer={mixer}", f"seed={seed}",
                 "evaluation.interval=100000", "evaluation.episodes=8"]
    if protocol == "uniform":
        overrides += ["training.epsilon_start=1.0", "training.epsilon_end=1.0"]
    exp = load_experiment(ROOT / "tuned_examples" / "qmix" / f"{game}.yaml", overrides)
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=0, num_envs_per_env_runner=8))
    algo = config.build_algo()
    try:
        steps = 0
        while steps < exp.stop.env_steps:
            steps = algo.train()["env_steps"]
        result = {"evaluation": algo.evaluate()}
    finally:
        algo.stop()
    lift_eval_metrics(result)
    return result[EVAL_TEAM_RETURN]


def main() -> int:
    from rllib_marl.session import pin_hash_seed

    pin_hash_seed(sys.argv)  # trains in this process: same results run to run
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--games", default=",".join(GAMES))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--protocols", default="uniform,decay")
    p.add_argument("--csv", type=Path, default=ROOT / "docs" / "data" / "matrix_games.csv",
                   help="one row per (game, protocol, mixer, seed)")
    args = p.parse_args()
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    seeds = [int(s) for s in args.seeds.split(",")]
    results = collections.defaultdict(list)
    rows = []
    for game in args.games.split(","):
        for protocol in args.protocols.split(","):
            for mixer in MIXERS:
                for seed in seeds:
                    r = greedy_return(game, mixer, seed, protocol)
                    results[(game, protocol, mixer)].append(r)
                    rows.append((game, protocol, mixer, seed, r))
                    print(f"  {game} {protocol} {mixer} seed {seed}: {r:.2f}", file=sys.stderr, flush=True)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w") as f:
        f.write("game,exploration,mixer,seed,greedy_team_return\n")
        f.writelines(f"{g},{pr},{m},{s},{r}\n" for g, pr, m, s, r in rows)
    print("Greedy team return after training (shared payoff; one value per seed).\n")
    print("| game (optimum) | exploration | QMIX | VDN | IQL |")
    print("|---|---|---|---|---|")
    for game in args.games.split(","):
        for protocol in args.protocols.split(","):
            cells = [", ".join(f"{v:g}" for v in results[(game, protocol, m)]) for m in MIXERS]
            print(f"| {game} ({GAMES[game][0]:g}) | {protocol} | " + " | ".join(cells) + " |")
    ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
