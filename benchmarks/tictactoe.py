"""Tic-tac-toe (PettingZoo ``classic.tictactoe_v3``, turn-based, action masks): the
league's main agent against scripted players.

``--train`` runs ``tuned_examples/league/tictactoe.yaml`` for each seed (one
process each); ``--evaluate`` plays each run's final ``main_0`` (greedy: the most
probable legal move) against a random player, a win-or-block heuristic and an
exact minimax player (``rllib_marl.envs.games.tictactoe_players``), ``--games``
games per opponent from each seat, through the same env adapter the agent trained
on. Results go to ``docs/data/tictactoe/`` (one JSON per run, and each run's
final Elo table, progress.csv and summary.json) and a markdown table is printed.

``--probe-entropy E1,E2,...`` trains plain self-play (one shared module for both
seats, ``benchmarks/configs/tictactoe_selfplay.yaml``, seed 0, 500k env steps)
once per entropy bonus and scores each the same way (``docs/data/tictactoe_probes/``).

Usage:
    python benchmarks/tictactoe.py --train --seeds 0,1,2 --jobs 2
    python benchmarks/tictactoe.py --evaluate --seeds 0,1,2 --games 200
    python benchmarks/tictactoe.py --probe-entropy 0.01,0.05,0.1,0.2,0.3 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from child import fresh, run_pool

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tuned_examples" / "league" / "tictactoe.yaml"
PROBE_CONFIG = ROOT / "benchmarks" / "configs" / "tictactoe_selfplay.yaml"
OUT = ROOT / "benchmarks" / "out" / "tictactoe"
DATA = ROOT / "docs" / "data" / "tictactoe"
PROBE_DATA = ROOT / "docs" / "data" / "tictactoe_probes"


RUNS = OUT / "runs"


def run_dir(seed: int) -> Path:
    return RUNS / f"league_seed{seed}"


def train_cmd(_name: str, seed: int) -> list:
    return [sys.executable, "-m", "rllib_marl.train", "--config", str(CONFIG), "--seed", str(seed),
            "--output", str(fresh(run_dir(seed))), "--quiet", "--num-cpus", "1"]


def evaluate(seed: int, games: int, run: Path | None = None, module: str = "main_0") -> dict:
    """Scores ``module`` of a run's final checkpoint (default: the league run of ``seed``)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    from rllib_marl.envs.games.tictactoe_players import ModulePlayer, score
    from rllib_marl.evaluate import RL_MODULE_DIR

    run = (run or run_dir(seed)).resolve()
    ck = run / "checkpoints" / "final" / RL_MODULE_DIR / module
    agent = ModulePlayer(RLModule.from_checkpoint(str(ck)))
    where = str(ck.relative_to(ROOT)) if ck.is_relative_to(ROOT) else str(ck)
    result = {"seed": seed, "checkpoint": where, "games_per_seat": games,
              "vs": score(agent, games, np.random.default_rng(1000 + seed))}
    summary = json.loads((run / "summary.json").read_text())
    result["env_steps"] = summary["env_steps"]
    result["wall_s"] = summary["wall_s"]
    return result


def table(results: list, first: str = "seed") -> str:
    """One row per run, opponent and seat; the first column is ``results[i][first]``."""
    lines = [f"| {first.replace('_', ' ')} | env steps | opponent | agent moves | win | draw | loss | loss rate |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for key, c in r["vs"].items():
            opp, seat = key.split("/")
            n = c["win"] + c["draw"] + c["loss"]
            lines.append(f"| {r[first]} | {r['env_steps']:,} | {opp} | {seat} | {c['win']} | {c['draw']} | "
                         f"{c['loss']} | {c['loss'] / n:.1%} |")
    return "\n".join(lines)


def probe_dir(entropy: str) -> Path:
    return OUT / "probes" / f"selfplay_entropy{entropy}"


def probe(entropies: list, jobs: int, games: int) -> None:
    """Plain self-play once per entropy bonus (seed 0), each scored like the league's main agent."""
    def cmd(entropy: str, _seed: int) -> list:
        return [sys.executable, "-m", "rllib_marl.train", "--config", str(PROBE_CONFIG), "--seed", "0",
                "--set", f"training.entropy_coeff={entropy}", "--output", str(fresh(probe_dir(entropy))),
                "--quiet", "--num-cpus", "1"]

    (OUT / "probes").mkdir(parents=True, exist_ok=True)
    run_pool([(e, 0) for e in entropies], jobs, cmd, log=lambda e, _s: OUT / "probes" / f"entropy{e}.log")
    PROBE_DATA.mkdir(parents=True, exist_ok=True)
    results = []
    for e in entropies:
        r = evaluate(0, games, run=probe_dir(e), module="shared")
        r["entropy_coeff"] = float(e)
        (PROBE_DATA / f"selfplay_entropy{e}.json").write_text(json.dumps(r, indent=1))
        results.append(r)
    print(table(results, first="entropy_coeff"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--train", action="store_true")
    p.add_argument("--evaluate", action="store_true")
    p.add_argument("--games", type=int, default=200, help="games per opponent and seat")
    p.add_argument("--runs", type=Path, default=None,
                   help="--evaluate runs made elsewhere: a folder of league_seed<k> run directories")
    p.add_argument("--data", type=Path, default=None, help="where --evaluate writes (default docs/data/tictactoe)")
    p.add_argument("--probe-entropy", default="",
                   help="comma-separated entropy bonuses: plain self-play probes (see the module docstring)")
    args = p.parse_args()
    global RUNS, DATA
    RUNS = (args.runs or RUNS).resolve()
    DATA = (args.data or DATA).resolve()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.train:
        OUT.mkdir(parents=True, exist_ok=True)
        run_pool([("league", s) for s in seeds], args.jobs, train_cmd,
                 log=lambda _n, s: OUT / f"league_seed{s}.log")
    if args.probe_entropy:
        probe(args.probe_entropy.split(","), args.jobs, args.games)
    if args.evaluate:
        DATA.mkdir(parents=True, exist_ok=True)
        results = []
        for s in seeds:
            r = evaluate(s, args.games)
            (DATA / f"league_seed{s}.json").write_text(json.dumps(r, indent=1))
            shutil.copy(run_dir(s) / "league_elo.csv", DATA / f"league_seed{s}_elo.csv")
            shutil.copy(run_dir(s) / "progress.csv", DATA / f"league_seed{s}_progress.csv")
            shutil.copy(run_dir(s) / "summary.json", DATA / f"league_seed{s}_summary.json")
            results.append(r)
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
